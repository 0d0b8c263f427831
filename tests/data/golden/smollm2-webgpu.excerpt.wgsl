// gpu.module @kernels > gpu.func @cache_append_2
@group(0) @binding(0) var<storage, read> cache_append_2_arg1: array<f32>;
@group(0) @binding(1) var<storage, read> cache_append_2_arg3: array<f32>;
@group(0) @binding(2) var<storage, read_write> cache_append_2_arg4: array<f32>;
@group(0) @binding(3) var<storage, read_write> cache_append_2_arg5: array<f32>;
struct cache_append_2_Params {
  arg0: i32,
  arg2: i32,
}
@group(0) @binding(4) var<uniform> cache_append_2_params: cache_append_2_Params;
@compute @workgroup_size(256, 1, 1)
fn cache_append_2(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let v0: i32 = i32(nwg.x);
  let v1: i32 = i32(wid.y);
  let v2: i32 = v1 * v0;
  let v3: i32 = i32(wid.x);
  let v4: i32 = v2 + v3;
  let v5: i32 = v4 * 256i;
  let v6: i32 = i32(lid.x);
  let v7: i32 = v5 + v6;
  let v8: i32 = cache_append_2_params.arg0 * 192i;
  let v9: bool = bitcast<u32>(v7) < bitcast<u32>(v8);
  if (v9) {
    let v10: i32 = bitcast<i32>(bitcast<u32>(v7) % bitcast<u32>(192i));
    let v11: i32 = bitcast<i32>(bitcast<u32>(v7) / bitcast<u32>(192i));
    let v12: i32 = cache_append_2_params.arg2 + v11;
    let v13: f32 = cache_append_2_arg1[v11 * 192 + v10];
    let v14: i32 = bitcast<i32>(bitcast<u32>(v10) % bitcast<u32>(64i));
    let v15: i32 = bitcast<i32>(bitcast<u32>(v14) / bitcast<u32>(2i));
    let v16: i32 = v10 ^ 1i;
    let v17: i32 = bitcast<i32>(bitcast<u32>(v14) % bitcast<u32>(2i));
    let v18: bool = v17 == 0i;
    let v19: i32 = v15;
    let v20: f32 = f32(bitcast<u32>(v19));
    let v21: f32 = v20 * (-0.03125f);
    let v22: f32 = pow(100000.0f, v21);
    let v23: i32 = cache_append_2_params.arg2 + v11;
    let v24: i32 = v23;
    let v25: f32 = f32(bitcast<u32>(v24));
    let v26: f32 = v25 * v22;
    let v27: f32 = cache_append_2_arg1[v11 * 192 + v16];
    let v28: f32 = select(1.0f, (-1.0f), v18);
    let v29: f32 = cos(v26);
    let v30: f32 = v13 * v29;
    let v31: f32 = v28 * v27;
    let v32: f32 = sin(v26);
    let v33: f32 = v31 * v32;
    let v34: f32 = v30 + v33;
    cache_append_2_arg4[v12 * 192 + v10] = v34;
    let v35: f32 = cache_append_2_arg3[v11 * 192 + v10];
    cache_append_2_arg5[v12 * 192 + v10] = v35;
  } else {
  }
}

