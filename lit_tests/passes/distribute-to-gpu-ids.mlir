// RUN: rusty-opt %s -p distribute-to-gpu-ids --split-input-file | filecheck %s
// RUN: rusty-opt %s -p distribute-to-gpu-ids,convert-tiled-to-gpu --split-input-file | rusty-translate --to-wgsl --split-input-file | filecheck %s --check-prefix=WGSL
// Every tiled.forall becomes gpu ids: a workgroup forall's ivs are gpu.block_id (a 1-D one folded from
// x and y, under a guard), an invocation forall's ivs the workgroup's linear invocation index
// delinearized row-major over its bounds, directly, under a guard or in a strided loop.

// A 1-D workgroup forall over the rows: row = block_id.y * grid_dim.x + block_id.x (the grid may fold a
// long range into y), its body under row < bound. The invocation forall has 4 x 16 = 64 points, as
// many as invocations: (i, j) = (t / 16, t % 16), no guard.
// CHECK-LABEL: func.func @rows
// CHECK:         } body {
// CHECK-NEXT:    ^bb0(%[[A:.*]]: memref<?x64xf32>, %[[M:.*]]: index):
// CHECK-NEXT:      %[[BX:.*]] = gpu.block_id x
// CHECK-NEXT:      %[[BY:.*]] = gpu.block_id y
// CHECK-NEXT:      %[[GX:.*]] = gpu.grid_dim x
// CHECK-NEXT:      %[[YX:.*]] = arith.muli %[[BY]], %[[GX]] : index
// CHECK-NEXT:      %[[ROW:.*]] = arith.addi %[[YX]], %[[BX]] : index
// CHECK-NEXT:      %[[IN:.*]] = arith.cmpi ult, %[[ROW]], %[[M]] : index
// CHECK-NEXT:      scf.if %[[IN]] {
// CHECK-NEXT:        %{{.*}} = arith.constant 4 : index
// CHECK-NEXT:        %[[C16:.*]] = arith.constant 16 : index
// CHECK-NEXT:        %[[T:.*]] = gpu.thread_id x
// CHECK-NEXT:        %[[J:.*]] = arith.remui %[[T]], %[[C16]] : index
// CHECK-NEXT:        %[[I:.*]] = arith.divui %[[T]], %[[C16]] : index
// CHECK-NEXT:        %{{.*}} = arith.constant 16 : index
// CHECK-NEXT:        %[[OFF:.*]] = arith.muli %[[I]], %{{.*}} : index
// CHECK-NEXT:        %[[COL:.*]] = arith.addi %[[OFF]], %[[J]] : index
// CHECK-NEXT:        %{{.*}} = memref.load %[[A]][%[[ROW]], %[[COL]]] : memref<?x64xf32>
// CHECK-NEXT:        %{{.*}} = arith.addf
// CHECK-NEXT:        memref.store %{{.*}}, %[[A]][%[[ROW]], %[[COL]]] : memref<?x64xf32>
// CHECK-NEXT:      } else {
// CHECK-NEXT:      }
// CHECK-NEXT:      tiled.yield
// CHECK-NOT:   tiled.forall
// WGSL:        fn rows(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
// WGSL-NEXT:     let v0: i32 = i32(wid.x);
// WGSL-NEXT:     let v1: i32 = i32(wid.y);
// WGSL-NEXT:     let v2: i32 = i32(nwg.x);
func.func @rows(%x: memref<?x64xf32>, %n: index) {
  tiled.kernel "rows"(%x, %n) {workgroup_size = array<i64: 64, 1, 1>} : memref<?x64xf32>, index grid {
  ^bb0(%a: memref<?x64xf32>, %m: index):
    %c1 = arith.constant 1 : index
    tiled.yield %m, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<?x64xf32>, %m: index):
    tiled.forall (%row) in (%m) workgroup {
      %c4 = arith.constant 4 : index
      %c16 = arith.constant 16 : index
      tiled.forall (%i, %j) in (%c4, %c16) invocation {
        %c16b = arith.constant 16 : index
        %off = arith.muli %i, %c16b : index
        %col = arith.addi %off, %j : index
        %v = memref.load %a[%row, %col] : memref<?x64xf32>
        %w = arith.addf %v, %v : f32
        memref.store %w, %a[%row, %col] : memref<?x64xf32>
        tiled.yield
      }
      tiled.yield
    }
    tiled.yield
  }
  func.return
}

// -----

// A 3-D workgroup forall: its ivs are block_id x, y, z, no guard. In a 2 x 2 x 2 workgroup the linear
// invocation index is tz * 4 + ty * 2 + tx; the invocation forall has 3 x 2 = 6 points, fewer than
// the 8 invocations: its body runs under index < 6.
// CHECK-LABEL: func.func @tiles
// CHECK:           %[[BI:.*]] = gpu.block_id x
// CHECK-NEXT:      %[[BJ:.*]] = gpu.block_id y
// CHECK-NEXT:      %{{.*}} = gpu.block_id z
// CHECK-NEXT:      %{{.*}} = arith.constant 3 : index
// CHECK-NEXT:      %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[TX:.*]] = gpu.thread_id x
// CHECK-NEXT:      %[[TY:.*]] = gpu.thread_id y
// CHECK-NEXT:      %[[X:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[TYX:.*]] = arith.muli %[[TY]], %[[X]] : index
// CHECK-NEXT:      %[[XY:.*]] = arith.addi %[[TYX]], %[[TX]] : index
// CHECK-NEXT:      %[[TZ:.*]] = gpu.thread_id z
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[TZXY:.*]] = arith.muli %[[TZ]], %[[C4]] : index
// CHECK-NEXT:      %[[LIN:.*]] = arith.addi %[[TZXY]], %[[XY]] : index
// CHECK-NEXT:      %[[C6:.*]] = arith.constant 6 : index
// CHECK-NEXT:      %[[IN:.*]] = arith.cmpi ult, %[[LIN]], %[[C6]] : index
// CHECK-NEXT:      %[[J:.*]] = arith.remui %[[LIN]], %[[C2]] : index
// CHECK-NEXT:      %[[I:.*]] = arith.divui %[[LIN]], %[[C2]] : index
// CHECK-NEXT:      scf.if %[[IN]] {
// CHECK-NEXT:        %[[V:.*]] = memref.load %{{.*}}[%[[I]], %[[J]]] : memref<8x8xf32>
// CHECK-NEXT:        memref.store %[[V]], %{{.*}}[%[[BI]], %[[BJ]]] : memref<8x8xf32>
// CHECK-NEXT:      } else {
// CHECK-NEXT:      }
// CHECK-NEXT:      tiled.yield
// WGSL:        @compute @workgroup_size(2, 2, 2)
// WGSL-NEXT:   fn tiles(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
// WGSL-NEXT:     let v_bi: i32 = i32(wid.x);
// WGSL-NEXT:     let v_bj: i32 = i32(wid.y);
// WGSL-NEXT:     let v_bk: i32 = i32(wid.z);
func.func @tiles(%x: memref<8x8xf32>) {
  tiled.kernel "tiles"(%x) {workgroup_size = array<i64: 2, 2, 2>} : memref<8x8xf32> grid {
  ^bb0(%a: memref<8x8xf32>):
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    tiled.yield %c2, %c2, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<8x8xf32>):
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    tiled.forall (%bi, %bj, %bk) in (%c2, %c2, %c1) workgroup {
      %c3 = arith.constant 3 : index
      %c2b = arith.constant 2 : index
      tiled.forall (%i, %j) in (%c3, %c2b) invocation {
        %v = memref.load %a[%i, %j] : memref<8x8xf32>
        memref.store %v, %a[%bi, %bj] : memref<8x8xf32>
        tiled.yield
      }
      tiled.yield
    }
    tiled.yield
  }
  func.return
}

// -----

// More points than invocations: 100 static points are a loop from the invocation index to 100
// stepping by the workgroup size (64); a dynamic bound (m x 2) loops to the product of the bounds,
// its ivs delinearized from the loop's iv.
// CHECK-LABEL: func.func @strided
// CHECK:         } body {
// CHECK-NEXT:    ^bb0(%[[A:.*]]: memref<?xf32>, %[[M:.*]]: index):
// CHECK:           scf.if
// CHECK:             %[[T0:.*]] = gpu.thread_id x
// CHECK-NEXT:        %[[C100:.*]] = arith.constant 100 : index
// CHECK-NEXT:        %[[C64:.*]] = arith.constant 64 : index
// CHECK-NEXT:        scf.for %[[I:.*]] = %[[T0]] to %[[C100]] step %[[C64]] {
// CHECK-NEXT:          %{{.*}} = memref.load %[[A]][%[[I]]] : memref<?xf32>
// CHECK-NEXT:          memref.store %{{.*}}, %[[A]][%[[I]]] : memref<?xf32>
// CHECK-NEXT:        }
// CHECK-NEXT:        %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT:        %[[T1:.*]] = gpu.thread_id x
// CHECK-NEXT:        %[[TOTAL:.*]] = arith.muli %[[M]], %[[C2]] : index
// CHECK-NEXT:        %[[STEP:.*]] = arith.constant 64 : index
// CHECK-NEXT:        scf.for %[[L:.*]] = %[[T1]] to %[[TOTAL]] step %[[STEP]] {
// CHECK-NEXT:          %[[Q:.*]] = arith.remui %[[L]], %[[C2]] : index
// CHECK-NEXT:          %[[P:.*]] = arith.divui %[[L]], %[[C2]] : index
// CHECK-NEXT:          %{{.*}} = arith.muli %[[P]], %[[C2]] : index
// CHECK-NEXT:          %{{.*}} = arith.addi %{{.*}}, %[[Q]] : index
// CHECK:         func.return
// WGSL:        fn strided(
// WGSL:            for (var v_i: i32 = v5; v_i < 100i; v_i = v_i + 64i) {
// WGSL:            for (var v8: i32 = v6; v8 < v7; v8 = v8 + 64i) {
func.func @strided(%x: memref<?xf32>, %n: index) {
  tiled.kernel "strided"(%x, %n) {workgroup_size = array<i64: 64, 1, 1>} : memref<?xf32>, index grid {
  ^bb0(%a: memref<?xf32>, %m: index):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<?xf32>, %m: index):
    %c1 = arith.constant 1 : index
    tiled.forall (%w) in (%c1) workgroup {
      %c100 = arith.constant 100 : index
      tiled.forall (%i) in (%c100) invocation {
        %v = memref.load %a[%i] : memref<?xf32>
        memref.store %v, %a[%i] : memref<?xf32>
        tiled.yield
      }
      %c2 = arith.constant 2 : index
      tiled.forall (%p, %q) in (%m, %c2) invocation {
        %k = arith.muli %p, %c2 : index
        %l = arith.addi %k, %q : index
        %v = memref.load %a[%l] : memref<?xf32>
        memref.store %v, %a[%l] : memref<?xf32>
        tiled.yield
      }
      tiled.yield
    }
    tiled.yield
  }
  func.return
}
