// RUN: rusty-opt %s -p 'attach-target{target=webgpu},tune-workgroups' --split-input-file | filecheck %s
// RUN: rusty-opt %s -p 'attach-target{target=apple},tune-workgroups' --split-input-file | filecheck %s --check-prefix=APPLE
// RUN: rusty-opt %s -p 'attach-target{target=nvidia},tune-workgroups' --split-input-file | filecheck %s --check-prefix=NVIDIA
// RUN: rusty-opt %s -p 'attach-target{target=webgpu},tune-workgroups{overwrite=true}' --split-input-file | filecheck %s --check-prefix=OVERWRITE

// One region per strategy; the heuristic reads the module's target (passes/tuning/generic.py).
// Contractions over tokens get a gemm config (register tiles; 8-bit codes and 64 x 128 tiles where the target has
// int8 dot products and the weights' blocks are 32 values, else f16 tiles where the target has f16, the largest
// tile whose workgroup memory fits) and a single-token gemv config (row groups of 4 rows, K split over up to a
// subgroup of invocations; int8 dot products where the target has them, 2 rows per invocation on these narrow
// matrices, and then a few-token gemv config with 4 for steps of 2 to 8 tokens, whose tokens multiply the
// workgroups: with int8 dot products, twice the invocations where the target allows, so half the workgroups). Attention gets FlashAttention tiles for prompts and split-KV for one token. Row and elementwise
// regions get 256 invocations; argmax as many as the target allows.
// CHECK-LABEL: func.func @strategies
// CHECK:         dispatch.region "gemv_k32"(%{{.*}}) {config = #dispatch.lowering_config<gemm, workgroup = [128, 1, 1], workgroup_tile = [32, 64], thread_tile = [4, 4], reduction_tile = 32, pipeline_depth = 2>, single_token_config = #dispatch.lowering_config<gemv, workgroup = [4, 1, 1], workgroup_tile = [1, 16], thread_tile = [4], reduction_tile = 1, split = 1>}
// CHECK:         dispatch.region "gemv_k256"(%{{.*}}) {config = #dispatch.lowering_config<gemm, workgroup = [32, 1, 1], workgroup_tile = [16, 32], thread_tile = [4, 4], reduction_tile = 64, pipeline_depth = 2>, single_token_config = #dispatch.lowering_config<gemv, workgroup = [32, 1, 1], workgroup_tile = [1, 16], thread_tile = [4], reduction_tile = 1, split = 8>}
// CHECK:         dispatch.region "sum"(%{{.*}}) {config = #dispatch.lowering_config<row, workgroup = [256, 1, 1]>}
// CHECK:         dispatch.region "neg"(%{{.*}}) {config = #dispatch.lowering_config<elementwise, workgroup = [256, 1, 1]>}
// CHECK:         dispatch.region "argmax"(%{{.*}}) {config = #dispatch.lowering_config<row, workgroup = [256, 1, 1]>}
// CHECK:         dispatch.region "attention_hd4"(%{{.*}}) {config = #dispatch.lowering_config<attention, workgroup = [4, 1, 1], workgroup_tile = [16], reduction_tile = 4>, single_token_config = #dispatch.lowering_config<attention, workgroup = [8, 1, 1], reduction_tile = 8, split = 8>}
// CHECK:         dispatch.region "attention_hd64"(%{{.*}}) {config = #dispatch.lowering_config<attention, workgroup = [16, 1, 1], workgroup_tile = [16], reduction_tile = 16>, single_token_config = #dispatch.lowering_config<attention, workgroup = [128, 1, 1], reduction_tile = 32, split = 32>}
// APPLE-LABEL: func.func @strategies
// APPLE:         dispatch.region "gemv_k32"(%{{.*}}) {config = #dispatch.lowering_config<gemm, workgroup = [256, 1, 1], workgroup_tile = [128, 128], thread_tile = [8, 8], reduction_tile = 32, pipeline_depth = 2, math = f16>, single_token_config = #dispatch.lowering_config<gemv, workgroup = [4, 1, 1], workgroup_tile = [1, 16], thread_tile = [4], reduction_tile = 1, split = 1>}
// APPLE:         dispatch.region "gemv_k256"(%{{.*}}) {config = #dispatch.lowering_config<gemm, workgroup = [256, 1, 1], workgroup_tile = [64, 128], thread_tile = [4, 8], reduction_tile = 64, pipeline_depth = 2, math = f16>, single_token_config = #dispatch.lowering_config<gemv, workgroup = [32, 1, 1], workgroup_tile = [1, 16], thread_tile = [4], reduction_tile = 1, split = 8>}
// APPLE:         dispatch.region "argmax"(%{{.*}}) {config = #dispatch.lowering_config<row, workgroup = [1024, 1, 1]>}
// APPLE:         dispatch.region "attention_hd64"(%{{.*}}) {config = #dispatch.lowering_config<attention, workgroup = [128, 1, 1], workgroup_tile = [64], reduction_tile = 32>, single_token_config = #dispatch.lowering_config<attention, workgroup = [128, 1, 1], reduction_tile = 32, split = 32>}
// NVIDIA-LABEL: func.func @strategies
// NVIDIA:        dispatch.region "gemv_k32"(%{{.*}}) {config = #dispatch.lowering_config<gemm, workgroup = [256, 1, 1], workgroup_tile = [64, 128], thread_tile = [4, 8], reduction_tile = 32, pipeline_depth = 2, math = dp4a>, single_token_config = #dispatch.lowering_config<gemv, workgroup = [8, 1, 1], workgroup_tile = [1, 16], thread_tile = [2], reduction_tile = 1, split = 1, math = dp4a>, few_token_config = #dispatch.lowering_config<gemv, workgroup = [16, 1, 1], workgroup_tile = [1, 64], thread_tile = [4], reduction_tile = 1, split = 1, math = dp4a>}
// NVIDIA:        dispatch.region "gemv_k256"(%{{.*}}) {config = #dispatch.lowering_config<gemm, workgroup = [256, 1, 1], workgroup_tile = [64, 128], thread_tile = [4, 8], reduction_tile = 64, pipeline_depth = 2, math = dp4a>, single_token_config = #dispatch.lowering_config<gemv, workgroup = [64, 1, 1], workgroup_tile = [1, 16], thread_tile = [2], reduction_tile = 1, split = 8, math = dp4a>, few_token_config = #dispatch.lowering_config<gemv, workgroup = [128, 1, 1], workgroup_tile = [1, 64], thread_tile = [4], reduction_tile = 1, split = 8, math = dp4a>}
func.func @strategies(%x: tensor<2x32xf32>, %w: tensor<8x32x!rquant.q4_0>, %x2: tensor<2x256xf32>, %w2: tensor<8x256x!rquant.q8_0>, %l: tensor<16xf32>, %q: tensor<?x16xf32>, %q64: tensor<?x128xf32>, %kc: memref<?x8xf32>, %kc64: memref<?x64xf32>, %pos: index) {
  %y = dispatch.region "gemv_k32"(%x, %w) : (tensor<2x32xf32>, tensor<8x32x!rquant.q4_0>) -> tensor<2x8xf32> {
  ^bb0(%a: tensor<2x32xf32>, %b: tensor<8x32x!rquant.q4_0>):
    %zero = arith.constant 0.0 : f32
    %bf = rquant.dequantize %b : tensor<8x32x!rquant.q4_0> -> tensor<8x32xf32>
    %e = tensor.empty() : tensor<2x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %bf : tensor<2x32xf32>, tensor<8x32xf32>) outs(%i : tensor<2x8xf32>) {
    ^bb1(%xa: f32, %wa: f32, %acc: f32):
      %p = arith.mulf %xa, %wa : f32
      %s = arith.addf %p, %acc : f32
      linalg.yield %s : f32
    } -> tensor<2x8xf32>
    dispatch.yield %r : tensor<2x8xf32>
  }
  %y2 = dispatch.region "gemv_k256"(%x2, %w2) : (tensor<2x256xf32>, tensor<8x256x!rquant.q8_0>) -> tensor<2x8xf32> {
  ^bb0(%a: tensor<2x256xf32>, %b: tensor<8x256x!rquant.q8_0>):
    %zero = arith.constant 0.0 : f32
    %bf = rquant.dequantize %b : tensor<8x256x!rquant.q8_0> -> tensor<8x256xf32>
    %e = tensor.empty() : tensor<2x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %bf : tensor<2x256xf32>, tensor<8x256xf32>) outs(%i : tensor<2x8xf32>) {
    ^bb1(%xa: f32, %wa: f32, %acc: f32):
      %p = arith.mulf %xa, %wa : f32
      %s = arith.addf %p, %acc : f32
      linalg.yield %s : f32
    } -> tensor<2x8xf32>
    dispatch.yield %r : tensor<2x8xf32>
  }
  %sum = dispatch.region "sum"(%x) : (tensor<2x32xf32>) -> tensor<2xf32> {
  ^bb0(%a: tensor<2x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<2xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<2xf32>) -> tensor<2xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%a : tensor<2x32xf32>) outs(%i : tensor<2xf32>) {
    ^bb1(%v: f32, %acc: f32):
      %s = arith.addf %v, %acc : f32
      linalg.yield %s : f32
    } -> tensor<2xf32>
    dispatch.yield %r : tensor<2xf32>
  }
  %neg = dispatch.region "neg"(%x) : (tensor<2x32xf32>) -> tensor<2x32xf32> {
  ^bb0(%a: tensor<2x32xf32>):
    %e = tensor.empty() : tensor<2x32xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<2x32xf32>) outs(%e : tensor<2x32xf32>) {
    ^bb1(%v: f32, %o: f32):
      %n = arith.negf %v : f32
      linalg.yield %n : f32
    } -> tensor<2x32xf32>
    dispatch.yield %r : tensor<2x32xf32>
  }
  %t = dispatch.region "argmax"(%l) : (tensor<16xf32>) -> tensor<1xi32> {
  ^bb0(%a: tensor<16xf32>):
    %r = linalg_ext.argmax %a : tensor<16xf32> -> tensor<1xi32>
    dispatch.yield %r : tensor<1xi32>
  }
  %o = dispatch.region "attention_hd4"(%q, %kc, %pos) : (tensor<?x16xf32>, memref<?x8xf32>, index) -> tensor<?x16xf32> {
  ^bb0(%a: tensor<?x16xf32>, %k: memref<?x8xf32>, %p: index):
    %r = linalg_ext.attention %a, %k, %k, %p {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
    dispatch.yield %r : tensor<?x16xf32>
  }
  %o64 = dispatch.region "attention_hd64"(%q64, %kc64, %pos) : (tensor<?x128xf32>, memref<?x64xf32>, index) -> tensor<?x128xf32> {
  ^bb0(%a: tensor<?x128xf32>, %k: memref<?x64xf32>, %p: index):
    %r = linalg_ext.attention %a, %k, %k, %p {num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, scale = 0.125 : f32} : tensor<?x128xf32>, memref<?x64xf32>, memref<?x64xf32> -> tensor<?x128xf32>
    dispatch.yield %r : tensor<?x128xf32>
  }
  func.return
}

// -----

// A config already in the IR (hand-tuned) is kept; overwrite=true replaces it.
// CHECK-LABEL: func.func @keep_existing
// CHECK:         dispatch.region "neg"(%{{.*}}) {config = #dispatch.lowering_config<elementwise, workgroup = [64, 2, 1]>}
// APPLE-LABEL: func.func @keep_existing
// APPLE:         dispatch.region "neg"(%{{.*}}) {config = #dispatch.lowering_config<elementwise, workgroup = [64, 2, 1]>}
// NVIDIA-LABEL: func.func @keep_existing
// OVERWRITE-LABEL: func.func @keep_existing
// OVERWRITE:     dispatch.region "neg"(%{{.*}}) {config = #dispatch.lowering_config<elementwise, workgroup = [256, 1, 1]>}
func.func @keep_existing(%x: tensor<2x32xf32>) -> tensor<2x32xf32> {
  %neg = dispatch.region "neg"(%x) {config = #dispatch.lowering_config<elementwise, workgroup = [64, 2, 1]>} : (tensor<2x32xf32>) -> tensor<2x32xf32> {
  ^bb0(%a: tensor<2x32xf32>):
    %e = tensor.empty() : tensor<2x32xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<2x32xf32>) outs(%e : tensor<2x32xf32>) {
    ^bb1(%v: f32, %o: f32):
      %n = arith.negf %v : f32
      linalg.yield %n : f32
    } -> tensor<2x32xf32>
    dispatch.yield %r : tensor<2x32xf32>
  }
  func.return %neg : tensor<2x32xf32>
}

// -----

// A sampling region gets the sample strategy, workgroups of 256 threads, also on apple and nvidia: one per row for
// a vocabulary that fits one workgroup's chunk of 256 x 8 logits, else a workgroup per chunk of 2048 (split).
// CHECK-LABEL: func.func @sample
// CHECK:         dispatch.region "sample"(%{{.*}}, %{{.*}}) {config = #dispatch.lowering_config<sample, workgroup = [256, 1, 1]>}
// CHECK:         dispatch.region "sample_vocab"(%{{.*}}, %{{.*}}) {config = #dispatch.lowering_config<sample, workgroup = [256, 1, 1], split = 2048>}
// APPLE-LABEL: func.func @sample
// APPLE:         dispatch.region "sample"(%{{.*}}, %{{.*}}) {config = #dispatch.lowering_config<sample, workgroup = [256, 1, 1]>}
// APPLE:         dispatch.region "sample_vocab"(%{{.*}}, %{{.*}}) {config = #dispatch.lowering_config<sample, workgroup = [256, 1, 1], split = 2048>}
// NVIDIA-LABEL: func.func @sample
// NVIDIA:        dispatch.region "sample"(%{{.*}}, %{{.*}}) {config = #dispatch.lowering_config<sample, workgroup = [256, 1, 1]>}
// NVIDIA:        dispatch.region "sample_vocab"(%{{.*}}, %{{.*}}) {config = #dispatch.lowering_config<sample, workgroup = [256, 1, 1], split = 2048>}
func.func @sample(%l: tensor<16xf32>, %p: tensor<521xi32>, %v: tensor<?x49152xf32>, %q: tensor<?x521xi32>) -> (tensor<1xi32>, tensor<?xi32>) {
  %t = dispatch.region "sample"(%l, %p) : (tensor<16xf32>, tensor<521xi32>) -> tensor<1xi32> {
  ^bb0(%a: tensor<16xf32>, %b: tensor<521xi32>):
    %r = linalg_ext.sample %a, %b : tensor<16xf32>, tensor<521xi32> -> tensor<1xi32>
    dispatch.yield %r : tensor<1xi32>
  }
  %u = dispatch.region "sample_vocab"(%v, %q) : (tensor<?x49152xf32>, tensor<?x521xi32>) -> tensor<?xi32> {
  ^bb0(%a: tensor<?x49152xf32>, %b: tensor<?x521xi32>):
    %r = linalg_ext.sample %a, %b : tensor<?x49152xf32>, tensor<?x521xi32> -> tensor<?xi32>
    dispatch.yield %r : tensor<?xi32>
  }
  func.return %t, %u : tensor<1xi32>, tensor<?xi32>
}
