// RUN: rusty-opt %s | rusty-opt | filecheck %s
// The gpu level as mlir-opt-22 prints it (this file is its output) parses, with upstream's kernel marker
// (gpu.kernel) and inherent attributes (known_block_size, known_grid_size, upper_bound) kept, and prints back
// the same way (mlir-opt-22 reads it: test_mlir_opt_interop.py). Kernels marked rusty-ir's old way (the `kernel`
// property, gpu.known_block_size): ops.mlir.

// CHECK:      gpu.module @kernels attributes {note = "upstream"} {
// CHECK-NEXT:   gpu.func @helper(%arg0: f32) -> f32 {
// CHECK-NEXT:     gpu.return %arg0 : f32
// CHECK-NEXT:   }
// CHECK-NEXT:   gpu.func @fill(%arg0: memref<?xf32>) kernel attributes {known_block_size = array<i32: 32, 2, 1>, known_grid_size = array<i32: 4, 1, 1>} {
// CHECK-NEXT:     %thread_id_x = gpu.thread_id x upper_bound 32
// CHECK:          gpu.block_id z
// CHECK:          gpu.barrier
// CHECK:          gpu.return
// CHECK-NEXT:   }
// CHECK-NEXT: }
// CHECK:      gpu.launch_func @kernels::@fill blocks in (%c4, %c1, %c1) threads in (%c32, %c2, %c1) dynamic_shared_memory_size %arg1 args(%arg0 : memref<?xf32>)
// CHECK:      gpu.launch_func @kernels::@fill blocks in (%c1_i64, %c1_i64, %c1_i64) threads in (%c1_i64, %c1_i64, %c1_i64) : i64 args(%arg0 : memref<?xf32>)

module attributes {gpu.container_module} {
  gpu.module @kernels attributes {note = "upstream"} {
    gpu.func @helper(%arg0: f32) -> f32 {
      gpu.return %arg0 : f32
    }
    gpu.func @fill(%arg0: memref<?xf32>) kernel attributes {known_block_size = array<i32: 32, 2, 1>, known_grid_size = array<i32: 4, 1, 1>} {
      %thread_id_x = gpu.thread_id  x upper_bound 32
      %thread_id_y = gpu.thread_id  y
      %block_id_z = gpu.block_id  z
      %grid_dim_x = gpu.grid_dim  x
      %global_id_x = gpu.global_id  x
      %cst = arith.constant 1.000000e+00 : f32
      gpu.barrier
      memref.store %cst, %arg0[%global_id_x] : memref<?xf32>
      gpu.return
    }
  }
  func.func @main(%arg0: memref<?xf32>, %arg1: i32) {
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c32 = arith.constant 32 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func  @kernels::@fill blocks in (%c4, %c1, %c1) threads in (%c32, %c2, %c1)  dynamic_shared_memory_size %arg1 args(%arg0 : memref<?xf32>)
    %c1_i64 = arith.constant 1 : i64
    gpu.launch_func  @kernels::@fill blocks in (%c1_i64, %c1_i64, %c1_i64) threads in (%c1_i64, %c1_i64, %c1_i64) : i64 args(%arg0 : memref<?xf32>)
    return
  }
}

