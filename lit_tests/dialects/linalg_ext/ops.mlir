// RUN: rusty-opt %s --split-input-file | filecheck %s
// RUN: %roundtrip

// Appending S new rows to a layer's K and V cache buffers at %pos.
// CHECK-LABEL: func.func @cache_append
// CHECK-SAME:  (%[[K:.*]]: tensor<?x8xf32>, %[[V:.*]]: tensor<?x8xf32>, %[[KC:.*]]: memref<?x8xf32>, %[[VC:.*]]: memref<?x8xf32>, %[[POS:.*]]: index)
// CHECK-NEXT:    linalg_ext.cache_append %[[K]], %[[V]] into %[[KC]], %[[VC]] at %[[POS]] : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>
func.func @cache_append(%k: tensor<?x8xf32>, %v: tensor<?x8xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) {
  linalg_ext.cache_append %k, %v into %kc, %vc at %pos : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>
  func.return
}

// -----

// Grouped-query attention (4 heads over 2 kv heads of 4 dims) over the cache buffers.
// CHECK-LABEL: func.func @attention
// CHECK-SAME:  (%[[Q:.*]]: tensor<?x16xf32>, %[[KC:.*]]: memref<?x8xf32>, %[[VC:.*]]: memref<?x8xf32>, %[[POS:.*]]: index)
// CHECK-NEXT:    %[[O:.*]] = linalg_ext.attention %[[Q]], %[[KC]], %[[VC]], %[[POS]] {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 5.000000e-01 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
// CHECK-NEXT:    func.return %[[O]]
func.func @attention(%q: tensor<?x16xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) -> tensor<?x16xf32> {
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
  func.return %o : tensor<?x16xf32>
}

// -----

// Sliding-window attention (each row sees its last 3 positions), soft-capped scores.
// CHECK-LABEL: func.func @attention_window_softcap
// CHECK-NEXT:    linalg_ext.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 5.000000e-01 : f32, window = 3 : i64, softcap = 3.000000e+01 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
func.func @attention_window_softcap(%q: tensor<?x16xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index) -> tensor<?x16xf32> {
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32, window = 3 : i64, softcap = 30.0 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
  func.return %o : tensor<?x16xf32>
}

// -----

// The index of the largest logit, as a one-element i32 tensor.
// CHECK-LABEL: func.func @argmax
// CHECK-SAME:  (%[[L:.*]]: tensor<16xf32>) -> tensor<1xi32>
// CHECK-NEXT:    %[[T:.*]] = linalg_ext.argmax %[[L]] : tensor<16xf32> -> tensor<1xi32>
// CHECK-NEXT:    func.return %[[T]]
func.func @argmax(%l: tensor<16xf32>) -> tensor<1xi32> {
  %t = linalg_ext.argmax %l : tensor<16xf32> -> tensor<1xi32>
  func.return %t : tensor<1xi32>
}

// CHECK-LABEL: func.func @row_argmax
// CHECK-NEXT:    %{{.*}} = linalg_ext.argmax %{{.*}} : tensor<?x16xf32> -> tensor<?xi32>
func.func @row_argmax(%l: tensor<?x16xf32>) -> tensor<?xi32> {
  %t = linalg_ext.argmax %l : tensor<?x16xf32> -> tensor<?xi32>
  func.return %t : tensor<?xi32>
}

// -----

// A token drawn under packed sampling options (rusty_ir.sampling.pack: 521 words), as a one-element i32 tensor.
// CHECK-LABEL: func.func @sample
// CHECK-SAME:  (%[[L:.*]]: tensor<16xf32>, %[[P:.*]]: tensor<521xi32>) -> tensor<1xi32>
// CHECK-NEXT:    %[[T:.*]] = linalg_ext.sample %[[L]], %[[P]] : tensor<16xf32>, tensor<521xi32> -> tensor<1xi32>
// CHECK-NEXT:    func.return %[[T]]
func.func @sample(%l: tensor<16xf32>, %p: tensor<521xi32>) -> tensor<1xi32> {
  %t = linalg_ext.sample %l, %p : tensor<16xf32>, tensor<521xi32> -> tensor<1xi32>
  func.return %t : tensor<1xi32>
}

// A token from every row, each under its own row of words (sampled speculative decoding's @verify_sample).
// CHECK-LABEL: func.func @row_sample
// CHECK-NEXT:    %{{.*}} = linalg_ext.sample %{{.*}}, %{{.*}} : tensor<?x16xf32>, tensor<?x521xi32> -> tensor<?xi32>
func.func @row_sample(%l: tensor<?x16xf32>, %p: tensor<?x521xi32>) -> tensor<?xi32> {
  %t = linalg_ext.sample %l, %p : tensor<?x16xf32>, tensor<?x521xi32> -> tensor<?xi32>
  func.return %t : tensor<?xi32>
}

// -----

// A q8_0 cache: its buffers are the i32 words of its rows (64 values: 16 words of codes, 1 of scales),
// and the ops that take them name what the rows hold.
// CHECK-LABEL: func.func @q8_0_cache
// CHECK-NEXT:    linalg_ext.cache_append %{{.*}}, %{{.*}} into %{{.*}}, %{{.*}} at %{{.*}} {cache_element = !rquant.q8_0} : tensor<?x64xf32>, tensor<?x64xf32>, memref<?x17xi32>, memref<?x17xi32>
// CHECK-NEXT:    %{{.*}} = linalg_ext.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 16 : i64, scale = 2.500000e-01 : f32, cache_element = !rquant.q8_0} : tensor<?x128xf32>, memref<?x17xi32>, memref<?x17xi32> -> tensor<?x128xf32>
func.func @q8_0_cache(%q: tensor<?x128xf32>, %k: tensor<?x64xf32>, %v: tensor<?x64xf32>, %kc: memref<?x17xi32>, %vc: memref<?x17xi32>, %pos: index) -> tensor<?x128xf32> {
  linalg_ext.cache_append %k, %v into %kc, %vc at %pos {cache_element = !rquant.q8_0} : tensor<?x64xf32>, tensor<?x64xf32>, memref<?x17xi32>, memref<?x17xi32>
  %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 16 : i64, scale = 0.25 : f32, cache_element = !rquant.q8_0} : tensor<?x128xf32>, memref<?x17xi32>, memref<?x17xi32> -> tensor<?x128xf32>
  func.return %o : tensor<?x128xf32>
}
