// RUN: not rusty-translate --to-schedule %s 2>&1 | filecheck %s
// Every host buffer must have a slot from plan-memory.

module attributes {gpu.container_module} {
  func.func @prefill(%tokens: memref<?xi32>, %pos: index, %out: memref<1xi32>) {
    %c0 = arith.constant 0 : index
    %S = memref.dim %tokens, %c0 : memref<?xi32>
    %h = memref.alloc(%S) : memref<?x8xf32>
    return
  }
}

// CHECK: alloc-without-slot.mlir:8:{{[0-9]+}}: error: 'memref.alloc' op memref.alloc has no rusty.slot attribute (run plan-memory first)
