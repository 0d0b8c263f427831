// RUN: rusty-translate --to-msl %S/../wgsl/upstream-kernel.mlir --split-input-file | filecheck %s
// Upstream-marked kernels (gpu.kernel, known_block_size; custom and generic form) as MSL.

// CHECK:      // gpu.module @kernels > gpu.func @gemv_tanh
// CHECK-NEXT: // threadgroup size 64 x 1 x 1 (the host schedule's block)
// CHECK-NEXT: {{\[\[}}max_total_threads_per_threadgroup(64)]]
// CHECK-NEXT: kernel void gemv_tanh(device const float* gemv_tanh_arg0 {{\[\[}}buffer(0)]],
// CHECK:        tanh(
// CHECK:      {{^}}//{{ }}-----
// CHECK:      kernel void gemv_tanh(device const float* gemv_tanh_arg4 {{\[\[}}buffer(0)]],
