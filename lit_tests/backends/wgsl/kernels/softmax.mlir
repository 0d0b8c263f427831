// RUN: rusty-translate --to-wgsl %s | filecheck %s
// Row-wise softmax: one 64-thread workgroup per row of x (rows x n, row-major, n dynamic).
// Each thread reduces a strided slice of the row, then a tree reduction in workgroup
// memory (6 halving steps, a barrier after each) gives the row max and then the row sum.
// tests/backends/test_wgsl_kernels.py runs it against numpy.

"gpu.module"() <{sym_name = "softmax"}> ({
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xf32>, index) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>, %out: memref<?xf32>, %n: index):
    %red = memref.alloca() : memref<64xf32, 3>
    %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %row = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
    %threads = "gpu.block_dim"() <{dimension = #gpu<dim x>}> : () -> index
    %base = arith.muli %row, %n : index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c6 = arith.constant 6 : index
    %c32 = arith.constant 32 : index
    %neg_inf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    // 1. Per-thread max over columns t, t + 64, ...
    %pmax = scf.for %j = %t to %n step %threads iter_args(%m = %neg_inf) -> (f32) {
      %idx = arith.addi %base, %j : index
      %v = memref.load %x[%idx] : memref<?xf32>
      %m2 = arith.maximumf %m, %v : f32
      scf.yield %m2 : f32
    }
    memref.store %pmax, %red[%t] : memref<64xf32, 3>
    "gpu.barrier"() : () -> ()
    // 2. Tree reduction of the max: stride s = 32 >> k.
    scf.for %k = %c0 to %c6 step %c1 {
      %s = arith.shrui %c32, %k : index
      %active = arith.cmpi ult, %t, %s : index
      scf.if %active {
        %other = arith.addi %t, %s : index
        %a = memref.load %red[%t] : memref<64xf32, 3>
        %b = memref.load %red[%other] : memref<64xf32, 3>
        %mx = arith.maximumf %a, %b : f32
        memref.store %mx, %red[%t] : memref<64xf32, 3>
      }
      "gpu.barrier"() : () -> ()
    }
    %rowmax = memref.load %red[%c0] : memref<64xf32, 3>
    "gpu.barrier"() : () -> ()
    // 3. Per-thread sum of exp(x - max), then the same tree reduction with +.
    %psum = scf.for %j = %t to %n step %threads iter_args(%acc = %zero) -> (f32) {
      %idx = arith.addi %base, %j : index
      %v = memref.load %x[%idx] : memref<?xf32>
      %d = arith.subf %v, %rowmax : f32
      %e = math.exp %d : f32
      %acc2 = arith.addf %acc, %e : f32
      scf.yield %acc2 : f32
    }
    memref.store %psum, %red[%t] : memref<64xf32, 3>
    "gpu.barrier"() : () -> ()
    scf.for %k = %c0 to %c6 step %c1 {
      %s = arith.shrui %c32, %k : index
      %active = arith.cmpi ult, %t, %s : index
      scf.if %active {
        %other = arith.addi %t, %s : index
        %a = memref.load %red[%t] : memref<64xf32, 3>
        %b = memref.load %red[%other] : memref<64xf32, 3>
        %sm = arith.addf %a, %b : f32
        memref.store %sm, %red[%t] : memref<64xf32, 3>
      }
      "gpu.barrier"() : () -> ()
    }
    %rowsum = memref.load %red[%c0] : memref<64xf32, 3>
    %one = arith.constant 1.0 : f32
    %inv = arith.divf %one, %rowsum : f32
    // 4. Normalise.
    scf.for %j = %t to %n step %threads {
      %idx = arith.addi %base, %j : index
      %v = memref.load %x[%idx] : memref<?xf32>
      %d = arith.subf %v, %rowmax : f32
      %e = math.exp %d : f32
      %p = arith.mulf %e, %inv : f32
      memref.store %p, %out[%idx] : memref<?xf32>
    }
    "gpu.return"() : () -> ()
  }) {sym_name = "softmax_rows", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
}) : () -> ()

// CHECK-LABEL: // gpu.module @softmax > gpu.func @softmax_rows
// CHECK:       var<workgroup> [[RED:softmax_rows_red]]: array<f32, 64>;
// CHECK-NEXT:  @compute @workgroup_size(64, 1, 1)
// CHECK:         var [[PMAX:v_pmax]]: f32 = bitcast<f32>(0xff800000u);
// CHECK-NEXT:    for (var [[J:v_j]]: i32 = v_t; [[J]] < softmax_rows_params.n; [[J]] = [[J]] + 64i) {
// CHECK:           [[PMAX]] = v_m2;
// CHECK:         [[RED]][v_t] = [[PMAX]];
// CHECK-NEXT:    workgroupBarrier();
// CHECK-NEXT:    for (var [[K:v_k]]: i32 = 0i; [[K]] < 6i; [[K]] = [[K]] + 1i) {
// CHECK-NEXT:      let [[S:v_s]]: i32 = bitcast<i32>(bitcast<u32>(32i) >> bitcast<u32>([[K]]));
// CHECK-NEXT:      let [[ACTIVE:v_active]]: bool = bitcast<u32>(v_t) < bitcast<u32>([[S]]);
// CHECK-NEXT:      if ([[ACTIVE]]) {
// CHECK:             let v_mx: f32 = max(v_a, v_b);
// CHECK-NEXT:        [[RED]][v_t] = v_mx;
// CHECK-NEXT:      }
// CHECK-NEXT:      workgroupBarrier();
// CHECK-NEXT:    }
// CHECK-NEXT:    let [[ROWMAX:v_rowmax]]: f32 = [[RED]][0i];
// CHECK:           let v_e: f32 = exp(v_d);
// CHECK:         let v_inv: f32 = 1.0f / v_rowsum;
