// RUN: not rusty-translate --to-schedule %s 2>&1 | filecheck %s
// A host op the schedule cannot express is a located error naming the op and its function.

module attributes {gpu.container_module} {
  func.func @decode(%token: memref<1xi32>, %pos: index, %out: memref<1xi32>) {
    %c0 = arith.constant 0 : index
    %t = memref.load %token[%c0] : memref<1xi32>
    return
  }
}

// CHECK: unsupported-op.mlir:7:{{[0-9]+}}: error: 'memref.load' op the schedule emitter cannot translate this op in a host function, in 'memref.load' (op #1 of its block) in func.func @decode
// CHECK-NOT: Traceback
