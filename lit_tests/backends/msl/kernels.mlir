// RUN: rusty-translate --to-msl %S/../wgsl/kernels/q4-dot.mlir | filecheck %s --check-prefix=Q4
// RUN: rusty-translate --to-msl %S/../wgsl/kernels/softmax.mlir | filecheck %s --check-prefix=SOFTMAX
// RUN: rusty-translate --to-msl %S/../wgsl/rgpu.mlir | filecheck %s --check-prefix=RGPU
// RUN: rusty-translate --to-msl %S/../wgsl/f16.mlir | filecheck %s --check-prefix=F16
// The WGSL backend's kernels printed as MSL: buffers and the params struct are kernel
// parameters at the WGSL binding indices, threadgroup arrays are kernel-scope, builtins
// are attributed parameters; i32 arithmetic wraps through uint.
// tests/backends/test_wgsl_exec.py and test_wgsl_kernels.py run all of them on the CPU.

// Q4: // Metal Shading Language emitted by rusty-ir
// Q4-NEXT: #include <metal_stdlib>
// Q4-NEXT: using namespace metal;
// Q4-LABEL: // gpu.module @quant > gpu.func @q4_1_gemv
// Q4-NEXT: struct q4_1_gemv_Params {
// Q4-NEXT:   int n;
// Q4-NEXT: };
// Q4-NEXT: // threadgroup size 32 x 1 x 1 (the host schedule's block)
// Q4-NEXT: {{\[\[}}max_total_threads_per_threadgroup(32)]]
// Q4-NEXT: kernel void q4_1_gemv(device const int* q4_1_gemv_w {{\[\[}}buffer(0)]],
// Q4-NEXT:     device const float* q4_1_gemv_x {{\[\[}}buffer(1)]],
// Q4-NEXT:     device float* q4_1_gemv_out {{\[\[}}buffer(2)]],
// Q4-NEXT:     constant q4_1_gemv_Params& q4_1_gemv_params {{\[\[}}buffer(3)]],
// Q4-NEXT:     uint3 lid {{\[\[}}thread_position_in_threadgroup]],
// Q4-NEXT:     uint3 wid {{\[\[}}threadgroup_position_in_grid]]) {
// Q4-NEXT:   threadgroup float q4_1_gemv_red[32];
// Q4-NEXT:   const int v_t = int(lid.x);
// Q4:        const int v_head = q4_1_gemv_w[v_w0];
// Q4-NEXT:   const float v_d = float(as_type<half2>(as_type<uint>(v_head)).x);
// Q4-NEXT:   const float v_m = float(as_type<half2>(as_type<uint>(v_head)).y);
// Q4:        const int v_shifted = as_type<int>(as_type<uint>(v_word) >> (as_type<uint>(v_sh) & 31u));
// Q4:        const float v_lof = float(as_type<uint>(v_lo));
// Q4:        const float v_plo = fma(v_wlo, v_xlo, v_wsum);
// Q4:        threadgroup_barrier(mem_flags::mem_threadgroup);

// SOFTMAX-LABEL: kernel void softmax_rows(
// SOFTMAX:   float v_pmax = as_type<float>(0xff800000u);
// SOFTMAX-NEXT: for (int v_j = v_t; v_j < softmax_rows_params.n; v_j = v_j + 64) {
// SOFTMAX:   const float v_e = exp(v_d);

// RGPU-LABEL: kernel void subgroup_sum(device const float* subgroup_sum_x {{\[\[}}buffer(0)]],
// RGPU-NEXT:     device float* subgroup_sum_out {{\[\[}}buffer(1)]],
// RGPU-NEXT:     uint3 gid {{\[\[}}thread_position_in_grid]],
// RGPU-NEXT:     uint sg_lane {{\[\[}}thread_index_in_simdgroup]],
// RGPU-NEXT:     uint sg_size {{\[\[}}threads_per_simdgroup]]) {
// RGPU:   const float v_sum = simd_sum(v_v);

// F16-NOT: enable f16
// F16-LABEL: kernel void half_ops(device const half* half_ops_x {{\[\[}}buffer(0)]],
// F16:   const half v_h = half_ops_x[v_i];
// F16:   const half v_t = half(v_yf);
// F16-NEXT:   const half v_sum = v_h + v_t;
// F16:   const half v_max = max(v_h, half(2.5f));
// F16-NEXT:   const float v_wide = float(v_prod);
// F16:   half_ops_out16[v_i * 4 + 3] = as_type<half>(ushort(0x7c00));
