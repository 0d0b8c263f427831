// RUN: rusty-opt %s --split-input-file | filecheck %s
// RUN: %roundtrip

// A kernel over a buffer and the token count: the grid computes the workgroup counts on the
// host, the body stores through gpu ids; both regions take one argument per kernel operand.
// CHECK-LABEL: func.func @scale
// CHECK-SAME:  (%[[X:.*]]: memref<?xf32>, %[[Y:.*]]: memref<?xf32>, %[[N:.*]]: index)
// CHECK-NEXT:    tiled.kernel "scale"(%[[X]], %[[Y]], %[[N]]) {workgroup_size = array<i64: 64, 1, 1>} : memref<?xf32>, memref<?xf32>, index grid {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %[[GN:.*]]: index):
// CHECK-NEXT:      %[[C64:.*]] = arith.constant 64 : index
// CHECK-NEXT:      %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[GX:.*]] = arith.ceildivui %[[GN]], %[[C64]] : index
// CHECK-NEXT:      tiled.yield %[[GX]], %[[C1]], %[[C1]] : index, index, index
// CHECK-NEXT:    } body {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: memref<?xf32>, %[[B:.*]]: memref<?xf32>, %{{.*}}: index):
// CHECK-NEXT:      %[[I:.*]] = gpu.global_id x
// CHECK-NEXT:      %[[V:.*]] = memref.load %[[A]][%[[I]]] : memref<?xf32>
// CHECK-NEXT:      memref.store %[[V]], %[[B]][%[[I]]] : memref<?xf32>
// CHECK-NEXT:      tiled.yield
// CHECK-NEXT:    }
func.func @scale(%x: memref<?xf32>, %y: memref<?xf32>, %n: index) {
  tiled.kernel "scale"(%x, %y, %n) {workgroup_size = array<i64: 64, 1, 1>} : memref<?xf32>, memref<?xf32>, index grid {
  ^bb0(%a: memref<?xf32>, %b: memref<?xf32>, %m: index):
    %c64 = arith.constant 64 : index
    %c1 = arith.constant 1 : index
    %gx = arith.ceildivui %m, %c64 : index
    tiled.yield %gx, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<?xf32>, %b: memref<?xf32>, %m: index):
    %i = gpu.global_id x
    %v = memref.load %a[%i] : memref<?xf32>
    memref.store %v, %b[%i] : memref<?xf32>
    tiled.yield
  }
  func.return
}

// -----

// A quantized weight operand (the words of its bytes) is bound in both regions as those words.
// CHECK-LABEL: func.func @quantized_operand
// CHECK-SAME:  (%[[W:[^:]*]]: memref<34xi32> {rquant.stored = tensor<4x32x!rquant.q8_0>})
// CHECK-NEXT:    tiled.kernel "gemv"(%[[W]]) {workgroup_size = array<i64: 32, 2, 1>} : memref<34xi32> grid {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<34xi32>):
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<34xi32>):
// CHECK-NEXT:      tiled.yield
func.func @quantized_operand(%w: memref<34xi32> {rquant.stored = tensor<4x32x!rquant.q8_0>}) {
  tiled.kernel "gemv"(%w) {workgroup_size = array<i64: 32, 2, 1>} : memref<34xi32> grid {
  ^bb0(%a: memref<34xi32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<34xi32>):
    tiled.yield
  }
  func.return
}
