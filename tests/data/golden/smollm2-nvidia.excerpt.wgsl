// gpu.module @kernels > gpu.func @elementwise_2
@group(0) @binding(0) var<storage, read> elementwise_2_arg0: array<i32>;
@group(0) @binding(1) var<storage, read> elementwise_2_arg1: array<f16>;
@group(0) @binding(2) var<storage, read> elementwise_2_arg3: array<i32>;
@group(0) @binding(3) var<storage, read_write> elementwise_2_arg4: array<f32>;
struct elementwise_2_Params {
  arg2: i32,
}
@group(0) @binding(4) var<uniform> elementwise_2_params: elementwise_2_Params;
@compute @workgroup_size(256, 1, 1)
fn elementwise_2(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let v0: i32 = i32(wid.x);
  let v1: i32 = i32(wid.y);
  let v2: i32 = i32(nwg.x);
  let v3: i32 = v1 * v2;
  let v4: i32 = v3 + v0;
  let v5: i32 = elementwise_2_params.arg2 * 576i;
  let v6: i32 = bitcast<i32>((bitcast<u32>(v5) + bitcast<u32>(256i) - 1u) / bitcast<u32>(256i));
  let v7: bool = bitcast<u32>(v4) < bitcast<u32>(v6);
  if (v7) {
    let v8: i32 = i32(lid.x);
    let v9: i32 = v4 * 256i;
    let v10: i32 = v9 + v8;
    let v11: bool = bitcast<u32>(v10) < bitcast<u32>(v5);
    if (v11) {
      let v12: i32 = bitcast<i32>(bitcast<u32>(v10) / bitcast<u32>(576i));
      let v13: i32 = elementwise_2_arg3[v12];
      let v14: i32 = v13;
      let v15: i32 = v14 * 18i;
      let v16: i32 = bitcast<i32>(bitcast<u32>(v10) % bitcast<u32>(576i));
      let v17: i32 = bitcast<i32>(bitcast<u32>(v16) / bitcast<u32>(32i));
      let v18: i32 = v15 + v17;
      let v19: i32 = v18 * 1i;
      let v20: f16 = elementwise_2_arg1[v19];
      let v21: i32 = v18 * 32i;
      let v22: i32 = bitcast<i32>(bitcast<u32>(v16) % bitcast<u32>(32i));
      let v23: i32 = v21 + v22;
      let v24: i32 = bitcast<i32>(bitcast<u32>(v23) / bitcast<u32>(4i));
      let v25: i32 = elementwise_2_arg0[v24];
      let v26: i32 = bitcast<i32>(bitcast<u32>(v23) % bitcast<u32>(4i));
      let v27: i32 = v26 * 8i;
      let v28: i32 = v27;
      let v29: i32 = bitcast<i32>(bitcast<u32>(v25) >> bitcast<u32>(v28));
      let v30: i32 = v29 & 255i;
      let v31: i32 = v30 ^ 128i;
      let v32: i32 = v31 | 1258291200i;
      let v33: f32 = bitcast<f32>(v32);
      let v34: f32 = v33 - 8.388736e+06f;
      let v35: f32 = f32(v20);
      let v36: f32 = v35 * v34;
      elementwise_2_arg4[v12 * 576 + v16] = v36;
    } else {
    }
  } else {
  }
}

