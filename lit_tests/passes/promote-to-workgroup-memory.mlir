// RUN: rusty-opt %s -p promote-to-workgroup-memory --split-input-file | filecheck %s
// RUN: rusty-opt %s -p promote-to-workgroup-memory,convert-tiled-to-gpu --split-input-file | rusty-translate --to-wgsl --split-input-file | filecheck %s --check-prefix=WGSL
// Each tiled.promote becomes a memref.alloca in workgroup memory (memory space 3) at the top of the
// kernel, the promote's body evaluated by every invocation for its share of the tile (loads first, then
// the stores into the buffer), and barriers; the promote's uses read the buffer.

// Direct: a tile of 6 over 4 invocations. Invocation t stores points t and t + 4; the second one only
// where t + 4 < 6 (its index clamped with minui so that the load stays in bounds), then one barrier.
// No barrier before the stores: the promote is not in a loop.
// CHECK-LABEL: func.func @direct
// CHECK:         } body {
// CHECK-NEXT:    ^bb0(%[[A:.*]]: memref<6xf32>, %[[B:.*]]: memref<6xf32>):
// CHECK-NEXT:      %[[TILE:.*]] = memref.alloca() : memref<6xf32, 3 : i64>
// CHECK-NOT:       gpu.barrier
// CHECK:           %[[T:.*]] = gpu.thread_id x
// CHECK-NEXT:      %[[V0:.*]] = memref.load %[[A]][%[[T]]] : memref<6xf32>
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[T4:.*]] = arith.addi %[[T]], %[[C4]] : index
// CHECK-NEXT:      %[[C6:.*]] = arith.constant 6 : index
// CHECK-NEXT:      %[[IN:.*]] = arith.cmpi ult, %[[T4]], %[[C6]] : index
// CHECK-NEXT:      %[[C5:.*]] = arith.constant 5 : index
// CHECK-NEXT:      %[[I1:.*]] = arith.minui %[[T4]], %[[C5]] : index
// CHECK-NEXT:      %[[V1:.*]] = memref.load %[[A]][%[[I1]]] : memref<6xf32>
// CHECK-NEXT:      memref.store %[[V0]], %[[TILE]][%[[T]]] : memref<6xf32, 3 : i64>
// CHECK-NEXT:      scf.if %[[IN]] {
// CHECK-NEXT:        memref.store %[[V1]], %[[TILE]][%[[I1]]] : memref<6xf32, 3 : i64>
// CHECK-NEXT:      } else {
// CHECK-NEXT:      }
// CHECK-NEXT:      gpu.barrier
// CHECK:           %{{.*}} = memref.load %[[TILE]][%{{.*}}] : memref<6xf32, 3 : i64>
// CHECK-NOT:       tiled.promote
// WGSL:        var<workgroup> copy_tile: array<f32, 6>;
// WGSL:        fn copy(
// WGSL:          copy_tile[v0] = v_v;
// WGSL:          workgroupBarrier();
func.func @direct(%x: memref<6xf32>, %y: memref<6xf32>) {
  tiled.kernel "copy"(%x, %y) {workgroup_size = array<i64: 4, 1, 1>} : memref<6xf32>, memref<6xf32> grid {
  ^bb0(%a: memref<6xf32>, %b: memref<6xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<6xf32>, %b: memref<6xf32>):
    %c5 = arith.constant 5 : index
    %tile = tiled.promote (%i) in [6] : memref<6xf32, 3> {
      %v = memref.load %a[%i] : memref<6xf32>
      tiled.yield %v : f32
    }
    %t = gpu.thread_id x
    %r = arith.subi %c5, %t : index
    %w = memref.load %tile[%r] : memref<6xf32, 3>
    memref.store %w, %b[%t] : memref<6xf32>
    tiled.yield
  }
  func.return
}

// -----

// Units, deal order, permutation and conversion: a [2, 8] tile in units of 4 along the last dim is
// 2 x 2 units, one per invocation of a 2 x 2 workgroup (linear id ty * 2 + tx). deal = [1, 0] deals
// the units column-major (unit row = id % 2, unit column = id / 2); the 4 values of a unit go to
// points (row, 4 * column + c), stored transposed ([1, 0]) and truncated to the f16 buffer.
// CHECK-LABEL: func.func @transposed
// CHECK:           %[[TILE:.*]] = memref.alloca() : memref<8x2xf16, 3 : i64>
// CHECK-NEXT:      %[[TX:.*]] = gpu.thread_id x
// CHECK-NEXT:      %[[TY:.*]] = gpu.thread_id y
// CHECK-NEXT:      %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[YX:.*]] = arith.muli %[[TY]], %[[C2]] : index
// CHECK-NEXT:      %[[LIN:.*]] = arith.addi %[[YX]], %[[TX]] : index
// CHECK-NEXT:      %[[ROW:.*]] = arith.remui %[[LIN]], %[[C2]] : index
// CHECK-NEXT:      %[[COL:.*]] = arith.divui %[[LIN]], %[[C2]] : index
// CHECK:           %[[K0:.*]] = arith.muli %[[COL]], %{{.*}} : index
// CHECK:           %[[V0:.*]] = memref.load %{{.*}}[%[[ROW]], %[[K0]]] : memref<2x8xf32>
// CHECK-NEXT:      %[[V1:.*]] = memref.load
// CHECK-NEXT:      %[[V2:.*]] = memref.load
// CHECK-NEXT:      %[[V3:.*]] = memref.load
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[P0:.*]] = arith.muli %[[COL]], %[[C4]] : index
// CHECK-NEXT:      %[[H0:.*]] = arith.truncf %[[V0]] : f32 to f16
// CHECK-NEXT:      %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[P1:.*]] = arith.addi %[[P0]], %[[C1]] : index
// CHECK-NEXT:      %[[H1:.*]] = arith.truncf %[[V1]] : f32 to f16
// CHECK-NEXT:      %[[P2:.*]] = arith.addi %[[P0]], %[[C2]] : index
// CHECK-NEXT:      %[[H2:.*]] = arith.truncf %[[V2]] : f32 to f16
// CHECK-NEXT:      %[[C3:.*]] = arith.constant 3 : index
// CHECK-NEXT:      %[[P3:.*]] = arith.addi %[[P0]], %[[C3]] : index
// CHECK-NEXT:      %[[H3:.*]] = arith.truncf %[[V3]] : f32 to f16
// CHECK-NEXT:      memref.store %[[H0]], %[[TILE]][%[[P0]], %[[ROW]]] : memref<8x2xf16, 3 : i64>
// CHECK-NEXT:      memref.store %[[H1]], %[[TILE]][%[[P1]], %[[ROW]]] : memref<8x2xf16, 3 : i64>
// CHECK-NEXT:      memref.store %[[H2]], %[[TILE]][%[[P2]], %[[ROW]]] : memref<8x2xf16, 3 : i64>
// CHECK-NEXT:      memref.store %[[H3]], %[[TILE]][%[[P3]], %[[ROW]]] : memref<8x2xf16, 3 : i64>
// CHECK-NEXT:      gpu.barrier
// CHECK:           %{{.*}} = memref.load %[[TILE]][%{{.*}}, %{{.*}}] : memref<8x2xf16, 3 : i64>
// WGSL:        var<workgroup> tr_tile: array<f16, 16>;
// WGSL:        fn tr(
func.func @transposed(%x: memref<2x8xf32>, %y: memref<8x2xf16>) {
  tiled.kernel "tr"(%x, %y) {workgroup_size = array<i64: 2, 2, 1>} : memref<2x8xf32>, memref<8x2xf16> grid {
  ^bb0(%a: memref<2x8xf32>, %b: memref<8x2xf16>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<2x8xf32>, %b: memref<8x2xf16>):
    %tile = tiled.promote (%r, %q) in [2, 8] attributes {permutation = array<i64: 1, 0>, unit = 4 : i64, deal = array<i64: 1, 0>} : memref<8x2xf16, 3> {
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c3 = arith.constant 3 : index
      %c4 = arith.constant 4 : index
      %k0 = arith.muli %q, %c4 : index
      %k1 = arith.addi %k0, %c1 : index
      %k2 = arith.addi %k0, %c2 : index
      %k3 = arith.addi %k0, %c3 : index
      %v0 = memref.load %a[%r, %k0] : memref<2x8xf32>
      %v1 = memref.load %a[%r, %k1] : memref<2x8xf32>
      %v2 = memref.load %a[%r, %k2] : memref<2x8xf32>
      %v3 = memref.load %a[%r, %k3] : memref<2x8xf32>
      tiled.yield %v0, %v1, %v2, %v3 : f32, f32, f32, f32
    }
    %tx = gpu.thread_id x
    %ty = gpu.thread_id y
    %h = memref.load %tile[%tx, %ty] : memref<8x2xf16, 3>
    memref.store %h, %b[%tx, %ty] : memref<8x2xf16>
    tiled.yield
  }
  func.return
}

// -----

// In a loop (depth 1): a barrier before the stores too (the previous iteration's readers are done),
// and the barrier ending the first promote's copy is the one starting the second's (adjacent barriers
// merged). Two promotes of one iteration get two buffers.
// CHECK-LABEL: func.func @loop
// CHECK:           %[[Q:.*]] = memref.alloca() : memref<4xf32, 3 : i64>
// CHECK-NEXT:      %[[P:.*]] = memref.alloca() : memref<4xf32, 3 : i64>
// CHECK:           scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// CHECK-NEXT:        gpu.barrier
// CHECK-NEXT:        %[[T0:.*]] = gpu.thread_id x
// CHECK-NEXT:        %[[V0:.*]] = memref.load %{{.*}}[%[[K]], %[[T0]]] : memref<4x4xf32>
// CHECK-NEXT:        memref.store %[[V0]], %[[P]][%[[T0]]] : memref<4xf32, 3 : i64>
// CHECK-NEXT:        gpu.barrier
// CHECK-NEXT:        %[[T1:.*]] = gpu.thread_id x
// CHECK-NEXT:        %[[V1:.*]] = memref.load %{{.*}}[%[[T1]], %[[K]]] : memref<4x4xf32>
// CHECK-NEXT:        memref.store %[[V1]], %[[Q]][%[[T1]]] : memref<4xf32, 3 : i64>
// CHECK-NEXT:        gpu.barrier
// CHECK-NEXT:        %{{.*}} = memref.load %[[P]][%[[K]]] : memref<4xf32, 3 : i64>
// CHECK-NEXT:        %{{.*}} = memref.load %[[Q]][%[[K]]] : memref<4xf32, 3 : i64>
func.func @loop(%x: memref<4x4xf32>, %y: memref<4xf32>) {
  tiled.kernel "dot"(%x, %y) {workgroup_size = array<i64: 4, 1, 1>} : memref<4x4xf32>, memref<4xf32> grid {
  ^bb0(%a: memref<4x4xf32>, %b: memref<4xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<4x4xf32>, %b: memref<4xf32>):
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %zero = arith.constant 0.0 : f32
    %s = scf.for %k = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> (f32) {
      %p = tiled.promote (%i) in [4] : memref<4xf32, 3> {
        %v = memref.load %a[%k, %i] : memref<4x4xf32>
        tiled.yield %v : f32
      }
      %q = tiled.promote (%i) in [4] : memref<4xf32, 3> {
        %v = memref.load %a[%i, %k] : memref<4x4xf32>
        tiled.yield %v : f32
      }
      %u = memref.load %p[%k] : memref<4xf32, 3>
      %w = memref.load %q[%k] : memref<4xf32, 3>
      %m = arith.mulf %u, %w : f32
      %n = arith.addf %acc, %m : f32
      scf.yield %n : f32
    }
    %t = gpu.thread_id x
    memref.store %s, %b[%t] : memref<4xf32>
    tiled.yield
  }
  func.return
}

// -----

// Software pipelining (depth 2): the first tile (iv = lower bound) is stored before the loop, then a
// barrier; each iteration loads the next tile (iv + step, or its own on the last iteration) where the
// promote was, before its uses of the buffer, and stores it after them between two barriers.
// CHECK-LABEL: func.func @pipelined
// CHECK:           %[[P:.*]] = memref.alloca() : memref<4xf32, 3 : i64>
// CHECK-NEXT:      %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:      %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : index
// CHECK:           %[[TID:.*]] = gpu.thread_id
// CHECK-NEXT:      %[[T0:.*]] = gpu.thread_id x
// CHECK-NEXT:      %[[V0:.*]] = memref.load %{{.*}}[%[[C0]], %[[T0]]] : memref<4x4xf32>
// CHECK-NEXT:      memref.store %[[V0]], %[[P]][%[[T0]]] : memref<4xf32, 3 : i64>
// CHECK-NEXT:      gpu.barrier
// CHECK-NEXT:      %{{.*}} = scf.for %[[K:.*]] = %[[C0]] to %[[C4]] step %[[C1]] iter_args
// CHECK-NEXT:        %[[AFTER:.*]] = arith.addi %[[K]], %[[C1]] : index
// CHECK-NEXT:        %[[MORE:.*]] = arith.cmpi ult, %[[AFTER]], %[[C4]] : index
// CHECK-NEXT:        %[[NEXT:.*]] = arith.select %[[MORE]], %[[AFTER]], %[[K]] : index
// CHECK-NEXT:        %[[T1:.*]] = gpu.thread_id x
// CHECK-NEXT:        %[[V1:.*]] = memref.load %{{.*}}[%[[NEXT]], %[[T1]]] : memref<4x4xf32>
// CHECK-NEXT:        %{{.*}} = memref.load %[[P]][%[[TID]]] : memref<4xf32, 3 : i64>
// CHECK-NEXT:        %[[SUM:.*]] = arith.addf
// CHECK-NEXT:        gpu.barrier
// CHECK-NEXT:        memref.store %[[V1]], %[[P]][%[[T1]]] : memref<4xf32, 3 : i64>
// CHECK-NEXT:        gpu.barrier
// CHECK-NEXT:        scf.yield %[[SUM]] : f32
func.func @pipelined(%x: memref<4x4xf32>, %y: memref<4xf32>) {
  tiled.kernel "pipe"(%x, %y) {workgroup_size = array<i64: 4, 1, 1>} : memref<4x4xf32>, memref<4xf32> grid {
  ^bb0(%a: memref<4x4xf32>, %b: memref<4xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<4x4xf32>, %b: memref<4xf32>):
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %zero = arith.constant 0.0 : f32
    %t = gpu.thread_id x
    %s = scf.for %k = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> (f32) {
      %p = tiled.promote (%i) in [4] attributes {depth = 2 : i64} : memref<4xf32, 3> {
        %v = memref.load %a[%k, %i] : memref<4x4xf32>
        tiled.yield %v : f32
      }
      %u = memref.load %p[%t] : memref<4xf32, 3>
      %n = arith.addf %acc, %u : f32
      scf.yield %n : f32
    }
    memref.store %s, %b[%t] : memref<4xf32>
    tiled.yield
  }
  func.return
}

// -----

// Promotes of one type in the two branches of an scf.if (the contractions of a merged region, each
// in its own K loop) never run together: they share one buffer.
// CHECK-LABEL: func.func @branches
// CHECK:           %[[P:.*]] = memref.alloca() : memref<4xf32, 3 : i64>
// CHECK-NOT:       memref.alloca
// CHECK:           scf.if
// CHECK:             memref.store %{{.*}}, %[[P]][%{{.*}}] : memref<4xf32, 3 : i64>
// CHECK:             %{{.*}} = memref.load %[[P]]
// CHECK:           } else {
// CHECK:             memref.store %{{.*}}, %[[P]][%{{.*}}] : memref<4xf32, 3 : i64>
// CHECK:             %{{.*}} = memref.load %[[P]]
// CHECK-NOT:     tiled.promote
func.func @branches(%x: memref<4x4xf32>, %y: memref<4xf32>, %n: index) {
  tiled.kernel "br"(%x, %y, %n) {workgroup_size = array<i64: 4, 1, 1>} : memref<4x4xf32>, memref<4xf32>, index grid {
  ^bb0(%a: memref<4x4xf32>, %b: memref<4xf32>, %m: index):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<4x4xf32>, %b: memref<4xf32>, %m: index):
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %t = gpu.thread_id x
    %first = arith.cmpi ult, %m, %c2 : index
    scf.if %first {
      scf.for %k = %c0 to %c4 step %c1 {
        %p = tiled.promote (%i) in [4] : memref<4xf32, 3> {
          %v = memref.load %a[%k, %i] : memref<4x4xf32>
          tiled.yield %v : f32
        }
        %u = memref.load %p[%t] : memref<4xf32, 3>
        memref.store %u, %b[%k] : memref<4xf32>
      }
    } else {
      scf.for %k = %c0 to %c4 step %c1 {
        %q = tiled.promote (%i) in [4] : memref<4xf32, 3> {
          %v = memref.load %a[%i, %k] : memref<4x4xf32>
          tiled.yield %v : f32
        }
        %w = memref.load %q[%t] : memref<4xf32, 3>
        memref.store %w, %b[%k] : memref<4xf32>
      }
    }
    tiled.yield
  }
  func.return
}

// -----

// Promotes directly in the two branches of an scf.if (the int8 activations of a merged dp4a gemv's
// contractions) share one buffer too; two promotes of one branch do not.
// CHECK-LABEL: func.func @direct_branches
// CHECK:           %[[P1:.*]] = memref.alloca() : memref<4xf32, 3 : i64>
// CHECK-NEXT:      %[[P0:.*]] = memref.alloca() : memref<4xf32, 3 : i64>
// CHECK-NOT:       memref.alloca
// CHECK:           scf.if
// CHECK:             memref.store %{{.*}}, %[[P0]][%{{.*}}] : memref<4xf32, 3 : i64>
// CHECK:             memref.store %{{.*}}, %[[P1]][%{{.*}}] : memref<4xf32, 3 : i64>
// CHECK:           } else {
// CHECK:             memref.store %{{.*}}, %[[P0]][%{{.*}}] : memref<4xf32, 3 : i64>
func.func @direct_branches(%x: memref<4x4xf32>, %y: memref<4xf32>, %n: index) {
  tiled.kernel "dbr"(%x, %y, %n) {workgroup_size = array<i64: 4, 1, 1>} : memref<4x4xf32>, memref<4xf32>, index grid {
  ^bb0(%a: memref<4x4xf32>, %b: memref<4xf32>, %m: index):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<4x4xf32>, %b: memref<4xf32>, %m: index):
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %t = gpu.thread_id x
    %first = arith.cmpi ult, %m, %c2 : index
    scf.if %first {
      %p = tiled.promote (%i) in [4] : memref<4xf32, 3> {
        %v = memref.load %a[%c0, %i] : memref<4x4xf32>
        tiled.yield %v : f32
      }
      %r = tiled.promote (%i) in [4] : memref<4xf32, 3> {
        %v = memref.load %a[%c1, %i] : memref<4x4xf32>
        tiled.yield %v : f32
      }
      %u = memref.load %p[%t] : memref<4xf32, 3>
      %u2 = memref.load %r[%t] : memref<4xf32, 3>
      %s = arith.addf %u, %u2 : f32
      memref.store %s, %b[%t] : memref<4xf32>
    } else {
      %q = tiled.promote (%i) in [4] : memref<4xf32, 3> {
        %v = memref.load %a[%i, %c0] : memref<4x4xf32>
        tiled.yield %v : f32
      }
      %w = memref.load %q[%t] : memref<4xf32, 3>
      memref.store %w, %b[%t] : memref<4xf32>
    }
    tiled.yield
  }
  func.return
}
