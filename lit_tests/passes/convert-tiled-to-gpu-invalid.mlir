// RUN: rusty-opt %s -p convert-tiled-to-gpu --split-input-file --verify-diagnostics

// A tiled.kernel inside a kernel cannot be launched.
"gpu.module"() <{sym_name = "m"}> ({
  "gpu.func"() <{function_type = (memref<4xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<4xf32>):
    // expected-error @+1 {{a tiled.kernel must be in a host function}}
    tiled.kernel "inner"(%x) {workgroup_size = array<i64: 1, 1, 1>} : memref<4xf32> grid {
    ^bb0(%a: memref<4xf32>):
      %c1 = arith.constant 1 : index
      tiled.yield %c1, %c1, %c1 : index, index, index
    } body {
    ^bb0(%a: memref<4xf32>):
      tiled.yield
    }
    "gpu.return"() : () -> ()
  }) {sym_name = "outer", gpu.known_block_size = array<i32: 1, 1, 1>} : () -> ()
}) : () -> ()
