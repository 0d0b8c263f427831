// RUN: rusty-opt %s -p convert-tiled-to-gpu --split-input-file | filecheck %s
// RUN: rusty-opt %s -p convert-tiled-to-gpu --split-input-file | rusty-translate --to-wgsl --split-input-file | filecheck %s --check-prefix=WGSL
// tests/passes/test_convert_tiled_to_gpu.py runs the first case on wgpu against numpy.

// Two kernels of one step: y = 3 x + 1 over ceildiv(S * 8, 64) workgroups, then one
// workgroup per row sums the row through workgroup memory.
// CHECK-LABEL: builtin.module attributes {gpu.container_module}
// CHECK:       func.func @step(%[[X:.*]]: memref<?x8xf32>, %[[Y:.*]]: memref<?x8xf32>, %[[SUMS:.*]]: memref<?xf32>, %[[S:.*]]: index) {
// CHECK-DAG:     %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG:     %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG:     %[[C64:.*]] = arith.constant 64 : index
// CHECK:         %[[ELEMS:.*]] = arith.muli %[[S]], %[[C8]] : index
// CHECK-NEXT:    %[[GX:.*]] = arith.ceildivui %[[ELEMS]], %[[C64]] : index
// CHECK-NEXT:    %[[WX:.*]] = arith.constant 64 : index
// CHECK-NEXT:    %[[W1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    gpu.launch_func @kernels::@axpb blocks in (%[[GX]], %[[C1]], %[[C1]]) threads in (%[[WX]], %[[W1]], %[[W1]]) args(%[[X]] : memref<?x8xf32>, %[[Y]] : memref<?x8xf32>, %[[S]] : index)
// CHECK:         gpu.launch_func @kernels::@rowsum blocks in (%[[S]], %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) args(%[[Y]] : memref<?x8xf32>, %[[SUMS]] : memref<?xf32>, %[[S]] : index)
// CHECK-NEXT:    func.return
// CHECK:       gpu.module @kernels {
// CHECK-NEXT:    gpu.func @axpb(%{{.*}}: memref<?x8xf32>, %{{.*}}: memref<?x8xf32>, %{{.*}}: index) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
// CHECK:           gpu.return
// CHECK-NEXT:    }
// CHECK-NEXT:    gpu.func @rowsum(%{{.*}}: memref<?x8xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: index) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
// CHECK:           %{{.*}} = memref.alloca() : memref<64xf32, 3 : i64>
// CHECK:           gpu.barrier
// CHECK-NOT:   tiled.
// WGSL:        fn axpb(
// WGSL:        var<workgroup> rowsum_red: array<f32, 64>;
// WGSL:        fn rowsum(
func.func @step(%x: memref<?x8xf32>, %y: memref<?x8xf32>, %sums: memref<?xf32>, %s: index) {
  tiled.kernel "axpb"(%x, %y, %s) {workgroup_size = array<i64: 64, 1, 1>} : memref<?x8xf32>, memref<?x8xf32>, index grid {
  ^bb0(%a: memref<?x8xf32>, %b: memref<?x8xf32>, %n: index):
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %c64 = arith.constant 64 : index
    %elems = arith.muli %n, %c8 : index
    %gx = arith.ceildivui %elems, %c64 : index
    tiled.yield %gx, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<?x8xf32>, %b: memref<?x8xf32>, %n: index):
    %c8 = arith.constant 8 : index
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %elems = arith.muli %n, %c8 : index
    %in = arith.cmpi ult, %i, %elems : index
    scf.if %in {
      %row = arith.divui %i, %c8 : index
      %col = arith.remui %i, %c8 : index
      %v = memref.load %a[%row, %col] : memref<?x8xf32>
      %three = arith.constant 3.0 : f32
      %one = arith.constant 1.0 : f32
      %m = arith.mulf %v, %three : f32
      %r = arith.addf %m, %one : f32
      memref.store %r, %b[%row, %col] : memref<?x8xf32>
    }
    tiled.yield
  }
  tiled.kernel "rowsum"(%y, %sums, %s) {workgroup_size = array<i64: 64, 1, 1>} : memref<?x8xf32>, memref<?xf32>, index grid {
  ^bb0(%a: memref<?x8xf32>, %out: memref<?xf32>, %n: index):
    %c1 = arith.constant 1 : index
    tiled.yield %n, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<?x8xf32>, %out: memref<?xf32>, %n: index):
    %red = memref.alloca() : memref<64xf32, 3>
    %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %row = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c6 = arith.constant 6 : index
    %c8 = arith.constant 8 : index
    %c32 = arith.constant 32 : index
    %zero = arith.constant 0.0 : f32
    %inrow = arith.cmpi ult, %t, %c8 : index
    %v = scf.if %inrow -> (f32) {
      %l = memref.load %a[%row, %t] : memref<?x8xf32>
      scf.yield %l : f32
    } else {
      scf.yield %zero : f32
    }
    memref.store %v, %red[%t] : memref<64xf32, 3>
    "gpu.barrier"() : () -> ()
    scf.for %k = %c0 to %c6 step %c1 {
      %st = arith.shrui %c32, %k : index
      %active = arith.cmpi ult, %t, %st : index
      scf.if %active {
        %other = arith.addi %t, %st : index
        %p = memref.load %red[%t] : memref<64xf32, 3>
        %q = memref.load %red[%other] : memref<64xf32, 3>
        %sm = arith.addf %p, %q : f32
        memref.store %sm, %red[%t] : memref<64xf32, 3>
      }
      "gpu.barrier"() : () -> ()
    }
    %first = arith.cmpi eq, %t, %c0 : index
    scf.if %first {
      %total = memref.load %red[%c0] : memref<64xf32, 3>
      memref.store %total, %out[%row] : memref<?xf32>
    }
    tiled.yield
  }
  func.return
}

// -----

// A quantized weight is already the words the kernel binds (memref<34xi32>): launched as it is, with no cast (an f16
// weight would be cast to its words with builtin.unrealized_conversion_cast); kernels inside a loop are launched in the loop; equal labels get suffixes and
// an existing gpu.module @kernels is reused.
// CHECK:       gpu.module @kernels {
// CHECK-NEXT:    gpu.func @gemv() kernel attributes {gpu.known_block_size = array<i32: 1, 1, 1>} {
// CHECK:         gpu.func @gemv_1(%{{.*}}: memref<34xi32>, %{{.*}}: memref<4xf32>) kernel attributes {known_block_size = array<i32: 32, 1, 1>} {
// CHECK:         gpu.func @gemv_2(%{{.*}}: memref<34xi32>, %{{.*}}: memref<4xf32>) kernel attributes {known_block_size = array<i32: 32, 1, 1>} {
// CHECK-LABEL: func.func @quantized
// CHECK-SAME:  (%[[W:[^:]*]]: memref<34xi32> {rquant.stored = tensor<4x32x!rquant.q8_0>}, %[[OUT:.*]]: memref<4xf32>, %[[N:.*]]: index)
// CHECK:         scf.for
// CHECK-NOT:       builtin.unrealized_conversion_cast
// CHECK:           gpu.launch_func @kernels::@gemv_1 blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) args(%[[W]] : memref<34xi32>, %[[OUT]] : memref<4xf32>)
// CHECK:         gpu.launch_func @kernels::@gemv_2 blocks in
// WGSL:        fn gemv_1(
// WGSL:        fn gemv_2(
"gpu.module"() <{sym_name = "kernels"}> ({
  "gpu.func"() <{function_type = () -> (), kernel}> ({
    "gpu.return"() : () -> ()
  }) {sym_name = "gemv", gpu.known_block_size = array<i32: 1, 1, 1>} : () -> ()
}) : () -> ()
func.func @quantized(%w: memref<34xi32> {rquant.stored = tensor<4x32x!rquant.q8_0>}, %out: memref<4xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    tiled.kernel "gemv"(%w, %out) {workgroup_size = array<i64: 32, 1, 1>} : memref<34xi32>, memref<4xf32> grid {
    ^bb0(%a: memref<34xi32>, %o: memref<4xf32>):
      %g1 = arith.constant 1 : index
      %g4 = arith.constant 4 : index
      tiled.yield %g4, %g1, %g1 : index, index, index
    } body {
    ^bb0(%a: memref<34xi32>, %o: memref<4xf32>):
      tiled.yield
    }
  }
  tiled.kernel "gemv"(%w, %out) {workgroup_size = array<i64: 32, 1, 1>} : memref<34xi32>, memref<4xf32> grid {
  ^bb0(%a: memref<34xi32>, %o: memref<4xf32>):
    %g1 = arith.constant 1 : index
    tiled.yield %g1, %g1, %g1 : index, index, index
  } body {
  ^bb0(%a: memref<34xi32>, %o: memref<4xf32>):
    tiled.yield
  }
  func.return
}
