// RUN: not rusty-translate --to-wgsl %s 2>&1 | filecheck %s
// An op the emitter does not print is a located error naming the op and its kernel.

"gpu.module"() <{sym_name = "bad"}> ({
  "gpu.func"() <{function_type = (memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>):
    %c0 = arith.constant 0 : index
    %v = memref.load %x[%c0] : memref<?xf32>
    %w = math.atan %v : f32
    memref.store %w, %x[%c0] : memref<?xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "uses_atan", gpu.known_block_size = array<i32: 1, 1, 1>} : () -> ()
}) : () -> ()

// CHECK: unsupported.mlir:9:{{[0-9]+}}: error: 'math.atan' op the WGSL emitter cannot print this op, in 'math.atan' (op #2 of its block) in gpu.module @bad > gpu.func @uses_atan
// CHECK-NOT: Traceback
