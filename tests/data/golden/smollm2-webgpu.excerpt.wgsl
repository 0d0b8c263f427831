// gpu.module @kernels > gpu.func @elementwise_2
@group(0) @binding(0) var<storage, read> elementwise_2_arg0: array<i32>;
@group(0) @binding(1) var<storage, read> elementwise_2_arg1: array<i32>;
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
      let v20: i32 = bitcast<i32>(bitcast<u32>(v19) / bitcast<u32>(2i));
      let v21: i32 = elementwise_2_arg1[v20];
      let v22: i32 = bitcast<i32>(bitcast<u32>(v19) % bitcast<u32>(2i));
      let v23: i32 = v22 * 16i;
      let v24: i32 = v23;
      let v25: i32 = bitcast<i32>(bitcast<u32>(v21) >> bitcast<u32>(v24));
      let v26: f32 = unpack2x16float(bitcast<u32>(v25)).x;
      let v27: i32 = v18 * 32i;
      let v28: i32 = bitcast<i32>(bitcast<u32>(v16) % bitcast<u32>(32i));
      let v29: i32 = v27 + v28;
      let v30: i32 = bitcast<i32>(bitcast<u32>(v29) / bitcast<u32>(4i));
      let v31: i32 = elementwise_2_arg0[v30];
      let v32: i32 = bitcast<i32>(bitcast<u32>(v29) % bitcast<u32>(4i));
      let v33: i32 = v32 * 8i;
      let v34: i32 = v33;
      let v35: i32 = bitcast<i32>(bitcast<u32>(v31) >> bitcast<u32>(v34));
      let v36: i32 = v35 & 255i;
      let v37: i32 = v36 ^ 128i;
      let v38: i32 = v37 | 1258291200i;
      let v39: f32 = bitcast<f32>(v38);
      let v40: f32 = v39 - 8.388736e+06f;
      let v41: f32 = v26 * v40;
      elementwise_2_arg4[v12 * 576 + v16] = v41;
    } else {
    }
  } else {
  }
}

