// RUN: rusty-opt %s --split-input-file | filecheck %s
// RUN: %roundtrip

// Weights: plain, layer-indexed, every storage kind (f32, f16, bf16, quant).
// CHECK-LABEL: func.func @weights
// CHECK-SAME:  (%[[LAYER:.*]]: index)
// CHECK:       tfm.weight "token_embd.weight" : tensor<16x32xbf16>
// CHECK-NEXT:  tfm.weight "blk.{}.attn_q.weight"[%[[LAYER]]] : tensor<64x32x!rquant.q4_1>
// CHECK-NEXT:  tfm.weight "blk.{}.ffn_down.weight"[%[[LAYER]]] : tensor<32x256x!rquant.q4_k>
// CHECK-NEXT:  tfm.weight "blk.{}.attn_norm.weight"[%[[LAYER]]] : tensor<32xf32>
// CHECK-NEXT:  tfm.weight "output.weight" : tensor<16x32xf16>
func.func @weights(%layer: index) {
  %emb = tfm.weight "token_embd.weight" : tensor<16x32xbf16>
  %wq = tfm.weight "blk.{}.attn_q.weight"[%layer] : tensor<64x32x!rquant.q4_1>
  %wd = tfm.weight "blk.{}.ffn_down.weight"[%layer] : tensor<32x256x!rquant.q4_k>
  %wn = tfm.weight "blk.{}.attn_norm.weight"[%layer] : tensor<32xf32>
  %wo = tfm.weight "output.weight" : tensor<16x32xf16>
  func.return
}

// -----

// The KV cache symbol and attention against it (grouped-query: 4 heads share 2 kv heads).
// CHECK:       tfm.kv_cache @kv {head_dim = 8 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
// CHECK-LABEL: func.func @attention
// CHECK-SAME:  (%[[Q:.*]]: tensor<?x32xf32>, %[[K:.*]]: tensor<?x16xf32>, %[[V:.*]]: tensor<?x16xf32>, %[[POS:.*]]: index, %[[LAYER:.*]]: index)
// CHECK:       tfm.attention %[[Q]], %[[K]], %[[V]] at %[[POS]] in @kv[%[[LAYER]]] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.353553385 : f32} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
tfm.kv_cache @kv {head_dim = 8 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
func.func @attention(%q: tensor<?x32xf32>, %k: tensor<?x16xf32>, %v: tensor<?x16xf32>, %pos: index, %layer: index) -> tensor<?x32xf32> {
  %o = tfm.attention %q, %k, %v at %pos in @kv[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.35355339 : f32} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
  func.return %o : tensor<?x32xf32>
}

// -----

// Sliding-window attention (each row sees its last 4 positions) with attention-logit soft-capping (Gemma 2).
// CHECK-LABEL: func.func @attention_window_softcap
// CHECK:       tfm.attention %{{.*}}, %{{.*}}, %{{.*}} at %{{.*}} in @kv[%{{.*}}] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.353553385 : f32, softcap = 5.000000e+01 : f32, window = 4 : i64} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
tfm.kv_cache @kv {head_dim = 8 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
func.func @attention_window_softcap(%q: tensor<?x32xf32>, %k: tensor<?x16xf32>, %v: tensor<?x16xf32>, %pos: index, %layer: index) -> tensor<?x32xf32> {
  %o = tfm.attention %q, %k, %v at %pos in @kv[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.35355339 : f32, softcap = 50.0 : f32, window = 4 : i64} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
  func.return %o : tensor<?x32xf32>
}

// -----

// Norm, projections (quantized weight; f16 weight with bias), both rope styles.
// CHECK-LABEL: func.func @norm_linear_rope
// CHECK-SAME:  (%[[H:.*]]: tensor<?x32xf32>, %[[W:.*]]: tensor<32xf32>, %[[WQ:.*]]: tensor<64x32x!rquant.q8_0>, %[[WK:.*]]: tensor<16x32xf16>, %[[BK:.*]]: tensor<16xf32>, %[[POS:.*]]: index)
// CHECK:       %[[N:.*]] = tfm.rms_norm %[[H]], %[[W]] {epsilon = 1.000000e-05 : f32} : tensor<?x32xf32>, tensor<32xf32> -> tensor<?x32xf32>
// CHECK-NEXT:  %[[Q:.*]] = tfm.linear %[[N]], %[[WQ]] : tensor<?x32xf32>, tensor<64x32x!rquant.q8_0> -> tensor<?x64xf32>
// CHECK-NEXT:  tfm.rms_norm %[[Q]], %[[KB:.*]] {epsilon = 1.000000e-06 : f32, head_dim = 16 : i64} : tensor<?x64xf32>, tensor<16xf32> -> tensor<?x64xf32>
// CHECK-NEXT:  %[[K:.*]] = tfm.linear %[[N]], %[[WK]], %[[BK]] : tensor<?x32xf32>, tensor<16x32xf16>, tensor<16xf32> -> tensor<?x16xf32>
// CHECK-NEXT:  tfm.rope %[[Q]], %[[POS]] {head_dim = 16 : i64, style = "half", theta = 1.000000e+04 : f32} : tensor<?x64xf32> -> tensor<?x64xf32>
// CHECK-NEXT:  tfm.rope %[[K]], %[[POS]] {head_dim = 8 : i64, style = "interleaved", theta = 5.000000e+05 : f32} : tensor<?x16xf32> -> tensor<?x16xf32>
func.func @norm_linear_rope(%h: tensor<?x32xf32>, %w: tensor<32xf32>, %wq: tensor<64x32x!rquant.q8_0>, %wk: tensor<16x32xf16>, %bk: tensor<16xf32>, %pos: index) {
  %n = tfm.rms_norm %h, %w {epsilon = 1.0e-05 : f32} : tensor<?x32xf32>, tensor<32xf32> -> tensor<?x32xf32>
  %q = tfm.linear %n, %wq : tensor<?x32xf32>, tensor<64x32x!rquant.q8_0> -> tensor<?x64xf32>
  %qn = tfm.rms_norm %q, %bk {epsilon = 1.0e-06 : f32, head_dim = 16 : i64} : tensor<?x64xf32>, tensor<16xf32> -> tensor<?x64xf32>
  %k = tfm.linear %n, %wk, %bk : tensor<?x32xf32>, tensor<16x32xf16>, tensor<16xf32> -> tensor<?x16xf32>
  %qr = tfm.rope %q, %pos {head_dim = 16 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<?x64xf32> -> tensor<?x64xf32>
  %kr = tfm.rope %k, %pos {head_dim = 8 : i64, style = "interleaved", theta = 5.0e+05 : f32} : tensor<?x16xf32> -> tensor<?x16xf32>
  func.return
}

// -----

// RoPE scaling: per-pair frequency divisors as an operand.
// CHECK-LABEL: func.func @rope_factors
// CHECK:       tfm.rope %{{.*}}, %{{.*}} factors %{{.*}} {head_dim = 8 : i64, style = "half", theta = 5.000000e+05 : f32} : tensor<?x16xf32>, tensor<4xf32> -> tensor<?x16xf32>
func.func @rope_factors(%k: tensor<?x16xf32>, %pos: index, %ff: tensor<4xf32>) {
  %kr = tfm.rope %k, %pos factors %ff {head_dim = 8 : i64, style = "half", theta = 5.0e+05 : f32} : tensor<?x16xf32>, tensor<4xf32> -> tensor<?x16xf32>
  func.return
}

// -----

// Elementwise ops and softmax keep their operand type.
// CHECK-LABEL: func.func @elementwise
// CHECK-SAME:  (%[[G:.*]]: tensor<?x64xf32>, %[[U:.*]]: tensor<?x64xf32>)
// CHECK:       %[[S:.*]] = tfm.silu %[[G]] : tensor<?x64xf32>
// CHECK-NEXT:  %[[GE:.*]] = tfm.gelu %[[U]] {approximate = "tanh"} : tensor<?x64xf32>
// CHECK-NEXT:  %[[GX:.*]] = tfm.gelu %[[U]] {approximate = "none"} : tensor<?x64xf32>
// CHECK-NEXT:  %[[M:.*]] = tfm.mul %[[S]], %[[GE]] : tensor<?x64xf32>
// CHECK-NEXT:  %[[A:.*]] = tfm.add %[[M]], %[[GX]] : tensor<?x64xf32>
// CHECK-NEXT:  tfm.softmax %[[A]] : tensor<?x64xf32>
func.func @elementwise(%g: tensor<?x64xf32>, %u: tensor<?x64xf32>) {
  %s = tfm.silu %g : tensor<?x64xf32>
  %ge = tfm.gelu %u {approximate = "tanh"} : tensor<?x64xf32>
  %gx = tfm.gelu %u {approximate = "none"} : tensor<?x64xf32>
  %m = tfm.mul %s, %ge : tensor<?x64xf32>
  %a = tfm.add %m, %gx : tensor<?x64xf32>
  %p = tfm.softmax %a : tensor<?x64xf32>
  func.return
}

// -----

// Embedding, logits of the last row against a tied quantized table, argmax.
// CHECK-LABEL: func.func @head
// CHECK-SAME:  (%[[T:.*]]: tensor<?xi32>)
// CHECK:       %[[E:.*]] = tfm.weight "token_embd.weight" : tensor<16x32x!rquant.int4_g32>
// CHECK-NEXT:  %[[H:.*]] = tfm.embedding %[[T]], %[[E]] : tensor<?xi32>, tensor<16x32x!rquant.int4_g32> -> tensor<?x32xf32>
// CHECK-NEXT:  %[[L:.*]] = tfm.logits %[[H]], %[[E]] : tensor<?x32xf32>, tensor<16x32x!rquant.int4_g32> -> tensor<16xf32>
// CHECK-NEXT:  %[[I:.*]] = tfm.argmax %[[L]] : tensor<16xf32> -> i32
// CHECK-NEXT:  func.return %[[I]] : i32
func.func @head(%tokens: tensor<?xi32>) -> i32 {
  %emb = tfm.weight "token_embd.weight" : tensor<16x32x!rquant.int4_g32>
  %h = tfm.embedding %tokens, %emb : tensor<?xi32>, tensor<16x32x!rquant.int4_g32> -> tensor<?x32xf32>
  %l = tfm.logits %h, %emb : tensor<?x32xf32>, tensor<16x32x!rquant.int4_g32> -> tensor<16xf32>
  %t = tfm.argmax %l : tensor<16xf32> -> i32
  func.return %t : i32
}

// -----

// Gemma: embeddings scaled by sqrt(hidden), logits soft-capped (cap * tanh(x / cap)).
// CHECK-LABEL: func.func @gemma_head
// CHECK:       %[[H:.*]] = tfm.embedding %{{.*}}, %[[E:.*]] {scale = 5.6568{{[0-9]+}} : f32} : tensor<?xi32>, tensor<16x32xf32> -> tensor<?x32xf32>
// CHECK-NEXT:  %[[L:.*]] = tfm.logits %[[H]], %[[E]] : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<16xf32>
// CHECK-NEXT:  %[[C:.*]] = tfm.softcap %[[L]] {cap = 3.000000e+01 : f32} : tensor<16xf32>
// CHECK-NEXT:  tfm.argmax %[[C]] : tensor<16xf32> -> i32
func.func @gemma_head(%tokens: tensor<?xi32>) -> i32 {
  %emb = tfm.weight "token_embd.weight" : tensor<16x32xf32>
  %h = tfm.embedding %tokens, %emb {scale = 5.65685425 : f32} : tensor<?xi32>, tensor<16x32xf32> -> tensor<?x32xf32>
  %l = tfm.logits %h, %emb : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<16xf32>
  %c = tfm.softcap %l {cap = 30.0 : f32} : tensor<16xf32>
  %t = tfm.argmax %c : tensor<16xf32> -> i32
  func.return %t : i32
}

// -----

// Sampling: the logits and the packed options (rusty_ir.sampling.pack) give the token, as i32.
// CHECK-LABEL: func.func @sample
// CHECK-SAME:  (%[[L:.*]]: tensor<16xf32>, %[[P:.*]]: tensor<521xi32>) -> i32
// CHECK-NEXT:  %[[T:.*]] = tfm.sample %[[L]], %[[P]] : tensor<16xf32>, tensor<521xi32> -> i32
// CHECK-NEXT:  func.return %[[T]] : i32
func.func @sample(%l: tensor<16xf32>, %p: tensor<521xi32>) -> i32 {
  %t = tfm.sample %l, %p : tensor<16xf32>, tensor<521xi32> -> i32
  func.return %t : i32
}

// -----

// Every row's greedy token (speculative decoding's @verify): the rows onto the vocabulary, then tfm.row_argmax.
// CHECK-LABEL: func.func @verify_head
// CHECK-SAME:  (%[[H:.*]]: tensor<?x32xf32>) -> tensor<?xi32>
// CHECK:       %[[L:.*]] = tfm.linear %[[H]], %{{.*}} : tensor<?x32xf32>, tensor<16x32xf16> -> tensor<?x16xf32>
// CHECK-NEXT:  %[[T:.*]] = tfm.row_argmax %[[L]] : tensor<?x16xf32> -> tensor<?xi32>
// CHECK-NEXT:  func.return %[[T]] : tensor<?xi32>
func.func @verify_head(%h: tensor<?x32xf32>) -> tensor<?xi32> {
  %w = tfm.weight "output.weight" : tensor<16x32xf16>
  %l = tfm.linear %h, %w : tensor<?x32xf32>, tensor<16x32xf16> -> tensor<?x16xf32>
  %t = tfm.row_argmax %l : tensor<?x16xf32> -> tensor<?xi32>
  func.return %t : tensor<?xi32>
}

// Every row's sampled token (sampled speculation's @verify_sample): each row under its own packed words.
// CHECK-LABEL: func.func @row_sample
// CHECK-NEXT:  %{{.*}} = tfm.row_sample %{{.*}}, %{{.*}} : tensor<?x16xf32>, tensor<?x521xi32> -> tensor<?xi32>
func.func @row_sample(%l: tensor<?x16xf32>, %p: tensor<?x521xi32>) -> tensor<?xi32> {
  %t = tfm.row_sample %l, %p : tensor<?x16xf32>, tensor<?x521xi32> -> tensor<?xi32>
  func.return %t : tensor<?xi32>
}
