// RUN: rusty-opt %s -p lower-upstream-linalg --split-input-file --verify-diagnostics
// What no kernel schedule takes is a located error, never left for form-dispatches to skip.

func.func @softmax_first_dim(%s: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{linalg.softmax is handled on tensors over their last dim only}}
  %0 = linalg.softmax dimension(0) ins(%s : tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
  func.return %0 : tensor<8x16xf32>
}

// -----

func.func @not_a_permutation(%a: tensor<16x16xf32>, %b: tensor<16x12xf32>, %c: tensor<8x12xf32>) -> tensor<8x12xf32> {
  // expected-error @+1 {{is not a permutation of loop dims}}
  %r = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d2, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%a, %b : tensor<16x16xf32>, tensor<16x12xf32>) outs(%c : tensor<8x12xf32>) -> tensor<8x12xf32>
  func.return %r : tensor<8x12xf32>
}

// -----

func.func @reduce(%a: tensor<8x16xf32>, %c: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{lower-upstream-linalg: 'linalg.reduce' is not supported}}
  %r = linalg.reduce ins(%a : tensor<8x16xf32>) outs(%c : tensor<8xf32>) dimensions = [1]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  func.return %r : tensor<8xf32>
}
