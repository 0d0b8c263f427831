// RUN: rusty-translate --to-wgsl %s | filecheck %s
// A quantized GEMV, out[r] = sum_j W[r, j] * x[j], with W in GGUF Q4_1 blocks read as
// memref<?xi32> words. A block of 32 weights is 5 words (20 bytes, llama.cpp's layout):
// word 0 = f16 scale d (lo half) and f16 min m (hi half), words 1-4 = 16 bytes qs where
// byte i holds element i (low nibble) and element i + 16 (high nibble); w = d * q + m.
// One 32-thread workgroup per row: thread t takes blocks t, t + 32, ..., then a tree
// reduction in workgroup memory. n (columns) is a multiple of 32.
// tests/backends/test_wgsl_kernels.py runs it against numpy.

"gpu.module"() <{sym_name = "quant"}> ({
  "gpu.func"() <{function_type = (memref<?xi32>, memref<?xf32>, memref<?xf32>, index) -> (), kernel}> ({
  ^bb0(%w: memref<?xi32>, %x: memref<?xf32>, %out: memref<?xf32>, %n: index):
    %red = memref.alloca() : memref<32xf32, 3>
    %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %row = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c5 = arith.constant 5 : index
    %c16 = arith.constant 16 : index
    %c32 = arith.constant 32 : index
    %nblocks = arith.divui %n, %c32 : index
    %row_blocks = arith.muli %row, %nblocks : index
    %zero = arith.constant 0.0 : f32
    %mask4 = arith.constant 15 : i32
    %mask8 = arith.constant 255 : i32
    %four = arith.constant 4 : i32
    %eight = arith.constant 8 : i32
    %partial = scf.for %blk = %t to %nblocks step %c32 iter_args(%acc = %zero) -> (f32) {
      %gblk = arith.addi %row_blocks, %blk : index
      %w0 = arith.muli %gblk, %c5 : index
      %head = memref.load %w[%w0] : memref<?xi32>
      %d = rgpu.unpack_f16 %head lo : i32 -> f32
      %m = rgpu.unpack_f16 %head hi : i32 -> f32
      %x0 = arith.muli %blk, %c32 : index
      %bsum = scf.for %q = %c0 to %c4 step %c1 iter_args(%acc_q = %acc) -> (f32) {
        %wq = arith.addi %w0, %q : index
        %wq1 = arith.addi %wq, %c1 : index
        %word = memref.load %w[%wq1] : memref<?xi32>
        %q4 = arith.muli %q, %c4 : index
        %wsum = scf.for %k = %c0 to %c4 step %c1 iter_args(%acc_k = %acc_q) -> (f32) {
          %ki = arith.index_cast %k : index to i32
          %sh = arith.muli %ki, %eight : i32
          %shifted = arith.shrui %word, %sh : i32
          %byte = arith.andi %shifted, %mask8 : i32
          %lo = arith.andi %byte, %mask4 : i32
          %hi = arith.shrui %byte, %four : i32
          %lof = arith.uitofp %lo : i32 to f32
          %hif = arith.uitofp %hi : i32 to f32
          %wlo0 = arith.mulf %d, %lof : f32
          %wlo = arith.addf %wlo0, %m : f32
          %whi0 = arith.mulf %d, %hif : f32
          %whi = arith.addf %whi0, %m : f32
          %e = arith.addi %q4, %k : index
          %xi_lo = arith.addi %x0, %e : index
          %xi_hi = arith.addi %xi_lo, %c16 : index
          %xlo = memref.load %x[%xi_lo] : memref<?xf32>
          %xhi = memref.load %x[%xi_hi] : memref<?xf32>
          %plo = math.fma %wlo, %xlo, %acc_k : f32
          %phi = math.fma %whi, %xhi, %plo : f32
          scf.yield %phi : f32
        }
        scf.yield %wsum : f32
      }
      scf.yield %bsum : f32
    }
    memref.store %partial, %red[%t] : memref<32xf32, 3>
    "gpu.barrier"() : () -> ()
    %steps = arith.constant 5 : index
    scf.for %s_i = %c0 to %steps step %c1 {
      %s = arith.shrui %c16, %s_i : index
      %active = arith.cmpi ult, %t, %s : index
      scf.if %active {
        %other = arith.addi %t, %s : index
        %a = memref.load %red[%t] : memref<32xf32, 3>
        %b = memref.load %red[%other] : memref<32xf32, 3>
        %sm = arith.addf %a, %b : f32
        memref.store %sm, %red[%t] : memref<32xf32, 3>
      }
      "gpu.barrier"() : () -> ()
    }
    %first = arith.cmpi eq, %t, %c0 : index
    scf.if %first {
      %total = memref.load %red[%c0] : memref<32xf32, 3>
      memref.store %total, %out[%row] : memref<?xf32>
    }
    "gpu.return"() : () -> ()
  }) {sym_name = "q4_1_gemv", gpu.known_block_size = array<i32: 32, 1, 1>} : () -> ()
}) : () -> ()

// CHECK-LABEL: // gpu.module @quant > gpu.func @q4_1_gemv
// CHECK-NEXT:  @group(0) @binding(0) var<storage, read> [[W:q4_1_gemv_w]]: array<i32>;
// CHECK:       var<workgroup> q4_1_gemv_red: array<f32, 32>;
// CHECK-NEXT:  @compute @workgroup_size(32, 1, 1)
// CHECK:         let [[HEAD:v_head]]: i32 = [[W]][v_w0];
// CHECK-NEXT:    let [[D:v_d]]: f32 = unpack2x16float(bitcast<u32>([[HEAD]])).x;
// CHECK-NEXT:    let [[M:v_m]]: f32 = unpack2x16float(bitcast<u32>([[HEAD]])).y;
// CHECK:             let v_shifted: i32 = bitcast<i32>(bitcast<u32>(v_word) >> bitcast<u32>(v_sh));
// CHECK-NEXT:        let [[BYTE:v_byte]]: i32 = v_shifted & 255i;
// CHECK-NEXT:        let [[LO:v_lo]]: i32 = [[BYTE]] & 15i;
// CHECK-NEXT:        let [[HI:v_hi]]: i32 = bitcast<i32>(bitcast<u32>([[BYTE]]) >> bitcast<u32>(4i));
// CHECK-NEXT:        let v_lof: f32 = f32(bitcast<u32>([[LO]]));
// CHECK-NEXT:        let v_hif: f32 = f32(bitcast<u32>([[HI]]));
// CHECK-NEXT:        let v_wlo0: f32 = [[D]] * v_lof;
// CHECK-NEXT:        let v_wlo: f32 = v_wlo0 + [[M]];
// CHECK:             let v_plo: f32 = fma(v_wlo, v_xlo, v_wsum);
