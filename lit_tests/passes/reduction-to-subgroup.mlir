// RUN: rusty-opt %s -p 'attach-target{subgroup-size=32},reduction-to-subgroup' --split-input-file | filecheck %s --check-prefixes=CHECK,SG
// RUN: rusty-opt %s -p 'attach-target,reduction-to-subgroup' --split-input-file | filecheck %s --check-prefixes=CHECK,TREE
// RUN: rusty-opt %s -p 'attach-target{subgroup-size=32},reduction-to-subgroup,convert-tiled-to-gpu' --split-input-file | rusty-translate --to-wgsl --split-input-file | filecheck %s --check-prefix=WGSL
// Each tiled.reduce is lowered by the module's target: SG has 32-wide subgroups, so groups of a
// multiple of 32 invocations reduce with rgpu.subgroup_* ops; TREE (webgpu, no subgroups) and groups
// narrower than a subgroup reduce by halving steps in workgroup memory, one barrier per step.

// Two sums over groups of 32 (one subgroup each): one rgpu.subgroup_add per value, no workgroup memory.
// Without subgroups: one 64-slot scratch array per value; every invocation stores its values, then
// steps of stride 16, 8, 4, 2, 1 combine slot t with slot t + stride where lane = t % 32 < stride, and
// every invocation reads its group's first slot t - lane.
// CHECK-LABEL:  func.func @sum
// CHECK:          } body {
// SG-NOT:           memref.alloca
// SG:               %[[V:.*]] = memref.load
// SG-NEXT:          %[[SQ:.*]] = arith.mulf
// SG-NEXT:          %{{.*}} = gpu.thread_id
// SG-NEXT:          %[[S:.*]] = rgpu.subgroup_add %[[V]] : f32
// SG-NEXT:          %[[Q:.*]] = rgpu.subgroup_add %[[SQ]] : f32
// SG-NEXT:          %{{.*}} = arith.addf %[[S]], %[[Q]] : f32
// SG-NOT:           gpu.barrier
// TREE:             %[[BQ:.*]] = memref.alloca() : memref<64xf32, 3 : i64>
// TREE-NEXT:        %[[BS:.*]] = memref.alloca() : memref<64xf32, 3 : i64>
// TREE:             %[[V:.*]] = memref.load
// TREE-NEXT:        %[[SQ:.*]] = arith.mulf
// TREE-NEXT:        %[[T:.*]] = gpu.thread_id x
// TREE-NEXT:        memref.store %[[V]], %[[BS]][%[[T]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:        memref.store %[[SQ]], %[[BQ]][%[[T]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:        gpu.barrier
// TREE-NEXT:        %[[C32:.*]] = arith.constant 32 : index
// TREE-NEXT:        %[[LANE:.*]] = arith.remui %[[T]], %[[C32]] : index
// TREE-NEXT:        %[[C16:.*]] = arith.constant 16 : index
// TREE-NEXT:        %[[ACT:.*]] = arith.cmpi ult, %[[LANE]], %[[C16]] : index
// TREE-NEXT:        scf.if %[[ACT]] {
// TREE-NEXT:          %[[O:.*]] = arith.addi %[[T]], %[[C16]] : index
// TREE-NEXT:          %[[MS:.*]] = memref.load %[[BS]][%[[T]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:          %[[MQ:.*]] = memref.load %[[BQ]][%[[T]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:          %[[OS:.*]] = memref.load %[[BS]][%[[O]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:          %[[OQ:.*]] = memref.load %[[BQ]][%[[O]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:          %[[RS:.*]] = arith.addf %[[MS]], %[[OS]] : f32
// TREE-NEXT:          %[[RQ:.*]] = arith.addf %[[MQ]], %[[OQ]] : f32
// TREE-NEXT:          memref.store %[[RS]], %[[BS]][%[[T]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:          memref.store %[[RQ]], %[[BQ]][%[[T]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:        } else {
// TREE-NEXT:        }
// TREE-NEXT:        gpu.barrier
// TREE-NEXT:        %[[C8:.*]] = arith.constant 8 : index
// TREE-NEXT:        %{{.*}} = arith.cmpi ult, %[[LANE]], %[[C8]] : index
// TREE:             gpu.barrier
// TREE-NEXT:        %[[C4:.*]] = arith.constant 4 : index
// TREE:             gpu.barrier
// TREE-NEXT:        %[[C2:.*]] = arith.constant 2 : index
// TREE:             gpu.barrier
// TREE-NEXT:        %[[C1:.*]] = arith.constant 1 : index
// TREE-NEXT:        %{{.*}} = arith.cmpi ult, %[[LANE]], %[[C1]] : index
// TREE:             gpu.barrier
// TREE-NEXT:        %[[FIRST:.*]] = arith.subi %[[T]], %[[LANE]] : index
// TREE-NEXT:        %[[S:.*]] = memref.load %[[BS]][%[[FIRST]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:        %[[Q:.*]] = memref.load %[[BQ]][%[[FIRST]]] : memref<64xf32, 3 : i64>
// TREE-NEXT:        gpu.barrier
// TREE-NEXT:        %{{.*}} = arith.addf %[[S]], %[[Q]] : f32
// CHECK-NOT:      tiled.reduce
// WGSL:         fn sum(
// WGSL:           let v_s: f32 = subgroupAdd(v_v);
// WGSL-NEXT:      let v_q: f32 = subgroupAdd(v_sq);
func.func @sum(%x: memref<64xf32>, %y: memref<64xf32>) {
  tiled.kernel "sum"(%x, %y) {workgroup_size = array<i64: 64, 1, 1>} : memref<64xf32>, memref<64xf32> grid {
  ^bb0(%a: memref<64xf32>, %b: memref<64xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<64xf32>, %b: memref<64xf32>):
    %t = gpu.thread_id x
    %v = memref.load %a[%t] : memref<64xf32>
    %sq = arith.mulf %v, %v : f32
    %s, %q = tiled.reduce add %v, %sq width 32 : f32, f32
    %r = arith.addf %s, %q : f32
    memref.store %r, %b[%t] : memref<64xf32>
    tiled.yield
  }
  func.return
}

// -----

// A max over groups of 64 spans two subgroups: each subgroup's maximum is written by its first
// invocation (t % 32 == 0) to slot t / 32 of a 2-slot scratch array, then after a barrier every
// invocation combines its group's slots (t / 64) * 2 + 0 and + 1 with maximumf; a barrier after.
// CHECK-LABEL:  func.func @wide
// SG:               %[[BUF:.*]] = memref.alloca() : memref<2xf32, 3 : i64>
// SG:               %[[V:.*]] = memref.load
// SG-NEXT:          %[[T:.*]] = gpu.thread_id x
// SG-NEXT:          %[[M:.*]] = rgpu.subgroup_max %[[V]] : f32
// SG-NEXT:          %[[C32:.*]] = arith.constant 32 : index
// SG-NEXT:          %[[SUB:.*]] = arith.divui %[[T]], %[[C32]] : index
// SG-NEXT:          %[[C64:.*]] = arith.constant 64 : index
// SG-NEXT:          %[[GROUP:.*]] = arith.divui %[[T]], %[[C64]] : index
// SG-NEXT:          %[[C2:.*]] = arith.constant 2 : index
// SG-NEXT:          %[[BASE:.*]] = arith.muli %[[GROUP]], %[[C2]] : index
// SG-NEXT:          %[[LANE:.*]] = arith.remui %[[T]], %[[C32]] : index
// SG-NEXT:          %[[C0:.*]] = arith.constant 0 : index
// SG-NEXT:          %[[WRITER:.*]] = arith.cmpi eq, %[[LANE]], %[[C0]] : index
// SG-NEXT:          scf.if %[[WRITER]] {
// SG-NEXT:            memref.store %[[M]], %[[BUF]][%[[SUB]]] : memref<2xf32, 3 : i64>
// SG-NEXT:          } else {
// SG-NEXT:          }
// SG-NEXT:          gpu.barrier
// SG-NEXT:          %[[I0:.*]] = arith.addi %[[BASE]], %[[C0]] : index
// SG-NEXT:          %[[M0:.*]] = memref.load %[[BUF]][%[[I0]]] : memref<2xf32, 3 : i64>
// SG-NEXT:          %[[C1:.*]] = arith.constant 1 : index
// SG-NEXT:          %[[I1:.*]] = arith.addi %[[BASE]], %[[C1]] : index
// SG-NEXT:          %[[M1:.*]] = memref.load %[[BUF]][%[[I1]]] : memref<2xf32, 3 : i64>
// SG-NEXT:          %[[MAX:.*]] = arith.maximumf %[[M0]], %[[M1]] : f32
// SG-NEXT:          gpu.barrier
// SG-NEXT:          memref.store %[[MAX]], %{{.*}}[%{{.*}}] : memref<64xf32>
// TREE:             memref.alloca() : memref<64xf32, 3 : i64>
// TREE:             %[[C64:.*]] = arith.constant 64 : index
// TREE-NEXT:        %[[LANE:.*]] = arith.remui %{{.*}}, %[[C64]] : index
// TREE-NEXT:        %[[C32:.*]] = arith.constant 32 : index
// TREE-NEXT:        %{{.*}} = arith.cmpi ult, %[[LANE]], %[[C32]] : index
// TREE:               %{{.*}} = arith.maximumf
// TREE-COUNT-6:     gpu.barrier
// TREE:             %{{.*}} = arith.subi %{{.*}}, %[[LANE]] : index
// WGSL:         var<workgroup> wide_shared: array<f32, 2>;
// WGSL:         fn wide(
// WGSL:           subgroupMax(v_v);
// WGSL:           workgroupBarrier();
func.func @wide(%x: memref<64xf32>, %y: memref<64xf32>) {
  tiled.kernel "wide"(%x, %y) {workgroup_size = array<i64: 64, 1, 1>} : memref<64xf32>, memref<64xf32> grid {
  ^bb0(%a: memref<64xf32>, %b: memref<64xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<64xf32>, %b: memref<64xf32>):
    %t = gpu.thread_id x
    %v = memref.load %a[%t] : memref<64xf32>
    %m = tiled.reduce max %v width 64 : f32
    memref.store %m, %b[%t] : memref<64xf32>
    tiled.yield
  }
  func.return
}

// -----

// argmax: the subgroup's maximum, then the smallest index holding it (invocations without it offer
// INT_MAX). In the tree, a pair is taken from the other slot when its value is larger, or equal with a
// smaller index.
// CHECK-LABEL:  func.func @argmax
// SG:               %[[V:.*]] = memref.load
// SG-NEXT:          %[[I:.*]] = arith.index_cast
// SG-NEXT:          %{{.*}} = gpu.thread_id
// SG-NEXT:          %[[BEST:.*]] = rgpu.subgroup_max %[[V]] : f32
// SG-NEXT:          %[[HAS:.*]] = arith.cmpf oeq, %[[V]], %[[BEST]] : f32
// SG-NEXT:          %[[MAXI:.*]] = arith.constant 2147483647 : i32
// SG-NEXT:          %[[CAND:.*]] = arith.select %[[HAS]], %[[I]], %[[MAXI]] : i32
// SG-NEXT:          %[[AT:.*]] = rgpu.subgroup_min %[[CAND]] : i32
// SG-NEXT:          memref.store %[[AT]], %{{.*}}[%{{.*}}] : memref<1xi32>
// TREE:             %[[BI:.*]] = memref.alloca() : memref<32xi32, 3 : i64>
// TREE-NEXT:        %[[BV:.*]] = memref.alloca() : memref<32xf32, 3 : i64>
// TREE:             scf.if
// TREE:               %[[MV:.*]] = memref.load %[[BV]]
// TREE-NEXT:          %[[MI:.*]] = memref.load %[[BI]]
// TREE-NEXT:          %[[OV:.*]] = memref.load %[[BV]]
// TREE-NEXT:          %[[OI:.*]] = memref.load %[[BI]]
// TREE-NEXT:          %[[GT:.*]] = arith.cmpf ogt, %[[OV]], %[[MV]] : f32
// TREE-NEXT:          %[[EQ:.*]] = arith.cmpf oeq, %[[OV]], %[[MV]] : f32
// TREE-NEXT:          %[[LT:.*]] = arith.cmpi slt, %[[OI]], %[[MI]] : i32
// TREE-NEXT:          %[[TIE:.*]] = arith.andi %[[EQ]], %[[LT]] : i1
// TREE-NEXT:          %[[TAKE:.*]] = arith.ori %[[GT]], %[[TIE]] : i1
// TREE-NEXT:          %[[RV:.*]] = arith.select %[[TAKE]], %[[OV]], %[[MV]] : f32
// TREE-NEXT:          %[[RI:.*]] = arith.select %[[TAKE]], %[[OI]], %[[MI]] : i32
// TREE-NEXT:          memref.store %[[RV]], %[[BV]]
// TREE-NEXT:          memref.store %[[RI]], %[[BI]]
// WGSL:         fn argmax(
// WGSL:           subgroupMax(v_v);
// WGSL:           subgroupMin(
func.func @argmax(%x: memref<32xf32>, %y: memref<1xi32>) {
  tiled.kernel "argmax"(%x, %y) {workgroup_size = array<i64: 32, 1, 1>} : memref<32xf32>, memref<1xi32> grid {
  ^bb0(%a: memref<32xf32>, %b: memref<1xi32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<32xf32>, %b: memref<1xi32>):
    %c0 = arith.constant 0 : index
    %t = gpu.thread_id x
    %v = memref.load %a[%t] : memref<32xf32>
    %i = arith.index_cast %t : index to i32
    %best, %at = tiled.reduce argmax %v, %i width 32 : f32, i32
    memref.store %at, %b[%c0] : memref<1xi32>
    tiled.yield
  }
  func.return
}

// -----

// Groups of 4, narrower than a subgroup: the tree with subgroups too (strides 2 and 1). A reduction
// of width 1 is its operand: nothing is emitted, its uses take the tree's result.
// CHECK-LABEL:  func.func @narrow
// CHECK:            %[[BUF:.*]] = memref.alloca() : memref<8xf32, 3 : i64>
// CHECK-NOT:        rgpu.subgroup
// CHECK:            %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:       %[[LANE:.*]] = arith.remui %[[T:.*]], %[[C4]] : index
// CHECK-NEXT:       %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT:       %{{.*}} = arith.cmpi ult, %[[LANE]], %[[C2]] : index
// CHECK:              %{{.*}} = arith.minimumf
// CHECK:            %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:       %{{.*}} = arith.cmpi ult, %[[LANE]], %[[C1]] : index
// CHECK:              %{{.*}} = arith.minimumf
// CHECK:            gpu.barrier
// CHECK-NEXT:       %[[FIRST:.*]] = arith.subi %[[T]], %[[LANE]] : index
// CHECK-NEXT:       %[[MIN:.*]] = memref.load %[[BUF]][%[[FIRST]]] : memref<8xf32, 3 : i64>
// CHECK-NEXT:       gpu.barrier
// CHECK-NEXT:       %{{.*}} = gpu.thread_id
// CHECK-NEXT:       memref.store %[[MIN]], %{{.*}}[%{{.*}}] : memref<8xf32>
// CHECK-NOT:      tiled.reduce
// WGSL:         var<workgroup> narrow_shared: array<f32, 8>;
// WGSL:         fn narrow(
func.func @narrow(%x: memref<8xf32>, %y: memref<8xf32>) {
  tiled.kernel "narrow"(%x, %y) {workgroup_size = array<i64: 8, 1, 1>} : memref<8xf32>, memref<8xf32> grid {
  ^bb0(%a: memref<8xf32>, %b: memref<8xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<8xf32>, %b: memref<8xf32>):
    %t = gpu.thread_id x
    %v = memref.load %a[%t] : memref<8xf32>
    %m = tiled.reduce min %v width 4 : f32
    %same = tiled.reduce add %m width 1 : f32
    memref.store %same, %b[%t] : memref<8xf32>
    tiled.yield
  }
  func.return
}

// -----

// Groups of 4 in a workgroup of whole subgroups: with subgroups, a butterfly of two lane exchanges
// (xor 1, then 2), no workgroup memory; without, the tree.
// CHECK-LABEL:  func.func @butterfly
// SG-NOT:           memref.alloca
// SG:               %[[X1:.*]] = rgpu.subgroup_shuffle_xor %[[V:.*]] {mask = 1 : i64} : f32
// SG-NEXT:          %[[S1:.*]] = arith.addf %[[V]], %[[X1]] : f32
// SG-NEXT:          %[[X2:.*]] = rgpu.subgroup_shuffle_xor %[[S1]] {mask = 2 : i64} : f32
// SG-NEXT:          %[[S2:.*]] = arith.addf %[[S1]], %[[X2]] : f32
// SG-NOT:           "gpu.barrier"
// SG:               memref.store %[[S2]]
// TREE:             memref.alloca() : memref<64xf32, 3 : i64>
// TREE-NOT:         rgpu.subgroup_shuffle_xor
// WGSL:         subgroupShuffleXor(v_v, 1u)
// WGSL:         subgroupShuffleXor(v{{[0-9]+}}, 2u)
func.func @butterfly(%x: memref<64xf32>, %y: memref<64xf32>) {
  tiled.kernel "butterfly"(%x, %y) {workgroup_size = array<i64: 64, 1, 1>} : memref<64xf32>, memref<64xf32> grid {
  ^bb0(%a: memref<64xf32>, %b: memref<64xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<64xf32>, %b: memref<64xf32>):
    %t = gpu.thread_id x
    %v = memref.load %a[%t] : memref<64xf32>
    %s = tiled.reduce add %v width 4 : f32
    memref.store %s, %b[%t] : memref<64xf32>
    tiled.yield
  }
  func.return
}
