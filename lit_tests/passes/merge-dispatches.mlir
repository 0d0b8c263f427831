// RUN: rusty-opt %s -p merge-dispatches --split-input-file | filecheck %s
// Inputs are dispatch-level IR as form-dispatches writes it (after linalg-fuse-siblings), reduced:
// f32 weights as arguments, RoPE cut down to its gather (own element and its xor-1 partner).

// A decoder layer's attention input: the q projection, the fused k|v projection, the cache append
// (interleaved RoPE on k: it gathers only the xor-1 partner) and attention. The append joins the k|v
// region (its keys and values no longer leave the kernel), then the q and k|v regions, which read
// the same activation %x, become one region of two contractions at the append's place, after the
// cache views it writes. Only q is still an output; the arguments are deduplicated (%s, %x once).
// CHECK-LABEL: func.func @qkv_append
// CHECK-SAME:  (%[[X:.*]]: tensor<?x32xf32>, %[[WQ:.*]]: tensor<16x32xf32>, %[[WK:.*]]: tensor<8x32xf32>, %[[WV:.*]]: tensor<8x32xf32>, %[[POS:.*]]: index, %[[L:.*]]: index)
// CHECK:         %[[S:.*]] = tensor.dim %[[X]]
// CHECK-NEXT:    %[[KC:.*]] = dispatch.cache @kv[%[[L]]] {part = "k"} : memref<?x8xf32>
// CHECK-NEXT:    %[[VC:.*]] = dispatch.cache @kv[%[[L]]] {part = "v"} : memref<?x8xf32>
// CHECK-NEXT:    %[[Q:.*]] = dispatch.region "q_kv"(%[[S]], %[[X]], %[[WQ]], %[[WK]], %[[WV]], %[[POS]], %[[KC]], %[[VC]]) : (index, tensor<?x32xf32>, tensor<16x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>, index, memref<?x8xf32>, memref<?x8xf32>) -> tensor<?x16xf32> {
// CHECK-NEXT:    ^{{.*}}(%[[N:.*]]: index, %[[A:.*]]: tensor<?x32xf32>, %[[AWQ:.*]]: tensor<16x32xf32>, %[[AWK:.*]]: tensor<8x32xf32>, %[[AWV:.*]]: tensor<8x32xf32>, %[[APOS:.*]]: index, %[[AKC:.*]]: memref<?x8xf32>, %[[AVC:.*]]: memref<?x8xf32>):
// CHECK:           %[[RQ:.*]] = linalg.generic {{.*}} ins(%[[A]], %[[AWQ]] : tensor<?x32xf32>, tensor<16x32xf32>)
// CHECK:           %[[RK:.*]], %[[RV:.*]] = linalg.generic {{.*}} ins(%[[A]], %[[AWK]], %[[AWV]] : tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>)
// CHECK:           %[[KR:.*]] = linalg.generic {{.*}} ins(%[[RK]] : tensor<?x8xf32>)
// CHECK:             tensor.extract %[[RK]][
// CHECK:           linalg_ext.cache_append %[[KR]], %[[RV]] into %[[AKC]], %[[AVC]] at %[[APOS]]
// CHECK-NEXT:      dispatch.yield %[[RQ]] : tensor<?x16xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[O:.*]] = dispatch.region "attention"(%[[Q]], %[[KC]], %[[VC]], %[[POS]])
// CHECK-NOT:     dispatch.region
// CHECK:         func.return %[[O]]
dispatch.kv_cache @kv {num_layers = 1 : i64, row_width = 8 : i64}
func.func @qkv_append(%x: tensor<?x32xf32>, %wq: tensor<16x32xf32>, %wk: tensor<8x32xf32>, %wv: tensor<8x32xf32>, %pos: index, %layer: index) -> tensor<?x16xf32> {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x32xf32>
  %q = dispatch.region "q"(%s, %x, %wq) : (index, tensor<?x32xf32>, tensor<16x32xf32>) -> tensor<?x16xf32> {
  ^bb0(%n: index, %a: tensor<?x32xf32>, %w: tensor<16x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x16xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x16xf32>) -> tensor<?x16xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w : tensor<?x32xf32>, tensor<16x32xf32>) outs(%i : tensor<?x16xf32>) {
    ^bb1(%xa: f32, %wa: f32, %acc: f32):
      %p = arith.mulf %xa, %wa : f32
      %t = arith.addf %p, %acc : f32
      linalg.yield %t : f32
    } -> tensor<?x16xf32>
    dispatch.yield %r : tensor<?x16xf32>
  }
  %k, %v = dispatch.region "kv"(%s, %x, %wk, %wv) : (index, tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  ^bb0(%n: index, %a: tensor<?x32xf32>, %w1: tensor<8x32xf32>, %w2: tensor<8x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %rk, %rv = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w1, %w2 : tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) outs(%i, %i : tensor<?x8xf32>, tensor<?x8xf32>) {
    ^bb1(%xa: f32, %ka: f32, %va: f32, %acck: f32, %accv: f32):
      %pk = arith.mulf %xa, %ka : f32
      %tk = arith.addf %pk, %acck : f32
      %pv = arith.mulf %xa, %va : f32
      %tv = arith.addf %pv, %accv : f32
      linalg.yield %tk, %tv : f32, f32
    } -> tensor<?x8xf32>, tensor<?x8xf32>
    dispatch.yield %rk, %rv : tensor<?x8xf32>, tensor<?x8xf32>
  }
  %kc = dispatch.cache @kv[%layer] {part = "k"} : memref<?x8xf32>
  %vc = dispatch.cache @kv[%layer] {part = "v"} : memref<?x8xf32>
  dispatch.region "append"(%s, %k, %v, %pos, %kc, %vc) : (index, tensor<?x8xf32>, tensor<?x8xf32>, index, memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%n: index, %ak: tensor<?x8xf32>, %av: tensor<?x8xf32>, %p: index, %akc: memref<?x8xf32>, %avc: memref<?x8xf32>):
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %kr = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%ak : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%own: f32, %o: f32):
      %row = linalg.index 0 : index
      %col = linalg.index 1 : index
      %one = arith.constant 1 : index
      %partner = arith.xori %col, %one : index
      %other = tensor.extract %ak[%row, %partner] : tensor<?x8xf32>
      %rot = arith.subf %own, %other : f32
      linalg.yield %rot : f32
    } -> tensor<?x8xf32>
    linalg_ext.cache_append %kr, %av into %akc, %avc at %p : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>
    dispatch.yield
  }
  %o = dispatch.region "attention"(%q, %kc, %vc, %pos) : (tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32>, index) -> tensor<?x16xf32> {
  ^bb0(%aq: tensor<?x16xf32>, %akc: memref<?x8xf32>, %avc: memref<?x8xf32>, %p: index):
    %r = linalg_ext.attention %aq, %akc, %avc, %p {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 5.000000e-01 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
    dispatch.yield %r : tensor<?x16xf32>
  }
  func.return %o : tensor<?x16xf32>
}

// -----

// Rotate-half RoPE gathers k at d +- head_dim / 2, which the contraction's epilogue does not hold:
// the append stays a region of its own. The q and k|v projections still merge, and k and v stay
// outputs of the merged region, read by the append.
// CHECK-LABEL: func.func @rope_half
// CHECK:         %[[Q:[^,]*]], %[[K:[^,]*]], %[[V:.*]] = dispatch.region "q_kv"({{.*}}) : ({{.*}}) -> (tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
// CHECK:           linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x32xf32>, tensor<16x32xf32>)
// CHECK:           %[[RK:.*]], %[[RV:.*]] = linalg.generic
// CHECK-NOT:       linalg_ext.cache_append
// CHECK:           dispatch.yield %{{.*}}, %[[RK]], %[[RV]] : tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x8xf32>
// CHECK-NEXT:    }
// CHECK:         dispatch.region "append"(%{{.*}}, %[[K]], %[[V]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK:           linalg_ext.cache_append
// CHECK:         func.return %[[Q]]
dispatch.kv_cache @kv {num_layers = 1 : i64, row_width = 8 : i64}
func.func @rope_half(%x: tensor<?x32xf32>, %wq: tensor<16x32xf32>, %wk: tensor<8x32xf32>, %wv: tensor<8x32xf32>, %pos: index, %layer: index) -> tensor<?x16xf32> {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x32xf32>
  %q = dispatch.region "q"(%s, %x, %wq) : (index, tensor<?x32xf32>, tensor<16x32xf32>) -> tensor<?x16xf32> {
  ^bb0(%n: index, %a: tensor<?x32xf32>, %w: tensor<16x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x16xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x16xf32>) -> tensor<?x16xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w : tensor<?x32xf32>, tensor<16x32xf32>) outs(%i : tensor<?x16xf32>) {
    ^bb1(%xa: f32, %wa: f32, %acc: f32):
      %p = arith.mulf %xa, %wa : f32
      %t = arith.addf %p, %acc : f32
      linalg.yield %t : f32
    } -> tensor<?x16xf32>
    dispatch.yield %r : tensor<?x16xf32>
  }
  %k, %v = dispatch.region "kv"(%s, %x, %wk, %wv) : (index, tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  ^bb0(%n: index, %a: tensor<?x32xf32>, %w1: tensor<8x32xf32>, %w2: tensor<8x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %rk, %rv = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w1, %w2 : tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) outs(%i, %i : tensor<?x8xf32>, tensor<?x8xf32>) {
    ^bb1(%xa: f32, %ka: f32, %va: f32, %acck: f32, %accv: f32):
      %pk = arith.mulf %xa, %ka : f32
      %tk = arith.addf %pk, %acck : f32
      %pv = arith.mulf %xa, %va : f32
      %tv = arith.addf %pv, %accv : f32
      linalg.yield %tk, %tv : f32, f32
    } -> tensor<?x8xf32>, tensor<?x8xf32>
    dispatch.yield %rk, %rv : tensor<?x8xf32>, tensor<?x8xf32>
  }
  %kc = dispatch.cache @kv[%layer] {part = "k"} : memref<?x8xf32>
  %vc = dispatch.cache @kv[%layer] {part = "v"} : memref<?x8xf32>
  dispatch.region "append"(%s, %k, %v, %pos, %kc, %vc) : (index, tensor<?x8xf32>, tensor<?x8xf32>, index, memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%n: index, %ak: tensor<?x8xf32>, %av: tensor<?x8xf32>, %p: index, %akc: memref<?x8xf32>, %avc: memref<?x8xf32>):
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %kr = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%ak : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%own: f32, %o: f32):
      %row = linalg.index 0 : index
      %col = linalg.index 1 : index
      %two = arith.constant 2 : index
      %partner = arith.addi %col, %two : index
      %other = tensor.extract %ak[%row, %partner] : tensor<?x8xf32>
      %rot = arith.subf %own, %other : f32
      linalg.yield %rot : f32
    } -> tensor<?x8xf32>
    linalg_ext.cache_append %kr, %av into %akc, %avc at %p : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>
    dispatch.yield
  }
  func.return %q : tensor<?x16xf32>
}

// -----

// An f16 cache: the append (no RoPE here) joins the contraction region that computes its keys and
// values, which keeps its label and has no outputs left.
// CHECK-LABEL: func.func @f16_cache
// CHECK:         dispatch.region "kv"(%{{.*}}) : ({{.*}}) -> () {
// CHECK:           %[[RK:.*]], %[[RV:.*]] = linalg.generic
// CHECK-NEXT:      ^
// CHECK:           linalg_ext.cache_append %[[RK]], %[[RV]] into {{.*}} : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf16>, memref<?x8xf16>
// CHECK-NEXT:      dispatch.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return
dispatch.kv_cache @kv {num_layers = 1 : i64, row_width = 8 : i64, element_type = f16}
func.func @f16_cache(%x: tensor<?x32xf32>, %wk: tensor<8x32xf32>, %wv: tensor<8x32xf32>, %pos: index, %layer: index) {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x32xf32>
  %k, %v = dispatch.region "kv"(%s, %x, %wk, %wv) : (index, tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  ^bb0(%n: index, %a: tensor<?x32xf32>, %w1: tensor<8x32xf32>, %w2: tensor<8x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %rk, %rv = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w1, %w2 : tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) outs(%i, %i : tensor<?x8xf32>, tensor<?x8xf32>) {
    ^bb1(%xa: f32, %ka: f32, %va: f32, %acck: f32, %accv: f32):
      %pk = arith.mulf %xa, %ka : f32
      %tk = arith.addf %pk, %acck : f32
      %pv = arith.mulf %xa, %va : f32
      %tv = arith.addf %pv, %accv : f32
      linalg.yield %tk, %tv : f32, f32
    } -> tensor<?x8xf32>, tensor<?x8xf32>
    dispatch.yield %rk, %rv : tensor<?x8xf32>, tensor<?x8xf32>
  }
  %kc = dispatch.cache @kv[%layer] {part = "k"} : memref<?x8xf16>
  %vc = dispatch.cache @kv[%layer] {part = "v"} : memref<?x8xf16>
  dispatch.region "append"(%k, %v, %pos, %kc, %vc) : (tensor<?x8xf32>, tensor<?x8xf32>, index, memref<?x8xf16>, memref<?x8xf16>) -> () {
  ^bb0(%ak: tensor<?x8xf32>, %av: tensor<?x8xf32>, %p: index, %akc: memref<?x8xf16>, %avc: memref<?x8xf16>):
    linalg_ext.cache_append %ak, %av into %akc, %avc at %p : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf16>, memref<?x8xf16>
    dispatch.yield
  }
  func.return
}

// -----

// A q8_0 cache is quantized in groups of 64 values by one invocation, which the contraction's
// epilogue does not have: the append is not merged.
// CHECK-LABEL: func.func @q8_0_cache
// CHECK:         %[[K:[^,]*]], %[[V:.*]] = dispatch.region "kv"(
// CHECK:         dispatch.region "append"(%[[K]], %[[V]], {{.*}} : (tensor<?x64xf32>, tensor<?x64xf32>, index, memref<?x17xi32>, memref<?x17xi32>) -> ()
dispatch.kv_cache @kv {num_layers = 1 : i64, row_width = 64 : i64, element_type = !rquant.q8_0}
func.func @q8_0_cache(%x: tensor<?x4xf32>, %wk: tensor<64x4xf32>, %wv: tensor<64x4xf32>, %pos: index, %layer: index) {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x4xf32>
  %k, %v = dispatch.region "kv"(%s, %x, %wk, %wv) : (index, tensor<?x4xf32>, tensor<64x4xf32>, tensor<64x4xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%n: index, %a: tensor<?x4xf32>, %w1: tensor<64x4xf32>, %w2: tensor<64x4xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x64xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x64xf32>) -> tensor<?x64xf32>
    %rk, %rv = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w1, %w2 : tensor<?x4xf32>, tensor<64x4xf32>, tensor<64x4xf32>) outs(%i, %i : tensor<?x64xf32>, tensor<?x64xf32>) {
    ^bb1(%xa: f32, %ka: f32, %va: f32, %acck: f32, %accv: f32):
      %pk = arith.mulf %xa, %ka : f32
      %tk = arith.addf %pk, %acck : f32
      %pv = arith.mulf %xa, %va : f32
      %tv = arith.addf %pv, %accv : f32
      linalg.yield %tk, %tv : f32, f32
    } -> tensor<?x64xf32>, tensor<?x64xf32>
    dispatch.yield %rk, %rv : tensor<?x64xf32>, tensor<?x64xf32>
  }
  %kc = dispatch.cache @kv[%layer] {part = "k"} : memref<?x17xi32>
  %vc = dispatch.cache @kv[%layer] {part = "v"} : memref<?x17xi32>
  dispatch.region "append"(%k, %v, %pos, %kc, %vc) : (tensor<?x64xf32>, tensor<?x64xf32>, index, memref<?x17xi32>, memref<?x17xi32>) -> () {
  ^bb0(%ak: tensor<?x64xf32>, %av: tensor<?x64xf32>, %p: index, %akc: memref<?x17xi32>, %avc: memref<?x17xi32>):
    linalg_ext.cache_append %ak, %av into %akc, %avc at %p {cache_element = !rquant.q8_0} : tensor<?x64xf32>, tensor<?x64xf32>, memref<?x17xi32>, memref<?x17xi32>
    dispatch.yield
  }
  func.return
}

// -----

// Consecutive contractions are merged only when they read the same activation and not each other's
// results, and nothing between them reads the first's results:
// - @other_activation: %x and %y are different activations;
// - @dependent: the second reads the first's result (a residual operand), so it must wait for it;
// - @read_between: a host op between the two reads the first's result, which the merged region,
//   at the second's place, would define too late.
// CHECK-LABEL: func.func @other_activation
// CHECK:         dispatch.region "a"(
// CHECK:         dispatch.region "b"(
// CHECK-LABEL: func.func @dependent
// CHECK:         %[[A:.*]] = dispatch.region "a"(
// CHECK:         dispatch.region "b"(%{{.*}}, %{{.*}}, %{{.*}}, %[[A]])
// CHECK-LABEL: func.func @read_between
// CHECK:         %[[A:.*]] = dispatch.region "a"(
// CHECK:         tensor.dim %[[A]]
// CHECK:         dispatch.region "b"(
// CHECK-NOT:     dispatch.region "a_b"
func.func @other_activation(%x: tensor<?x32xf32>, %y: tensor<?x32xf32>, %w: tensor<8x32xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x32xf32>
  %a = dispatch.region "a"(%s, %x, %w) : (index, tensor<?x32xf32>, tensor<8x32xf32>) -> tensor<?x8xf32> {
  ^bb0(%n: index, %in: tensor<?x32xf32>, %wa: tensor<8x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%in, %wa : tensor<?x32xf32>, tensor<8x32xf32>) outs(%i : tensor<?x8xf32>) {
    ^bb1(%xa: f32, %wv: f32, %acc: f32):
      %p = arith.mulf %xa, %wv : f32
      %t = arith.addf %p, %acc : f32
      linalg.yield %t : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  %b = dispatch.region "b"(%s, %y, %w) : (index, tensor<?x32xf32>, tensor<8x32xf32>) -> tensor<?x8xf32> {
  ^bb0(%n: index, %in: tensor<?x32xf32>, %wb: tensor<8x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%in, %wb : tensor<?x32xf32>, tensor<8x32xf32>) outs(%i : tensor<?x8xf32>) {
    ^bb1(%xa: f32, %wv: f32, %acc: f32):
      %p = arith.mulf %xa, %wv : f32
      %t = arith.addf %p, %acc : f32
      linalg.yield %t : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  func.return %a, %b : tensor<?x8xf32>, tensor<?x8xf32>
}
func.func @dependent(%x: tensor<?x32xf32>, %w: tensor<8x32xf32>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x32xf32>
  %a = dispatch.region "a"(%s, %x, %w) : (index, tensor<?x32xf32>, tensor<8x32xf32>) -> tensor<?x8xf32> {
  ^bb0(%n: index, %in: tensor<?x32xf32>, %wa: tensor<8x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%in, %wa : tensor<?x32xf32>, tensor<8x32xf32>) outs(%i : tensor<?x8xf32>) {
    ^bb1(%xa: f32, %wv: f32, %acc: f32):
      %p = arith.mulf %xa, %wv : f32
      %t = arith.addf %p, %acc : f32
      linalg.yield %t : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  %b = dispatch.region "b"(%s, %x, %w, %a) : (index, tensor<?x32xf32>, tensor<8x32xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%n: index, %in: tensor<?x32xf32>, %wb: tensor<8x32xf32>, %res: tensor<?x8xf32>):
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%in, %wb : tensor<?x32xf32>, tensor<8x32xf32>) outs(%res : tensor<?x8xf32>) {
    ^bb1(%xa: f32, %wv: f32, %acc: f32):
      %p = arith.mulf %xa, %wv : f32
      %t = arith.addf %p, %acc : f32
      linalg.yield %t : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  func.return %b : tensor<?x8xf32>
}
func.func @read_between(%x: tensor<?x32xf32>, %w: tensor<8x32xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x32xf32>
  %a = dispatch.region "a"(%s, %x, %w) : (index, tensor<?x32xf32>, tensor<8x32xf32>) -> tensor<?x8xf32> {
  ^bb0(%n: index, %in: tensor<?x32xf32>, %wa: tensor<8x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%in, %wa : tensor<?x32xf32>, tensor<8x32xf32>) outs(%i : tensor<?x8xf32>) {
    ^bb1(%xa: f32, %wv: f32, %acc: f32):
      %p = arith.mulf %xa, %wv : f32
      %t = arith.addf %p, %acc : f32
      linalg.yield %t : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  %rows = tensor.dim %a, %c0 : tensor<?x8xf32>
  %b = dispatch.region "b"(%rows, %x, %w) : (index, tensor<?x32xf32>, tensor<8x32xf32>) -> tensor<?x8xf32> {
  ^bb0(%n: index, %in: tensor<?x32xf32>, %wb: tensor<8x32xf32>):
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%in, %wb : tensor<?x32xf32>, tensor<8x32xf32>) outs(%i : tensor<?x8xf32>) {
    ^bb1(%xa: f32, %wv: f32, %acc: f32):
      %p = arith.mulf %xa, %wv : f32
      %t = arith.addf %p, %acc : f32
      linalg.yield %t : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  func.return %a, %b : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// Regions in a loop body (the layers' scf.for) merge too, and merging repeats: three projections
// of the same activation (q, k and v not fused) become one region of three contractions, yielding
// each result in order.
// CHECK-LABEL: func.func @loop
// CHECK:         scf.for
// CHECK-NEXT:      %[[Q:[^,]*]], %[[K:[^,]*]], %[[V:.*]] = dispatch.region "q_k_v"(%{{.*}}) : ({{.*}}) -> (tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x4xf32>) {
// CHECK:             %[[RQ:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x32xf32>, tensor<16x32xf32>)
// CHECK:             %[[RK:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x32xf32>, tensor<8x32xf32>)
// CHECK:             %[[RV:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x32xf32>, tensor<4x32xf32>)
// CHECK:             dispatch.yield %[[RQ]], %[[RK]], %[[RV]] : tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x4xf32>
// CHECK-NEXT:      }
// CHECK-NEXT:      func.call @use(%[[Q]], %[[K]], %[[V]])
// CHECK-NEXT:    }
func.func private @use(tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x4xf32>)
func.func @loop(%x: tensor<?x32xf32>, %wq: tensor<16x32xf32>, %wk: tensor<8x32xf32>, %wv: tensor<4x32xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %s = tensor.dim %x, %c0 : tensor<?x32xf32>
  scf.for %layer = %c0 to %n step %c1 {
    %q = dispatch.region "q"(%s, %x, %wq) : (index, tensor<?x32xf32>, tensor<16x32xf32>) -> tensor<?x16xf32> {
    ^bb0(%m: index, %a: tensor<?x32xf32>, %w: tensor<16x32xf32>):
      %zero = arith.constant 0.0 : f32
      %e = tensor.empty(%m) : tensor<?x16xf32>
      %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x16xf32>) -> tensor<?x16xf32>
      %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w : tensor<?x32xf32>, tensor<16x32xf32>) outs(%i : tensor<?x16xf32>) {
      ^bb1(%xa: f32, %wa: f32, %acc: f32):
        %p = arith.mulf %xa, %wa : f32
        %t = arith.addf %p, %acc : f32
        linalg.yield %t : f32
      } -> tensor<?x16xf32>
      dispatch.yield %r : tensor<?x16xf32>
    }
    %k = dispatch.region "k"(%s, %x, %wk) : (index, tensor<?x32xf32>, tensor<8x32xf32>) -> tensor<?x8xf32> {
    ^bb0(%m: index, %a: tensor<?x32xf32>, %w: tensor<8x32xf32>):
      %zero = arith.constant 0.0 : f32
      %e = tensor.empty(%m) : tensor<?x8xf32>
      %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
      %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w : tensor<?x32xf32>, tensor<8x32xf32>) outs(%i : tensor<?x8xf32>) {
      ^bb1(%xa: f32, %wa: f32, %acc: f32):
        %p = arith.mulf %xa, %wa : f32
        %t = arith.addf %p, %acc : f32
        linalg.yield %t : f32
      } -> tensor<?x8xf32>
      dispatch.yield %r : tensor<?x8xf32>
    }
    %v = dispatch.region "v"(%s, %x, %wv) : (index, tensor<?x32xf32>, tensor<4x32xf32>) -> tensor<?x4xf32> {
    ^bb0(%m: index, %a: tensor<?x32xf32>, %w: tensor<4x32xf32>):
      %zero = arith.constant 0.0 : f32
      %e = tensor.empty(%m) : tensor<?x4xf32>
      %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x4xf32>) -> tensor<?x4xf32>
      %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %w : tensor<?x32xf32>, tensor<4x32xf32>) outs(%i : tensor<?x4xf32>) {
      ^bb1(%xa: f32, %wa: f32, %acc: f32):
        %p = arith.mulf %xa, %wa : f32
        %t = arith.addf %p, %acc : f32
        linalg.yield %t : f32
      } -> tensor<?x4xf32>
      dispatch.yield %r : tensor<?x4xf32>
    }
    func.call @use(%q, %k, %v) : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x4xf32>) -> ()
    scf.yield
  }
  func.return
}
