// RUN: rusty-translate --to-wgsl %s | filecheck %s
// f16: storage buffers of f16, f16 arithmetic and constants (with a special value),
// extf/truncf; any f16 in the module makes the emitter print `enable f16;`.
// tests/backends/test_wgsl_exec.py runs the kernel against numpy.

"gpu.module"() <{sym_name = "half"}> ({
  // h = x[i] (f16), t = truncf(y[i]); out16[i] = [h + t, h * t, max(h, 2.5), inf]; out32[i] = extf(h * t).
  "gpu.func"() <{function_type = (memref<?xf16>, memref<?xf32>, memref<?x4xf16>, memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf16>, %y: memref<?xf32>, %out16: memref<?x4xf16>, %out32: memref<?xf32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %h = memref.load %x[%i] : memref<?xf16>
    %yf = memref.load %y[%i] : memref<?xf32>
    %t = arith.truncf %yf : f32 to f16
    %sum = arith.addf %h, %t : f16
    %prod = arith.mulf %h, %t : f16
    %c = arith.constant 2.5 : f16
    %max = arith.maximumf %h, %c : f16
    %inf = arith.constant 0x7C00 : f16
    %wide = arith.extf %prod : f16 to f32
    %k0 = arith.constant 0 : index
    %k1 = arith.constant 1 : index
    %k2 = arith.constant 2 : index
    %k3 = arith.constant 3 : index
    memref.store %sum, %out16[%i, %k0] : memref<?x4xf16>
    memref.store %prod, %out16[%i, %k1] : memref<?x4xf16>
    memref.store %max, %out16[%i, %k2] : memref<?x4xf16>
    memref.store %inf, %out16[%i, %k3] : memref<?x4xf16>
    memref.store %wide, %out32[%i] : memref<?xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "half_ops", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
}) : () -> ()

// CHECK:       enable f16;
// CHECK-LABEL: // gpu.module @half > gpu.func @half_ops
// CHECK-NEXT:  @group(0) @binding(0) var<storage, read> half_ops_x: array<f16>;
// CHECK:       @group(0) @binding(2) var<storage, read_write> half_ops_out16: array<f16>;
// CHECK:         let [[H:v_h]]: f16 = half_ops_x[v_i];
// CHECK-NEXT:    let v_yf: f32 = half_ops_y[v_i];
// CHECK-NEXT:    let [[T:v_t]]: f16 = f16(v_yf);
// CHECK-NEXT:    let v_sum: f16 = [[H]] + [[T]];
// CHECK-NEXT:    let [[PROD:v_prod]]: f16 = [[H]] * [[T]];
// CHECK-NEXT:    let v_max: f16 = max([[H]], 2.5h);
// CHECK-NEXT:    let v_wide: f32 = f32([[PROD]]);
// CHECK:         half_ops_out16[v_i * 4 + 3i] = f16(unpack2x16float(0x7c00u).x);
