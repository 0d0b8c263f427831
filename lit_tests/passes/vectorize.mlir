// RUN: rusty-opt %s -p vectorize --split-input-file | filecheck %s
// RUN: rusty-opt %s -p 'vectorize{unroll=false}' --split-input-file | filecheck %s --check-prefix=LOOP
// RUN: rusty-opt %s -p vectorize,convert-tiled-to-gpu --split-input-file | rusty-translate --to-wgsl --split-input-file | filecheck %s --check-prefix=WGSL
// tiled.contract_tile becomes vector loads of the A and B slices and one vector.fma per row and group of
// four columns per k; aligned runs of four scalar loads (stores) of one memref become a vector.load and
// vector.extracts (a broadcast, vector.inserts and one vector.store); in kernels without one, arithmetic sinks
// to its first use.

// A 4 x 4 register tile over k = 2 (f32): per k one vector.load of A's four rows at a_offset and of B's
// four columns at b_offset; row i's A value (lane i) is broadcast and multiplied into accumulator i. The
// k loop is written out, the second step accumulating into the first's results; unroll=false makes
// it an scf.for over k carrying the accumulators.
// CHECK-LABEL: func.func @micro
// CHECK:         } body {
// CHECK-NEXT:    ^bb0(%[[A:.*]]: memref<2x8xf32>, %[[B:.*]]: memref<2x8xf32>, %[[C:.*]]: memref<4x4xf32>):
// CHECK-NEXT:      %[[AO:.*]] = arith.constant 0 : index
// CHECK-NEXT:      %[[BO:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<4xf32>
// CHECK-NEXT:      %[[AI:.*]] = arith.addi %[[AO]], %[[AO]] : index
// CHECK-NEXT:      %[[A0:.*]] = vector.load %[[A]][%[[AO]], %[[AI]]] : memref<2x8xf32>, vector<4xf32>
// CHECK-NEXT:      %[[BI:.*]] = arith.addi %[[BO]], %[[AO]] : index
// CHECK-NEXT:      %[[B0:.*]] = vector.load %[[B]][%[[AO]], %[[BI]]] : memref<2x8xf32>, vector<4xf32>
// CHECK-NEXT:      %[[X0:.*]] = vector.extract %[[A0]][0] : f32 from vector<4xf32>
// CHECK-NEXT:      %[[S0:.*]] = vector.broadcast %[[X0]] : f32 to vector<4xf32>
// CHECK-NEXT:      %[[F0:.*]] = vector.fma %[[S0]], %[[B0]], %[[ZERO]] : vector<4xf32>
// CHECK-NEXT:      %[[X1:.*]] = vector.extract %[[A0]][1] : f32 from vector<4xf32>
// CHECK-NEXT:      %[[S1:.*]] = vector.broadcast %[[X1]] : f32 to vector<4xf32>
// CHECK-NEXT:      %[[F1:.*]] = vector.fma %[[S1]], %[[B0]], %[[ZERO]] : vector<4xf32>
// CHECK:           %[[X3:.*]] = vector.extract %[[A0]][3] : f32 from vector<4xf32>
// CHECK-NEXT:      %[[S3:.*]] = vector.broadcast %[[X3]] : f32 to vector<4xf32>
// CHECK-NEXT:      %[[F3:.*]] = vector.fma %[[S3]], %[[B0]], %[[ZERO]] : vector<4xf32>
// CHECK-NEXT:      %[[K1:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[A1:.*]] = vector.load %[[A]][%[[K1]], %[[AI]]] : memref<2x8xf32>, vector<4xf32>
// CHECK-NEXT:      %[[B1:.*]] = vector.load %[[B]][%[[K1]], %[[BI]]] : memref<2x8xf32>, vector<4xf32>
// CHECK-NEXT:      %[[Y0:.*]] = vector.extract %[[A1]][0] : f32 from vector<4xf32>
// CHECK-NEXT:      %[[T0:.*]] = vector.broadcast %[[Y0]] : f32 to vector<4xf32>
// CHECK-NEXT:      %[[R0:.*]] = vector.fma %[[T0]], %[[B1]], %[[F0]] : vector<4xf32>
// CHECK-NEXT:      %[[Y1:.*]] = vector.extract %[[A1]][1] : f32 from vector<4xf32>
// CHECK-NEXT:      %[[T1:.*]] = vector.broadcast %[[Y1]] : f32 to vector<4xf32>
// CHECK-NEXT:      %[[R1:.*]] = vector.fma %[[T1]], %[[B1]], %[[F1]] : vector<4xf32>
// CHECK:           %[[R3:.*]] = vector.fma %{{.*}}, %[[B1]], %[[F3]] : vector<4xf32>
// CHECK:           vector.store %[[R0]], %[[C]][%[[AO]], %[[AO]]] : memref<4x4xf32>, vector<4xf32>
// CHECK-NEXT:      vector.store %[[R1]], %[[C]][%[[K1]], %[[AO]]] : memref<4x4xf32>, vector<4xf32>
// CHECK:           vector.store %[[R3]], %[[C]][%{{.*}}, %[[AO]]] : memref<4x4xf32>, vector<4xf32>
// CHECK-NOT:     tiled.contract_tile
// LOOP-LABEL:  func.func @micro
// LOOP:          %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<4xf32>
// LOOP:          %[[R0:.*]], %{{.*}}, %{{.*}}, %[[R3:.*]] = scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[P0:.*]] = %[[ZERO]], %{{.*}} = %[[ZERO]], %{{.*}} = %[[ZERO]], %[[P3:.*]] = %[[ZERO]]) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>) {
// LOOP:            %[[AK:.*]] = vector.load %{{.*}}[%[[K]], %{{.*}}] : memref<2x8xf32>, vector<4xf32>
// LOOP:            %[[BK:.*]] = vector.load %{{.*}}[%[[K]], %{{.*}}] : memref<2x8xf32>, vector<4xf32>
// LOOP:            %[[F0:.*]] = vector.fma %{{.*}}, %[[BK]], %[[P0]] : vector<4xf32>
// LOOP:            %[[F3:.*]] = vector.fma %{{.*}}, %[[BK]], %[[P3]] : vector<4xf32>
// LOOP-NEXT:       scf.yield %[[F0]], %{{.*}}, %{{.*}}, %[[F3]] : vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>
// LOOP:          vector.store %[[R0]], %{{.*}}[%{{.*}}, %{{.*}}] : memref<4x4xf32>, vector<4xf32>
// WGSL:        @group(0) @binding(0) var<storage, read> micro_a: array<vec4<f32>>;
// WGSL:        fn micro() {
// WGSL:          let v6: vec4<f32> = fma(v5, v3, vec4<f32>(0.0f));
func.func @micro(%x: memref<2x8xf32>, %y: memref<2x8xf32>, %z: memref<4x4xf32>) {
  tiled.kernel "micro"(%x, %y, %z) {workgroup_size = array<i64: 1, 1, 1>} : memref<2x8xf32>, memref<2x8xf32>, memref<4x4xf32> grid {
  ^bb0(%a: memref<2x8xf32>, %b: memref<2x8xf32>, %c: memref<4x4xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<2x8xf32>, %b: memref<2x8xf32>, %c: memref<4x4xf32>):
    %ao = arith.constant 0 : index
    %bo = arith.constant 4 : index
    %zero = arith.constant dense<0.0> : vector<4xf32>
    %r:4 = tiled.contract_tile %a[%ao], %b[%bo], %zero, %zero, %zero, %zero {k = 2, rows = 4, columns = 4, a_stride = 4, b_stride = 4} : memref<2x8xf32>, memref<2x8xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32> -> vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    vector.store %r#0, %c[%c0, %c0] : memref<4x4xf32>, vector<4xf32>
    vector.store %r#1, %c[%c1, %c0] : memref<4x4xf32>, vector<4xf32>
    vector.store %r#2, %c[%c2, %c0] : memref<4x4xf32>, vector<4xf32>
    vector.store %r#3, %c[%c3, %c0] : memref<4x4xf32>, vector<4xf32>
    tiled.yield
  }
  func.return
}

// -----

// An integer register tile (block_words = 2: one block of two words, then the scale rows 2 and 3): per word
// one vector.load of four rows' (columns') words, one rgpu.dot4_i8 per row and column, the second word's
// added to the first's; then the scale rows as f32 bits (vector.bitcast), and per row and group of four
// columns: the four sums as floats times the row's d, times the columns' scales plus the columns' offsets
// times the row's d * sum, into the accumulator.
// CHECK-LABEL: func.func @micro_dp4a
// CHECK:         %[[A0:.*]] = vector.load %[[A:.*]][%[[O:.*]], %[[O]]] : memref<4x4xi32>, vector<4xi32>
// CHECK-NEXT:    %[[X0:.*]] = vector.extract %[[A0]][0] : i32 from vector<4xi32>
// CHECK:         %[[B0:.*]] = vector.load %[[B:.*]][%[[O]], %[[O]]] : memref<4x4xi32>, vector<4xi32>
// CHECK-NEXT:    %[[Y0:.*]] = vector.extract %[[B0]][0] : i32 from vector<4xi32>
// CHECK:         %[[D00:.*]] = rgpu.dot4_i8 %[[X0]], %[[Y0]] : i32
// CHECK:         %[[W1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[A1:.*]] = vector.load %[[A]][%[[W1]], %[[O]]] : memref<4x4xi32>, vector<4xi32>
// CHECK:         %[[E00:.*]] = rgpu.dot4_i8 %{{.*}}, %{{.*}} : i32
// CHECK-NEXT:    %[[S00:.*]] = arith.addi %[[D00]], %[[E00]] : i32
// CHECK:         %[[R2:.*]] = arith.constant 2 : index
// CHECK-NEXT:    %[[DA:.*]] = vector.load %[[A]][%[[R2]], %[[O]]] : memref<4x4xi32>, vector<4xi32>
// CHECK-NEXT:    %[[DAF:.*]] = vector.bitcast %[[DA]] : vector<4xi32> to vector<4xf32>
// CHECK:         %[[SB:.*]] = vector.load %[[B]][%[[R2]], %[[O]]] : memref<4x4xi32>, vector<4xi32>
// CHECK-NEXT:    %[[SBF:.*]] = vector.bitcast %[[SB]] : vector<4xi32> to vector<4xf32>
// CHECK-NEXT:    %[[OB:.*]] = vector.load %[[B]][%{{.*}}, %[[O]]] : memref<4x4xi32>, vector<4xi32>
// CHECK-NEXT:    %[[OBF:.*]] = vector.bitcast %[[OB]] : vector<4xi32> to vector<4xf32>
// CHECK-NEXT:    %[[D0:.*]] = vector.extract %[[DAF]][0] : f32 from vector<4xf32>
// CHECK-NEXT:    %[[DS:.*]] = vector.broadcast %[[D0]] : f32 to vector<4xf32>
// CHECK-NEXT:    %[[SUM0:.*]] = vector.extract %{{.*}}[0] : f32 from vector<4xf32>
// CHECK-NEXT:    %[[SUMS:.*]] = vector.broadcast %[[SUM0]] : f32 to vector<4xf32>
// CHECK-NEXT:    %[[F00:.*]] = arith.sitofp %[[S00]] : i32 to f32
// CHECK-NEXT:    %{{.*}} = vector.broadcast %[[F00]] : f32 to vector<4xf32>
// CHECK:         %[[V:.*]] = vector.insert %{{.*}}, %{{.*}} [3] : f32 into vector<4xf32>
// CHECK-NEXT:    %[[VD:.*]] = arith.mulf %[[V]], %[[DS]] : vector<4xf32>
// CHECK-NEXT:    %[[ACC:.*]] = vector.fma %[[SBF]], %[[VD]], %{{.*}} : vector<4xf32>
// CHECK-NEXT:    %{{.*}} = vector.fma %[[OBF]], %[[SUMS]], %[[ACC]] : vector<4xf32>
// CHECK-NOT:     tiled.contract_tile
// WGSL:        fn micro_dp4a() {
// WGSL:          dot4I8Packed(
func.func @micro_dp4a(%x: memref<4x4xi32>, %y: memref<4x4xi32>, %z: memref<4x4xf32>) {
  tiled.kernel "micro_dp4a"(%x, %y, %z) {workgroup_size = array<i64: 1, 1, 1>} : memref<4x4xi32>, memref<4x4xi32>, memref<4x4xf32> grid {
  ^bb0(%a: memref<4x4xi32>, %b: memref<4x4xi32>, %c: memref<4x4xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<4x4xi32>, %b: memref<4x4xi32>, %c: memref<4x4xf32>):
    %o = arith.constant 0 : index
    %zero = arith.constant dense<0.0> : vector<4xf32>
    %r:4 = tiled.contract_tile %a[%o], %b[%o], %zero, %zero, %zero, %zero {k = 4, rows = 4, columns = 4, a_stride = 4, b_stride = 4, block_words = 2} : memref<4x4xi32>, memref<4x4xi32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32> -> vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    vector.store %r#0, %c[%o, %o] : memref<4x4xf32>, vector<4xf32>
    vector.store %r#1, %c[%c1, %o] : memref<4x4xf32>, vector<4xf32>
    vector.store %r#2, %c[%c2, %o] : memref<4x4xf32>, vector<4xf32>
    vector.store %r#3, %c[%c3, %o] : memref<4x4xf32>, vector<4xf32>
    tiled.yield
  }
  func.return
}

// -----

// f16 tiles, 4 rows x 8 columns (two groups of B columns, b_stride 16 apart) over k = 1: f16 products
// summed from f16 zeros, accumulator i * 2 + g for row i and group g, each widened to f32 and added to
// its accumulator at the end.
// CHECK-LABEL: func.func @half
// CHECK:           %[[ACC:.*]] = vector.load
// CHECK-NEXT:      %[[HZ:.*]] = arith.constant dense<0.000000e+00> : vector<4xf16>
// CHECK:           %[[A0:.*]] = vector.load %{{.*}} : memref<1x4xf16>, vector<4xf16>
// CHECK-NEXT:      %[[BI0:.*]] = arith.addi %[[BO:.*]], %{{.*}} : index
// CHECK-NEXT:      %[[B0:.*]] = vector.load %{{.*}}[%{{.*}}, %[[BI0]]] : memref<1x32xf16>, vector<4xf16>
// CHECK-NEXT:      %[[C16:.*]] = arith.constant 16 : index
// CHECK-NEXT:      %[[BI1:.*]] = arith.addi %[[BO]], %[[C16]] : index
// CHECK-NEXT:      %[[B1:.*]] = vector.load %{{.*}}[%{{.*}}, %[[BI1]]] : memref<1x32xf16>, vector<4xf16>
// CHECK-NEXT:      %[[X0:.*]] = vector.extract %[[A0]][0] : f16 from vector<4xf16>
// CHECK-NEXT:      %[[S0:.*]] = vector.broadcast %[[X0]] : f16 to vector<4xf16>
// CHECK-NEXT:      %[[H00:.*]] = vector.fma %[[S0]], %[[B0]], %[[HZ]] : vector<4xf16>
// CHECK-NEXT:      %[[H01:.*]] = vector.fma %[[S0]], %[[B1]], %[[HZ]] : vector<4xf16>
// CHECK:           %[[X3:.*]] = vector.extract %[[A0]][3] : f16 from vector<4xf16>
// CHECK-NEXT:      %[[S3:.*]] = vector.broadcast %[[X3]] : f16 to vector<4xf16>
// CHECK-NEXT:      %{{.*}} = vector.fma %[[S3]], %[[B0]], %[[HZ]] : vector<4xf16>
// CHECK-NEXT:      %[[H31:.*]] = vector.fma %[[S3]], %[[B1]], %[[HZ]] : vector<4xf16>
// CHECK:           %[[W01:.*]] = arith.extf %[[H01]] : vector<4xf16> to vector<4xf32>
// CHECK-NEXT:      %[[R1:.*]] = arith.addf %[[ACC]], %[[W01]] : vector<4xf32>
// CHECK:           %[[W31:.*]] = arith.extf %[[H31]] : vector<4xf16> to vector<4xf32>
// CHECK-NEXT:      %[[R7:.*]] = arith.addf %[[ACC]], %[[W31]] : vector<4xf32>
// CHECK-NEXT:      vector.store %[[R1]], %{{.*}}[%{{.*}}, %[[C16]]] : memref<4x32xf32>, vector<4xf32>
// CHECK-NEXT:      vector.store %[[R7]]
func.func @half(%x: memref<1x4xf16>, %y: memref<1x32xf16>, %z: memref<4x32xf32>) {
  tiled.kernel "half"(%x, %y, %z) {workgroup_size = array<i64: 1, 1, 1>} : memref<1x4xf16>, memref<1x32xf16>, memref<4x32xf32> grid {
  ^bb0(%a: memref<1x4xf16>, %b: memref<1x32xf16>, %c: memref<4x32xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<1x4xf16>, %b: memref<1x32xf16>, %c: memref<4x32xf32>):
    %ao = arith.constant 0 : index
    %bo = arith.constant 8 : index
    %acc = vector.load %c[%ao, %ao] : memref<4x32xf32>, vector<4xf32>
    %r:8 = tiled.contract_tile %a[%ao], %b[%bo], %acc, %acc, %acc, %acc, %acc, %acc, %acc, %acc {k = 1, rows = 4, columns = 8, a_stride = 4, b_stride = 16} : memref<1x4xf16>, memref<1x32xf16>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32> -> vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>
    %c16 = arith.constant 16 : index
    vector.store %r#1, %c[%ao, %c16] : memref<4x32xf32>, vector<4xf32>
    vector.store %r#7, %c[%ao, %ao] : memref<4x32xf32>, vector<4xf32>
    tiled.yield
  }
  func.return
}

// -----

// Four loads of a row at k0 = t * 4 + 0..3 (k0 a provable multiple of 4, the row 8 wide) become one
// vector.load and four extracts; the four stores at the same indices one vector.store of the lanes,
// after the last of them. Each extract, product and insert then sinks to its first use. The emitters then declare both buffers as arrays of vec4.
// CHECK-LABEL: func.func @lanes
// CHECK:         } body {
// CHECK-NEXT:    ^bb0(%[[A:.*]]: memref<?x8xf32>, %[[B:.*]]: memref<?x8xf32>):
// CHECK-NEXT:      %[[ROW:.*]] = gpu.block_id
// CHECK:           %[[K0:.*]] = arith.muli
// CHECK:           %[[V:.*]] = vector.load %[[A]][%[[ROW]], %[[K0]]] : memref<?x8xf32>, vector<4xf32>
// CHECK-NOT:       memref.load
// CHECK:           %[[V0:.*]] = vector.extract %[[V]][0] : f32 from vector<4xf32>
// CHECK-NEXT:      %[[W0:.*]] = arith.mulf %[[V0]]
// CHECK-NEXT:      %[[L0:.*]] = vector.broadcast %[[W0]] : f32 to vector<4xf32>
// CHECK-NEXT:      %[[V1:.*]] = vector.extract %[[V]][1] : f32 from vector<4xf32>
// CHECK-NEXT:      %[[W1:.*]] = arith.mulf %[[V1]]
// CHECK-NEXT:      %[[L1:.*]] = vector.insert %[[W1]], %[[L0]] [1] : f32 into vector<4xf32>
// CHECK:           %[[V3:.*]] = vector.extract %[[V]][3] : f32 from vector<4xf32>
// CHECK-NEXT:      %[[W3:.*]] = arith.mulf %[[V3]]
// CHECK-NEXT:      %[[L3:.*]] = vector.insert %[[W3]], %{{.*}} [3] : f32 into vector<4xf32>
// CHECK-NEXT:      vector.store %[[L3]], %[[B]][%[[ROW]], %[[K0]]] : memref<?x8xf32>, vector<4xf32>
// CHECK-NEXT:      tiled.yield
// WGSL:        @group(0) @binding(0) var<storage, read> lanes_a: array<vec4<f32>>;
// WGSL-NEXT:   @group(0) @binding(1) var<storage, read_write> lanes_b: array<vec4<f32>>;
// WGSL:          let v0: vec4<f32> = lanes_a[(v_row * 8 + v_k0) >> 2u];
// WGSL:          lanes_b[(v_row * 8 + v_k0) >> 2u] = v4;
func.func @lanes(%x: memref<?x8xf32>, %y: memref<?x8xf32>) {
  tiled.kernel "lanes"(%x, %y) {workgroup_size = array<i64: 2, 1, 1>} : memref<?x8xf32>, memref<?x8xf32> grid {
  ^bb0(%a: memref<?x8xf32>, %b: memref<?x8xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<?x8xf32>, %b: memref<?x8xf32>):
    %row = gpu.block_id x
    %t = gpu.thread_id x
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %k0 = arith.muli %t, %c4 : index
    %k1 = arith.addi %k0, %c1 : index
    %k2 = arith.addi %k0, %c2 : index
    %k3 = arith.addi %k0, %c3 : index
    %v0 = memref.load %a[%row, %k0] : memref<?x8xf32>
    %v1 = memref.load %a[%row, %k1] : memref<?x8xf32>
    %v2 = memref.load %a[%row, %k2] : memref<?x8xf32>
    %v3 = memref.load %a[%row, %k3] : memref<?x8xf32>
    %two = arith.constant 2.0 : f32
    %w0 = arith.mulf %v0, %two : f32
    %w1 = arith.mulf %v1, %two : f32
    %w2 = arith.mulf %v2, %two : f32
    %w3 = arith.mulf %v3, %two : f32
    memref.store %w0, %b[%row, %k0] : memref<?x8xf32>
    memref.store %w1, %b[%row, %k1] : memref<?x8xf32>
    memref.store %w2, %b[%row, %k2] : memref<?x8xf32>
    memref.store %w3, %b[%row, %k3] : memref<?x8xf32>
    tiled.yield
  }
  func.return
}

// -----

// Word loads of a 1-D i32 buffer (as lower-quant-loads makes them) at base + 4 and base + 5, base = blk * 8
// in a loop from 0 by 1: lanes 0 and 1 of the aligned chunk at base + 4 become one vector.load (equal
// indices are one value after CSE; a repeated load reuses the vector). Partial loads are fine.
// CHECK-LABEL: func.func @words
// CHECK:           scf.for %[[BLK:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:        %[[BASE:.*]] = arith.muli %[[BLK]], %{{.*}} : index
// CHECK:             %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:        %[[I:.*]] = arith.addi %[[BASE]], %[[C4]] : index
// CHECK-NEXT:        %[[V:.*]] = vector.load %{{.*}}[%[[I]]] : memref<16xi32>, vector<4xi32>
// CHECK-DAG:         %[[W4:.*]] = vector.extract %[[V]][0] : i32 from vector<4xi32>
// CHECK-DAG:         %[[W5:.*]] = vector.extract %[[V]][1] : i32 from vector<4xi32>
// CHECK:             %[[S:.*]] = arith.addi %[[W4]], %[[W5]] : i32
// CHECK-NEXT:        %{{.*}} = arith.addi %[[S]], %[[W4]] : i32
// CHECK-NOT:         memref.load
// WGSL:        @group(0) @binding(0) var<storage, read> words_a: array<vec4<i32>>;
func.func @words(%w: memref<16xi32>, %y: memref<4xi32>) {
  tiled.kernel "words"(%w, %y) {workgroup_size = array<i64: 1, 1, 1>} : memref<16xi32>, memref<4xi32> grid {
  ^bb0(%a: memref<16xi32>, %b: memref<4xi32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<16xi32>, %b: memref<4xi32>):
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c8 = arith.constant 8 : index
    %c2 = arith.constant 2 : index
    scf.for %blk = %c0 to %c2 step %c1 {
      %base = arith.muli %blk, %c8 : index
      %i5 = arith.addi %base, %c4 : index
      %i4 = arith.addi %base, %c4 : index
      %i5b = arith.addi %i4, %c1 : index
      %w4 = memref.load %a[%i4] : memref<16xi32>
      %w5 = memref.load %a[%i5b] : memref<16xi32>
      %w4b = memref.load %a[%i5] : memref<16xi32>
      %s = arith.addi %w4, %w5 : i32
      %s2 = arith.addi %s, %w4b : i32
      memref.store %s2, %b[%blk] : memref<4xi32>
    }
    tiled.yield
  }
  func.return
}

// -----

// Left scalar: an index not provably aligned (t, t + 1); a row 6 wide (the linear index would not be
// aligned); loads of b with a store to b between them; loads with a barrier between them; stores to
// three lanes of four.
// CHECK-LABEL: func.func @kept
// CHECK-NOT:       vector.
// CHECK:           %{{.*}} = memref.load %{{.*}}[%{{.*}}, %[[T:.*]]] : memref<?x8xf32>
// CHECK-NEXT:      %[[U:.*]] = arith.addi %[[T]], %{{.*}} : index
// CHECK-NEXT:      %{{.*}} = memref.load %{{.*}}[%{{.*}}, %[[U]]] : memref<?x8xf32>
// CHECK-NEXT:      %{{.*}} = memref.load %{{.*}} : memref<?x6xf32>
// CHECK-NEXT:      %{{.*}} = memref.load %{{.*}} : memref<?x6xf32>
// CHECK-NEXT:      %{{.*}} = memref.load %[[B:.*]][%{{.*}}, %{{.*}}] : memref<?x8xf32>
// CHECK-NEXT:      memref.store %{{.*}}, %[[B]]
// CHECK-NEXT:      %{{.*}} = memref.load %[[B]]
// CHECK-NEXT:      %{{.*}} = memref.load
// CHECK-NEXT:      gpu.barrier
// CHECK-NEXT:      %{{.*}} = memref.load
// CHECK:           memref.store
// CHECK:           memref.store
// CHECK:           memref.store
// CHECK-NOT:       vector.
// CHECK:         func.return
// WGSL:        @group(0) @binding(0) var<storage, read> kept_a: array<f32>;
func.func @kept(%x: memref<?x8xf32>, %z: memref<?x6xf32>, %y: memref<?x8xf32>, %out: memref<?x8xf32>) {
  tiled.kernel "kept"(%x, %z, %y, %out) {workgroup_size = array<i64: 2, 1, 1>} : memref<?x8xf32>, memref<?x6xf32>, memref<?x8xf32>, memref<?x8xf32> grid {
  ^bb0(%a: memref<?x8xf32>, %e: memref<?x6xf32>, %b: memref<?x8xf32>, %o: memref<?x8xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<?x8xf32>, %e: memref<?x6xf32>, %b: memref<?x8xf32>, %o: memref<?x8xf32>):
    %row = gpu.block_id x
    %t = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %u1 = arith.addi %t, %c1 : index
    %p0 = memref.load %a[%row, %t] : memref<?x8xf32>
    %p1 = memref.load %a[%row, %u1] : memref<?x8xf32>
    %e0 = memref.load %e[%row, %c0] : memref<?x6xf32>
    %e1 = memref.load %e[%row, %c1] : memref<?x6xf32>
    %q0 = memref.load %b[%row, %c0] : memref<?x8xf32>
    memref.store %p0, %b[%row, %c1] : memref<?x8xf32>
    %q1 = memref.load %b[%row, %c2] : memref<?x8xf32>
    %r0 = memref.load %a[%row, %c0] : memref<?x8xf32>
    gpu.barrier
    %r1 = memref.load %a[%row, %c1] : memref<?x8xf32>
    %s0 = arith.addf %p1, %e0 : f32
    %s1 = arith.addf %e1, %q0 : f32
    %s2 = arith.addf %q1, %r0 : f32
    %s3 = arith.addf %s2, %r1 : f32
    memref.store %s0, %o[%row, %c0] : memref<?x8xf32>
    memref.store %s1, %o[%row, %c1] : memref<?x8xf32>
    memref.store %s3, %o[%row, %c2] : memref<?x8xf32>
    tiled.yield
  }
  func.return
}

// -----

// Without a register micro-tile, pure arithmetic moves down to just before its first use in its block, last
// ops first so that chains move together: the second load is no longer behind the first value's
// arithmetic (both are in flight together). Loads, stores, constants and barriers keep their places.
// CHECK-LABEL: func.func @sink
// CHECK:         %[[X:.*]] = memref.load %[[A:.*]][%[[I:.*]]] : memref<8xf32>
// CHECK-NEXT:    gpu.barrier
// CHECK-NEXT:    %[[Y:.*]] = memref.load %{{.*}}[%[[I]]] : memref<8xf32>
// CHECK-NEXT:    %[[M:.*]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK-NEXT:    %[[N:.*]] = arith.negf %[[M]] : f32
// CHECK-NEXT:    %[[S:.*]] = arith.addf %[[N]], %[[Y]] : f32
// CHECK-NEXT:    memref.store %[[S]], %{{.*}}[%[[I]]] : memref<8xf32>
func.func @sink(%x: memref<8xf32>, %y: memref<8xf32>, %z: memref<8xf32>) {
  tiled.kernel "sink"(%x, %y, %z) {workgroup_size = array<i64: 1, 1, 1>} : memref<8xf32>, memref<8xf32>, memref<8xf32> grid {
  ^bb0(%ga: memref<8xf32>, %gb: memref<8xf32>, %gc: memref<8xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<8xf32>, %b: memref<8xf32>, %c: memref<8xf32>):
    %i = arith.constant 1 : index
    %v = memref.load %a[%i] : memref<8xf32>
    %m = arith.mulf %v, %v : f32
    %n = arith.negf %m : f32
    gpu.barrier
    %w = memref.load %b[%i] : memref<8xf32>
    %s = arith.addf %n, %w : f32
    memref.store %s, %c[%i] : memref<8xf32>
    tiled.yield
  }
  func.return
}
