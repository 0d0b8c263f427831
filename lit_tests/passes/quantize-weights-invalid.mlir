// RUN: rusty-opt %s -p 'quantize-weights{scheme=q8_0}' --split-input-file --verify-diagnostics
// RUN: not rusty-opt %s -p 'quantize-weights{scheme=int4_g128}' --split-input-file 2>&1 | filecheck %s --check-prefix=G128
// RUN: not rusty-opt %s -p 'quantize-weights{scheme=q3_k}' 2>&1 | filecheck %s --check-prefix=SCHEME

// An unknown scheme is one error line naming the known ones, no traceback.
// SCHEME: error: quantize-weights: unknown scheme 'q3_k' (known: q8_0, q4_0, int4_g32, int4_g128)
// SCHEME-NOT: Traceback

// Rows must be a multiple of the scheme's block: 64 is fine for q8_0 (32), not for int4_g128 (128).
// G128: error: 'tfm.weight' op quantize-weights: weight 'blk.{}.attn_q.weight' has rows of 64 elements, not a multiple of int4_g128's block of 128
// G128-NOT: Traceback
func.func @rows(%x: tensor<?x64xf32>, %l: index) -> tensor<?x64xf32> {
  %w = tfm.weight "blk.{}.attn_q.weight"[%l] : tensor<64x64xf16>
  %y = tfm.linear %x, %w : tensor<?x64xf32>, tensor<64x64xf16> -> tensor<?x64xf32>
  func.return %y : tensor<?x64xf32>
}

// -----

// A weight that is already quantized (a GGUF Q4_1 checkpoint) is refused, naming it.
// expected-error @+2 {{quantize-weights: weight 'blk.{}.ffn_up.weight' is already quantized (q4_1); only f32, f16 and bf16 weights can be quantized}}
func.func @already(%l: index) -> tensor<96x64x!rquant.q4_1> {
  %w = tfm.weight "blk.{}.ffn_up.weight"[%l] : tensor<96x64x!rquant.q4_1>
  func.return %w : tensor<96x64x!rquant.q4_1>
}
