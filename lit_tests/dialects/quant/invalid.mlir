// RUN: rusty-opt %s --split-input-file --verify-diagnostics

func.func @dequantize_block(%w: tensor<8x48x!rquant.q8_0>) {
  // expected-error @+1 {{input has last dimension 48, not a multiple of the !rquant.q8_0 block size 32}}
  %f = rquant.dequantize %w : tensor<8x48x!rquant.q8_0> -> tensor<8x48xf32>
  func.return
}

// -----

func.func @dequantize_k_block(%w: tensor<8x128x!rquant.q4_k>) {
  // expected-error @+1 {{not a multiple of the !rquant.q4_k block size 256}}
  %f = rquant.dequantize %w : tensor<8x128x!rquant.q4_k> -> tensor<8x128xf32>
  func.return
}

// -----

func.func @dequantize_dynamic_last(%w: tensor<8x?x!rquant.q4_0>) {
  // expected-error @+1 {{input of block type !rquant.q4_0 needs a static last dimension}}
  %f = rquant.dequantize %w : tensor<8x?x!rquant.q4_0> -> tensor<8x?xf32>
  func.return
}

// -----

func.func @dequantize_shape(%w: tensor<8x32x!rquant.q4_0>) {
  // expected-error @+1 {{input shape [8, 32] and result shape [4, 32] must be equal}}
  %f = rquant.dequantize %w : tensor<8x32x!rquant.q4_0> -> tensor<4x32xf32>
  func.return
}

// -----

func.func @dequantize_float_input(%w: tensor<8x32xf16>) {
  // expected-error @+1 {{input element type must be a quant block type, got f16}}
  %f = rquant.dequantize %w : tensor<8x32xf16> -> tensor<8x32xf32>
  func.return
}

// -----

func.func @dequantize_result_type(%w: tensor<8x32x!rquant.q4_1>) {
  // expected-error @+1 {{result element type must be f32, got f16}}
  %f = rquant.dequantize %w : tensor<8x32x!rquant.q4_1> -> tensor<8x32xf16>
  func.return
}

// -----

func.func @quantize_input_type(%x: tensor<8x32xf16>) {
  // expected-error @+1 {{input element type must be f32, got f16}}
  %q = rquant.quantize %x : tensor<8x32xf16> -> tensor<8x32x!rquant.q4_0>
  func.return
}

// -----

func.func @quantize_result_type(%x: tensor<8x32xf32>) {
  // expected-error @+1 {{result element type must be a quant block type, got i8}}
  %q = rquant.quantize %x : tensor<8x32xf32> -> tensor<8x32xi8>
  func.return
}

// -----

func.func @quantize_block(%x: tensor<8x64xf32>) {
  // expected-error @+1 {{result has last dimension 64, not a multiple of the !rquant.int4_g128 block size 128}}
  %q = rquant.quantize %x : tensor<8x64xf32> -> tensor<8x64x!rquant.int4_g128>
  func.return
}

// -----

func.func @to_tensor_words(%w: memref<16xi32>) {
  // expected-error @+1 {{a tensor<4x32x!rquant.q4_0> is stored in a memref<18xi32>, not a memref<16xi32>}}
  %t = rquant.to_tensor %w : memref<16xi32> to tensor<4x32x!rquant.q4_0>
  func.return
}

// -----

func.func @to_tensor_float(%w: memref<4x32xf32>) {
  // expected-error @+1 {{result element type must be a quant block type, got f32}}
  %t = rquant.to_tensor %w : memref<4x32xf32> to tensor<4x32xf32>
  func.return
}
