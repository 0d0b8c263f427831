// RUN: rusty-opt %s --split-input-file --verify-diagnostics

func.func @append_widths(%k: tensor<?x8xf32>, %v: tensor<?x8xf32>, %kc: memref<?x16xf32>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{keys, values and both caches must have the same row width}}
  linalg_ext.cache_append %k, %v into %kc, %vc at %pos : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x16xf32>, memref<?x8xf32>
  func.return
}

// -----

func.func @append_rank(%k: tensor<8xf32>, %v: tensor<?x8xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{keys must be a 2-D tensor or memref, got tensor<8xf32>}}
  linalg_ext.cache_append %k, %v into %kc, %vc at %pos : tensor<8xf32>, tensor<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>
  func.return
}

// -----

func.func @attention_groups(%q: tensor<?x12xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{num_heads (3) must be a positive multiple of num_kv_heads (2)}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 3 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x12xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x12xf32>
  func.return
}

// -----

func.func @attention_zero_head_dim(%q: tensor<?x16xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{num_heads (4) must be a positive multiple of num_kv_heads (2)}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 0 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
  func.return
}

// -----

func.func @attention_query_width(%q: tensor<?x12xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{query width must be num_heads * head_dim = 16}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x12xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x12xf32>
  func.return
}

// -----

func.func @attention_cache_width(%q: tensor<?x16xf32>, %kc: memref<?x8xf32>, %vc: memref<?x16xf32>, %pos: index) {
  // expected-error @+1 {{v_cache width must be num_kv_heads * head_dim = 8}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x16xf32> -> tensor<?x16xf32>
  func.return
}

// -----

func.func @attention_query_rank(%q: tensor<16xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{query must be a 2-D tensor or memref, got tensor<16xf32>}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<16xf32>
  func.return
}

// -----

func.func @attention_result(%q: tensor<?x16xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{result type must equal the query type}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<2x16xf32>
  func.return
}

// -----

func.func @argmax_rank(%l: tensor<2x2x16xf32>) {
  // expected-error @+1 {{input must be a 1-D or 2-D f32 tensor, got tensor<2x2x16xf32>}}
  %t = linalg_ext.argmax %l : tensor<2x2x16xf32> -> tensor<1xi32>
  func.return
}

// -----

func.func @argmax_f16(%l: tensor<16xf16>) {
  // expected-error @+1 {{input must be a 1-D or 2-D f32 tensor, got tensor<16xf16>}}
  %t = linalg_ext.argmax %l : tensor<16xf16> -> tensor<1xi32>
  func.return
}

// -----

func.func @argmax_result(%l: tensor<16xf32>) {
  // expected-error @+1 {{result must be tensor<1xi32> (one i32 per row), got tensor<1xi64>}}
  %t = linalg_ext.argmax %l : tensor<16xf32> -> tensor<1xi64>
  func.return
}

// -----

func.func @argmax_rows(%l: tensor<?x16xf32>) {
  // expected-error @+1 {{result must be tensor<?xi32> (one i32 per row), got tensor<1xi32>}}
  %t = linalg_ext.argmax %l : tensor<?x16xf32> -> tensor<1xi32>
  func.return
}

// -----

func.func @append_pages_without_block_size(%k: tensor<?x8xf32>, %kc: memref<?x8xf32>, %pos: index, %t: memref<?xi32>) {
  // expected-error @+1 {{a paged cache needs both a block table operand and block_size}}
  linalg_ext.cache_append %k, %k into %kc, %kc at %pos pages %t : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>
  func.return
}

// -----

func.func @attention_zero_block(%q: tensor<?x16xf32>, %kc: memref<?x8xf32>, %pos: index, %t: memref<?xi32>) {
  // expected-error @+1 {{block_size must be positive, got 0}}
  %o = linalg_ext.attention %q, %kc, %kc, %pos pages %t {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32, block_size = 0 : i64} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
  func.return
}

// -----

func.func @attention_mixed_cache_types(%q: tensor<?x16xf32>, %kc: memref<?x8xf16>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{the K and V caches must both hold f32, both f16 or both q8_0}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, memref<?x8xf16>, memref<?x8xf32> -> tensor<?x16xf32>
  func.return
}

// -----

func.func @sample_params(%l: tensor<16xf32>, %p: tensor<9xi32>) {
  // expected-error @+1 {{params must be tensor<521xi32> (rusty_ir.sampling.pack), got tensor<9xi32>}}
  %t = linalg_ext.sample %l, %p : tensor<16xf32>, tensor<9xi32> -> tensor<1xi32>
  func.return
}

// -----

func.func @sample_input(%l: tensor<2x2x16xf32>, %p: tensor<521xi32>) {
  // expected-error @+1 {{input must be a non-empty 1-D or 2-D f32 tensor, got tensor<2x2x16xf32>}}
  %t = linalg_ext.sample %l, %p : tensor<2x2x16xf32>, tensor<521xi32> -> tensor<1xi32>
  func.return
}

// -----

func.func @sample_rows_params(%l: tensor<?x16xf32>, %p: tensor<521xi32>) {
  // expected-error @+1 {{params must be tensor<?x521xi32> (rusty_ir.sampling.pack, a row per input row), got tensor<521xi32>}}
  %t = linalg_ext.sample %l, %p : tensor<?x16xf32>, tensor<521xi32> -> tensor<?xi32>
  func.return
}

// -----

func.func @sample_rows_result(%l: tensor<?x16xf32>, %p: tensor<?x521xi32>) {
  // expected-error @+1 {{result must be tensor<?xi32> (one i32 per row), got tensor<1xi32>}}
  %t = linalg_ext.sample %l, %p : tensor<?x16xf32>, tensor<?x521xi32> -> tensor<1xi32>
  func.return
}

// -----

func.func @attention_negative_window(%q: tensor<?x16xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{window must be positive, got -2}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32, window = -2 : i64} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
  func.return
}

// -----

func.func @attention_zero_softcap(%q: tensor<?x16xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) {
  // expected-error @+1 {{softcap must be a finite number above 0, got 0.0}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32, softcap = 0.0 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
  func.return
}

// -----

// A q8_0 cache is the words of its rows: 64 values are 17 words (16 of codes, 1 of scales), not 16.
func.func @append_q8_0_words(%k: tensor<?x64xf32>, %v: tensor<?x64xf32>, %kc: memref<?x16xi32>, %vc: memref<?x16xi32>, %pos: index) {
  // expected-error @+1 {{k_cache of q8_0 rows of 64 values must be memref<?x17xi32> (the words of its rows), got memref<?x16xi32>}}
  linalg_ext.cache_append %k, %v into %kc, %vc at %pos {cache_element = !rquant.q8_0} : tensor<?x64xf32>, tensor<?x64xf32>, memref<?x16xi32>, memref<?x16xi32>
  func.return
}

// -----

// Words of q8_0 rows say so: without cache_element an i32 cache is no KV cache.
func.func @append_words_without_scheme(%k: tensor<?x64xf32>, %v: tensor<?x64xf32>, %kc: memref<?x17xi32>, %vc: memref<?x17xi32>, %pos: index) {
  // expected-error @+1 {{keys, values and both caches must have the same row width}}
  linalg_ext.cache_append %k, %v into %kc, %vc at %pos : tensor<?x64xf32>, tensor<?x64xf32>, memref<?x17xi32>, memref<?x17xi32>
  func.return
}

// -----

func.func @attention_words_without_scheme(%q: tensor<?x16xf32>, %kc: memref<?x8xi32>, %vc: memref<?x8xi32>, %pos: index) {
  // expected-error @+1 {{the K and V caches must both hold f32, both f16 or both q8_0 (i32 words, with cache_element = !rquant.q8_0)}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, memref<?x8xi32>, memref<?x8xi32> -> tensor<?x16xf32>
  func.return
}

// -----

// q8_0 is the only scheme a KV cache stores as words.
func.func @attention_other_scheme(%q: tensor<?x128xf32>, %kc: memref<?x17xi32>, %vc: memref<?x17xi32>, %pos: index) {
  // expected-error @+1 {{cache_element must be !rquant.q8_0 (the only scheme a KV cache stores as words), got !rquant.q4_0}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 16 : i64, scale = 0.25 : f32, cache_element = !rquant.q4_0} : tensor<?x128xf32>, memref<?x17xi32>, memref<?x17xi32> -> tensor<?x128xf32>
  func.return
}

// -----

// q8_0 rows are whole groups of 64 values (a scale word holds two blocks' scales).
func.func @attention_q8_0_width(%q: tensor<?x64xf32>, %kc: memref<?x9xi32>, %vc: memref<?x9xi32>, %pos: index) {
  // expected-error @+1 {{a q8_0 KV cache needs rows of a multiple of 64 values, got 32}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 16 : i64, scale = 0.25 : f32, cache_element = !rquant.q8_0} : tensor<?x64xf32>, memref<?x9xi32>, memref<?x9xi32> -> tensor<?x64xf32>
  func.return
}

// -----

// The old form: a memref of q8_0 elements is not a q8_0 cache (upstream memrefs take builtin element types).
func.func @attention_q8_0_elements(%q: tensor<?x128xf32>, %kc: memref<?x64x!rquant.q8_0>, %vc: memref<?x64x!rquant.q8_0>, %pos: index) {
  // expected-error @+1 {{the K and V caches must both hold f32, both f16 or both q8_0}}
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 16 : i64, scale = 0.25 : f32} : tensor<?x128xf32>, memref<?x64x!rquant.q8_0>, memref<?x64x!rquant.q8_0> -> tensor<?x128xf32>
  func.return
}
