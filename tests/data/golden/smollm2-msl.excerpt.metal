// gpu.module @kernels > gpu.func @elementwise_2
struct elementwise_2_Params {
  int arg1;
};
// threadgroup size 256 x 1 x 1 (the host schedule's block)
[[max_total_threads_per_threadgroup(256)]]
kernel void elementwise_2(device const int* elementwise_2_arg0 [[buffer(0)]],
    device const int* elementwise_2_arg2 [[buffer(1)]],
    device float* elementwise_2_arg3 [[buffer(2)]],
    constant elementwise_2_Params& elementwise_2_params [[buffer(3)]],
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
  const int v8 = as_type<int>(as_type<uint>(elementwise_2_params.arg1) * as_type<uint>(576));
  const bool v9 = as_type<uint>(v7) < as_type<uint>(v8);
  if (v9) {
    const int v10 = as_type<int>(as_type<uint>(v7) % as_type<uint>(576));
    const int v11 = as_type<int>(as_type<uint>(v7) / as_type<uint>(576));
    const int v12 = elementwise_2_arg2[v11];
    const int v13 = v12;
    const int v14 = as_type<int>(as_type<uint>(v10) / as_type<uint>(32));
    const int v15 = as_type<int>(as_type<uint>(v13) * as_type<uint>(612));
    const int v16 = as_type<int>(as_type<uint>(v14) * as_type<uint>(34));
    const int v17 = as_type<int>(as_type<uint>(v15) + as_type<uint>(v16));
    const int v18 = as_type<int>(as_type<uint>(v17) / as_type<uint>(4));
    const int v19 = elementwise_2_arg0[v18];
    const int v20 = as_type<int>(as_type<uint>(v17) % as_type<uint>(4));
    const int v21 = as_type<int>(as_type<uint>(v20) * as_type<uint>(8));
    const int v22 = v21;
    const int v23 = as_type<int>(as_type<uint>(v19) >> (as_type<uint>(v22) & 31u));
    const float v24 = float(as_type<half2>(as_type<uint>(v23)).x);
    const int v25 = as_type<int>(as_type<uint>(v10) % as_type<uint>(32));
    const int v26 = as_type<int>(as_type<uint>(2) + as_type<uint>(v25));
    const int v27 = as_type<int>(as_type<uint>(v17) + as_type<uint>(v26));
    const int v28 = as_type<int>(as_type<uint>(v27) / as_type<uint>(4));
    const int v29 = elementwise_2_arg0[v28];
    const int v30 = as_type<int>(as_type<uint>(v27) % as_type<uint>(4));
    const int v31 = as_type<int>(as_type<uint>(v30) * as_type<uint>(8));
    const int v32 = v31;
    const int v33 = as_type<int>(as_type<uint>(v29) >> (as_type<uint>(v32) & 31u));
    const int v34 = v33 & 255;
    const int v35 = as_type<int>(as_type<uint>(v34) << (as_type<uint>(24) & 31u));
    const int v36 = v35 >> (as_type<uint>(24) & 31u);
    const float v37 = float(v36);
    const float v38 = v24 * v37;
    elementwise_2_arg3[v11 * 576 + v10] = v38;
  } else {
  }
}

