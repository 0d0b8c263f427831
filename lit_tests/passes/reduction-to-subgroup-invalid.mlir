// RUN: rusty-opt %s -p reduction-to-subgroup --split-input-file --verify-diagnostics

// The lowering depends on the target's subgroups: a module with a tiled.reduce needs a target.
// expected-error @+1 {{the module has no rgpu.target attribute: run attach-target{target=NAME} first}}
builtin.module {
  func.func @no_target(%x: memref<32xf32>) {
    tiled.kernel "sum"(%x) {workgroup_size = array<i64: 32, 1, 1>} : memref<32xf32> grid {
    ^bb0(%a: memref<32xf32>):
      %c1 = arith.constant 1 : index
      tiled.yield %c1, %c1, %c1 : index, index, index
    } body {
    ^bb0(%a: memref<32xf32>):
      %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %v = memref.load %a[%t] : memref<32xf32>
      %s = tiled.reduce add %v width 32 : f32
      memref.store %s, %a[%t] : memref<32xf32>
      tiled.yield
    }
    func.return
  }
}

// -----

// A reduction across invocations only means something in a kernel body.
builtin.module attributes {rgpu.target = #rgpu.target<"webgpu">} {
  func.func @host(%v: f32) -> f32 {
    // expected-error @+1 {{tiled.reduce outside a tiled.kernel}}
    %s = tiled.reduce add %v width 32 : f32
    func.return %s : f32
  }
}
