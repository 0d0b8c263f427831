// gpu.module @kernels > gpu.func @elementwise_2
@group(0) @binding(0) var<storage, read> elementwise_2_arg0: array<i32>;
@group(0) @binding(1) var<storage, read> elementwise_2_arg2: array<i32>;
@group(0) @binding(2) var<storage, read_write> elementwise_2_arg3: array<f32>;
struct elementwise_2_Params {
  arg1: i32,
}
@group(0) @binding(3) var<uniform> elementwise_2_params: elementwise_2_Params;
@compute @workgroup_size(256, 1, 1)
fn elementwise_2(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let v0: i32 = i32(nwg.x);
  let v1: i32 = i32(wid.y);
  let v2: i32 = v1 * v0;
  let v3: i32 = i32(wid.x);
  let v4: i32 = v2 + v3;
  let v5: i32 = v4 * 256i;
  let v6: i32 = i32(lid.x);
  let v7: i32 = v5 + v6;
  let v8: i32 = elementwise_2_params.arg1 * 576i;
  let v9: bool = bitcast<u32>(v7) < bitcast<u32>(v8);
  if (v9) {
    let v10: i32 = bitcast<i32>(bitcast<u32>(v7) % bitcast<u32>(576i));
    let v11: i32 = bitcast<i32>(bitcast<u32>(v7) / bitcast<u32>(576i));
    let v12: i32 = elementwise_2_arg2[v11];
    let v13: i32 = v12;
    let v14: i32 = bitcast<i32>(bitcast<u32>(v10) / bitcast<u32>(32i));
    let v15: i32 = v13 * 612i;
    let v16: i32 = v14 * 34i;
    let v17: i32 = v15 + v16;
    let v18: i32 = bitcast<i32>(bitcast<u32>(v17) / bitcast<u32>(4i));
    let v19: i32 = elementwise_2_arg0[v18];
    let v20: i32 = bitcast<i32>(bitcast<u32>(v17) % bitcast<u32>(4i));
    let v21: i32 = v20 * 8i;
    let v22: i32 = v21;
    let v23: i32 = bitcast<i32>(bitcast<u32>(v19) >> bitcast<u32>(v22));
    let v24: f32 = unpack2x16float(bitcast<u32>(v23)).x;
    let v25: i32 = bitcast<i32>(bitcast<u32>(v10) % bitcast<u32>(32i));
    let v26: i32 = 2i + v25;
    let v27: i32 = v17 + v26;
    let v28: i32 = bitcast<i32>(bitcast<u32>(v27) / bitcast<u32>(4i));
    let v29: i32 = elementwise_2_arg0[v28];
    let v30: i32 = bitcast<i32>(bitcast<u32>(v27) % bitcast<u32>(4i));
    let v31: i32 = v30 * 8i;
    let v32: i32 = v31;
    let v33: i32 = bitcast<i32>(bitcast<u32>(v29) >> bitcast<u32>(v32));
    let v34: i32 = v33 & 255i;
    let v35: i32 = v34 << bitcast<u32>(24i);
    let v36: i32 = v35 >> bitcast<u32>(24i);
    let v37: f32 = f32(v36);
    let v38: f32 = v24 * v37;
    elementwise_2_arg3[v11 * 576 + v10] = v38;
  } else {
  }
}

