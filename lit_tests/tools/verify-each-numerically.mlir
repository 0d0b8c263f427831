// RUN: rusty-opt %s -p 'attach-target{target=webgpu},lower-upstream-linalg,form-dispatches,tune-workgroups,rusty-bufferize,convert-dispatch-to-tiled' --verify-each-numerically 2>&1 >/dev/null | filecheck %s --check-prefix=OK
// RUN: not rusty-opt %s --load-pass-plugin=%S/Inputs/miscompile_plugin.py -p 'lower-upstream-linalg,form-dispatches,test-miscompile,rusty-bufferize' --verify-each-numerically=f 2>&1 | filecheck %s --check-prefix=BAD
// RUN: not rusty-opt %s -p 'cse' --verify-each-numerically=nosuch 2>&1 | filecheck %s --check-prefix=NOFN
// The module is interpreted on random inputs before and after each pass while an interpreter runs its level;
// the first pass that changes the result is named. tests/tools/test_verify_numerically.py runs it over the
// default pipeline on a model.

// OK: remark: --verify-each-numerically: @f agreed after 5 passes (attach-target, lower-upstream-linalg, form-dispatches, tune-workgroups, rusty-bufferize); from 'convert-dispatch-to-tiled' on no interpreter runs the IR

// BAD: error: --verify-each-numerically: pass 'test-miscompile' changed the result of @f on random inputs: element {{[0-9]+}} was {{.*}}, is {{.*}} (relative error {{.*}} > 0.0001)

// NOFN: error: --verify-each-numerically: no function '@nosuch' with a body

func.func @f(%a: tensor<8x16xf32>, %b: tensor<16x12xf32>, %v: tensor<12xf32>) -> tensor<8x12xf32> {
  %e = tensor.empty() : tensor<8x12xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<8x12xf32>) -> tensor<8x12xf32>
  %m = linalg.matmul ins(%a, %b : tensor<8x16xf32>, tensor<16x12xf32>) outs(%f : tensor<8x12xf32>) -> tensor<8x12xf32>
  %r = linalg.elementwise kind=#linalg.elementwise_kind<add> indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>] ins(%m, %v : tensor<8x12xf32>, tensor<12xf32>) outs(%e : tensor<8x12xf32>) -> tensor<8x12xf32>
  func.return %r : tensor<8x12xf32>
}
