// Two threadgroup arrays of 32 KiB + 8 KiB: over the apple target's 32 KiB (see ../limits.mlir).
"gpu.module"() <{sym_name = "big"}> ({
  "gpu.func"() <{function_type = (memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>):
    %a = memref.alloca() : memref<8192xf32, 3>
    %b = memref.alloca() : memref<2048xf32, 3>
    "gpu.return"() : () -> ()
  }) {sym_name = "big_tile", gpu.known_block_size = array<i32: 256, 1, 1>} : () -> ()
}) : () -> ()
