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

func.func @argmax_rank(%l: tensor<2x16xf32>) {
  // expected-error @+1 {{input must be a 1-D f32 tensor, got tensor<2x16xf32>}}
  %t = linalg_ext.argmax %l : tensor<2x16xf32> -> tensor<1xi32>
  func.return
}

// -----

func.func @argmax_f16(%l: tensor<16xf16>) {
  // expected-error @+1 {{input must be a 1-D f32 tensor, got tensor<16xf16>}}
  %t = linalg_ext.argmax %l : tensor<16xf16> -> tensor<1xi32>
  func.return
}

// -----

func.func @argmax_result(%l: tensor<16xf32>) {
  // expected-error @+1 {{result must be tensor<1xi32>}}
  %t = linalg_ext.argmax %l : tensor<16xf32> -> tensor<1xi64>
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

func.func @sample_input(%l: tensor<2x16xf32>, %p: tensor<521xi32>) {
  // expected-error @+1 {{input must be a non-empty 1-D f32 tensor, got tensor<2x16xf32>}}
  %t = linalg_ext.sample %l, %p : tensor<2x16xf32>, tensor<521xi32> -> tensor<1xi32>
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
