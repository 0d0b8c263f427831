// RUN: rusty-opt %s -p form-dispatches --split-input-file --verify-diagnostics

// A dequantized weight returned to the host would have to be stored as floats.
func.func @dequantize_escapes(%w: tensor<8x32x!quant.q4_0>) -> tensor<8x32xf32> {
  // expected-error @+1 {{form-dispatches: a dequantized weight would have to be stored as floats (it is read by 'func.return', which cannot recompute it)}}
  %f = quant.dequantize %w : tensor<8x32x!quant.q4_0> -> tensor<8x32xf32>
  func.return %f : tensor<8x32xf32>
}

// -----

// A dequantized weight read by a host call: no region can recompute it for the callee.
func.func private @use(tensor<8x32xf32>)
func.func @dequantize_to_call(%w: tensor<8x32x!quant.q8_0>) {
  // expected-error @+1 {{(it is read by 'func.call', which cannot recompute it)}}
  %f = quant.dequantize %w : tensor<8x32x!quant.q8_0> -> tensor<8x32xf32>
  func.call @use(%f) : (tensor<8x32xf32>) -> ()
  func.return
}
