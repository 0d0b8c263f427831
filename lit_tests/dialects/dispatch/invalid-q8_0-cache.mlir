// RUN: rusty-opt %s --split-input-file --verify-diagnostics

// A q8_0 cache's buffers are the i32 words of its rows (upstream memrefs take builtin element types
// only): 64 values are 16 words of codes and 1 of scales.
dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 64 : i64, element_type = !rquant.q8_0}
func.func @q8_0_elements(%layer: index) {
  // expected-error @+1 {{cache buffer must be memref<?x17xi32>, got memref<?x64x!rquant.q8_0> (a q8_0 cache's buffers are the i32 words of its rows of 64 values)}}
  %c = dispatch.cache @kv[%layer] {part = "k"} : memref<?x64x!rquant.q8_0>
  func.return
}

// -----

dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 64 : i64, element_type = !rquant.q8_0}
func.func @q8_0_word_count(%layer: index) {
  // expected-error @+1 {{cache buffer must be memref<?x17xi32>, got memref<?x16xi32>}}
  %c = dispatch.cache @kv[%layer] {part = "v"} : memref<?x16xi32>
  func.return
}

// -----

// Words are a q8_0 cache's only: an f32 cache's buffers hold f32.
dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 64 : i64}
func.func @f32_as_words(%layer: index) {
  // expected-error @+1 {{cache buffer must be memref<?x64xf32>, got memref<?x17xi32>}}
  %c = dispatch.cache @kv[%layer] {part = "k"} : memref<?x17xi32>
  func.return
}

// -----

// A q8_0 row is whole groups of 64 values (a scale word holds two blocks' scales).
// expected-error @+1 {{a q8_0 KV cache needs rows of a multiple of 64 values, got 32}}
dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 32 : i64, element_type = !rquant.q8_0}
