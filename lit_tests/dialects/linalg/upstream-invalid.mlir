// RUN: rusty-opt %s --split-input-file --verify-diagnostics
// Verifier and parser errors of the upstream linalg ops xDSL lacks (dialects/linalg_ext/upstream.py).

func.func @softmax_dim(%s: tensor<8x16xf32>) {
  // expected-error @+1 {{dimension 2 is out of range for tensor<8x16xf32>}}
  %0 = linalg.softmax dimension(2) ins(%s : tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
  func.return
}

// -----

func.func @map_arity(%s: tensor<8x16xf32>) {
  // expected-error @+1 {{the region takes 3 arguments (inputs, then the init), got 2}}
  %0 = linalg.map ins(%s, %s : tensor<8x16xf32>, tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) (%p: f32, %q: f32) {
      linalg.yield %p : f32
    }
  func.return
}

// -----

func.func @unsigned_on_floats(%s: tensor<8x16xf32>) {
  // expected-error @+1 {{linalg.elementwise kind 'max_unsigned' does not apply to these operands}}
  %0 = linalg.elementwise kind=#linalg.elementwise_kind<max_unsigned> ins(%s, %s : tensor<8x16xf32>, tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
  func.return
}
