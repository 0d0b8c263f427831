// RUN: not rusty-translate --to-wgsl %s 2>&1 | filecheck %s
// A type WGSL lacks (i64 here) must be legalized before printing; the emitter points at the op.

"gpu.module"() <{sym_name = "bad"}> ({
  "gpu.func"() <{function_type = (memref<?xi32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xi32>):
    %c0 = arith.constant 0 : index
    %v = memref.load %x[%c0] : memref<?xi32>
    %w = arith.extsi %v : i32 to i64
    "gpu.return"() : () -> ()
  }) {sym_name = "widen", gpu.known_block_size = array<i32: 1, 1, 1>} : () -> ()
}) : () -> ()

// CHECK: unsupported-type.mlir:9:{{[0-9]+}}: error: 'arith.extsi' op type i64 has no WGSL equivalent (legalize it before printing)
// CHECK-NOT: Traceback
