// gpu.module @kernels > gpu.func @cache_append_2
struct cache_append_2_Params {
  int arg0;
  int arg2;
};
// threadgroup size 256 x 1 x 1 (the host schedule's block)
[[max_total_threads_per_threadgroup(256)]]
kernel void cache_append_2(device const float* cache_append_2_arg1 [[buffer(0)]],
    device const float* cache_append_2_arg3 [[buffer(1)]],
    device float* cache_append_2_arg4 [[buffer(2)]],
    device float* cache_append_2_arg5 [[buffer(3)]],
    constant cache_append_2_Params& cache_append_2_params [[buffer(4)]],
    uint3 lid [[thread_position_in_threadgroup]],
    uint3 wid [[threadgroup_position_in_grid]],
    uint3 nwg [[threadgroups_per_grid]]) {
  const int v0 = int(nwg.x);
  const int v1 = int(wid.y);
  const int v2 = as_type<int>(as_type<uint>(v1) * as_type<uint>(v0));
  const int v3 = int(wid.x);
  const int v4 = as_type<int>(as_type<uint>(v2) + as_type<uint>(v3));
  const int v5 = as_type<int>(as_type<uint>(v4) * as_type<uint>(256));
  const int v6 = int(lid.x);
  const int v7 = as_type<int>(as_type<uint>(v5) + as_type<uint>(v6));
  const int v8 = as_type<int>(as_type<uint>(cache_append_2_params.arg0) * as_type<uint>(192));
  const bool v9 = as_type<uint>(v7) < as_type<uint>(v8);
  if (v9) {
    const int v10 = as_type<int>(as_type<uint>(v7) % as_type<uint>(192));
    const int v11 = as_type<int>(as_type<uint>(v7) / as_type<uint>(192));
    const int v12 = as_type<int>(as_type<uint>(cache_append_2_params.arg2) + as_type<uint>(v11));
    const float v13 = cache_append_2_arg1[v11 * 192 + v10];
    const int v14 = as_type<int>(as_type<uint>(v10) % as_type<uint>(64));
    const int v15 = as_type<int>(as_type<uint>(v14) / as_type<uint>(2));
    const int v16 = v10 ^ 1;
    const int v17 = as_type<int>(as_type<uint>(v14) % as_type<uint>(2));
    const bool v18 = v17 == 0;
    const int v19 = v15;
    const float v20 = float(as_type<uint>(v19));
    const float v21 = v20 * (-0.03125f);
    const float v22 = pow(100000.0f, v21);
    const int v23 = as_type<int>(as_type<uint>(cache_append_2_params.arg2) + as_type<uint>(v11));
    const int v24 = v23;
    const float v25 = float(as_type<uint>(v24));
    const float v26 = v25 * v22;
    const float v27 = cache_append_2_arg1[v11 * 192 + v16];
    const float v28 = v18 ? (-1.0f) : 1.0f;
    const float v29 = cos(v26);
    const float v30 = v13 * v29;
    const float v31 = v28 * v27;
    const float v32 = sin(v26);
    const float v33 = v31 * v32;
    const float v34 = v30 + v33;
    cache_append_2_arg4[v12 * 192 + v10] = v34;
    const float v35 = cache_append_2_arg3[v11 * 192 + v10];
    cache_append_2_arg5[v12 * 192 + v10] = v35;
  } else {
  }
}

