// RUN: not rusty-translate --to-wgsl %s 2>&1 | filecheck %s
// Kernel buffers are row-major arrays: only the outermost dimension may be dynamic.

"gpu.module"() <{sym_name = "bad"}> ({
  "gpu.func"() <{function_type = (memref<4x?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<4x?xf32>):
    "gpu.return"() : () -> ()
  }) {sym_name = "inner_dynamic", gpu.known_block_size = array<i32: 1, 1, 1>} : () -> ()
}) : () -> ()

// CHECK: unsupported-memref.mlir:5:{{[0-9]+}}: error: 'gpu.func' op memref type memref<4x?xf32>: only the outermost dimension may be dynamic, in 'gpu.func' @inner_dynamic (op #0 of its block) in gpu.module @bad
// CHECK-NOT: Traceback
