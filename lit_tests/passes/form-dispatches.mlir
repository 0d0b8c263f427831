// RUN: rusty-opt %s -p form-dispatches --split-input-file | filecheck %s
// tests/passes/test_form_dispatches.py runs the tiny model before and after this pass on numpy.

// A decoder layer (convert-transformer-to-tensor then linalg-fuse-siblings of a tfm layer with
// q8_0/q4_0/f16/q4_0+q4_1/q8_0 weights) becomes seven regions:
// - q, and the fused k|v, each recompute the attention RMSNorm (reduction + normalize) from %h
//   and dequantize their own weights inside;
// - the cache append applies RoPE to k, gathering k's partner elements from the k buffer;
// - attention applies RoPE to q as it reads it, gathering from the q buffer;
// - the output projection carries the residual add as its epilogue;
// - the fused gate|up recomputes the FFN RMSNorm and carries SiLU(gate) * up as its epilogue;
// - the down projection carries the second residual add.
// No rquant.dequantize, linalg.generic or linalg_ext op is left on the host.
// CHECK-LABEL: func.func @decoder_layer
// CHECK-SAME:  (%[[H:.*]]: tensor<?x32xf32>, %[[POS:.*]]: index, %[[LAYER:.*]]: index) -> tensor<?x32xf32>
// CHECK-NEXT:    %[[WN:.*]] = dispatch.weight "blk.{}.attn_norm.weight"[%[[LAYER]]] : tensor<32xf32>
// CHECK-NEXT:    %[[WQ:.*]] = dispatch.weight "blk.{}.attn_q.weight"[%[[LAYER]]] : tensor<16x32x!rquant.q8_0>
// CHECK-NEXT:    %[[WK:.*]] = dispatch.weight "blk.{}.attn_k.weight"[%[[LAYER]]] : tensor<8x32x!rquant.q4_0>
// CHECK-NEXT:    %[[WV:.*]] = dispatch.weight "blk.{}.attn_v.weight"[%[[LAYER]]] : tensor<8x32xf16>
// CHECK-NEXT:    %[[WO:.*]] = dispatch.weight "blk.{}.attn_output.weight"[%[[LAYER]]] : tensor<32x16xf32>
// CHECK-NEXT:    %[[WN2:.*]] = dispatch.weight "blk.{}.ffn_norm.weight"[%[[LAYER]]] : tensor<32xf32>
// CHECK-NEXT:    %[[WG:.*]] = dispatch.weight "blk.{}.ffn_gate.weight"[%[[LAYER]]] : tensor<64x32x!rquant.q4_0>
// CHECK-NEXT:    %[[WU:.*]] = dispatch.weight "blk.{}.ffn_up.weight"[%[[LAYER]]] : tensor<64x32x!rquant.q4_1>
// CHECK-NEXT:    %[[WD:.*]] = dispatch.weight "blk.{}.ffn_down.weight"[%[[LAYER]]] : tensor<32x64x!rquant.q8_0>
// CHECK:         %[[S:.*]] = tensor.dim %[[H]], %{{.*}} : tensor<?x32xf32>
//
// CHECK:         %[[Q:.*]] = dispatch.region "contraction_0"(%[[S]], %[[H]], %[[WN]], %[[WQ]]) : (index, tensor<?x32xf32>, tensor<32xf32>, tensor<16x32x!rquant.q8_0>) -> tensor<?x16xf32> {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: index, %[[QH:.*]]: tensor<?x32xf32>, %[[QWN:.*]]: tensor<32xf32>, %[[QWQ:.*]]: tensor<16x32x!rquant.q8_0>):
// CHECK:           %[[QSS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[QH]] : tensor<?x32xf32>)
// CHECK:           %[[QN:.*]] = linalg.generic {{.*}} ins(%[[QH]], %[[QSS]], %[[QWN]] : tensor<?x32xf32>, tensor<?xf32>, tensor<32xf32>)
// CHECK:           %[[QWF:.*]] = rquant.dequantize %[[QWQ]] : tensor<16x32x!rquant.q8_0> -> tensor<16x32xf32>
// CHECK:           %[[QO:.*]] = linalg.generic {{.*}} ins(%[[QN]], %[[QWF]] : tensor<?x32xf32>, tensor<16x32xf32>)
// CHECK:           dispatch.yield %[[QO]] : tensor<?x16xf32>
// CHECK-NEXT:    }
//
// CHECK:         %[[K:[^,]*]], %[[V:.*]] = dispatch.region "contraction_1"(%[[S]], %[[H]], %[[WN]], %[[WK]], %[[WV]]) : (index, tensor<?x32xf32>, tensor<32xf32>, tensor<8x32x!rquant.q4_0>, tensor<8x32xf16>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: index, %[[KH:.*]]: tensor<?x32xf32>, %[[KWN:.*]]: tensor<32xf32>, %[[KWK:.*]]: tensor<8x32x!rquant.q4_0>, %[[KWV:.*]]: tensor<8x32xf16>):
// CHECK:           %[[KSS:.*]] = linalg.generic {{.*}} ins(%[[KH]] : tensor<?x32xf32>)
// CHECK:           %[[KN:.*]] = linalg.generic {{.*}} ins(%[[KH]], %[[KSS]], %[[KWN]] : tensor<?x32xf32>, tensor<?xf32>, tensor<32xf32>)
// CHECK:           %[[KWF:.*]] = rquant.dequantize %[[KWK]] : tensor<8x32x!rquant.q4_0> -> tensor<8x32xf32>
// CHECK:           %[[KO:[^,]*]], %[[VO:.*]] = linalg.generic {{.*}} ins(%[[KN]], %[[KWF]], %[[KWV]] : tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf16>)
// CHECK:           dispatch.yield %[[KO]], %[[VO]] : tensor<?x8xf32>, tensor<?x8xf32>
// CHECK-NEXT:    }
//
// CHECK:         %[[KC:.*]] = dispatch.cache @kv[%[[LAYER]]] {part = "k"} : memref<?x8xf32>
// CHECK-NEXT:    %[[VC:.*]] = dispatch.cache @kv[%[[LAYER]]] {part = "v"} : memref<?x8xf32>
// CHECK-NEXT:    dispatch.region "cache_append_2"(%[[S]], %[[K]], %[[POS]], %[[V]], %[[KC]], %[[VC]]) : (index, tensor<?x8xf32>, index, tensor<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>) -> () {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: index, %[[AK:.*]]: tensor<?x8xf32>, %[[APOS:.*]]: index, %[[AV:.*]]: tensor<?x8xf32>, %[[AKC:.*]]: memref<?x8xf32>, %[[AVC:.*]]: memref<?x8xf32>):
// CHECK:           %[[KR:.*]] = linalg.generic {{.*}} ins(%[[AK]] : tensor<?x8xf32>)
// CHECK:             tensor.extract %[[AK]][
// CHECK:           linalg_ext.cache_append %[[KR]], %[[AV]] into %[[AKC]], %[[AVC]] at %[[APOS]]
// CHECK-NEXT:      dispatch.yield
// CHECK-NEXT:    }
//
// CHECK:         %[[ATT:.*]] = dispatch.region "attention_3"(%[[S]], %[[Q]], %[[POS]], %[[KC]], %[[VC]]) : (index, tensor<?x16xf32>, index, memref<?x8xf32>, memref<?x8xf32>) -> tensor<?x16xf32> {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: index, %[[TQ:.*]]: tensor<?x16xf32>, %[[TPOS:.*]]: index, %[[TKC:.*]]: memref<?x8xf32>, %[[TVC:.*]]: memref<?x8xf32>):
// CHECK:           %[[QR:.*]] = linalg.generic {{.*}} ins(%[[TQ]] : tensor<?x16xf32>)
// CHECK:             tensor.extract %[[TQ]][
// CHECK:           %[[TO:.*]] = linalg_ext.attention %[[QR]], %[[TKC]], %[[TVC]], %[[TPOS]]
// CHECK-NEXT:      dispatch.yield %[[TO]] : tensor<?x16xf32>
// CHECK-NEXT:    }
//
// CHECK:         %[[H2:.*]] = dispatch.region "contraction_4"(%[[S]], %[[ATT]], %[[WO]], %[[S2:.*]], %[[H]]) : (index, tensor<?x16xf32>, tensor<32x16xf32>, index, tensor<?x32xf32>) -> tensor<?x32xf32> {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: index, %[[OA:.*]]: tensor<?x16xf32>, %[[OW:.*]]: tensor<32x16xf32>, %{{.*}}: index, %[[OH:.*]]: tensor<?x32xf32>):
// CHECK:           %[[OO:.*]] = linalg.generic {{.*}} ins(%[[OA]], %[[OW]] : tensor<?x16xf32>, tensor<32x16xf32>)
// CHECK:           %[[OR:.*]] = linalg.generic {{.*}} ins(%[[OH]], %[[OO]] : tensor<?x32xf32>, tensor<?x32xf32>)
// CHECK:             arith.addf
// CHECK:           dispatch.yield %[[OR]] : tensor<?x32xf32>
// CHECK-NEXT:    }
//
// CHECK:         %[[M:.*]] = dispatch.region "contraction_5"(%[[S2]], %[[H2]], %[[WN2]], %[[WG]], %[[WU]]) : (index, tensor<?x32xf32>, tensor<32xf32>, tensor<64x32x!rquant.q4_0>, tensor<64x32x!rquant.q4_1>) -> tensor<?x64xf32> {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: index, %[[FH:.*]]: tensor<?x32xf32>, %[[FWN:.*]]: tensor<32xf32>, %[[FWG:.*]]: tensor<64x32x!rquant.q4_0>, %[[FWU:.*]]: tensor<64x32x!rquant.q4_1>):
// CHECK:           %[[FSS:.*]] = linalg.generic {{.*}} ins(%[[FH]] : tensor<?x32xf32>)
// CHECK:           %[[FN:.*]] = linalg.generic {{.*}} ins(%[[FH]], %[[FSS]], %[[FWN]] : tensor<?x32xf32>, tensor<?xf32>, tensor<32xf32>)
// CHECK:           %[[FWGF:.*]] = rquant.dequantize %[[FWG]] : tensor<64x32x!rquant.q4_0> -> tensor<64x32xf32>
// CHECK:           %[[FWUF:.*]] = rquant.dequantize %[[FWU]] : tensor<64x32x!rquant.q4_1> -> tensor<64x32xf32>
// CHECK:           %[[G:[^,]*]], %[[U:.*]] = linalg.generic {{.*}} ins(%[[FN]], %[[FWGF]], %[[FWUF]] : tensor<?x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>)
// CHECK:           %[[SG:.*]] = linalg.generic {{.*}} ins(%[[G]] : tensor<?x64xf32>)
// CHECK:             math.exp
// CHECK:           %[[MO:.*]] = linalg.generic {{.*}} ins(%[[SG]], %[[U]] : tensor<?x64xf32>, tensor<?x64xf32>)
// CHECK:             arith.mulf
// CHECK:           dispatch.yield %[[MO]] : tensor<?x64xf32>
// CHECK-NEXT:    }
//
// CHECK:         %[[OUT:.*]] = dispatch.region "contraction_6"(%[[WD]], %[[S2]], %[[M]], %[[H2]]) : (tensor<32x64x!rquant.q8_0>, index, tensor<?x64xf32>, tensor<?x32xf32>) -> tensor<?x32xf32> {
// CHECK-NEXT:    ^{{.*}}(%[[DW:.*]]: tensor<32x64x!rquant.q8_0>, %{{.*}}: index, %[[DM:.*]]: tensor<?x64xf32>, %[[DH:.*]]: tensor<?x32xf32>):
// CHECK-NEXT:      %[[DWF:.*]] = rquant.dequantize %[[DW]] : tensor<32x64x!rquant.q8_0> -> tensor<32x64xf32>
// CHECK:           %[[DO:.*]] = linalg.generic {{.*}} ins(%[[DM]], %[[DWF]] : tensor<?x64xf32>, tensor<32x64xf32>)
// CHECK:           %[[DR:.*]] = linalg.generic {{.*}} ins(%[[DH]], %[[DO]] : tensor<?x32xf32>, tensor<?x32xf32>)
// CHECK:           dispatch.yield %[[DR]] : tensor<?x32xf32>
// CHECK-NEXT:    }
// CHECK-NOT:     linalg.generic
// CHECK-NOT:     rquant.dequantize
// CHECK:         func.return %[[OUT]] : tensor<?x32xf32>
dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}
func.func @decoder_layer(%h: tensor<?x32xf32>, %pos: index, %layer: index) -> tensor<?x32xf32> {
  %wn = dispatch.weight "blk.{}.attn_norm.weight"[%layer] : tensor<32xf32>
  %wq = dispatch.weight "blk.{}.attn_q.weight"[%layer] : tensor<16x32x!rquant.q8_0>
  %wk = dispatch.weight "blk.{}.attn_k.weight"[%layer] : tensor<8x32x!rquant.q4_0>
  %wv = dispatch.weight "blk.{}.attn_v.weight"[%layer] : tensor<8x32xf16>
  %wo = dispatch.weight "blk.{}.attn_output.weight"[%layer] : tensor<32x16xf32>
  %wn2 = dispatch.weight "blk.{}.ffn_norm.weight"[%layer] : tensor<32xf32>
  %wg = dispatch.weight "blk.{}.ffn_gate.weight"[%layer] : tensor<64x32x!rquant.q4_0>
  %wu = dispatch.weight "blk.{}.ffn_up.weight"[%layer] : tensor<64x32x!rquant.q4_1>
  %wd = dispatch.weight "blk.{}.ffn_down.weight"[%layer] : tensor<32x64x!rquant.q8_0>
  %0 = arith.constant 0 : index
  %1 = tensor.dim %h, %0 : tensor<?x32xf32>
  %2 = tensor.empty(%1) : tensor<?xf32>
  %3 = arith.constant 0.000000e+00 : f32
  %4 = linalg.fill ins(%3 : f32) outs(%2 : tensor<?xf32>) -> tensor<?xf32>
  %5 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%h : tensor<?x32xf32>) outs(%4 : tensor<?xf32>) {
  ^bb0(%6: f32, %7: f32):
    %8 = arith.mulf %6, %6 : f32
    %9 = arith.addf %8, %7 : f32
    linalg.yield %9 : f32
  } -> tensor<?xf32>
  %10 = tensor.empty(%1) : tensor<?x32xf32>
  %n = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%h, %5, %wn : tensor<?x32xf32>, tensor<?xf32>, tensor<32xf32>) outs(%10 : tensor<?x32xf32>) {
  ^bb0(%11: f32, %12: f32, %13: f32, %14: f32):
    %15 = arith.constant 3.200000e+01 : f32
    %16 = arith.divf %12, %15 : f32
    %17 = arith.constant 1.000000e-05 : f32
    %18 = arith.addf %16, %17 : f32
    %19 = math.rsqrt %18 : f32
    %20 = arith.mulf %11, %19 : f32
    %21 = arith.mulf %20, %13 : f32
    linalg.yield %21 : f32
  } -> tensor<?x32xf32>
  %22 = arith.constant 0 : index
  %23 = tensor.dim %n, %22 : tensor<?x32xf32>
  %24 = rquant.dequantize %wq : tensor<16x32x!rquant.q8_0> -> tensor<16x32xf32>
  %25 = tensor.empty(%23) : tensor<?x16xf32>
  %26 = arith.constant 0.000000e+00 : f32
  %27 = linalg.fill ins(%26 : f32) outs(%25 : tensor<?x16xf32>) -> tensor<?x16xf32>
  %q = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%n, %24 : tensor<?x32xf32>, tensor<16x32xf32>) outs(%27 : tensor<?x16xf32>) {
  ^bb0(%28: f32, %29: f32, %30: f32):
    %31 = arith.mulf %28, %29 : f32
    %32 = arith.addf %31, %30 : f32
    linalg.yield %32 : f32
  } -> tensor<?x16xf32>
  %33 = arith.constant 0 : index
  %34 = tensor.dim %n, %33 : tensor<?x32xf32>
  %35 = rquant.dequantize %wk : tensor<8x32x!rquant.q4_0> -> tensor<8x32xf32>
  %36 = tensor.empty(%34) : tensor<?x8xf32>
  %37 = arith.constant 0.000000e+00 : f32
  %38 = linalg.fill ins(%37 : f32) outs(%36 : tensor<?x8xf32>) -> tensor<?x8xf32>
  %39 = arith.constant 0 : index
  %40 = tensor.dim %n, %39 : tensor<?x32xf32>
  %41 = tensor.empty(%40) : tensor<?x8xf32>
  %42 = arith.constant 0.000000e+00 : f32
  %43 = linalg.fill ins(%42 : f32) outs(%41 : tensor<?x8xf32>) -> tensor<?x8xf32>
  %44 = arith.constant 0 : index
  %45 = tensor.dim %q, %44 : tensor<?x16xf32>
  %46 = tensor.empty(%45) : tensor<?x16xf32>
  %qr = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%q : tensor<?x16xf32>) outs(%46 : tensor<?x16xf32>) {
  ^bb0(%47: f32, %48: f32):
    %49 = linalg.index 0 : index
    %50 = linalg.index 1 : index
    %51 = arith.constant 4 : index
    %52 = arith.remui %50, %51 : index
    %53 = arith.constant 2 : index
    %54 = arith.cmpi ult, %52, %53 : index
    %55 = arith.subi %52, %53 : index
    %56 = arith.select %54, %52, %55 : index
    %57 = arith.addi %50, %53 : index
    %58 = arith.subi %50, %53 : index
    %59 = arith.select %54, %57, %58 : index
    %60 = arith.index_cast %56 : index to i32
    %61 = arith.uitofp %60 : i32 to f32
    %62 = arith.constant -5.000000e-01 : f32
    %63 = arith.mulf %61, %62 : f32
    %64 = arith.constant 1.000000e+04 : f32
    %65 = math.powf %64, %63 : f32
    %66 = arith.addi %pos, %49 : index
    %67 = arith.index_cast %66 : index to i32
    %68 = arith.uitofp %67 : i32 to f32
    %69 = arith.mulf %68, %65 : f32
    %70 = tensor.extract %q[%49, %59] : tensor<?x16xf32>
    %71 = arith.constant -1.000000e+00 : f32
    %72 = arith.constant 1.000000e+00 : f32
    %73 = arith.select %54, %71, %72 : f32
    %74 = math.cos %69 : f32
    %75 = arith.mulf %47, %74 : f32
    %76 = arith.mulf %73, %70 : f32
    %77 = math.sin %69 : f32
    %78 = arith.mulf %76, %77 : f32
    %79 = arith.addf %75, %78 : f32
    linalg.yield %79 : f32
  } -> tensor<?x16xf32>
  %80 = arith.constant 0 : index
  %k, %v = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%n, %35, %wv : tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf16>) outs(%38, %43 : tensor<?x8xf32>, tensor<?x8xf32>) {
  ^bb0(%81: f32, %82: f32, %83: f16, %84: f32, %85: f32):
    %86 = arith.mulf %81, %82 : f32
    %87 = arith.addf %86, %84 : f32
    %88 = arith.extf %83 : f16 to f32
    %89 = arith.mulf %81, %88 : f32
    %90 = arith.addf %89, %85 : f32
    linalg.yield %87, %90 : f32, f32
  } -> tensor<?x8xf32>, tensor<?x8xf32>
  %91 = tensor.dim %k, %80 : tensor<?x8xf32>
  %92 = tensor.empty(%91) : tensor<?x8xf32>
  %kr = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%k : tensor<?x8xf32>) outs(%92 : tensor<?x8xf32>) {
  ^bb0(%93: f32, %94: f32):
    %95 = linalg.index 0 : index
    %96 = linalg.index 1 : index
    %97 = arith.constant 4 : index
    %98 = arith.remui %96, %97 : index
    %99 = arith.constant 2 : index
    %100 = arith.cmpi ult, %98, %99 : index
    %101 = arith.subi %98, %99 : index
    %102 = arith.select %100, %98, %101 : index
    %103 = arith.addi %96, %99 : index
    %104 = arith.subi %96, %99 : index
    %105 = arith.select %100, %103, %104 : index
    %106 = arith.index_cast %102 : index to i32
    %107 = arith.uitofp %106 : i32 to f32
    %108 = arith.constant -5.000000e-01 : f32
    %109 = arith.mulf %107, %108 : f32
    %110 = arith.constant 1.000000e+04 : f32
    %111 = math.powf %110, %109 : f32
    %112 = arith.addi %pos, %95 : index
    %113 = arith.index_cast %112 : index to i32
    %114 = arith.uitofp %113 : i32 to f32
    %115 = arith.mulf %114, %111 : f32
    %116 = tensor.extract %k[%95, %105] : tensor<?x8xf32>
    %117 = arith.constant -1.000000e+00 : f32
    %118 = arith.constant 1.000000e+00 : f32
    %119 = arith.select %100, %117, %118 : f32
    %120 = math.cos %115 : f32
    %121 = arith.mulf %93, %120 : f32
    %122 = arith.mulf %119, %116 : f32
    %123 = math.sin %115 : f32
    %124 = arith.mulf %122, %123 : f32
    %125 = arith.addf %121, %124 : f32
    linalg.yield %125 : f32
  } -> tensor<?x8xf32>
  %126 = dispatch.cache @kv[%layer] {part = "k"} : memref<?x8xf32>
  %127 = dispatch.cache @kv[%layer] {part = "v"} : memref<?x8xf32>
  linalg_ext.cache_append %kr, %v into %126, %127 at %pos : tensor<?x8xf32>, tensor<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>
  %att = linalg_ext.attention %qr, %126, %127, %pos {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 5.000000e-01 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
  %128 = arith.constant 0 : index
  %129 = tensor.dim %att, %128 : tensor<?x16xf32>
  %130 = tensor.empty(%129) : tensor<?x32xf32>
  %131 = arith.constant 0.000000e+00 : f32
  %132 = linalg.fill ins(%131 : f32) outs(%130 : tensor<?x32xf32>) -> tensor<?x32xf32>
  %o = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%att, %wo : tensor<?x16xf32>, tensor<32x16xf32>) outs(%132 : tensor<?x32xf32>) {
  ^bb0(%133: f32, %134: f32, %135: f32):
    %136 = arith.mulf %133, %134 : f32
    %137 = arith.addf %136, %135 : f32
    linalg.yield %137 : f32
  } -> tensor<?x32xf32>
  %138 = arith.constant 0 : index
  %139 = tensor.dim %h, %138 : tensor<?x32xf32>
  %140 = tensor.empty(%139) : tensor<?x32xf32>
  %h2 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%h, %o : tensor<?x32xf32>, tensor<?x32xf32>) outs(%140 : tensor<?x32xf32>) {
  ^bb0(%141: f32, %142: f32, %143: f32):
    %144 = arith.addf %141, %142 : f32
    linalg.yield %144 : f32
  } -> tensor<?x32xf32>
  %145 = arith.constant 0 : index
  %146 = tensor.dim %h2, %145 : tensor<?x32xf32>
  %147 = tensor.empty(%146) : tensor<?xf32>
  %148 = arith.constant 0.000000e+00 : f32
  %149 = linalg.fill ins(%148 : f32) outs(%147 : tensor<?xf32>) -> tensor<?xf32>
  %150 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%h2 : tensor<?x32xf32>) outs(%149 : tensor<?xf32>) {
  ^bb0(%151: f32, %152: f32):
    %153 = arith.mulf %151, %151 : f32
    %154 = arith.addf %153, %152 : f32
    linalg.yield %154 : f32
  } -> tensor<?xf32>
  %155 = tensor.empty(%146) : tensor<?x32xf32>
  %n2 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%h2, %150, %wn2 : tensor<?x32xf32>, tensor<?xf32>, tensor<32xf32>) outs(%155 : tensor<?x32xf32>) {
  ^bb0(%156: f32, %157: f32, %158: f32, %159: f32):
    %160 = arith.constant 3.200000e+01 : f32
    %161 = arith.divf %157, %160 : f32
    %162 = arith.constant 1.000000e-05 : f32
    %163 = arith.addf %161, %162 : f32
    %164 = math.rsqrt %163 : f32
    %165 = arith.mulf %156, %164 : f32
    %166 = arith.mulf %165, %158 : f32
    linalg.yield %166 : f32
  } -> tensor<?x32xf32>
  %167 = arith.constant 0 : index
  %168 = tensor.dim %n2, %167 : tensor<?x32xf32>
  %169 = rquant.dequantize %wg : tensor<64x32x!rquant.q4_0> -> tensor<64x32xf32>
  %170 = tensor.empty(%168) : tensor<?x64xf32>
  %171 = arith.constant 0.000000e+00 : f32
  %172 = linalg.fill ins(%171 : f32) outs(%170 : tensor<?x64xf32>) -> tensor<?x64xf32>
  %173 = arith.constant 0 : index
  %174 = tensor.dim %n2, %173 : tensor<?x32xf32>
  %175 = rquant.dequantize %wu : tensor<64x32x!rquant.q4_1> -> tensor<64x32xf32>
  %176 = tensor.empty(%174) : tensor<?x64xf32>
  %177 = arith.constant 0.000000e+00 : f32
  %178 = linalg.fill ins(%177 : f32) outs(%176 : tensor<?x64xf32>) -> tensor<?x64xf32>
  %179 = arith.constant 0 : index
  %g, %u = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%n2, %169, %175 : tensor<?x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>) outs(%172, %178 : tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%180: f32, %181: f32, %182: f32, %183: f32, %184: f32):
    %185 = arith.mulf %180, %181 : f32
    %186 = arith.addf %185, %183 : f32
    %187 = arith.mulf %180, %182 : f32
    %188 = arith.addf %187, %184 : f32
    linalg.yield %186, %188 : f32, f32
  } -> tensor<?x64xf32>, tensor<?x64xf32>
  %189 = tensor.dim %g, %179 : tensor<?x64xf32>
  %190 = tensor.empty(%189) : tensor<?x64xf32>
  %sg = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%g : tensor<?x64xf32>) outs(%190 : tensor<?x64xf32>) {
  ^bb0(%191: f32, %192: f32):
    %193 = arith.constant 1.000000e+00 : f32
    %194 = arith.negf %191 : f32
    %195 = math.exp %194 : f32
    %196 = arith.addf %193, %195 : f32
    %197 = arith.divf %191, %196 : f32
    linalg.yield %197 : f32
  } -> tensor<?x64xf32>
  %198 = arith.constant 0 : index
  %199 = tensor.dim %sg, %198 : tensor<?x64xf32>
  %200 = tensor.empty(%199) : tensor<?x64xf32>
  %m = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%sg, %u : tensor<?x64xf32>, tensor<?x64xf32>) outs(%200 : tensor<?x64xf32>) {
  ^bb0(%201: f32, %202: f32, %203: f32):
    %204 = arith.mulf %201, %202 : f32
    linalg.yield %204 : f32
  } -> tensor<?x64xf32>
  %205 = arith.constant 0 : index
  %206 = tensor.dim %m, %205 : tensor<?x64xf32>
  %207 = rquant.dequantize %wd : tensor<32x64x!rquant.q8_0> -> tensor<32x64xf32>
  %208 = tensor.empty(%206) : tensor<?x32xf32>
  %209 = arith.constant 0.000000e+00 : f32
  %210 = linalg.fill ins(%209 : f32) outs(%208 : tensor<?x32xf32>) -> tensor<?x32xf32>
  %d = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%m, %207 : tensor<?x64xf32>, tensor<32x64xf32>) outs(%210 : tensor<?x32xf32>) {
  ^bb0(%211: f32, %212: f32, %213: f32):
    %214 = arith.mulf %211, %212 : f32
    %215 = arith.addf %214, %213 : f32
    linalg.yield %215 : f32
  } -> tensor<?x32xf32>
  %216 = arith.constant 0 : index
  %217 = tensor.dim %h2, %216 : tensor<?x32xf32>
  %218 = tensor.empty(%217) : tensor<?x32xf32>
  %out = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%h2, %d : tensor<?x32xf32>, tensor<?x32xf32>) outs(%218 : tensor<?x32xf32>) {
  ^bb0(%219: f32, %220: f32, %221: f32):
    %222 = arith.addf %219, %220 : f32
    linalg.yield %222 : f32
  } -> tensor<?x32xf32>
  func.return %out : tensor<?x32xf32>
}

// -----

// An embedding gathers from the dequantized table at computed indices: a dequantization can
// be evaluated at any index, so it is recomputed inside the gathering region.
// CHECK-LABEL: func.func @embedding
// CHECK-SAME:  (%[[T:.*]]: tensor<?xi32>)
// CHECK-NEXT:    %[[EMB:.*]] = dispatch.weight "token_embd.weight" : tensor<16x32x!rquant.q8_0>
// CHECK:         %[[S:.*]] = tensor.dim %[[T]], %{{.*}} : tensor<?xi32>
// CHECK-NEXT:    %[[H:.*]] = dispatch.region "elementwise_0"(%[[EMB]], %[[S]], %[[T]]) : (tensor<16x32x!rquant.q8_0>, index, tensor<?xi32>) -> tensor<?x32xf32> {
// CHECK-NEXT:    ^{{.*}}(%[[RW:.*]]: tensor<16x32x!rquant.q8_0>, %{{.*}}: index, %[[RT:.*]]: tensor<?xi32>):
// CHECK:           %[[TAB:.*]] = rquant.dequantize %[[RW]] : tensor<16x32x!rquant.q8_0> -> tensor<16x32xf32>
// CHECK:           linalg.generic {{.*}} ins(%[[RT]] : tensor<?xi32>)
// CHECK:             tensor.extract %[[TAB]][
// CHECK:         func.return %[[H]]
func.func @embedding(%tokens: tensor<?xi32>) -> tensor<?x32xf32> {
  %emb = dispatch.weight "token_embd.weight" : tensor<16x32x!rquant.q8_0>
  %0 = rquant.dequantize %emb : tensor<16x32x!rquant.q8_0> -> tensor<16x32xf32>
  %1 = arith.constant 0 : index
  %2 = tensor.dim %tokens, %1 : tensor<?xi32>
  %3 = tensor.empty(%2) : tensor<?x32xf32>
  %h = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%tokens : tensor<?xi32>) outs(%3 : tensor<?x32xf32>) {
  ^bb0(%4: i32, %5: f32):
    %6 = arith.index_cast %4 : i32 to index
    %7 = linalg.index 1 : index
    %8 = tensor.extract %0[%6, %7] : tensor<16x32xf32>
    linalg.yield %8 : f32
  } -> tensor<?x32xf32>
  func.return %h : tensor<?x32xf32>
}

// -----

// Softmax: no root kind, so the returned value roots a region that recomputes both of its
// row reductions (tune-workgroups gives it the row strategy).
// CHECK-LABEL: func.func @softmax
// CHECK-SAME:  (%[[A:.*]]: tensor<?x8xf32>)
// CHECK:         %[[R:.*]] = dispatch.region "elementwise_0"(%{{.*}}, %[[A]]) : (index, tensor<?x8xf32>) -> tensor<?x8xf32> {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: index, %[[RA:.*]]: tensor<?x8xf32>):
// CHECK:           %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[RA]] : tensor<?x8xf32>)
// CHECK:           %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[RA]], %[[MAX]] : tensor<?x8xf32>, tensor<?xf32>)
// CHECK:           %[[Y:.*]] = linalg.generic {{.*}} ins(%[[RA]], %[[MAX]], %[[SUM]] : tensor<?x8xf32>, tensor<?xf32>, tensor<?xf32>)
// CHECK:           dispatch.yield %[[Y]] : tensor<?x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[R]]
func.func @softmax(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = arith.constant 0 : index
  %1 = tensor.dim %a, %0 : tensor<?x8xf32>
  %2 = tensor.empty(%1) : tensor<?xf32>
  %3 = arith.constant 0xff800000 : f32
  %4 = linalg.fill ins(%3 : f32) outs(%2 : tensor<?xf32>) -> tensor<?xf32>
  %5 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%a : tensor<?x8xf32>) outs(%4 : tensor<?xf32>) {
  ^bb0(%6: f32, %7: f32):
    %8 = arith.maximumf %6, %7 : f32
    linalg.yield %8 : f32
  } -> tensor<?xf32>
  %9 = tensor.empty(%1) : tensor<?xf32>
  %10 = arith.constant 0.000000e+00 : f32
  %11 = linalg.fill ins(%10 : f32) outs(%9 : tensor<?xf32>) -> tensor<?xf32>
  %12 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%a, %5 : tensor<?x8xf32>, tensor<?xf32>) outs(%11 : tensor<?xf32>) {
  ^bb0(%13: f32, %14: f32, %15: f32):
    %16 = arith.subf %13, %14 : f32
    %17 = math.exp %16 : f32
    %18 = arith.addf %17, %15 : f32
    linalg.yield %18 : f32
  } -> tensor<?xf32>
  %19 = tensor.empty(%1) : tensor<?x8xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a, %5, %12 : tensor<?x8xf32>, tensor<?xf32>, tensor<?xf32>) outs(%19 : tensor<?x8xf32>) {
  ^bb0(%20: f32, %21: f32, %22: f32, %23: f32):
    %24 = arith.subf %20, %21 : f32
    %25 = math.exp %24 : f32
    %26 = arith.divf %25, %22 : f32
    linalg.yield %26 : f32
  } -> tensor<?x8xf32>
  func.return %r : tensor<?x8xf32>
}

// -----

// The model's head: the last-row slice and its RMSNorm are recomputed in the logits
// contraction (a reduction of a 1x32 slice as prologue); argmax is a region of its own.
// CHECK-LABEL: func.func @head
// CHECK-SAME:  (%[[H:.*]]: tensor<?x32xf32>, %[[W:.*]]: tensor<32xf32>) -> tensor<1xi32>
// CHECK-NEXT:    %[[EMB:.*]] = dispatch.weight "token_embd.weight" : tensor<16x32x!rquant.q8_0>
// CHECK:         %[[LAST:.*]] = arith.subi
// CHECK:         %[[L:.*]] = dispatch.region "contraction_0"(%[[H]], %[[LAST]], %[[W]], %[[EMB]]) : (tensor<?x32xf32>, index, tensor<32xf32>, tensor<16x32x!rquant.q8_0>) -> tensor<16xf32> {
// CHECK-NEXT:    ^{{.*}}(%[[RH:.*]]: tensor<?x32xf32>, %[[RLAST:.*]]: index, %[[RW:.*]]: tensor<32xf32>, %[[REMB:.*]]: tensor<16x32x!rquant.q8_0>):
// CHECK:           %[[ROW:.*]] = tensor.extract_slice %[[RH]][%[[RLAST]], %{{.*}}] [1, 32] [1, 1]
// CHECK:           %[[SS:.*]] = linalg.generic {{.*}} ins(%[[ROW]] : tensor<1x32xf32>)
// CHECK:           %[[N:.*]] = linalg.generic {{.*}} ins(%[[ROW]], %[[SS]], %[[RW]] : tensor<1x32xf32>, tensor<1xf32>, tensor<32xf32>)
// CHECK:           %[[TAB:.*]] = rquant.dequantize %[[REMB]]
// CHECK:           %[[LO:.*]] = linalg.generic {{.*}} ins(%[[N]], %[[TAB]] : tensor<1x32xf32>, tensor<16x32xf32>)
// CHECK:           dispatch.yield %[[LO]] : tensor<16xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[T:.*]] = dispatch.region "argmax_1"(%[[L]]) : (tensor<16xf32>) -> tensor<1xi32> {
// CHECK-NEXT:    ^{{.*}}(%[[RL:.*]]: tensor<16xf32>):
// CHECK-NEXT:      %[[RT:.*]] = linalg_ext.argmax %[[RL]] : tensor<16xf32> -> tensor<1xi32>
// CHECK-NEXT:      dispatch.yield %[[RT]] : tensor<1xi32>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[T]] : tensor<1xi32>
func.func @head(%h: tensor<?x32xf32>, %w: tensor<32xf32>) -> tensor<1xi32> {
  %emb = dispatch.weight "token_embd.weight" : tensor<16x32x!rquant.q8_0>
  %0 = arith.constant 0 : index
  %1 = tensor.dim %h, %0 : tensor<?x32xf32>
  %2 = arith.constant 1 : index
  %3 = arith.subi %1, %2 : index
  %4 = tensor.extract_slice %h[%3, %0] [1, 32] [1, 1] : tensor<?x32xf32> to tensor<1x32xf32>
  %5 = tensor.empty() : tensor<1xf32>
  %6 = arith.constant 0.000000e+00 : f32
  %7 = linalg.fill ins(%6 : f32) outs(%5 : tensor<1xf32>) -> tensor<1xf32>
  %8 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%4 : tensor<1x32xf32>) outs(%7 : tensor<1xf32>) {
  ^bb0(%9: f32, %10: f32):
    %11 = arith.mulf %9, %9 : f32
    %12 = arith.addf %11, %10 : f32
    linalg.yield %12 : f32
  } -> tensor<1xf32>
  %13 = tensor.empty() : tensor<1x32xf32>
  %14 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%4, %8, %w : tensor<1x32xf32>, tensor<1xf32>, tensor<32xf32>) outs(%13 : tensor<1x32xf32>) {
  ^bb0(%15: f32, %16: f32, %17: f32, %18: f32):
    %19 = arith.constant 3.200000e+01 : f32
    %20 = arith.divf %16, %19 : f32
    %21 = arith.constant 1.000000e-05 : f32
    %22 = arith.addf %20, %21 : f32
    %23 = math.rsqrt %22 : f32
    %24 = arith.mulf %15, %23 : f32
    %25 = arith.mulf %24, %17 : f32
    linalg.yield %25 : f32
  } -> tensor<1x32xf32>
  %26 = rquant.dequantize %emb : tensor<16x32x!rquant.q8_0> -> tensor<16x32xf32>
  %27 = tensor.empty() : tensor<16xf32>
  %28 = linalg.fill ins(%6 : f32) outs(%27 : tensor<16xf32>) -> tensor<16xf32>
  %l = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%14, %26 : tensor<1x32xf32>, tensor<16x32xf32>) outs(%28 : tensor<16xf32>) {
  ^bb0(%29: f32, %30: f32, %31: f32):
    %32 = arith.mulf %29, %30 : f32
    %33 = arith.addf %32, %31 : f32
    linalg.yield %33 : f32
  } -> tensor<16xf32>
  %t = linalg_ext.argmax %l : tensor<16xf32> -> tensor<1xi32>
  func.return %t : tensor<1xi32>
}

// -----

// Sampling, like argmax, is a region of its own that reads the logits and the packed options.
// CHECK-LABEL: func.func @sample
// CHECK-SAME:  (%[[L:.*]]: tensor<16xf32>, %[[P:.*]]: tensor<521xi32>) -> tensor<1xi32>
// CHECK-NEXT:    %[[T:.*]] = dispatch.region "sample_0"(%[[L]], %[[P]]) : (tensor<16xf32>, tensor<521xi32>) -> tensor<1xi32> {
// CHECK-NEXT:    ^{{.*}}(%[[RL:.*]]: tensor<16xf32>, %[[RP:.*]]: tensor<521xi32>):
// CHECK-NEXT:      %[[RT:.*]] = linalg_ext.sample %[[RL]], %[[RP]] : tensor<16xf32>, tensor<521xi32> -> tensor<1xi32>
// CHECK-NEXT:      dispatch.yield %[[RT]] : tensor<1xi32>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[T]] : tensor<1xi32>
func.func @sample(%l: tensor<16xf32>, %p: tensor<521xi32>) -> tensor<1xi32> {
  %t = linalg_ext.sample %l, %p : tensor<16xf32>, tensor<521xi32> -> tensor<1xi32>
  func.return %t : tensor<1xi32>
}
