// RUN: rusty-translate --to-wgsl %s | filecheck %s
// memref.load/store: row-major multi-dim global buffers (dynamic outermost dim or fully
// static), packed i32 words, workgroup memory (memref.alloca in space 3 -> var<workgroup>)
// with gpu.barrier, and private arrays (memref.alloca without a space -> function var).
// tests/backends/test_wgsl_exec.py runs every kernel here against numpy.

"gpu.module"() <{sym_name = "memory"}> ({
  // out = a @ b with a: ?x4, b: 4x8 (static), one thread per output element (x = column, y = row).
  "gpu.func"() <{function_type = (memref<?x4xf32>, memref<4x8xf32>, memref<?x8xf32>) -> (), kernel}> ({
  ^bb0(%a: memref<?x4xf32>, %b: memref<4x8xf32>, %out: memref<?x8xf32>):
    %col = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %row = "gpu.global_id"() <{dimension = #gpu<dim y>}> : () -> index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %zero = arith.constant 0.0 : f32
    %dot = scf.for %k = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> (f32) {
      %x = memref.load %a[%row, %k] : memref<?x4xf32>
      %y = memref.load %b[%k, %col] : memref<4x8xf32>
      %p = arith.mulf %x, %y : f32
      %s = arith.addf %acc, %p : f32
      scf.yield %s : f32
    }
    memref.store %dot, %out[%row, %col] : memref<?x8xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "matmul_rows", gpu.known_block_size = array<i32: 8, 4, 1>} : () -> ()

  // out[i] = x[i, 1, 2] - x[i, 0, 1] on a 3-d buffer.
  "gpu.func"() <{function_type = (memref<?x2x3xf32>, memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?x2x3xf32>, %out: memref<?xf32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %u = memref.load %x[%i, %c1, %c2] : memref<?x2x3xf32>
    %v = memref.load %x[%i, %c0, %c1] : memref<?x2x3xf32>
    %d = arith.subf %u, %v : f32
    memref.store %d, %out[%i] : memref<?xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "rank3", gpu.known_block_size = array<i32: 16, 1, 1>} : () -> ()

  // Byte-reverse packed words: out[i] = bswap(w[i]) with shifts and masks.
  "gpu.func"() <{function_type = (memref<?xi32>, memref<?xi32>) -> (), kernel}> ({
  ^bb0(%w: memref<?xi32>, %out: memref<?xi32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %word = memref.load %w[%i] : memref<?xi32>
    %c8 = arith.constant 8 : i32
    %c24 = arith.constant 24 : i32
    %m = arith.constant 65280 : i32
    %b0 = arith.shli %word, %c24 : i32
    %t1 = arith.andi %word, %m : i32
    %b1 = arith.shli %t1, %c8 : i32
    %t2 = arith.shrui %word, %c8 : i32
    %b2 = arith.andi %t2, %m : i32
    %b3 = arith.shrui %word, %c24 : i32
    %o1 = arith.ori %b0, %b1 : i32
    %o2 = arith.ori %b2, %b3 : i32
    %r = arith.ori %o1, %o2 : i32
    memref.store %r, %out[%i] : memref<?xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "bswap", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // Reverse each workgroup's 64 elements through workgroup memory.
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>, %out: memref<?xf32>):
    %tile = memref.alloca() : memref<64xf32, 3>
    %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %g = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %v = memref.load %x[%g] : memref<?xf32>
    memref.store %v, %tile[%t] : memref<64xf32, 3>
    "gpu.barrier"() : () -> ()
    %c63 = arith.constant 63 : index
    %rt = arith.subi %c63, %t : index
    %w = memref.load %tile[%rt] : memref<64xf32, 3>
    memref.store %w, %out[%g] : memref<?xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "reverse_tile", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // A private 2x2 array per thread: fill with x[i] * (k + 1), then out[i] = p[1, 1] - p[0, 0] + p[1, 0].
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>, %out: memref<?xf32>):
    %p = memref.alloca() : memref<2x2xf32>
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %v = memref.load %x[%i] : memref<?xf32>
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %one = arith.constant 1.0 : f32
    scf.for %r = %c0 to %c2 step %c1 {
      scf.for %c = %c0 to %c2 step %c1 {
        %r2 = arith.muli %r, %c2 : index
        %k = arith.addi %r2, %c : index
        %ki = arith.index_cast %k : index to i32
        %kf = arith.sitofp %ki : i32 to f32
        %k1 = arith.addf %kf, %one : f32
        %val = arith.mulf %v, %k1 : f32
        memref.store %val, %p[%r, %c] : memref<2x2xf32>
      }
    }
    %a = memref.load %p[%c1, %c1] : memref<2x2xf32>
    %b = memref.load %p[%c0, %c0] : memref<2x2xf32>
    %c = memref.load %p[%c1, %c0] : memref<2x2xf32>
    %d = arith.subf %a, %b : f32
    %e = arith.addf %d, %c : f32
    memref.store %e, %out[%i] : memref<?xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "private_array", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
}) : () -> ()

// CHECK-LABEL: // gpu.module @memory > gpu.func @matmul_rows
// CHECK-NEXT:  @group(0) @binding(0) var<storage, read> matmul_rows_a: array<f32>;
// CHECK-NEXT:  @group(0) @binding(1) var<storage, read> matmul_rows_b: array<f32>;
// CHECK-NEXT:  @group(0) @binding(2) var<storage, read_write> matmul_rows_out: array<f32>;
// CHECK-NEXT:  @compute @workgroup_size(8, 4, 1)
// CHECK:           let v_x: f32 = matmul_rows_a[v_row * 4 + v_k];
// CHECK-NEXT:      let v_y: f32 = matmul_rows_b[v_k * 8 + v_col];
// CHECK:         matmul_rows_out[v_row * 8 + v_col] = v_dot;

// CHECK-LABEL: // gpu.module @memory > gpu.func @rank3
// CHECK:         let v_u: f32 = rank3_x[v_i * 6 + 1i * 3 + 2i];
// CHECK-NEXT:    let v_v: f32 = rank3_x[v_i * 6 + 0i * 3 + 1i];

// CHECK-LABEL: // gpu.module @memory > gpu.func @bswap
// CHECK:         let v_b0: i32 = v_word << bitcast<u32>(24i);
// CHECK:         let v_t2: i32 = bitcast<i32>(bitcast<u32>(v_word) >> bitcast<u32>(8i));

// Workgroup memory is a module-scope var<workgroup>; gpu.barrier needs no storageBarrier
// here because no storage buffer is both written and read by the kernel.
// CHECK-LABEL: // gpu.module @memory > gpu.func @reverse_tile
// CHECK:       var<workgroup> [[TILE:reverse_tile_tile]]: array<f32, 64>;
// CHECK-NEXT:  @compute @workgroup_size(64, 1, 1)
// CHECK-NEXT:  fn reverse_tile(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
// CHECK-NEXT:    let [[T:v_t]]: i32 = i32(lid.x);
// CHECK:         [[TILE]][[[T]]] = v_v;
// CHECK-NEXT:    workgroupBarrier();
// CHECK-NEXT:    let [[RT:v_rt]]: i32 = 63i - [[T]];
// CHECK-NEXT:    let v_w: f32 = [[TILE]][[[RT]]];

// A memref.alloca without a memory space is a private (function) array.
// CHECK-LABEL: // gpu.module @memory > gpu.func @private_array
// CHECK-NEXT:  @group(0) @binding(0) var<storage, read> private_array_x: array<f32>;
// CHECK-NEXT:  @group(0) @binding(1) var<storage, read_write> private_array_out: array<f32>;
// CHECK-NEXT:  @compute @workgroup_size(64, 1, 1)
// CHECK-NEXT:  fn private_array(@builtin(global_invocation_id) gid: vec3<u32>) {
// CHECK-NEXT:    var [[P:v_p]]: array<f32, 4>;
// CHECK:             [[P]][v_r * 2 + v_c] = v_val;
// CHECK:         let v_a: f32 = [[P]][1i * 2 + 1i];
