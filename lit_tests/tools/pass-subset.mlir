// RUN: rusty-opt %s -p form-dispatches --split-input-file --verify-diagnostics
// Before every rusty-ir pass, the IR must be in the subset those passes take (rusty_ir/pipeline.py:
// require_rusty_subset); upstream passes (canonicalize, cse) take any IR.

// Unstructured control flow: a function body of two blocks.
// expected-error @+1 {{form-dispatches: a region of 2 blocks; rusty-ir passes take structured control flow only}}
func.func @branches(%a: f32) -> f32 {
  cf.br ^next
^next:
  func.return %a : f32
}

// -----

// A generic whose body yields a value from outside it.
func.func @captured(%x: tensor<4xf32>, %c: f32) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  // expected-error @+1 {{form-dispatches: this generic yields a value defined outside its body}}
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %c : f32
  } -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}
