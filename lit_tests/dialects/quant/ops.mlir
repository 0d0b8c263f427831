// RUN: rusty-opt %s --split-input-file | filecheck %s
// RUN: %roundtrip

// Every block type parses and prints as one word, as a tensor element type.
// CHECK-LABEL: func.func @types
// CHECK-SAME:  (%a: tensor<64x32x!rquant.q4_0>, %b: tensor<64x32x!rquant.q4_1>, %c: tensor<64x32x!rquant.q8_0>, %d: tensor<4x256x!rquant.q4_k>, %e: tensor<4x256x!rquant.q6_k>,
// CHECK-SAME:  %f: tensor<64x32x!rquant.int4_g32>, %g: tensor<64x128x!rquant.int4_g128>, %h: tensor<64x32x!rquant.int8_g32>, %i: tensor<64x128x!rquant.int8_g128>)
func.func @types(%a: tensor<64x32x!rquant.q4_0>, %b: tensor<64x32x!rquant.q4_1>, %c: tensor<64x32x!rquant.q8_0>, %d: tensor<4x256x!rquant.q4_k>, %e: tensor<4x256x!rquant.q6_k>, %f: tensor<64x32x!rquant.int4_g32>, %g: tensor<64x128x!rquant.int4_g128>, %h: tensor<64x32x!rquant.int8_g32>, %i: tensor<64x128x!rquant.int8_g128>) {
  func.return
}

// -----

// The GGUF schemes decoded field by field (rusty_ir/weights.py): Q5_0, Q5_1, IQ4_NL and the K-quants.
// CHECK-LABEL: func.func @gguf_types
// CHECK-SAME:  (%a: tensor<2x32x!rquant.q5_0>, %b: tensor<2x32x!rquant.q5_1>, %c: tensor<2x32x!rquant.iq4_nl>, %d: tensor<2x256x!rquant.q2_k>,
// CHECK-SAME:  %e: tensor<2x256x!rquant.q3_k>, %f: tensor<2x256x!rquant.q5_k>)
func.func @gguf_types(%a: tensor<2x32x!rquant.q5_0>, %b: tensor<2x32x!rquant.q5_1>, %c: tensor<2x32x!rquant.iq4_nl>, %d: tensor<2x256x!rquant.q2_k>, %e: tensor<2x256x!rquant.q3_k>, %f: tensor<2x256x!rquant.q5_k>) {
  func.return
}

// -----

// Dequantize a weight matrix (static) and quantize activations (dynamic rows).
// CHECK-LABEL: func.func @convert
// CHECK-SAME:  (%[[W:.*]]: tensor<576x576x!rquant.q4_1>, %[[X:.*]]: tensor<?x128xf32>)
// CHECK:       %[[WF:.*]] = rquant.dequantize %[[W]] : tensor<576x576x!rquant.q4_1> -> tensor<576x576xf32>
// CHECK-NEXT:  %[[XQ:.*]] = rquant.quantize %[[X]] : tensor<?x128xf32> -> tensor<?x128x!rquant.int8_g128>
// CHECK-NEXT:  %[[XF:.*]] = rquant.dequantize %[[XQ]] : tensor<?x128x!rquant.int8_g128> -> tensor<?x128xf32>
// CHECK-NEXT:  func.return %[[WF]], %[[XF]]
func.func @convert(%w: tensor<576x576x!rquant.q4_1>, %x: tensor<?x128xf32>) -> (tensor<576x576xf32>, tensor<?x128xf32>) {
  %wf = rquant.dequantize %w : tensor<576x576x!rquant.q4_1> -> tensor<576x576xf32>
  %xq = rquant.quantize %x : tensor<?x128xf32> -> tensor<?x128x!rquant.int8_g128>
  %xf = rquant.dequantize %xq : tensor<?x128x!rquant.int8_g128> -> tensor<?x128xf32>
  func.return %wf, %xf : tensor<576x576xf32>, tensor<?x128xf32>
}

// -----

// A 1-D quantized tensor (one row) and a tfm weight of a quant type.
// CHECK-LABEL: func.func @vector
// CHECK:       %[[V:.*]] = tfm.weight "v" : tensor<256x!rquant.q6_k>
// CHECK-NEXT:  rquant.dequantize %[[V]] : tensor<256x!rquant.q6_k> -> tensor<256xf32>
func.func @vector() -> tensor<256xf32> {
  %v = tfm.weight "v" : tensor<256x!rquant.q6_k>
  %f = rquant.dequantize %v : tensor<256x!rquant.q6_k> -> tensor<256xf32>
  func.return %f : tensor<256xf32>
}

// -----

// rquant.to_tensor: a bufferized quantized weight (the words of its bytes) read as the tensor it stores.
// CHECK-LABEL: func.func @to_tensor
// CHECK-NEXT:    %{{.*}} = rquant.to_tensor %w : memref<18xi32> to tensor<4x32x!rquant.q4_0>
func.func @to_tensor(%w: memref<18xi32>) {
  %t = rquant.to_tensor %w : memref<18xi32> to tensor<4x32x!rquant.q4_0>
  func.return
}
