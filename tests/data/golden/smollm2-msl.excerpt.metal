// gpu.module @kernels > gpu.func @elementwise_2
struct elementwise_2_Params {
  int arg2;
};
// threadgroup size 256 x 1 x 1 (the host schedule's block)
[[max_total_threads_per_threadgroup(256)]]
kernel void elementwise_2(device const int* elementwise_2_arg0 [[buffer(0)]],
    device const half* elementwise_2_arg1 [[buffer(1)]],
    device const int* elementwise_2_arg3 [[buffer(2)]],
    device float* elementwise_2_arg4 [[buffer(3)]],
    constant elementwise_2_Params& elementwise_2_params [[buffer(4)]],
    uint3 lid [[thread_position_in_threadgroup]],
    uint3 wid [[threadgroup_position_in_grid]],
    uint3 nwg [[threadgroups_per_grid]]) {
  const int v0 = int(wid.x);
  const int v1 = int(wid.y);
  const int v2 = int(nwg.x);
  const int v3 = as_type<int>(as_type<uint>(v1) * as_type<uint>(v2));
  const int v4 = as_type<int>(as_type<uint>(v3) + as_type<uint>(v0));
  const int v5 = as_type<int>(as_type<uint>(elementwise_2_params.arg2) * as_type<uint>(576));
  const int v6 = as_type<int>((as_type<uint>(v5) + as_type<uint>(256) - 1u) / as_type<uint>(256));
  const bool v7 = as_type<uint>(v4) < as_type<uint>(v6);
  if (v7) {
    const int v8 = int(lid.x);
    const int v9 = as_type<int>(as_type<uint>(v4) * as_type<uint>(256));
    const int v10 = as_type<int>(as_type<uint>(v9) + as_type<uint>(v8));
    const bool v11 = as_type<uint>(v10) < as_type<uint>(v5);
    if (v11) {
      const int v12 = as_type<int>(as_type<uint>(v10) / as_type<uint>(576));
      const int v13 = elementwise_2_arg3[v12];
      const int v14 = v13;
      const int v15 = as_type<int>(as_type<uint>(v14) * as_type<uint>(18));
      const int v16 = as_type<int>(as_type<uint>(v10) % as_type<uint>(576));
      const int v17 = as_type<int>(as_type<uint>(v16) / as_type<uint>(32));
      const int v18 = as_type<int>(as_type<uint>(v15) + as_type<uint>(v17));
      const int v19 = as_type<int>(as_type<uint>(v18) * as_type<uint>(1));
      const half v20 = elementwise_2_arg1[v19];
      const int v21 = as_type<int>(as_type<uint>(v18) * as_type<uint>(32));
      const int v22 = as_type<int>(as_type<uint>(v16) % as_type<uint>(32));
      const int v23 = as_type<int>(as_type<uint>(v21) + as_type<uint>(v22));
      const int v24 = as_type<int>(as_type<uint>(v23) / as_type<uint>(4));
      const int v25 = elementwise_2_arg0[v24];
      const int v26 = as_type<int>(as_type<uint>(v23) % as_type<uint>(4));
      const int v27 = as_type<int>(as_type<uint>(v26) * as_type<uint>(8));
      const int v28 = v27;
      const int v29 = as_type<int>(as_type<uint>(v25) >> (as_type<uint>(v28) & 31u));
      const int v30 = v29 & 255;
      const int v31 = v30 ^ 128;
      const int v32 = v31 | 1258291200;
      const float v33 = as_type<float>(v32);
      const float v34 = v33 - 8.388736e+06f;
      const float v35 = float(v20);
      const float v36 = v35 * v34;
      elementwise_2_arg4[v12 * 576 + v16] = v36;
    } else {
    }
  } else {
  }
}

