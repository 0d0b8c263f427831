// RUN: rusty-opt %s -p 'quantize-weights{scheme=q4_0}' --split-input-file | filecheck %s
// RUN: rusty-opt %s -p 'quantize-weights{scheme=int4_g32 head=false}' --split-input-file | filecheck %s --check-prefix=NOHEAD
// tests/passes/test_quantize_weights.py runs a quantized tiny model on numpy and on wgpu.

// Layer matrices (layer-indexed tfm.weight, 2-D, float) become !quant; the norm stays f32;
// @layer's signature follows the type its call now passes; the module records the templates.
// CHECK:       builtin.module attributes {tfm.quantization = {scheme = "q4_0", weights = ["blk.{}.attn_q.weight"]}}
// CHECK-LABEL: func.func @layer
// CHECK-SAME:  (%[[H:.*]]: tensor<?x64xf32>, %[[N:.*]]: tensor<64xf32>, %[[W:.*]]: tensor<32x64x!rquant.q4_0>) -> tensor<?x32xf32>
// CHECK:         %[[X:.*]] = tfm.rms_norm %[[H]], %[[N]] {{.*}} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
// CHECK-NEXT:    tfm.linear %[[X]], %[[W]] : tensor<?x64xf32>, tensor<32x64x!rquant.q4_0> -> tensor<?x32xf32>
// CHECK-LABEL: func.func @entry
// CHECK:         %[[NW:.*]] = tfm.weight "blk.{}.attn_norm.weight"[%{{.*}}] : tensor<64xf32>
// CHECK-NEXT:    %[[QW:.*]] = tfm.weight "blk.{}.attn_q.weight"[%{{.*}}] : tensor<32x64x!rquant.q4_0>
// CHECK-NEXT:    func.call @layer(%{{.*}}, %[[NW]], %[[QW]]) : (tensor<?x64xf32>, tensor<64xf32>, tensor<32x64x!rquant.q4_0>) -> tensor<?x32xf32>
// NOHEAD-LABEL: func.func @layer
// NOHEAD-SAME:  tensor<32x64x!rquant.int4_g32>
func.func @layer(%h: tensor<?x64xf32>, %n: tensor<64xf32>, %w: tensor<32x64xf16>) -> tensor<?x32xf32> {
  %x = tfm.rms_norm %h, %n {epsilon = 1.000000e-06 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %y = tfm.linear %x, %w : tensor<?x64xf32>, tensor<32x64xf16> -> tensor<?x32xf32>
  func.return %y : tensor<?x32xf32>
}
func.func @entry(%h: tensor<?x64xf32>, %l: index) -> tensor<?x32xf32> {
  %n = tfm.weight "blk.{}.attn_norm.weight"[%l] : tensor<64xf32>
  %w = tfm.weight "blk.{}.attn_q.weight"[%l] : tensor<32x64xf16>
  %y = func.call @layer(%h, %n, %w) : (tensor<?x64xf32>, tensor<64xf32>, tensor<32x64xf16>) -> tensor<?x32xf32>
  func.return %y : tensor<?x32xf32>
}

// -----

// The LM head (the weight of tfm.logits, here the tied embedding table) is quantized, so the
// embedding reads it quantized too; the final norm stays f32. With head=false nothing changes.
// CHECK:       builtin.module attributes {tfm.quantization = {scheme = "q4_0", weights = ["token_embd.weight"]}}
// CHECK-LABEL: func.func @head
// CHECK:         %[[E:.*]] = tfm.weight "token_embd.weight" : tensor<256x64x!rquant.q4_0>
// CHECK-NEXT:    tfm.embedding %{{.*}}, %[[E]] : tensor<?xi32>, tensor<256x64x!rquant.q4_0> -> tensor<?x64xf32>
// CHECK:         tfm.weight "output_norm.weight" : tensor<64xf32>
// CHECK:         tfm.logits %{{.*}}, %[[E]] : tensor<?x64xf32>, tensor<256x64x!rquant.q4_0> -> tensor<256xf32>
// NOHEAD:       builtin.module attributes {tfm.quantization = {scheme = "int4_g32", weights = []}}
// NOHEAD-LABEL: func.func @head
// NOHEAD:         tfm.weight "token_embd.weight" : tensor<256x64xbf16>
func.func @head(%t: tensor<?xi32>) -> tensor<256xf32> {
  %e = tfm.weight "token_embd.weight" : tensor<256x64xbf16>
  %h = tfm.embedding %t, %e : tensor<?xi32>, tensor<256x64xbf16> -> tensor<?x64xf32>
  %n = tfm.weight "output_norm.weight" : tensor<64xf32>
  %x = tfm.rms_norm %h, %n {epsilon = 1.000000e-06 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %l = tfm.logits %x, %e : tensor<?x64xf32>, tensor<256x64xbf16> -> tensor<256xf32>
  func.return %l : tensor<256xf32>
}
