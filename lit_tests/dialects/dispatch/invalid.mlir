// RUN: rusty-opt %s --split-input-file --verify-diagnostics

func.func @weight_layer_without_hole(%layer: index) {
  // expected-error @+1 {{weight name 'blk.0.w' must contain one '{}' exactly when a layer operand is given}}
  %w = dispatch.weight "blk.0.w"[%layer] : tensor<8x32xf32>
  func.return
}

// -----

func.func @weight_hole_without_layer() {
  // expected-error @+1 {{weight name 'blk.{}.w' must contain one '{}' exactly when a layer operand is given}}
  %w = dispatch.weight "blk.{}.w" : tensor<8x32xf32>
  func.return
}

// -----

func.func @weight_dynamic() {
  // expected-error @+1 {{weight 'w' must have a static shape}}
  %w = dispatch.weight "w" : memref<?x32xf32>
  func.return
}

// -----

// expected-error @+1 {{num_layers and row_width must be positive}}
dispatch.kv_cache @kv {num_layers = 0 : i64, row_width = 8 : i64}

// -----

// expected-error @+1 {{num_layers and row_width must be positive}}
dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = -8 : i64}

// -----

func.func @kv_cache_in_function() {
  // expected-error @+1 {{'dispatch.kv_cache' expects parent op 'builtin.module'}}
  dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}
  func.return
}

// -----

dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}
func.func @cache_part(%layer: index) {
  // expected-error @+1 {{part must be "k" or "v", got "q"}}
  %c = dispatch.cache @kv[%layer] {part = "q"} : memref<?x8xf32>
  func.return
}

// -----

func.func @cache_unknown_symbol(%layer: index) {
  // expected-error @+1 {{'@kv' does not name a dispatch.kv_cache}}
  %c = dispatch.cache @kv[%layer] {part = "k"} : memref<?x8xf32>
  func.return
}

// -----

func.func @cache_names_a_function(%layer: index) {
  // expected-error @+1 {{'@cache_names_a_function' does not name a dispatch.kv_cache}}
  %c = dispatch.cache @cache_names_a_function[%layer] {part = "k"} : memref<?x8xf32>
  func.return
}

// -----

dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}
func.func @cache_width(%layer: index) {
  // expected-error @+1 {{cache buffer must be memref<?x8xf32>, got memref<?x16xf32>}}
  %c = dispatch.cache @kv[%layer] {part = "k"} : memref<?x16xf32>
  func.return
}

// -----

dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}
func.func @cache_rank(%layer: index) {
  // expected-error @+1 {{cache buffer must be memref<?x8xf32>, got memref<?xf32>}}
  %c = dispatch.cache @kv[%layer] {part = "k"} : memref<?xf32>
  func.return
}

// -----

func.func @region_block_args(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{block arguments must match the region's operands in number and type}}
  dispatch.region "r"(%x) : (tensor<?x8xf32>) -> () {
  ^bb0(%a: tensor<?x4xf32>):
    dispatch.yield
  }
  func.return
}

// -----

func.func @region_block_arg_count(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{block arguments must match the region's operands in number and type}}
  dispatch.region "r"(%x) : (tensor<?x8xf32>) -> () {
  ^bb0:
    dispatch.yield
  }
  func.return
}

// -----

func.func @region_without_yield(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{body must end with dispatch.yield}}
  dispatch.region "r"(%x) : (tensor<?x8xf32>) -> () {
  ^bb0(%a: tensor<?x8xf32>):
    "test.op"() : () -> ()
  }
  func.return
}

// -----

func.func @region_yield_types(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{dispatch.yield must yield the region's result types}}
  %r = dispatch.region "r"(%x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>):
    dispatch.yield
  }
  func.return %r : tensor<?x8xf32>
}

// -----

func.func @region_isolated(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{Operation using value defined out of its IsolatedFromAbove parent}}
  %r = dispatch.region "r"() : () -> tensor<?x8xf32> {
    dispatch.yield %x : tensor<?x8xf32>
  }
  func.return %r : tensor<?x8xf32>
}

// -----

func.func @yield_outside_region() {
  // expected-error @+1 {{'dispatch.yield' expects parent op 'dispatch.region'}}
  dispatch.yield
}

// -----

func.func @config_strategy() {
  // expected-error @+1 {{unknown strategy 'tiles' (expected one of elementwise, row, gemv, gemm, attention, sample)}}
  dispatch.region "r"() {config = #dispatch.lowering_config<tiles, workgroup = [64, 1, 1]>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_workgroup_rank() {
  // expected-error @+1 {{workgroup must be three positive sizes [x, y, z]}}
  dispatch.region "r"() {config = #dispatch.lowering_config<row, workgroup = [64, 1]>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_workgroup_zero() {
  // expected-error @+1 {{workgroup must be three positive sizes [x, y, z]}}
  dispatch.region "r"() {config = #dispatch.lowering_config<row, workgroup = [64, 0, 1]>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_tile_zero() {
  // expected-error @+1 {{tile sizes must be positive}}
  dispatch.region "r"() {config = #dispatch.lowering_config<attention, workgroup = [32, 1, 1], workgroup_tile = [0], reduction_tile = 8>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_unknown_field() {
  // expected-error @+1 {{unknown lowering_config field 'tile' (fields: workgroup, workgroup_tile, thread_tile, reduction_tile, split, vector_width, pipeline_depth, math, prequantize)}}
  dispatch.region "r"() {config = #dispatch.lowering_config<gemv, workgroup = [256, 1, 1], tile = [3]>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_gemv_rows() {
  // expected-error @+1 {{gemv needs workgroup_tile = [tokens, rows], thread_tile = [rows per invocation] dividing rows, split >= 1}}
  dispatch.region "r"() {config = #dispatch.lowering_config<gemv, workgroup = [128, 1, 1], workgroup_tile = [1, 10], thread_tile = [4], split = 32>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_gemv_invocations() {
  // expected-error @+1 {{gemv: workgroup_tile rows / thread_tile * split = 128 must equal the 256 invocations}}
  dispatch.region "r"() {config = #dispatch.lowering_config<gemv, workgroup = [256, 1, 1], workgroup_tile = [1, 16], thread_tile = [4], split = 32>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_gemv_pipeline() {
  // expected-error @+1 {{pipeline_depth = 2 is a gemm schedule's (a gemv does not pipeline its loads)}}
  dispatch.region "r"() {config = #dispatch.lowering_config<gemv, workgroup = [256, 1, 1], workgroup_tile = [1, 64], thread_tile = [4], split = 16, pipeline_depth = 2, math = dp4a>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_gemm_register_tile() {
  // expected-error @+1 {{gemm needs workgroup_tile = [M, N] and thread_tile = [TM, TN] (multiples of 4 dividing M and N)}}
  dispatch.region "r"() {config = #dispatch.lowering_config<gemm, workgroup = [256, 1, 1], workgroup_tile = [64, 64], thread_tile = [3, 4], reduction_tile = 32>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_dp4a_is_gemv_or_gemm() {
  // expected-error @+1 {{math = dp4a is a gemv or gemm schedule, not row}}
  dispatch.region "r"() {config = #dispatch.lowering_config<row, workgroup = [256, 1, 1], math = dp4a>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

func.func @config_math() {
  // expected-error @+1 {{math must be one of f32, f16, dp4a, got 'bf16'}}
  dispatch.region "r"() {config = #dispatch.lowering_config<gemm, workgroup = [256, 1, 1], workgroup_tile = [64, 64], thread_tile = [4, 4], reduction_tile = 32, math = bf16>} : () -> () {
    dispatch.yield
  }
  func.return
}

// -----

dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64, element_type = f16}
func.func @cache_element_type(%layer: index) {
  // expected-error @+1 {{cache buffer must be memref<?x8xf16>, got memref<?x8xf32>}}
  %c = dispatch.cache @kv[%layer] {part = "k"} : memref<?x8xf32>
  func.return
}

// -----

dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}
func.func @block_table_of_contiguous_cache() {
  // expected-error @+1 {{'@kv' is not paged (it has no block_size)}}
  %t = dispatch.block_table @kv : memref<?xi32>
  func.return
}

// -----

// expected-error @+1 {{block_size must be positive, got 0}}
dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64, block_size = 0 : i64}

// -----

func.func @quantized_memref_weight() {
  // expected-error @+1 {{a bufferized quantized weight is the words of its bytes: memref<18xi32> {stored = tensor<4x32x!rquant.q4_0>}, not memref<4x32x!rquant.q4_0>}}
  %w = dispatch.weight "w" : memref<4x32x!rquant.q4_0>
  func.return
}

// -----

func.func @stored_words() {
  // expected-error @+1 {{a weight storing a tensor<4x32x!rquant.q4_0> is a memref<18xi32>, not memref<16xi32>}}
  %w = dispatch.weight "w" {stored = tensor<4x32x!rquant.q4_0>} : memref<16xi32>
  func.return
}

// -----

func.func @config_sample_split() {
  // expected-error @+1 {{sample: split (logits per workgroup) must be a multiple of the 256 invocations}}
  dispatch.region "r"() {config = #dispatch.lowering_config<sample, workgroup = [256, 1, 1], split = 1000>} : () -> () {
    dispatch.yield
  }
  func.return
}
