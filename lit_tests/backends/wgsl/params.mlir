// RUN: rusty-translate --to-wgsl %s | filecheck %s
// Scalar kernel arguments of every type are packed, in argument order, into one uniform
// struct bound after the storage buffers: index/i32/i1 as i32, f32/f16 as f32 (4 bytes each).
// tests/backends/test_wgsl_exec.py runs the kernel with packed params against numpy.

"gpu.module"() <{sym_name = "params"}> ({
  // out = [n, k, s, h, flag ? 1 : -1, s * h], as f32; the buffer sits between the scalars in the signature.
  "gpu.func"() <{function_type = (index, memref<6xf32>, i32, f32, f16, i1) -> (), kernel}> ({
  ^bb0(%n: index, %out: memref<6xf32>, %k: i32, %s: f32, %h: f16, %flag: i1):
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %c5 = arith.constant 5 : index
    %ni = arith.index_cast %n : index to i32
    %nf = arith.sitofp %ni : i32 to f32
    %kf = arith.sitofp %k : i32 to f32
    %hf = arith.extf %h : f16 to f32
    %plus = arith.constant 1.0 : f32
    %minus = arith.constant -1.0 : f32
    %ff = arith.select %flag, %plus, %minus : f32
    %sh = arith.mulf %s, %hf : f32
    memref.store %nf, %out[%c0] : memref<6xf32>
    memref.store %kf, %out[%c1] : memref<6xf32>
    memref.store %s, %out[%c2] : memref<6xf32>
    memref.store %hf, %out[%c3] : memref<6xf32>
    memref.store %ff, %out[%c4] : memref<6xf32>
    memref.store %sh, %out[%c5] : memref<6xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "all_scalars", gpu.known_block_size = array<i32: 1, 1, 1>} : () -> ()
}) : () -> ()

// CHECK:       enable f16;
// CHECK-LABEL: // gpu.module @params > gpu.func @all_scalars
// CHECK-NEXT:  @group(0) @binding(0) var<storage, read_write> all_scalars_out: array<f32>;
// CHECK-NEXT:  struct [[STRUCT:all_scalars_Params]] {
// CHECK-NEXT:    n: i32,
// CHECK-NEXT:    k: i32,
// CHECK-NEXT:    s: f32,
// CHECK-NEXT:    h: f32,
// CHECK-NEXT:    flag: i32,
// CHECK-NEXT:  }
// CHECK-NEXT:  @group(0) @binding(1) var<uniform> [[P:all_scalars_params]]: [[STRUCT]];
// CHECK:         let v_ni: i32 = [[P]].n;
// CHECK:         let v_kf: f32 = f32([[P]].k);
// CHECK-NEXT:    let v_hf: f32 = f32(f16([[P]].h));
// CHECK-NEXT:    let v_ff: f32 = select((-1.0f), 1.0f, ([[P]].flag != 0));
// CHECK-NEXT:    let v_sh: f32 = [[P]].s * v_hf;
