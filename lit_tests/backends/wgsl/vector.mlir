// RUN: rusty-translate --to-wgsl %s | filecheck %s
// Vectors of 2-4 lanes: vector.load/store make a memref's declaration an array of vectors (scalar
// accesses to it become lane accesses), and vector.broadcast/fma/extract/insert/reduction/bitcast and
// arith on vectors print as WGSL vector expressions.
// tests/backends/test_wgsl_exec.py runs the kernels against numpy.

"gpu.module"() <{sym_name = "vec"}> ({
  // out[i] = a[i] * b[i] + 2, four lanes at a time; out[4i + 3] also gets c[4i + 3] (a scalar read of a vector array).
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>) -> (), kernel}> ({
  ^bb0(%a: memref<?xf32>, %b: memref<?xf32>, %c: memref<?xf32>, %out: memref<?xf32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %c4 = arith.constant 4 : index
    %c3 = arith.constant 3 : index
    %base = arith.muli %i, %c4 : index
    %va = vector.load %a[%base] : memref<?xf32>, vector<4xf32>
    %vb = vector.load %b[%base] : memref<?xf32>, vector<4xf32>
    %two = arith.constant dense<2.0> : vector<4xf32>
    %r = vector.fma %va, %vb, %two : vector<4xf32>
    %last = arith.addi %base, %c3 : index
    %cl = memref.load %c[%last] : memref<?xf32>
    %vc = vector.load %c[%base] : memref<?xf32>, vector<4xf32>
    %r2 = vector.insert %cl, %r [3] : f32 into vector<4xf32>
    %r3 = arith.addf %r2, %vc : vector<4xf32>
    vector.store %r3, %out[%base] : memref<?xf32>, vector<4xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "fma4", gpu.known_block_size = array<i32: 16, 1, 1>} : () -> ()

  // out[i] = sum of the 4 lanes of x[4i..4i+3] scaled by lane l = i % 4, plus the nibbles of word w[i]
  // turned into floats with the 0x4B000000 magic (bitcast of a vector of words).
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xi32>, memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>, %w: memref<?xi32>, %out: memref<?xf32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %c4 = arith.constant 4 : index
    %base = arith.muli %i, %c4 : index
    %vx = vector.load %x[%base] : memref<?xf32>, vector<4xf32>
    %lane = arith.remui %i, %c4 : index
    %s = vector.extract %vx[%lane] : f32 from vector<4xf32>
    %vs = vector.broadcast %s : f32 to vector<4xf32>
    %scaled = arith.mulf %vx, %vs : vector<4xf32>
    %sum = vector.reduction <add>, %scaled : vector<4xf32> into f32
    %word = memref.load %w[%i] : memref<?xi32>
    %vw = vector.broadcast %word : i32 to vector<4xi32>
    %shifts = arith.constant dense<[0, 4, 8, 12]> : vector<4xi32>
    %m15 = arith.constant dense<15> : vector<4xi32>
    %magic = arith.constant dense<1258291200> : vector<4xi32>
    %bias = arith.constant dense<8388608.0> : vector<4xf32>
    %q = arith.shrui %vw, %shifts : vector<4xi32>
    %q1 = arith.andi %q, %m15 : vector<4xi32>
    %q2 = arith.ori %q1, %magic : vector<4xi32>
    %f = vector.bitcast %q2 : vector<4xi32> to vector<4xf32>
    %g = arith.subf %f, %bias : vector<4xf32>
    %nib = vector.reduction <add>, %g : vector<4xf32> into f32
    %total = arith.addf %sum, %nib : f32
    memref.store %total, %out[%i] : memref<?xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "lanes", gpu.known_block_size = array<i32: 16, 1, 1>} : () -> ()

  // out[i] = in[i] through a workgroup array of vec2<f16>: lane-by-lane stores, vector loads.
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xf32>) -> (), kernel}> ({
  ^bb0(%in: memref<?xf32>, %out: memref<?xf32>):
    %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %buf = memref.alloca() : memref<32xf16, 3>
    %c2 = arith.constant 2 : index
    %v = memref.load %in[%t] : memref<?xf32>
    %h = arith.truncf %v : f32 to f16
    memref.store %h, %buf[%t] : memref<32xf16, 3>
    "gpu.barrier"() : () -> ()
    %p = arith.divui %t, %c2 : index
    %base = arith.muli %p, %c2 : index
    %pair = vector.load %buf[%base] : memref<32xf16, 3>, vector<2xf16>
    %wide = arith.extf %pair : vector<2xf16> to vector<2xf32>
    %lane = arith.remui %t, %c2 : index
    %mine = vector.extract %wide[%lane] : f32 from vector<2xf32>
    memref.store %mine, %out[%t] : memref<?xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "half_pairs", gpu.known_block_size = array<i32: 32, 1, 1>} : () -> ()
}) : () -> ()

// CHECK-LABEL: // gpu.module @vec > gpu.func @fma4
// CHECK:         var<storage, read> fma4_a: array<vec4<f32>>;
// CHECK-NEXT:    var<storage, read> fma4_b: array<vec4<f32>>;
// CHECK-NEXT:    var<storage, read> fma4_c: array<vec4<f32>>;
// CHECK:         var<storage, read_write> fma4_out: array<vec4<f32>>;
// CHECK:         let v_va: vec4<f32> = fma4_a[(v_base) >> 2u];
// CHECK:         let v_r: vec4<f32> = fma(v_va, v_vb, vec4<f32>(2.0f));
// CHECK:         let v_cl: f32 = fma4_c[(v_last) >> 2u][(v_last) & 3i];
// CHECK:         var v_r2: vec4<f32> = v_r;
// CHECK-NEXT:    v_r2[3i] = v_cl;
// CHECK:         fma4_out[(v_base) >> 2u] = v_r3;
// CHECK-LABEL: // gpu.module @vec > gpu.func @lanes
// CHECK:         let v_s: f32 = v_vx[v_lane];
// CHECK:         let v_vs: vec4<f32> = vec4<f32>(v_s);
// CHECK:         let v_sum: f32 = (v_scaled[0i] + v_scaled[1i] + v_scaled[2i] + v_scaled[3i]);
// CHECK:         let v_q: vec4<i32> = bitcast<vec4<i32>>(bitcast<vec4<u32>>(v_vw) >> bitcast<vec4<u32>>(vec4<i32>(0i, 4i, 8i, 12i)));
// CHECK:         let v_f: vec4<f32> = bitcast<vec4<f32>>(v_q2);
// CHECK-NEXT:    let v_g: vec4<f32> = v_f - vec4<f32>(8.388608e+06f);
// CHECK-LABEL: // gpu.module @vec > gpu.func @half_pairs
// CHECK:         var<workgroup> half_pairs_buf: array<vec2<f16>, 16>;
// CHECK:         half_pairs_buf[(v_t) >> 1u][(v_t) & 1i] = v_h;
// CHECK:         let v_pair: vec2<f16> = half_pairs_buf[(v_base) >> 1u];
// CHECK:         let v_wide: vec2<f32> = vec2<f32>(v_pair);
