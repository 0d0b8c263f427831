// RUN: rusty-translate --to-wgsl %s | filecheck %s
// scf.for (iter_args become vars; a yield that swaps them goes through temporaries),
// nested loops with dynamic bounds, scf.if with and without results.
// tests/backends/test_wgsl_exec.py runs every kernel here against numpy.

"gpu.module"() <{sym_name = "control_flow"}> ({
  // out[i] = sum_j x[i, j], one thread per row.
  "gpu.func"() <{function_type = (memref<?x16xf32>, memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?x16xf32>, %out: memref<?xf32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c16 = arith.constant 16 : index
    %zero = arith.constant 0.0 : f32
    %sum = scf.for %j = %c0 to %c16 step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %x[%i, %j] : memref<?x16xf32>
      %next = arith.addf %acc, %v : f32
      scf.yield %next : f32
    }
    memref.store %sum, %out[%i] : memref<?xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "row_sum", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // out[i] = fib(i): (a, b) -> (b, a + b) i times; the yield reads both loop-carried values.
  "gpu.func"() <{function_type = (memref<?xi32>) -> (), kernel}> ({
  ^bb0(%out: memref<?xi32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %f0 = arith.constant 0 : i32
    %f1 = arith.constant 1 : i32
    %fib:2 = scf.for %k = %c0 to %i step %c1 iter_args(%a = %f0, %b = %f1) -> (i32, i32) {
      %s = arith.addi %a, %b : i32
      scf.yield %b, %s : i32, i32
    }
    memref.store %fib#0, %out[%i] : memref<?xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "fib", gpu.known_block_size = array<i32: 32, 1, 1>} : () -> ()

  // out[i] = sum over j in [1, i) step 2 of (j % 3 == 0 ? j : -j) * scale, or -1 when i >= n.
  "gpu.func"() <{function_type = (memref<?xf32>, index, f32) -> (), kernel}> ({
  ^bb0(%out: memref<?xf32>, %n: index, %scale: f32):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %in_range = arith.cmpi slt, %i, %n : index
    %r = scf.if %in_range -> (f32) {
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c3 = arith.constant 3 : index
      %c0 = arith.constant 0 : index
      %zero = arith.constant 0.0 : f32
      %total = scf.for %j = %c1 to %i step %c2 iter_args(%acc = %zero) -> (f32) {
        %m = arith.remsi %j, %c3 : index
        %div3 = arith.cmpi eq, %m, %c0 : index
        %ji = arith.index_cast %j : index to i32
        %jf = arith.sitofp %ji : i32 to f32
        %term = scf.if %div3 -> (f32) {
          scf.yield %jf : f32
        } else {
          %neg = arith.negf %jf : f32
          scf.yield %neg : f32
        }
        %next = arith.addf %acc, %term : f32
        scf.yield %next : f32
      }
      %scaled = arith.mulf %total, %scale : f32
      scf.yield %scaled : f32
    } else {
      %minus1 = arith.constant -1.0 : f32
      scf.yield %minus1 : f32
    }
    memref.store %r, %out[%i] : memref<?xf32>
    // An scf.if without results or else: threads below 4 add 1000 to their output.
    %c4 = arith.constant 4 : index
    %low = arith.cmpi ult, %i, %c4 : index
    scf.if %low {
      %k = arith.constant 1000.0 : f32
      %plus = arith.addf %r, %k : f32
      memref.store %plus, %out[%i] : memref<?xf32>
    }
    "gpu.return"() : () -> ()
  }) {sym_name = "nested", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
}) : () -> ()

// CHECK-LABEL: // gpu.module @control_flow > gpu.func @row_sum
// CHECK:         var [[SUM:v_sum]]: f32 = 0.0f;
// CHECK-NEXT:    for (var [[J:v_j]]: i32 = 0i; [[J]] < 16i; [[J]] = [[J]] + 1i) {
// CHECK-NEXT:      let [[V:v_v]]: f32 = row_sum_x[v_i * 16 + [[J]]];
// CHECK-NEXT:      let [[NEXT:v_next]]: f32 = [[SUM]] + [[V]];
// CHECK-NEXT:      [[SUM]] = [[NEXT]];
// CHECK-NEXT:    }
// CHECK-NEXT:    row_sum_out[v_i] = [[SUM]];

// A yield that permutes loop-carried values assigns through temporaries.
// CHECK-LABEL: // gpu.module @control_flow > gpu.func @fib
// CHECK:         var [[A:v_fib]]: i32 = 0i;
// CHECK-NEXT:    var [[B:v_fib_1]]: i32 = 1i;
// CHECK-NEXT:    for (var [[K:v_k]]: i32 = 0i; [[K]] < v_i; [[K]] = [[K]] + 1i) {
// CHECK-NEXT:      let [[S:v_s]]: i32 = [[A]] + [[B]];
// CHECK-NEXT:      let [[TA:v_fib_next]] = [[B]];
// CHECK-NEXT:      let [[TB:v_fib_1_next]] = [[S]];
// CHECK-NEXT:      [[A]] = [[TA]];
// CHECK-NEXT:      [[B]] = [[TB]];
// CHECK-NEXT:    }
// CHECK-NEXT:    fib_out[v_i] = [[A]];

// CHECK-LABEL: // gpu.module @control_flow > gpu.func @nested
// CHECK:         var [[R:v_r]]: f32;
// CHECK-NEXT:    if (v_in_range) {
// CHECK-NEXT:      var [[TOTAL:v_total]]: f32 = 0.0f;
// CHECK-NEXT:      for (var [[J:v_j]]: i32 = 1i; [[J]] < v_i; [[J]] = [[J]] + 2i) {
// CHECK:             var [[TERM:v_term]]: f32;
// CHECK-NEXT:        if (v_div3) {
// CHECK-NEXT:          [[TERM]] = v_jf;
// CHECK-NEXT:        } else {
// CHECK-NEXT:          let [[NEG:v_neg]]: f32 = -v_jf;
// CHECK-NEXT:          [[TERM]] = [[NEG]];
// CHECK-NEXT:        }
// CHECK:           [[R]] = v_scaled;
// CHECK-NEXT:    } else {
// CHECK-NEXT:      [[R]] = (-1.0f);
// CHECK-NEXT:    }
// CHECK-NEXT:    nested_out[v_i] = [[R]];
// CHECK-NEXT:    let v_low: bool = bitcast<u32>(v_i) < bitcast<u32>(4i);
// CHECK-NEXT:    if (v_low) {
// CHECK-NEXT:      let v_plus: f32 = [[R]] + 1000.0f;
// CHECK-NEXT:      nested_out[v_i] = v_plus;
// CHECK-NEXT:    }
// CHECK-NEXT:  }
