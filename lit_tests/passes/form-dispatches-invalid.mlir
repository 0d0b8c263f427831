// RUN: rusty-opt %s -p form-dispatches --split-input-file --verify-diagnostics

// A dequantized weight returned to the host would have to be stored as floats.
func.func @dequantize_escapes(%w: tensor<8x32x!rquant.q4_0>) -> tensor<8x32xf32> {
  // expected-error @+1 {{form-dispatches: a dequantized weight would have to be stored as floats (it is read by 'func.return', which cannot recompute it)}}
  %f = rquant.dequantize %w : tensor<8x32x!rquant.q4_0> -> tensor<8x32xf32>
  func.return %f : tensor<8x32xf32>
}

// -----

// A dequantized weight read by a host call: no region can recompute it for the callee.
func.func private @use(tensor<8x32xf32>)
func.func @dequantize_to_call(%w: tensor<8x32x!rquant.q8_0>) {
  // expected-error @+1 {{(it is read by 'func.call', which cannot recompute it)}}
  %f = rquant.dequantize %w : tensor<8x32x!rquant.q8_0> -> tensor<8x32xf32>
  func.call @use(%f) : (tensor<8x32xf32>) -> ()
  func.return
}

// -----

// A contraction over 0 elements: no kernel is generated for an empty tensor (was a ZeroDivisionError in tiling).
func.func @empty_reduction(%x: tensor<?x0xf32>, %w: tensor<8x0xf32>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x0xf32>
  %e = tensor.empty(%n) : tensor<?x8xf32>
  // expected-error @+1 {{form-dispatches: tensor<?x0xf32> has a dimension of size 0; there is no kernel for an empty tensor}}
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<?x0xf32>, tensor<8x0xf32>) outs(%e : tensor<?x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x8xf32>
  func.return %r : tensor<?x8xf32>
}

// -----

// A named linalg op that lower-upstream-linalg did not rewrite is refused where it is, never left on the host.
func.func @named(%a: tensor<8x16xf32>, %b: tensor<16x12xf32>, %c: tensor<8x12xf32>) -> tensor<8x12xf32> {
  // expected-error @+1 {{form-dispatches: 'linalg.matmul' is not a linalg.generic or linalg.fill; run lower-upstream-linalg first}}
  %r = linalg.matmul ins(%a, %b : tensor<8x16xf32>, tensor<16x12xf32>) outs(%c : tensor<8x12xf32>) -> tensor<8x12xf32>
  func.return %r : tensor<8x12xf32>
}
