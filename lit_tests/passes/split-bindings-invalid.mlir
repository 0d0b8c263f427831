// RUN: rusty-opt %s -p 'split-bindings{max-bytes=128 alignment=64}' --split-input-file --verify-diagnostics
// RUN: not rusty-opt %s -p 'split-bindings{target=mali}' 2>&1 | filecheck %s --check-prefix=TARGET
// RUN: not rusty-opt %s -p 'split-bindings{alignment=6}' 2>&1 | filecheck %s --check-prefix=ALIGN
// RUN: not rusty-opt %s -p 'split-bindings{max-bytes=-1}' 2>&1 | filecheck %s --check-prefix=MAX

// Option values are checked first; each is one error line, no traceback.
// TARGET: error: split-bindings: unknown target 'mali' (known: webgpu, apple, nvidia)
// TARGET-NOT: Traceback
// ALIGN: error: split-bindings: alignment must be a positive multiple of 4, got 6
// MAX: error: split-bindings: max-bytes must be positive, got -1

// Only read-only arguments can be split: a store to one over the limit is refused.
builtin.module attributes {gpu.container_module} {
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<64xf32>) -> (), kernel}> ({
    ^bb0(%out: memref<64xf32>):
      %i = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %v = arith.constant 1.0 : f32
      // expected-error @+1 {{split-bindings: kernel @fill stores to argument #0 (memref<64xf32>, 256 bytes), which is over the 128-byte binding limit: only read-only arguments can be split into parts}}
      memref.store %v, %out[%i] : memref<64xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "fill", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
}

// -----

// A row of 96 bytes: parts must start at multiples of 64 bytes, so hold a multiple of
// 2 rows (192 bytes), which is over the 128-byte limit.
builtin.module attributes {gpu.container_module} {
  "gpu.module"() <{sym_name = "kernels"}> ({
    // expected-error @+1 {{split-bindings: kernel @rows: argument #0 (memref<4x24xf32>) cannot be split into parts of whole rows: a row is 96 bytes, a part must start at a multiple of 64 bytes (so hold a multiple of 192 bytes) and bind at most 128 bytes}}
    "gpu.func"() <{function_type = (memref<4x24xf32>, memref<?xf32>) -> (), kernel}> ({
    ^bb0(%w: memref<4x24xf32>, %out: memref<?xf32>):
      %i = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %v = memref.load %w[%i, %i] : memref<4x24xf32>
      memref.store %v, %out[%i] : memref<?xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "rows", gpu.known_block_size = array<i32: 4, 1, 1>} : () -> ()
  }) : () -> ()
}

// -----

// Any use other than memref.load and vector.load (here a view) is refused rather than left reading one part.
builtin.module attributes {gpu.container_module} {
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<64xf32>, memref<?xf32>) -> (), kernel}> ({
    ^bb0(%w: memref<64xf32>, %out: memref<?xf32>):
      %i = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      // expected-error @+1 {{split-bindings: kernel @view: argument #0 (memref<64xf32>, 256 bytes, over the 128-byte binding limit) is used by 'memref.cast'; only memref.load and vector.load of a split argument are supported}}
      %c = "memref.cast"(%w) : (memref<64xf32>) -> memref<?xf32>
      %v = memref.load %c[%i] : memref<?xf32>
      memref.store %v, %out[%i] : memref<?xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "view", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
}
