// RUN: rusty-opt %s -p promote-to-workgroup-memory --split-input-file --verify-diagnostics

// A pipelined promote (depth 2) is evaluated one iteration ahead, before the loop body runs: it may not
// read a value computed in the loop body.
func.func @reads_loop_value(%x: memref<5x4xf32>, %y: memref<4xf32>) {
  tiled.kernel "pipe"(%x, %y) {workgroup_size = array<i64: 4, 1, 1>} : memref<5x4xf32>, memref<4xf32> grid {
  ^bb0(%a: memref<5x4xf32>, %b: memref<4xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<5x4xf32>, %b: memref<4xf32>):
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    scf.for %k = %c0 to %c4 step %c1 {
      %row = arith.subi %c4, %k : index
      // expected-error @+1 {{tiled.promote with depth 2 may read only the loop's iv and values from outside the loop}}
      %p = tiled.promote (%i) in [4] attributes {depth = 2 : i64} : memref<4xf32, 3> {
        %v = memref.load %a[%row, %i] : memref<5x4xf32>
        tiled.yield %v : f32
      }
      %u = memref.load %p[%k] : memref<4xf32, 3>
      memref.store %u, %b[%k] : memref<4xf32>
    }
    tiled.yield
  }
  func.return
}
