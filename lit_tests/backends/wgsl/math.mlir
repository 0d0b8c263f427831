// RUN: rusty-translate --to-wgsl %s | filecheck %s
// math ops, including erf (a helper function: WGSL has none) and tanh of large arguments.
// tests/backends/test_wgsl_exec.py runs the kernel against numpy.

"gpu.module"() <{sym_name = "math"}> ({
  // math ops on x = a[i] > 0 and y = x - 3: out[i, k] = op_k (tanh of 10 y, powf(x, y), fma(x, y, x)).
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?x17xf32>) -> (), kernel}> ({
  ^bb0(%a: memref<?xf32>, %out: memref<?x17xf32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %x = memref.load %a[%i] : memref<?xf32>
    %three = arith.constant 3.0 : f32
    %y = arith.subf %x, %three : f32
    %ten = arith.constant 10.0 : f32
    %y10 = arith.mulf %y, %ten : f32
    %exp = math.exp %y : f32
    %tanh = math.tanh %y10 : f32
    %rsqrt = math.rsqrt %x : f32
    %sqrt = math.sqrt %x : f32
    %log = math.log %x : f32
    %absf = math.absf %y : f32
    %exp2 = math.exp2 %y : f32
    %log2 = math.log2 %x : f32
    %floor = math.floor %y : f32
    %ceil = math.ceil %y : f32
    %sin = math.sin %y : f32
    %cos = math.cos %y : f32
    %roundeven = math.roundeven %y : f32
    %trunc = math.trunc %y : f32
    %erf = math.erf %y : f32
    %powf = math.powf %x, %y : f32
    %fma = math.fma %x, %y, %x : f32
    %k0 = arith.constant 0 : index
    %k1 = arith.constant 1 : index
    %k2 = arith.constant 2 : index
    %k3 = arith.constant 3 : index
    %k4 = arith.constant 4 : index
    %k5 = arith.constant 5 : index
    %k6 = arith.constant 6 : index
    %k7 = arith.constant 7 : index
    %k8 = arith.constant 8 : index
    %k9 = arith.constant 9 : index
    %k10 = arith.constant 10 : index
    %k11 = arith.constant 11 : index
    %k12 = arith.constant 12 : index
    %k13 = arith.constant 13 : index
    %k14 = arith.constant 14 : index
    %k15 = arith.constant 15 : index
    %k16 = arith.constant 16 : index
    memref.store %exp, %out[%i, %k0] : memref<?x17xf32>
    memref.store %tanh, %out[%i, %k1] : memref<?x17xf32>
    memref.store %rsqrt, %out[%i, %k2] : memref<?x17xf32>
    memref.store %sqrt, %out[%i, %k3] : memref<?x17xf32>
    memref.store %log, %out[%i, %k4] : memref<?x17xf32>
    memref.store %absf, %out[%i, %k5] : memref<?x17xf32>
    memref.store %exp2, %out[%i, %k6] : memref<?x17xf32>
    memref.store %log2, %out[%i, %k7] : memref<?x17xf32>
    memref.store %floor, %out[%i, %k8] : memref<?x17xf32>
    memref.store %ceil, %out[%i, %k9] : memref<?x17xf32>
    memref.store %sin, %out[%i, %k10] : memref<?x17xf32>
    memref.store %cos, %out[%i, %k11] : memref<?x17xf32>
    memref.store %roundeven, %out[%i, %k12] : memref<?x17xf32>
    memref.store %trunc, %out[%i, %k13] : memref<?x17xf32>
    memref.store %erf, %out[%i, %k14] : memref<?x17xf32>
    memref.store %powf, %out[%i, %k15] : memref<?x17xf32>
    memref.store %fma, %out[%i, %k16] : memref<?x17xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "math_ops", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
}) : () -> ()

// CHECK:       fn rusty_erf(x: f32) -> f32 {
// CHECK-LABEL: // gpu.module @math > gpu.func @math_ops
// CHECK:         let v_exp: f32 = exp(v_y);
// CHECK-NEXT:    let v_tanh: f32 = tanh(v_y10);
// CHECK-NEXT:    let v_rsqrt: f32 = inverseSqrt(v_x);
// CHECK-NEXT:    let v_sqrt: f32 = sqrt(v_x);
// CHECK-NEXT:    let v_log: f32 = log(v_x);
// CHECK-NEXT:    let v_absf: f32 = abs(v_y);
// CHECK-NEXT:    let v_exp2: f32 = exp2(v_y);
// CHECK-NEXT:    let v_log2: f32 = log2(v_x);
// CHECK-NEXT:    let v_floor: f32 = floor(v_y);
// CHECK-NEXT:    let v_ceil: f32 = ceil(v_y);
// CHECK-NEXT:    let v_sin: f32 = sin(v_y);
// CHECK-NEXT:    let v_cos: f32 = cos(v_y);
// CHECK-NEXT:    let v_roundeven: f32 = round(v_y);
// CHECK-NEXT:    let v_trunc: f32 = trunc(v_y);
// CHECK-NEXT:    let v_erf: f32 = rusty_erf(v_y);
// CHECK-NEXT:    let v_powf: f32 = pow(v_x, v_y);
// CHECK-NEXT:    let v_fma: f32 = fma(v_x, v_y, v_x);
