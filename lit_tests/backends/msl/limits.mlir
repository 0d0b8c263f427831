// RUN: not rusty-translate --to-msl %s --split-input-file 2>&1 | filecheck %s --check-prefix=THREADS
// RUN: not rusty-translate --to-msl %S/Inputs/threadgroup-memory.mlir 2>&1 | filecheck %s --check-prefix=MEMORY
// RUN: rusty-translate --to-wgsl %s | filecheck %s --check-prefix=WGSL
// Apple's limits (the `apple` target description: 1024 threads and 32 KiB of threadgroup
// memory per threadgroup) are checked for every MSL kernel: exceeding one is an error naming
// the kernel and the limit. The WGSL emitter prints the same kernel (the adapter's limits
// are checked when the runtime builds its pipeline).

"gpu.module"() <{sym_name = "big"}> ({
  "gpu.func"() <{function_type = (memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>):
    "gpu.return"() : () -> ()
  }) {sym_name = "too_many_threads", gpu.known_block_size = array<i32: 64, 32, 1>} : () -> ()
}) : () -> ()

// THREADS: limits.mlir:10:{{[0-9]+}}: error: 'gpu.func' op kernel @too_many_threads has 2048 threads per threadgroup; the 'apple' target allows 1024 (max_invocations), in 'gpu.func' @too_many_threads
// THREADS-NOT: Traceback
// MEMORY: threadgroup-memory.mlir:{{[0-9]+}}:{{[0-9]+}}: error: 'gpu.func' op kernel @big_tile needs 40960 bytes of threadgroup memory; the 'apple' target allows 32768 (max_workgroup_memory), in 'gpu.func' @big_tile
// MEMORY-NOT: Traceback
// WGSL: @compute @workgroup_size(64, 32, 1)
