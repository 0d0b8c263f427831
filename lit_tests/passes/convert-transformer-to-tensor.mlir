// RUN: rusty-opt %s -p convert-transformer-to-tensor --split-input-file | filecheck %s
// tests/passes/test_transformer_to_tensor.py runs each tfm op before and after the pass on numpy.

// tfm.kv_cache becomes dispatch.kv_cache with its row width, paged by default (blocks of 16
// positions); tfm.attention appends to the layer's K and V cache pools through the sequence's
// block table, then attends over the same pools through it.
// CHECK:       dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64, block_size = 16 : i64}
// CHECK-LABEL: func.func @attention
// CHECK-SAME:  (%[[Q:.*]]: tensor<?x16xf32>, %[[K:.*]]: tensor<?x8xf32>, %[[V:.*]]: tensor<?x8xf32>, %[[POS:.*]]: index, %[[L:.*]]: index)
// CHECK-NEXT:    %[[KC:.*]] = dispatch.cache @kv[%[[L]]] {part = "k"} : memref<?x8xf32>
// CHECK-NEXT:    %[[VC:.*]] = dispatch.cache @kv[%[[L]]] {part = "v"} : memref<?x8xf32>
// CHECK-NEXT:    %[[T:.*]] = dispatch.block_table @kv : memref<?xi32>
// CHECK-NEXT:    linalg_ext.cache_append %[[K]], %[[V]] into %[[KC]], %[[VC]] at %[[POS]] pages %[[T]] {block_size = 16 : i64} : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>
// CHECK-NEXT:    %[[O:.*]] = linalg_ext.attention %[[Q]], %[[KC]], %[[VC]], %[[POS]] pages %[[T]] {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 5.000000e-01 : f32, block_size = 16 : i64}
// CHECK-NEXT:    func.return %[[O]] : tensor<?x16xf32>
tfm.kv_cache @kv {head_dim = 4 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
func.func @attention(%q: tensor<?x16xf32>, %k: tensor<?x8xf32>, %v: tensor<?x8xf32>, %pos: index, %layer: index) -> tensor<?x16xf32> {
  %o = tfm.attention %q, %k, %v at %pos in @kv[%layer] {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x16xf32>
  func.return %o : tensor<?x16xf32>
}

// -----

// A sliding window and soft-capping go to linalg_ext.attention unchanged.
// CHECK-LABEL: func.func @attention_window_softcap
// CHECK:         linalg_ext.attention {{.*}} {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 5.000000e-01 : f32, block_size = 16 : i64, window = 3 : i64, softcap = 5.000000e+01 : f32}
tfm.kv_cache @kv {head_dim = 4 : i64, num_kv_heads = 2 : i64, num_layers = 2 : i64}
func.func @attention_window_softcap(%q: tensor<?x16xf32>, %k: tensor<?x8xf32>, %v: tensor<?x8xf32>, %pos: index, %layer: index) -> tensor<?x16xf32> {
  %o = tfm.attention %q, %k, %v at %pos in @kv[%layer] {head_dim = 4 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.5 : f32, window = 3 : i64, softcap = 50.0 : f32} : tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x8xf32> -> tensor<?x16xf32>
  func.return %o : tensor<?x16xf32>
}

// -----

// tfm.add: one elementwise generic over (s, d), sized by the row count of its first input.
// CHECK-LABEL: func.func @add
// CHECK-SAME:  (%[[A:.*]]: tensor<?x8xf32>, %[[B:.*]]: tensor<?x8xf32>)
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[S:.*]] = tensor.dim %[[A]], %[[C0]] : tensor<?x8xf32>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[S]]) : tensor<?x8xf32>
// CHECK-NEXT:    %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[A]], %[[B]] : tensor<?x8xf32>, tensor<?x8xf32>) outs(%[[E]] : tensor<?x8xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[X:.*]]: f32, %[[Y:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[SUM:.*]] = arith.addf %[[X]], %[[Y]] : f32
// CHECK-NEXT:      linalg.yield %[[SUM]] : f32
// CHECK:         func.return %[[R]]
func.func @add(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %r = tfm.add %a, %b : tensor<?x8xf32>
  func.return %r : tensor<?x8xf32>
}

// -----

// tfm.mul on static shapes: no tensor.dim, a static tensor.empty.
// CHECK-LABEL: func.func @mul_static
// CHECK-SAME:  (%[[A:.*]]: tensor<2x8xf32>, %[[B:.*]]: tensor<2x8xf32>)
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<2x8xf32>
// CHECK-NEXT:    %[[R:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[A]], %[[B]] : tensor<2x8xf32>, tensor<2x8xf32>) outs(%[[E]] : tensor<2x8xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[X:.*]]: f32, %[[Y:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[P:.*]] = arith.mulf %[[X]], %[[Y]] : f32
// CHECK-NEXT:      linalg.yield %[[P]] : f32
func.func @mul_static(%a: tensor<2x8xf32>, %b: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %r = tfm.mul %a, %b : tensor<2x8xf32>
  func.return %r : tensor<2x8xf32>
}

// -----

// tfm.silu: x / (1 + exp(-x)) in the body.
// CHECK-LABEL: func.func @silu
// CHECK:         linalg.generic
// CHECK-NEXT:    ^{{.*}}(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:      %[[NEG:.*]] = arith.negf %[[X]] : f32
// CHECK-NEXT:      %[[EXP:.*]] = math.exp %[[NEG]] : f32
// CHECK-NEXT:      %[[DEN:.*]] = arith.addf %[[ONE]], %[[EXP]] : f32
// CHECK-NEXT:      %[[Y:.*]] = arith.divf %[[X]], %[[DEN]] : f32
// CHECK-NEXT:      linalg.yield %[[Y]] : f32
func.func @silu(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %r = tfm.silu %a : tensor<?x8xf32>
  func.return %r : tensor<?x8xf32>
}

// -----

// tfm.gelu (tanh approximation): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// CHECK-LABEL: func.func @gelu
// CHECK:         ^{{.*}}(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[C:.*]] = arith.constant 0.797884583 : f32
// CHECK-NEXT:      %[[K:.*]] = arith.constant 4.471500e-02 : f32
// CHECK-NEXT:      %[[X2:.*]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK-NEXT:      %[[X3:.*]] = arith.mulf %[[X]], %[[X2]] : f32
// CHECK-NEXT:      %[[KX3:.*]] = arith.mulf %[[K]], %[[X3]] : f32
// CHECK-NEXT:      %[[IN:.*]] = arith.addf %[[X]], %[[KX3]] : f32
// CHECK-NEXT:      %[[ARG:.*]] = arith.mulf %[[C]], %[[IN]] : f32
// CHECK:           %[[T:.*]] = math.tanh %[[ARG]] : f32
// CHECK:           linalg.yield
func.func @gelu(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %r = tfm.gelu %a {approximate = "tanh"} : tensor<?x8xf32>
  func.return %r : tensor<?x8xf32>
}

// -----

// tfm.rms_norm: a sum-of-squares row reduction into a zero-filled ?xf32, then an elementwise
// generic reading x at (s, d), the sums at (s) and the f16 weight at (d), widened with extf.
// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME:  (%[[H:.*]]: tensor<?x32xf32>, %[[W:.*]]: tensor<32xf16>)
// CHECK:         %[[S:.*]] = tensor.dim %[[H]], %{{.*}} : tensor<?x32xf32>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[S]]) : tensor<?xf32>
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<?xf32>)
// CHECK-NEXT:    %[[SS:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME:      ins(%[[H]] : tensor<?x32xf32>) outs(%[[INIT]] : tensor<?xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[X:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT:      %[[SQ:.*]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK-NEXT:      %[[NEXT:.*]] = arith.addf %[[SQ]], %[[ACC]] : f32
// CHECK-NEXT:      linalg.yield %[[NEXT]] : f32
// CHECK:         %[[E2:.*]] = tensor.empty(%[[S]]) : tensor<?x32xf32>
// CHECK-NEXT:    %[[N:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[H]], %[[SS]], %[[W]] : tensor<?x32xf32>, tensor<?xf32>, tensor<32xf16>) outs(%[[E2]] : tensor<?x32xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[XV:.*]]: f32, %[[SV:.*]]: f32, %[[WV:.*]]: f16, %{{.*}}: f32):
// CHECK-NEXT:      %[[D:.*]] = arith.constant 3.200000e+01 : f32
// CHECK-NEXT:      %[[MEAN:.*]] = arith.divf %[[SV]], %[[D]] : f32
// CHECK-NEXT:      %[[EPS:.*]] = arith.constant 1.000000e-05 : f32
// CHECK-NEXT:      %[[VAR:.*]] = arith.addf %[[MEAN]], %[[EPS]] : f32
// CHECK-NEXT:      %[[INV:.*]] = math.rsqrt %[[VAR]] : f32
// CHECK-NEXT:      %[[XN:.*]] = arith.mulf %[[XV]], %[[INV]] : f32
// CHECK-NEXT:      %[[WF:.*]] = arith.extf %[[WV]] : f16 to f32
// CHECK-NEXT:      %[[Y:.*]] = arith.mulf %[[XN]], %[[WF]] : f32
// CHECK-NEXT:      linalg.yield %[[Y]] : f32
// CHECK:         func.return %[[N]]
func.func @rms_norm(%h: tensor<?x32xf32>, %w: tensor<32xf16>) -> tensor<?x32xf32> {
  %n = tfm.rms_norm %h, %w {epsilon = 1.0e-05 : f32} : tensor<?x32xf32>, tensor<32xf16> -> tensor<?x32xf32>
  func.return %n : tensor<?x32xf32>
}

// -----

// tfm.rms_norm with head_dim (Qwen3's q/k norm): the row seen as ?x4x8 by an elementwise gather
// x[s, h * 8 + d], the same reduction and normalisation over the last dim (the weight at (d)), and
// the ?x32 result gathered back at [s, j / 8, j % 8].
// CHECK-LABEL: func.func @rms_norm_per_head
// CHECK-SAME:  (%[[Q:.*]]: tensor<?x32xf32>, %[[W:.*]]: tensor<8xf32>)
// CHECK:         %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<?x4x8xf32>
// CHECK-NEXT:    %[[X3:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]} outs(%[[E]] : tensor<?x4x8xf32>)
// CHECK:           %[[H:.*]] = linalg.index 1 : index
// CHECK-NEXT:      %[[D:.*]] = linalg.index 2 : index
// CHECK-NEXT:      %[[HD:.*]] = arith.constant 8 : index
// CHECK-NEXT:      %[[OFF:.*]] = arith.muli %[[H]], %[[HD]] : index
// CHECK-NEXT:      %[[J:.*]] = arith.addi %[[OFF]], %[[D]] : index
// CHECK-NEXT:      tensor.extract %[[Q]][%{{.*}}, %[[J]]] : tensor<?x32xf32>
// CHECK:         %[[SS:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X3]] : tensor<?x4x8xf32>) outs(%{{.*}} : tensor<?x4xf32>)
// CHECK:         %[[N3:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>]
// CHECK-SAME:      ins(%[[X3]], %[[SS]], %[[W]] : tensor<?x4x8xf32>, tensor<?x4xf32>, tensor<8xf32>)
// CHECK:           arith.constant 8.000000e+00 : f32
// CHECK:         %[[N:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} outs(%{{.*}} : tensor<?x32xf32>)
// CHECK:           %[[DIV:.*]] = arith.divui
// CHECK-NEXT:      %[[REM:.*]] = arith.remui
// CHECK-NEXT:      tensor.extract %[[N3]][%{{.*}}, %[[DIV]], %[[REM]]] : tensor<?x4x8xf32>
// CHECK:         func.return %[[N]]
func.func @rms_norm_per_head(%q: tensor<?x32xf32>, %w: tensor<8xf32>) -> tensor<?x32xf32> {
  %n = tfm.rms_norm %q, %w {epsilon = 1.0e-06 : f32, head_dim = 8 : i64} : tensor<?x32xf32>, tensor<8xf32> -> tensor<?x32xf32>
  func.return %n : tensor<?x32xf32>
}

// -----

// tfm.linear with a q4_0 weight and a bias: the weight becomes dispatch.weight, read through
// rquant.dequantize by a contraction over (s, n, k) with the weight at (n, k); then the bias.
// CHECK-LABEL: func.func @linear
// CHECK-SAME:  (%[[X:.*]]: tensor<?x32xf32>, %[[L:.*]]: index, %[[B:.*]]: tensor<16xf32>)
// CHECK-NEXT:    %[[W:.*]] = dispatch.weight "blk.{}.w"[%[[L]]] : tensor<16x32x!rquant.q4_0>
// CHECK:         %[[S:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x32xf32>
// CHECK-NEXT:    %[[WF:.*]] = rquant.dequantize %[[W]] : tensor<16x32x!rquant.q4_0> -> tensor<16x32xf32>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[S]]) : tensor<?x16xf32>
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<?x16xf32>)
// CHECK-NEXT:    %[[MM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X]], %[[WF]] : tensor<?x32xf32>, tensor<16x32xf32>) outs(%[[INIT]] : tensor<?x16xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[XV:.*]]: f32, %[[WV:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT:      %[[P:.*]] = arith.mulf %[[XV]], %[[WV]] : f32
// CHECK-NEXT:      %[[SUM:.*]] = arith.addf %[[P]], %[[ACC]] : f32
// CHECK-NEXT:      linalg.yield %[[SUM]] : f32
// CHECK:         %[[E2:.*]] = tensor.empty(%[[S]]) : tensor<?x16xf32>
// CHECK-NEXT:    %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[MM]], %[[B]] : tensor<?x16xf32>, tensor<16xf32>) outs(%[[E2]] : tensor<?x16xf32>)
// CHECK:         func.return %[[Y]]
func.func @linear(%x: tensor<?x32xf32>, %layer: index, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %w = tfm.weight "blk.{}.w"[%layer] : tensor<16x32x!rquant.q4_0>
  %y = tfm.linear %x, %w, %b : tensor<?x32xf32>, tensor<16x32x!rquant.q4_0>, tensor<16xf32> -> tensor<?x16xf32>
  func.return %y : tensor<?x16xf32>
}

// -----

// tfm.embedding: a generic over (s, d) reading the token at (s) and gathering the
// dequantized table at (token, d) with tensor.extract.
// CHECK-LABEL: func.func @embedding
// CHECK-SAME:  (%[[T:.*]]: tensor<?xi32>)
// CHECK-NEXT:    %[[EMB:.*]] = dispatch.weight "token_embd.weight" : tensor<16x32x!rquant.q8_0>
// CHECK-NEXT:    %[[TAB:.*]] = rquant.dequantize %[[EMB]] : tensor<16x32x!rquant.q8_0> -> tensor<16x32xf32>
// CHECK:         %[[S:.*]] = tensor.dim %[[T]], %{{.*}} : tensor<?xi32>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty(%[[S]]) : tensor<?x32xf32>
// CHECK-NEXT:    %[[H:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[T]] : tensor<?xi32>) outs(%[[E]] : tensor<?x32xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[TOK:.*]]: i32, %{{.*}}: f32):
// CHECK-NEXT:      %[[ROW:.*]] = arith.index_cast %[[TOK]] : i32 to index
// CHECK-NEXT:      %[[COL:.*]] = linalg.index 1 : index
// CHECK-NEXT:      %[[V:.*]] = tensor.extract %[[TAB]][%[[ROW]], %[[COL]]] : tensor<16x32xf32>
// CHECK-NEXT:      linalg.yield %[[V]] : f32
// CHECK:         func.return %[[H]]
func.func @embedding(%tokens: tensor<?xi32>) -> tensor<?x32xf32> {
  %emb = tfm.weight "token_embd.weight" : tensor<16x32x!rquant.q8_0>
  %h = tfm.embedding %tokens, %emb : tensor<?xi32>, tensor<16x32x!rquant.q8_0> -> tensor<?x32xf32>
  func.return %h : tensor<?x32xf32>
}

// -----

// tfm.embedding with a scale (Gemma's sqrt(hidden)): the gathered value times the constant, in the same generic.
// CHECK-LABEL: func.func @embedding_scaled
// CHECK:         %[[V:.*]] = tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<16x32xf32>
// CHECK-NEXT:    %[[K:.*]] = arith.constant 8.000000e+00 : f32
// CHECK-NEXT:    %[[S:.*]] = arith.mulf %[[V]], %[[K]] : f32
// CHECK-NEXT:    linalg.yield %[[S]] : f32
func.func @embedding_scaled(%tokens: tensor<?xi32>) -> tensor<?x32xf32> {
  %emb = tfm.weight "token_embd.weight" : tensor<16x32xf32>
  %h = tfm.embedding %tokens, %emb {scale = 8.0 : f32} : tensor<?xi32>, tensor<16x32xf32> -> tensor<?x32xf32>
  func.return %h : tensor<?x32xf32>
}

// -----

// tfm.softcap: one elementwise generic, cap * tanh(x / cap).
// CHECK-LABEL: func.func @softcap
// CHECK:         ^{{.*}}(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[C:.*]] = arith.constant 3.000000e+01 : f32
// CHECK-NEXT:      %[[D:.*]] = arith.divf %[[X]], %[[C]] : f32
// CHECK-NEXT:      %[[T:.*]] = math.tanh %[[D]] : f32
// CHECK-NEXT:      %[[Y:.*]] = arith.mulf %[[T]], %[[C]] : f32
// CHECK-NEXT:      linalg.yield %[[Y]] : f32
func.func @softcap(%l: tensor<16xf32>) -> tensor<16xf32> {
  %c = tfm.softcap %l {cap = 30.0 : f32} : tensor<16xf32>
  func.return %c : tensor<16xf32>
}

// -----

// tfm.rope, half (NEOX) layout: the partner is j +- head_dim/2 within the head, gathered
// from the input; the angle is (pos + s) * theta^(-2p/head_dim).
// CHECK-LABEL: func.func @rope_half
// CHECK-SAME:  (%[[X:.*]]: tensor<?x16xf32>, %[[POS:.*]]: index)
// CHECK:         linalg.generic
// CHECK-SAME:      ins(%[[X]] : tensor<?x16xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[XV:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[S:.*]] = linalg.index 0 : index
// CHECK-NEXT:      %[[J:.*]] = linalg.index 1 : index
// CHECK-NEXT:      %[[HD:.*]] = arith.constant 8 : index
// CHECK-NEXT:      %[[I:.*]] = arith.remui %[[J]], %[[HD]] : index
// CHECK-NEXT:      %[[HALF:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[FIRST:.*]] = arith.cmpi ult, %[[I]], %[[HALF]] : index
// CHECK:           %[[UP:.*]] = arith.addi %[[J]], %[[HALF]] : index
// CHECK-NEXT:      %[[DOWN:.*]] = arith.subi %[[J]], %[[HALF]] : index
// CHECK-NEXT:      %[[PARTNER:.*]] = arith.select %[[FIRST]], %[[UP]], %[[DOWN]] : index
// CHECK:           %[[EXPO:.*]] = arith.constant -2.500000e-01 : f32
// CHECK:           %[[THETA:.*]] = arith.constant 1.000000e+04 : f32
// CHECK-NEXT:      %[[FREQ:.*]] = math.powf %[[THETA]], %{{.*}} : f32
// CHECK-NEXT:      %[[P:.*]] = arith.addi %[[POS]], %[[S]] : index
// CHECK:           %[[OTHER:.*]] = tensor.extract %[[X]][%[[S]], %[[PARTNER]]] : tensor<?x16xf32>
// CHECK:           %[[SIGN:.*]] = arith.select %[[FIRST]], %{{.*}}, %{{.*}} : f32
// CHECK-NEXT:      %[[COS:.*]] = math.cos %[[ANGLE:.*]] : f32
// CHECK-NEXT:      %{{.*}} = arith.mulf %[[XV]], %[[COS]] : f32
// CHECK-NEXT:      %{{.*}} = arith.mulf %[[SIGN]], %[[OTHER]] : f32
// CHECK-NEXT:      %{{.*}} = math.sin %[[ANGLE]] : f32
func.func @rope_half(%x: tensor<?x16xf32>, %pos: index) -> tensor<?x16xf32> {
  %r = tfm.rope %x, %pos {head_dim = 8 : i64, style = "half", theta = 1.0e+04 : f32} : tensor<?x16xf32> -> tensor<?x16xf32>
  func.return %r : tensor<?x16xf32>
}

// -----

// tfm.rope, interleaved (llama.cpp) layout: the partner is j ^ 1, the first of a pair is j even.
// CHECK-LABEL: func.func @rope_interleaved
// CHECK-SAME:  (%[[X:.*]]: tensor<?x16xf32>, %[[POS:.*]]: index)
// CHECK:         ^{{.*}}(%[[XV:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[S:.*]] = linalg.index 0 : index
// CHECK-NEXT:      %[[J:.*]] = linalg.index 1 : index
// CHECK:           %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[PARTNER:.*]] = arith.xori %[[J]], %[[ONE]] : index
// CHECK:           %[[OTHER:.*]] = tensor.extract %[[X]][%[[S]], %[[PARTNER]]] : tensor<?x16xf32>
func.func @rope_interleaved(%x: tensor<?x16xf32>, %pos: index) -> tensor<?x16xf32> {
  %r = tfm.rope %x, %pos {head_dim = 8 : i64, style = "interleaved", theta = 1.0e+04 : f32} : tensor<?x16xf32> -> tensor<?x16xf32>
  func.return %r : tensor<?x16xf32>
}

// -----

// tfm.rope with freq_factors (RoPE scaling): pair p's frequency is divided by factors[p], gathered
// with tensor.extract at the pair index; the rest is the unscaled lowering.
// CHECK-LABEL: func.func @rope_factors
// CHECK-SAME:  (%[[X:.*]]: tensor<?x16xf32>, %[[POS:.*]]: index, %[[FF:.*]]: tensor<4xf32>)
// CHECK:           %[[PAIR:.*]] = arith.divui %{{.*}}, %{{.*}} : index
// CHECK:           %[[FREQ:.*]] = math.powf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT:      %[[F:.*]] = tensor.extract %[[FF]][%[[PAIR]]] : tensor<4xf32>
// CHECK-NEXT:      %[[SCALED:.*]] = arith.divf %[[FREQ]], %[[F]] : f32
// CHECK:           arith.mulf %{{.*}}, %[[SCALED]] : f32
func.func @rope_factors(%x: tensor<?x16xf32>, %pos: index, %ff: tensor<4xf32>) -> tensor<?x16xf32> {
  %r = tfm.rope %x, %pos factors %ff {head_dim = 8 : i64, style = "interleaved", theta = 5.0e+05 : f32} : tensor<?x16xf32>, tensor<4xf32> -> tensor<?x16xf32>
  func.return %r : tensor<?x16xf32>
}

// -----

// tfm.softmax: a max reduction from -inf, a sum of exp(x - max) reading the max, then
// exp(x - max) / sum reading both.
// CHECK-LABEL: func.func @softmax
// CHECK-SAME:  (%[[A:.*]]: tensor<?x8xf32>)
// CHECK:         %[[NINF:.*]] = arith.constant 0xff800000 : f32
// CHECK-NEXT:    %[[MINIT:.*]] = linalg.fill ins(%[[NINF]] : f32)
// CHECK-NEXT:    %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[A]] : tensor<?x8xf32>) outs(%[[MINIT]] : tensor<?xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[SUMINIT:.*]] = linalg.fill
// CHECK-NEXT:    %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[A]], %[[MAX]] : tensor<?x8xf32>, tensor<?xf32>) outs(%[[SUMINIT]] : tensor<?xf32>)
// CHECK:         %[[R:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} ins(%[[A]], %[[MAX]], %[[SUM]] : tensor<?x8xf32>, tensor<?xf32>, tensor<?xf32>)
// CHECK:           arith.divf
// CHECK:         func.return %[[R]]
func.func @softmax(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %r = tfm.softmax %a : tensor<?x8xf32>
  func.return %r : tensor<?x8xf32>
}

// -----

// tfm.logits fed by an rms_norm used only there: the last row is sliced first and only it is
// normalized; the contraction reads it at (0, k). tfm.argmax becomes linalg_ext.argmax, so
// the function (and its caller, through the call) now returns tensor<1xi32>.
// CHECK-LABEL: func.func @head
// CHECK-SAME:  (%[[H:.*]]: tensor<?x32xf32>, %[[W:.*]]: tensor<32xf32>) -> tensor<1xi32>
// CHECK-NEXT:    %[[EMB:.*]] = dispatch.weight "token_embd.weight" : tensor<16x32xf32>
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[S:.*]] = tensor.dim %[[H]], %[[C0]] : tensor<?x32xf32>
// CHECK-NEXT:    %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[LASTI:.*]] = arith.subi %[[S]], %[[C1]] : index
// CHECK-NEXT:    %[[LAST:.*]] = tensor.extract_slice %[[H]][%[[LASTI]], %[[C0]]] [1, 32] [1, 1] : tensor<?x32xf32> to tensor<1x32xf32>
// CHECK:         %[[SS:.*]] = linalg.generic {{.*}} ins(%[[LAST]] : tensor<1x32xf32>)
// CHECK:         %[[NORM:.*]] = linalg.generic {{.*}} ins(%[[LAST]], %[[SS]], %[[W]] : tensor<1x32xf32>, tensor<1xf32>, tensor<32xf32>)
// CHECK:         %[[L:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME:      ins(%[[NORM]], %[[EMB]] : tensor<1x32xf32>, tensor<16x32xf32>)
// CHECK:         %[[T:.*]] = linalg_ext.argmax %[[L]] : tensor<16xf32> -> tensor<1xi32>
// CHECK-NEXT:    func.return %[[T]] : tensor<1xi32>
// CHECK-LABEL: func.func @caller
// CHECK-SAME:  -> tensor<1xi32>
// CHECK-NEXT:    %[[R:.*]] = func.call @head(%{{.*}}, %{{.*}}) : (tensor<?x32xf32>, tensor<32xf32>) -> tensor<1xi32>
// CHECK-NEXT:    func.return %[[R]] : tensor<1xi32>
func.func @head(%h: tensor<?x32xf32>, %w: tensor<32xf32>) -> i32 {
  %emb = tfm.weight "token_embd.weight" : tensor<16x32xf32>
  %n = tfm.rms_norm %h, %w {epsilon = 1.0e-05 : f32} : tensor<?x32xf32>, tensor<32xf32> -> tensor<?x32xf32>
  %l = tfm.logits %n, %emb : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<16xf32>
  %t = tfm.argmax %l : tensor<16xf32> -> i32
  func.return %t : i32
}
func.func @caller(%h: tensor<?x32xf32>, %w: tensor<32xf32>) -> i32 {
  %t = func.call @head(%h, %w) : (tensor<?x32xf32>, tensor<32xf32>) -> i32
  func.return %t : i32
}

// -----

// tfm.sample becomes linalg_ext.sample on the same packed options; the function returns tensor<1xi32>.
// CHECK-LABEL: func.func @sample
// CHECK-SAME:  (%[[L:.*]]: tensor<16xf32>, %[[P:.*]]: tensor<521xi32>) -> tensor<1xi32>
// CHECK-NEXT:    %[[T:.*]] = linalg_ext.sample %[[L]], %[[P]] : tensor<16xf32>, tensor<521xi32> -> tensor<1xi32>
// CHECK-NEXT:    func.return %[[T]] : tensor<1xi32>
func.func @sample(%l: tensor<16xf32>, %p: tensor<521xi32>) -> i32 {
  %t = tfm.sample %l, %p : tensor<16xf32>, tensor<521xi32> -> i32
  func.return %t : i32
}

// -----

// tfm.logits whose rms_norm has another use: the norm stays on every row and the slice
// takes the last normalized row.
// CHECK-LABEL: func.func @logits_shared_norm
// CHECK-SAME:  (%[[H:.*]]: tensor<?x32xf32>, %[[W:.*]]: tensor<32xf32>)
// CHECK:         %[[N:.*]] = linalg.generic {{.*}} ins(%[[H]], %{{.*}}, %[[W]] : tensor<?x32xf32>, tensor<?xf32>, tensor<32xf32>)
// CHECK:         %[[LAST:.*]] = tensor.extract_slice %[[N]][%{{.*}}, %{{.*}}] [1, 32] [1, 1] : tensor<?x32xf32> to tensor<1x32xf32>
// CHECK-NOT:     math.rsqrt
// CHECK:         %[[L:.*]] = linalg.generic {{.*}} ins(%[[LAST]], %{{.*}} : tensor<1x32xf32>, tensor<16x32xf32>)
// CHECK:         func.return %[[L]], %[[N]]
func.func @logits_shared_norm(%h: tensor<?x32xf32>, %w: tensor<32xf32>) -> (tensor<16xf32>, tensor<?x32xf32>) {
  %emb = tfm.weight "token_embd.weight" : tensor<16x32xf32>
  %n = tfm.rms_norm %h, %w {epsilon = 1.0e-05 : f32} : tensor<?x32xf32>, tensor<32xf32> -> tensor<?x32xf32>
  %l = tfm.logits %n, %emb : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<16xf32>
  func.return %l, %n : tensor<16xf32>, tensor<?x32xf32>
}

// -----

// tfm.row_argmax becomes linalg_ext.argmax of the rows: one i32 per row.
// CHECK-LABEL: func.func @row_argmax
// CHECK-SAME:  (%[[X:.*]]: tensor<?x16xf32>) -> tensor<?xi32>
// CHECK-NEXT:    %[[T:.*]] = linalg_ext.argmax %[[X]] : tensor<?x16xf32> -> tensor<?xi32>
// CHECK-NEXT:    func.return %[[T]] : tensor<?xi32>
func.func @row_argmax(%x: tensor<?x16xf32>) -> tensor<?xi32> {
  %t = tfm.row_argmax %x : tensor<?x16xf32> -> tensor<?xi32>
  func.return %t : tensor<?xi32>
}
