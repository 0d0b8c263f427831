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
  let v0: i32 = elementwise_2_params.arg2 * 576i;
  let v1: i32 = bitcast<i32>((bitcast<u32>(v0) + bitcast<u32>(256i) - 1u) / bitcast<u32>(256i));
  let v2: i32 = i32(wid.x);
  let v3: i32 = i32(wid.y);
  let v4: i32 = i32(nwg.x);
  let v5: i32 = v3 * v4;
  let v6: i32 = v5 + v2;
  let v7: bool = bitcast<u32>(v6) < bitcast<u32>(v1);
  if (v7) {
    let v8: i32 = i32(lid.x);
    let v9: i32 = v6 * 256i;
    let v10: i32 = v9 + v8;
    let v11: bool = bitcast<u32>(v10) < bitcast<u32>(v0);
    if (v11) {
      let v12: i32 = bitcast<i32>(bitcast<u32>(v10) % bitcast<u32>(576i));
      let v13: i32 = bitcast<i32>(bitcast<u32>(v10) / bitcast<u32>(576i));
      let v14: i32 = elementwise_2_arg3[v13];
      let v15: i32 = v14;
      let v16: i32 = bitcast<i32>(bitcast<u32>(v12) / bitcast<u32>(32i));
      let v17: i32 = bitcast<i32>(bitcast<u32>(v12) % bitcast<u32>(32i));
      let v18: i32 = v15 * 18i;
      let v19: i32 = v18 + v16;
      let v20: i32 = v19 * 1i;
      let v21: f16 = elementwise_2_arg1[v20];
      let v22: f32 = f32(v21);
      let v23: i32 = v19 * 32i;
      let v24: i32 = v23 + v17;
      let v25: i32 = bitcast<i32>(bitcast<u32>(v24) / bitcast<u32>(4i));
      let v26: i32 = elementwise_2_arg0[v25];
      let v27: i32 = bitcast<i32>(bitcast<u32>(v24) % bitcast<u32>(4i));
      let v28: i32 = v27 * 8i;
      let v29: i32 = v28;
      let v30: i32 = bitcast<i32>(bitcast<u32>(v26) >> bitcast<u32>(v29));
      let v31: i32 = v30 & 255i;
      let v32: i32 = v31 ^ 128i;
      let v33: i32 = v32 | 1258291200i;
      let v34: f32 = bitcast<f32>(v33);
      let v35: f32 = v34 - 8.388736e+06f;
      let v36: f32 = v22 * v35;
      elementwise_2_arg4[v13 * 576 + v12] = v36;
    } else {
    }
  } else {
  }
}

