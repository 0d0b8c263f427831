// RUN: rusty-opt %s --split-input-file --verify-diagnostics

func.func @weight_layer_without_hole(%layer: index) {
  // expected-error @+1 {{a layer-indexed weight name must contain exactly one '{}', got 'blk.0.attn_q.weight'}}
  %w = tfm.weight "blk.0.attn_q.weight"[%layer] : tensor<8x32xf32>
  func.return
}

// -----

func.func @weight_two_holes(%layer: index) {
  // expected-error @+1 {{must contain exactly one '{}'}}
  %w = tfm.weight "blk.{}.{}.weight"[%layer] : tensor<8x32xf32>
  func.return
}

// -----

func.func @weight_hole_without_layer() {
  // expected-error @+1 {{weight name 'blk.{}.attn_q.weight' contains '{}' but no layer operand is given}}
  %w = tfm.weight "blk.{}.attn_q.weight" : tensor<8x32xf32>
  func.return
}

// -----

func.func @weight_block_not_dividing() {
  // expected-error @+1 {{result has last dimension 48, not a multiple of the !rquant.q4_0 block size 32}}
  %w = tfm.weight "w" : tensor<8x48x!rquant.q4_0>
  func.return
}

// -----

func.func @weight_dynamic() {
  // expected-error @+1 {{weight 'w' must have a static shape}}
  %w = tfm.weight "w" : tensor<?x32xf32>
  func.return
}

// -----

func.func @weight_integer() {
  // expected-error @+1 {{result must have element type f32, f16, bf16 or a !rquant type, got tensor<8x32xi8>}}
  %w = tfm.weight "w" : tensor<8x32xi8>
  func.return
}

// -----

// expected-error @+1 {{num_layers must be positive, got 0}}
tfm.kv_cache @kv {head_dim = 8 : i64, num_kv_heads = 2 : i64, num_layers = 0 : i64}

// -----

func.func @embedding_float_tokens(%t: tensor<?xf32>, %e: tensor<16x32xf32>) {
  // expected-error @+1 {{tokens must have element type i32}}
  %h = tfm.embedding %t, %e : tensor<?xf32>, tensor<16x32xf32> -> tensor<?x32xf32>
  func.return
}

// -----

func.func @embedding_width(%t: tensor<?xi32>, %e: tensor<16x32xf32>) {
  // expected-error @+1 {{result width (64) must equal the table's row length (32)}}
  %h = tfm.embedding %t, %e : tensor<?xi32>, tensor<16x32xf32> -> tensor<?x64xf32>
  func.return
}

// -----

func.func @rms_norm_weight_length(%h: tensor<?x32xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{weight length (64) must equal the input width (32)}}
  %n = tfm.rms_norm %h, %w {epsilon = 1.0e-05 : f32} : tensor<?x32xf32>, tensor<64xf32> -> tensor<?x32xf32>
  func.return
}

// -----

func.func @rms_norm_head_weight_length(%q: tensor<?x64xf32>, %w: tensor<32xf32>) {
  // expected-error @+1 {{weight length (32) must equal head_dim (16)}}
  %n = tfm.rms_norm %q, %w {epsilon = 1.0e-06 : f32, head_dim = 16 : i64} : tensor<?x64xf32>, tensor<32xf32> -> tensor<?x64xf32>
  func.return
}

// -----

func.func @rms_norm_head_dim_divides_width(%q: tensor<?x64xf32>, %w: tensor<24xf32>) {
  // expected-error @+1 {{input width (64) must be a multiple of head_dim (24)}}
  %n = tfm.rms_norm %q, %w {epsilon = 1.0e-06 : f32, head_dim = 24 : i64} : tensor<?x64xf32>, tensor<24xf32> -> tensor<?x64xf32>
  func.return
}

// -----

func.func @rms_norm_quantized_weight(%h: tensor<?x32xf32>, %w: tensor<32x!rquant.q8_0>) {
  // expected-error @+1 {{weight must have element type f32, f16 or bf16}}
  %n = tfm.rms_norm %h, %w {epsilon = 1.0e-05 : f32} : tensor<?x32xf32>, tensor<32x!rquant.q8_0> -> tensor<?x32xf32>
  func.return
}

// -----

func.func @linear_in_features(%x: tensor<?x32xf32>, %w: tensor<64x64x!rquant.q4_1>) {
  // expected-error @+1 {{weight columns (in features) (64) must equal the input width (32)}}
  %y = tfm.linear %x, %w : tensor<?x32xf32>, tensor<64x64x!rquant.q4_1> -> tensor<?x64xf32>
  func.return
}

// -----

func.func @linear_bias(%x: tensor<?x32xf32>, %w: tensor<64x32xf32>, %b: tensor<32xf32>) {
  // expected-error @+1 {{bias length (32) must equal weight rows (out features) (64)}}
  %y = tfm.linear %x, %w, %b : tensor<?x32xf32>, tensor<64x32xf32>, tensor<32xf32> -> tensor<?x64xf32>
  func.return
}

// -----

func.func @linear_result_rows(%x: tensor<3x32xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{result rows (4) must equal input rows (3)}}
  %y = tfm.linear %x, %w : tensor<3x32xf32>, tensor<64x32xf32> -> tensor<4x64xf32>
  func.return
}

// -----

func.func @rope_width(%x: tensor<?x24xf32>, %pos: index) {
  // expected-error @+1 {{input width 24 is not a multiple of head_dim 16}}
  %y = tfm.rope %x, %pos {head_dim = 16 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<?x24xf32> -> tensor<?x24xf32>
  func.return
}

// -----

func.func @rope_style(%x: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{style must be one of interleaved, half, got 'neox'}}
  %y = tfm.rope %x, %pos {head_dim = 16 : i64, style = "neox", theta = 1.0e+04 : f32} : tensor<?x32xf32> -> tensor<?x32xf32>
  func.return
}

// -----

func.func @rope_odd_head_dim(%x: tensor<?x30xf32>, %pos: index) {
  // expected-error @+1 {{head_dim must be even, got 15}}
  %y = tfm.rope %x, %pos {head_dim = 15 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<?x30xf32> -> tensor<?x30xf32>
  func.return
}

// -----

func.func @rope_factors_shape(%x: tensor<?x32xf32>, %pos: index, %ff: tensor<16xf32>) {
  // expected-error @+1 {{freq_factors must be tensor<8xf32> (one per pair of head_dim 16), got tensor<16xf32>}}
  %y = tfm.rope %x, %pos factors %ff {head_dim = 16 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<?x32xf32>, tensor<16xf32> -> tensor<?x32xf32>
  func.return
}

// -----

func.func @rope_factors_type(%x: tensor<?x32xf32>, %pos: index, %ff: tensor<8xf16>) {
  // expected-error @+1 {{freq_factors must be a tensor of f32, got tensor<8xf16>}}
  %y = tfm.rope %x, %pos factors %ff {head_dim = 16 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<?x32xf32>, tensor<8xf16> -> tensor<?x32xf32>
  func.return
}

// -----

func.func @attention_no_cache(%q: tensor<?x32xf32>, %k: tensor<?x16xf32>, %pos: index, %layer: index) {
  // expected-error @+1 {{cache symbol @kv does not exist}}
  %o = tfm.attention %q, %k, %k at %pos in @kv[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.35 : f32} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
  func.return
}

// -----

func.func @not_a_cache() {
  func.return
}

func.func @attention_symbol_not_cache(%q: tensor<?x32xf32>, %k: tensor<?x16xf32>, %pos: index, %layer: index) {
  // expected-error @+1 {{cache symbol @not_a_cache is not a tfm.kv_cache}}
  %o = tfm.attention %q, %k, %k at %pos in @not_a_cache[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.35 : f32} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
  func.return
}

// -----

tfm.kv_cache @kv {head_dim = 8 : i64, num_kv_heads = 3 : i64, num_layers = 2 : i64}
func.func @attention_groups(%q: tensor<?x32xf32>, %k: tensor<?x24xf32>, %pos: index, %layer: index) {
  // expected-error @+1 {{num_heads (4) must be a multiple of num_kv_heads (3)}}
  %o = tfm.attention %q, %k, %k at %pos in @kv[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 3 : i64, scale = 0.35 : f32} : tensor<?x32xf32>, tensor<?x24xf32>, tensor<?x24xf32> -> tensor<?x32xf32>
  func.return
}

// -----

tfm.kv_cache @kv {head_dim = 8 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
func.func @attention_query_width(%q: tensor<?x24xf32>, %k: tensor<?x16xf32>, %pos: index, %layer: index) {
  // expected-error @+1 {{query width (24) must equal num_heads * head_dim (32)}}
  %o = tfm.attention %q, %k, %k at %pos in @kv[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.35 : f32} : tensor<?x24xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x24xf32>
  func.return
}

// -----

tfm.kv_cache @kv {head_dim = 8 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
func.func @attention_key_width(%q: tensor<?x32xf32>, %k: tensor<?x8xf32>, %v: tensor<?x16xf32>, %pos: index, %layer: index) {
  // expected-error @+1 {{key width (8) must equal num_kv_heads * head_dim (16)}}
  %o = tfm.attention %q, %k, %v at %pos in @kv[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.35 : f32} : tensor<?x32xf32>, tensor<?x8xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
  func.return
}

// -----

tfm.kv_cache @kv {head_dim = 4 : i64, num_kv_heads = 4 : i64, num_layers = 2 : i64}
func.func @attention_cache_mismatch(%q: tensor<?x32xf32>, %k: tensor<?x16xf32>, %pos: index, %layer: index) {
  // expected-error @+1 {{do not match cache @kv (num_kv_heads = 4, head_dim = 4)}}
  %o = tfm.attention %q, %k, %k at %pos in @kv[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.35 : f32} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
  func.return
}

// -----

func.func @gelu_approximate(%x: tensor<?x32xf32>) {
  // expected-error @+1 {{approximate must be one of none, tanh, got 'fast'}}
  %y = tfm.gelu %x {approximate = "fast"} : tensor<?x32xf32>
  func.return
}

// -----

func.func @silu_integer(%x: tensor<?x32xi32>) {
  // expected-error @+1 {{input must have element type f32}}
  %y = tfm.silu %x : tensor<?x32xi32>
  func.return
}

// -----

func.func @add_types(%a: tensor<?x32xf32>, %b: tensor<?x64xf32>) {
  // expected-error @+1 {{tensor<?x64xf32>}}
  %y = "tfm.add"(%a, %b) : (tensor<?x32xf32>, tensor<?x64xf32>) -> tensor<?x32xf32>
  func.return
}

// -----

func.func @logits_vocab(%h: tensor<?x32xf32>, %w: tensor<16x32xf16>) {
  // expected-error @+1 {{result length (8) must equal weight rows (vocabulary) (16)}}
  %l = tfm.logits %h, %w : tensor<?x32xf32>, tensor<16x32xf16> -> tensor<8xf32>
  func.return
}

// -----

func.func @argmax_rank(%l: tensor<2x16xf32>) {
  // expected-error @+1 {{input must have rank 1, got tensor<2x16xf32>}}
  %t = tfm.argmax %l : tensor<2x16xf32> -> i32
  func.return
}

// -----

func.func @sample_params(%l: tensor<16xf32>, %p: tensor<16xf32>) {
  // expected-error @+1 {{params must be tensor<521xi32> (rusty_ir.sampling.pack), got tensor<16xf32>}}
  %t = tfm.sample %l, %p : tensor<16xf32>, tensor<16xf32> -> i32
  func.return
}

// -----

func.func @row_sample_params(%l: tensor<?x16xf32>, %p: tensor<521xi32>) {
  // expected-error @+1 {{params must be tensor<?x521xi32> (rusty_ir.sampling.pack, a row per input row), got tensor<521xi32>}}
  %t = tfm.row_sample %l, %p : tensor<?x16xf32>, tensor<521xi32> -> tensor<?xi32>
  func.return
}

// -----

func.func @row_sample_rows(%l: tensor<3x16xf32>, %p: tensor<2x521xi32>) {
  // expected-error @+1 {{params rows (2) must equal input rows (3)}}
  %t = tfm.row_sample %l, %p : tensor<3x16xf32>, tensor<2x521xi32> -> tensor<3xi32>
  func.return
}

// -----

func.func @softcap_cap(%l: tensor<16xf32>) {
  // expected-error @+1 {{cap must be a finite number above 0, got -1.0}}
  %c = tfm.softcap %l {cap = -1.0 : f32} : tensor<16xf32>
  func.return
}

// -----

func.func @embedding_scale(%t: tensor<?xi32>, %e: tensor<16x32xf32>) {
  // expected-error @+1 {{scale must be finite, got inf}}
  %h = tfm.embedding %t, %e {scale = 0x7F800000 : f32} : tensor<?xi32>, tensor<16x32xf32> -> tensor<?x32xf32>
  func.return
}

// -----

tfm.kv_cache @kv {head_dim = 8 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
func.func @attention_zero_window(%q: tensor<?x32xf32>, %k: tensor<?x16xf32>, %pos: index, %layer: index) {
  // expected-error @+1 {{window must be positive, got 0}}
  %o = tfm.attention %q, %k, %k at %pos in @kv[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.35 : f32, window = 0 : i64} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
  func.return
}

// -----

tfm.kv_cache @kv {head_dim = 8 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
func.func @attention_negative_softcap(%q: tensor<?x32xf32>, %k: tensor<?x16xf32>, %pos: index, %layer: index) {
  // expected-error @+1 {{softcap must be a finite number above 0, got -50.0}}
  %o = tfm.attention %q, %k, %k at %pos in @kv[%layer] {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.35 : f32, softcap = -50.0 : f32} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
  func.return
}
