// RUN: rusty-opt %s --split-input-file | filecheck %s
// RUN: %roundtrip

// Weights: plain and layer-indexed, quantized, f16, as tensors and (bufferized) as memrefs: a quantized one the words
// of its bytes, with the tensor they store.
// CHECK-LABEL: func.func @weights
// CHECK-SAME:  (%[[LAYER:.*]]: index)
// CHECK-NEXT:    %{{.*}} = dispatch.weight "token_embd.weight" : tensor<16x32x!rquant.q8_0>
// CHECK-NEXT:    %{{.*}} = dispatch.weight "blk.{}.attn_q.weight"[%[[LAYER]]] : tensor<64x32x!rquant.q4_1>
// CHECK-NEXT:    %{{.*}} = dispatch.weight "blk.{}.attn_v.weight"[%[[LAYER]]] : tensor<16x32xf16>
// CHECK-NEXT:    %{{.*}} = dispatch.weight "blk.{}.ffn_down.weight"[%[[LAYER]]] {stored = tensor<32x64x!rquant.int8_g32>} : memref<544xi32>
func.func @weights(%layer: index) {
  %emb = dispatch.weight "token_embd.weight" : tensor<16x32x!rquant.q8_0>
  %wq = dispatch.weight "blk.{}.attn_q.weight"[%layer] : tensor<64x32x!rquant.q4_1>
  %wv = dispatch.weight "blk.{}.attn_v.weight"[%layer] : tensor<16x32xf16>
  %wd = dispatch.weight "blk.{}.ffn_down.weight"[%layer] {stored = tensor<32x64x!rquant.int8_g32>} : memref<544xi32>
  func.return
}

// -----

// The KV cache symbol (pretty form parses back) and a layer's K and V buffers.
// CHECK:       dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}
// CHECK-LABEL: func.func @caches
// CHECK-SAME:  (%[[LAYER:.*]]: index) -> (memref<?x8xf32>, memref<?x8xf32>)
// CHECK-NEXT:    %[[K:.*]] = dispatch.cache @kv[%[[LAYER]]] {part = "k"} : memref<?x8xf32>
// CHECK-NEXT:    %[[V:.*]] = dispatch.cache @kv[%[[LAYER]]] {part = "v"} : memref<?x8xf32>
// CHECK-NEXT:    func.return %[[K]], %[[V]]
dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}
func.func @caches(%layer: index) -> (memref<?x8xf32>, memref<?x8xf32>) {
  %k = dispatch.cache @kv[%layer] {part = "k"} : memref<?x8xf32>
  %v = dispatch.cache @kv[%layer] {part = "v"} : memref<?x8xf32>
  func.return %k, %v : memref<?x8xf32>, memref<?x8xf32>
}

// -----

// A paged f16 cache: its pools hold f16 rows; the block table is an i32 buffer.
// CHECK:       dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64, element_type = f16, block_size = 16 : i64}
// CHECK-LABEL: func.func @paged
// CHECK-NEXT:    %{{.*}} = dispatch.cache @kv[%{{.*}}] {part = "k"} : memref<?x8xf16>
// CHECK-NEXT:    %{{.*}} = dispatch.block_table @kv : memref<?xi32>
dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64, element_type = f16, block_size = 16 : i64}
func.func @paged(%layer: index) -> (memref<?x8xf16>, memref<?xi32>) {
  %k = dispatch.cache @kv[%layer] {part = "k"} : memref<?x8xf16>
  %t = dispatch.block_table @kv : memref<?xi32>
  func.return %k, %t : memref<?x8xf16>, memref<?xi32>
}

// -----

// A q8_0 cache: each buffer is the i32 words of its rows (128 values: 32 words of codes, 2 of f16 scales),
// the scheme is the declaration's.
// CHECK:       dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 128 : i64, element_type = !rquant.q8_0, block_size = 16 : i64}
// CHECK-LABEL: func.func @q8_0
// CHECK-NEXT:    %{{.*}} = dispatch.cache @kv[%{{.*}}] {part = "v"} : memref<?x34xi32>
dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 128 : i64, element_type = !rquant.q8_0, block_size = 16 : i64}
func.func @q8_0(%layer: index) -> memref<?x34xi32> {
  %v = dispatch.cache @kv[%layer] {part = "v"} : memref<?x34xi32>
  func.return %v : memref<?x34xi32>
}

// -----

// A region with a lowering config, two results, and block arguments in operand order.
// CHECK-LABEL: func.func @region
// CHECK-SAME:  (%[[X:.*]]: tensor<?x8xf32>, %[[S:.*]]: index)
// CHECK-NEXT:    %{{[^,]*}}, %[[R1:.*]] = dispatch.region "add_0"(%[[X]], %[[S]]) {config = #dispatch.lowering_config<elementwise, workgroup = [64, 1, 1]>} : (tensor<?x8xf32>, index) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: tensor<?x8xf32>, %[[N:.*]]: index):
// CHECK-NEXT:      %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x8xf32>
// CHECK-NEXT:      dispatch.yield %[[A]], %[[E]] : tensor<?x8xf32>, tensor<?x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[R1]] : tensor<?x8xf32>
func.func @region(%x: tensor<?x8xf32>, %s: index) -> tensor<?x8xf32> {
  %r:2 = dispatch.region "add_0"(%x, %s) {config = #dispatch.lowering_config<elementwise, workgroup = [64, 1, 1]>} : (tensor<?x8xf32>, index) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  ^bb0(%a: tensor<?x8xf32>, %n: index):
    %e = tensor.empty(%n) : tensor<?x8xf32>
    dispatch.yield %a, %e : tensor<?x8xf32>, tensor<?x8xf32>
  }
  func.return %r#1 : tensor<?x8xf32>
}

// -----

// A bufferized region: no results, no config yet, an empty yield.
// CHECK-LABEL: func.func @bufferized_region
// CHECK-SAME:  (%[[X:.*]]: memref<?x8xf32>)
// CHECK-NEXT:    dispatch.region "noop_0"(%[[X]]) : (memref<?x8xf32>) -> () {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<?x8xf32>):
// CHECK-NEXT:      dispatch.yield
// CHECK-NEXT:    }
func.func @bufferized_region(%x: memref<?x8xf32>) {
  dispatch.region "noop_0"(%x) : (memref<?x8xf32>) -> () {
  ^bb0(%a: memref<?x8xf32>):
    dispatch.yield
  }
  func.return
}

// -----

// Lowering configs of every strategy, with named fields (only those that differ from the defaults are printed).
// CHECK-LABEL: func.func @configs
// CHECK:       config = #dispatch.lowering_config<row, workgroup = [256, 1, 1]>
// CHECK:       config = #dispatch.lowering_config<gemm, workgroup = [256, 1, 1], workgroup_tile = [128, 128], thread_tile = [8, 8], reduction_tile = 64, pipeline_depth = 2, math = f16>
// CHECK-SAME:  single_token_config = #dispatch.lowering_config<gemv, workgroup = [256, 1, 1], workgroup_tile = [1, 32], thread_tile = [4], reduction_tile = 2, split = 32, math = dp4a>
// CHECK:       config = #dispatch.lowering_config<attention, workgroup = [256, 1, 1], workgroup_tile = [32], reduction_tile = 32>
func.func @configs() {
  dispatch.region "r"() {config = #dispatch.lowering_config<row, workgroup = [256, 1, 1]>} : () -> () {
    dispatch.yield
  }
  dispatch.region "c"() {config = #dispatch.lowering_config<gemm, workgroup = [256, 1, 1], workgroup_tile = [128, 128], thread_tile = [8, 8], reduction_tile = 64, pipeline_depth = 2, math = f16>, single_token_config = #dispatch.lowering_config<gemv, workgroup = [256, 1, 1], workgroup_tile = [1, 32], thread_tile = [4], split = 32, reduction_tile = 2, math = dp4a>} : () -> () {
    dispatch.yield
  }
  dispatch.region "a"() {config = #dispatch.lowering_config<attention, workgroup = [256, 1, 1], workgroup_tile = [32], reduction_tile = 32>} : () -> () {
    dispatch.yield
  }
  func.return
}
