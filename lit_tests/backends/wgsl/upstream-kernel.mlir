// RUN: rusty-translate --to-wgsl %s --split-input-file | filecheck %s
// A kernel marked the upstream way: gpu.kernel (`kernel` in the custom form), known_block_size as an inherent
// attribute, inside gpu.module, launched by gpu.launch_func; both chunks are mlir-opt-22's output for the same
// source (custom form, then --mlir-print-op-generic). tests/backends/test_upstream_kernels.py runs both
// on the wgpu adapter against numpy; lit_tests/backends/msl/upstream-kernel.mlir prints them as MSL.

// CHECK:      // gpu.module @kernels > gpu.func @gemv_tanh
// CHECK-NEXT: @group(0) @binding(0) var<storage, read> gemv_tanh_arg0: array<f32>;
// CHECK:      @group(0) @binding(3) var<storage, read_write> gemv_tanh_arg3: array<f32>;
// CHECK-NEXT: @compute @workgroup_size(64, 1, 1)
// CHECK-NEXT: fn gemv_tanh(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
// CHECK:        let v0: i32 = v_block_id_x * 64i;
// CHECK:        for (var v_arg4: i32 = 0i; v_arg4 < 32i; v_arg4 = v_arg4 + 1i) {
// CHECK:        let v9: f32 = tanh(v8);
// CHECK-NEXT:   gemv_tanh_arg3[v1] = v9;
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @gemv_tanh(%arg0: memref<128x32xf32>, %arg1: memref<32xf32>, %arg2: memref<128xf32>, %arg3: memref<128xf32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
      %thread_id_x = gpu.thread_id  x
      %block_id_x = gpu.block_id  x
      %block_dim_x = gpu.block_dim  x
      %0 = arith.muli %block_id_x, %block_dim_x : index
      %1 = arith.addi %0, %thread_id_x : index
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c32 = arith.constant 32 : index
      %cst = arith.constant 0.000000e+00 : f32
      %2 = scf.for %arg4 = %c0 to %c32 step %c1 iter_args(%arg5 = %cst) -> (f32) {
        %6 = memref.load %arg0[%1, %arg4] : memref<128x32xf32>
        %7 = memref.load %arg1[%arg4] : memref<32xf32>
        %8 = arith.mulf %6, %7 : f32
        %9 = arith.addf %arg5, %8 : f32
        scf.yield %9 : f32
      }
      %3 = memref.load %arg2[%1] : memref<128xf32>
      %4 = arith.addf %2, %3 : f32
      %5 = math.tanh %4 : f32
      memref.store %5, %arg3[%1] : memref<128xf32>
      gpu.return
    }
  }
  func.func @forward(%arg0: memref<128x32xf32>, %arg1: memref<32xf32>, %arg2: memref<128xf32>, %arg3: memref<128xf32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func  @kernels::@gemv_tanh blocks in (%c2, %c1, %c1) threads in (%c64, %c1, %c1)  args(%arg0 : memref<128x32xf32>, %arg1 : memref<32xf32>, %arg2 : memref<128xf32>, %arg3 : memref<128xf32>)
    return
  }
}

// -----

// CHECK:      // gpu.module @kernels > gpu.func @gemv_tanh
// CHECK-NEXT: @group(0) @binding(0) var<storage, read> gemv_tanh_arg4: array<f32>;
// CHECK:      @compute @workgroup_size(64, 1, 1)
// CHECK:        let v11: f32 = tanh(v10);
// CHECK-NEXT:   gemv_tanh_arg7[v3] = v11;
"builtin.module"() ({
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<128x32xf32>, memref<32xf32>, memref<128xf32>, memref<128xf32>) -> (), known_block_size = array<i32: 64, 1, 1>}> ({
    ^bb0(%arg4: memref<128x32xf32>, %arg5: memref<32xf32>, %arg6: memref<128xf32>, %arg7: memref<128xf32>):
      %3 = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %4 = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
      %5 = "gpu.block_dim"() <{dimension = #gpu<dim x>}> : () -> index
      %6 = "arith.muli"(%4, %5) <{overflowFlags = #arith.overflow<none>}> : (index, index) -> index
      %7 = "arith.addi"(%6, %3) <{overflowFlags = #arith.overflow<none>}> : (index, index) -> index
      %8 = "arith.constant"() <{value = 0 : index}> : () -> index
      %9 = "arith.constant"() <{value = 1 : index}> : () -> index
      %10 = "arith.constant"() <{value = 32 : index}> : () -> index
      %11 = "arith.constant"() <{value = 0.000000e+00 : f32}> : () -> f32
      %12 = "scf.for"(%8, %10, %9, %11) ({
      ^bb0(%arg8: index, %arg9: f32):
        %16 = "memref.load"(%arg4, %7, %arg8) : (memref<128x32xf32>, index, index) -> f32
        %17 = "memref.load"(%arg5, %arg8) : (memref<32xf32>, index) -> f32
        %18 = "arith.mulf"(%16, %17) <{fastmath = #arith.fastmath<none>}> : (f32, f32) -> f32
        %19 = "arith.addf"(%arg9, %18) <{fastmath = #arith.fastmath<none>}> : (f32, f32) -> f32
        "scf.yield"(%19) : (f32) -> ()
      }) : (index, index, index, f32) -> f32
      %13 = "memref.load"(%arg6, %7) : (memref<128xf32>, index) -> f32
      %14 = "arith.addf"(%12, %13) <{fastmath = #arith.fastmath<none>}> : (f32, f32) -> f32
      %15 = "math.tanh"(%14) <{fastmath = #arith.fastmath<none>}> : (f32) -> f32
      "memref.store"(%15, %arg7, %7) : (f32, memref<128xf32>, index) -> ()
      "gpu.return"() : () -> ()
    }) {gpu.kernel, sym_name = "gemv_tanh", workgroup_attributions = 0 : i64} : () -> ()
  }) : () -> ()
  "func.func"() <{function_type = (memref<128x32xf32>, memref<32xf32>, memref<128xf32>, memref<128xf32>) -> (), sym_name = "forward"}> ({
  ^bb0(%arg0: memref<128x32xf32>, %arg1: memref<32xf32>, %arg2: memref<128xf32>, %arg3: memref<128xf32>):
    %0 = "arith.constant"() <{value = 1 : index}> : () -> index
    %1 = "arith.constant"() <{value = 2 : index}> : () -> index
    %2 = "arith.constant"() <{value = 64 : index}> : () -> index
    "gpu.launch_func"(%1, %0, %0, %2, %0, %0, %arg0, %arg1, %arg2, %arg3) <{kernel = @kernels::@gemv_tanh, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 4, 0>}> : (index, index, index, index, index, index, memref<128x32xf32>, memref<32xf32>, memref<128xf32>, memref<128xf32>) -> ()
    "func.return"() : () -> ()
  }) : () -> ()
}) {gpu.container_module} : () -> ()

