// RUN: rusty-opt %s -p linalg-fuse-siblings --split-input-file | filecheck %s
// tests/passes/test_form_dispatches.py runs the tiny model before and after this pass on numpy.

// Gate and up projections of one activation (same width): one contraction with both weights,
// both accumulators and both bodies side by side; its two results replace the two.
// CHECK-LABEL: func.func @gate_up
// CHECK-SAME:  (%[[X:.*]]: tensor<?x8xf32>, %[[WG:.*]]: tensor<16x8xf32>, %[[WU:.*]]: tensor<16x8xf32>, %[[S:.*]]: index)
// CHECK:         %[[INITG:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x16xf32>)
// CHECK:         %[[INITU:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x16xf32>)
// CHECK-NEXT:    %[[G:[^,]*]], %[[U:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X]], %[[WG]], %[[WU]] : tensor<?x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) outs(%[[INITG]], %[[INITU]] : tensor<?x16xf32>, tensor<?x16xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[XV:.*]]: f32, %[[GV:.*]]: f32, %[[UV:.*]]: f32, %[[GACC:.*]]: f32, %[[UACC:.*]]: f32):
// CHECK-NEXT:      %[[GP:.*]] = arith.mulf %[[XV]], %[[GV]] : f32
// CHECK-NEXT:      %[[GS:.*]] = arith.addf %[[GP]], %[[GACC]] : f32
// CHECK-NEXT:      %[[UP:.*]] = arith.mulf %[[XV]], %[[UV]] : f32
// CHECK-NEXT:      %[[US:.*]] = arith.addf %[[UP]], %[[UACC]] : f32
// CHECK-NEXT:      linalg.yield %[[GS]], %[[US]] : f32, f32
// CHECK-NEXT:    } -> (tensor<?x16xf32>, tensor<?x16xf32>)
// CHECK-NOT:     linalg.generic
// CHECK:         func.return %[[G]], %[[U]]
func.func @gate_up(%x: tensor<?x8xf32>, %wg: tensor<16x8xf32>, %wu: tensor<16x8xf32>, %s: index) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty(%s) : tensor<?x16xf32>
  %i0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<?x16xf32>) -> tensor<?x16xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %wg : tensor<?x8xf32>, tensor<16x8xf32>) outs(%i0 : tensor<?x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<?x16xf32>
  %e1 = tensor.empty(%s) : tensor<?x16xf32>
  %i1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?x16xf32>) -> tensor<?x16xf32>
  %u = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %wu : tensor<?x8xf32>, tensor<16x8xf32>) outs(%i1 : tensor<?x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<?x16xf32>
  func.return %g, %u : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// q (16 wide) and k (8 wide) read the same activation but have different result types:
// they stay two contractions.
// CHECK-LABEL: func.func @different_widths
// CHECK-SAME:  (%[[X:.*]]: tensor<?x8xf32>, %[[WQ:.*]]: tensor<16x8xf32>, %[[WK:.*]]: tensor<8x8xf32>, %[[S:.*]]: index)
// CHECK:         %[[Q:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[WQ]] : tensor<?x8xf32>, tensor<16x8xf32>) outs(%{{.*}} : tensor<?x16xf32>)
// CHECK:         %[[K:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[WK]] : tensor<?x8xf32>, tensor<8x8xf32>) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK:         func.return %[[Q]], %[[K]]
func.func @different_widths(%x: tensor<?x8xf32>, %wq: tensor<16x8xf32>, %wk: tensor<8x8xf32>, %s: index) -> (tensor<?x16xf32>, tensor<?x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty(%s) : tensor<?x16xf32>
  %i0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<?x16xf32>) -> tensor<?x16xf32>
  %q = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %wq : tensor<?x8xf32>, tensor<16x8xf32>) outs(%i0 : tensor<?x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<?x16xf32>
  %e1 = tensor.empty(%s) : tensor<?x8xf32>
  %i1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?x8xf32>) -> tensor<?x8xf32>
  %k = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %wk : tensor<?x8xf32>, tensor<8x8xf32>) outs(%i1 : tensor<?x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<?x8xf32>
  func.return %q, %k : tensor<?x16xf32>, tensor<?x8xf32>
}

// -----

// The first member's result is used (by an elementwise op) before the second member is
// defined: the fused op goes before that use, and the second member's dequantized weight
// and zero-filled accumulator (pure ops) move up with it.
// CHECK-LABEL: func.func @use_before_last_member
// CHECK-SAME:  (%[[X:.*]]: tensor<?x32xf32>, %[[W0:.*]]: tensor<8x32xf32>, %[[W1Q:.*]]: tensor<8x32x!rquant.q4_0>, %[[S:.*]]: index)
// CHECK:         %[[I0:.*]] = linalg.fill {{.*}} -> tensor<?x8xf32>
// CHECK:         %[[W1:.*]] = rquant.dequantize %[[W1Q]] : tensor<8x32x!rquant.q4_0> -> tensor<8x32xf32>
// CHECK:         %[[I1:.*]] = linalg.fill {{.*}} -> tensor<?x8xf32>
// CHECK-NEXT:    %[[A:[^,]*]], %[[B:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[W0]], %[[W1]] : tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) outs(%[[I0]], %[[I1]] : tensor<?x8xf32>, tensor<?x8xf32>)
// CHECK:         %[[NEG:.*]] = linalg.generic {{.*}} ins(%[[A]] : tensor<?x8xf32>)
// CHECK:           arith.negf
// CHECK-NOT:     linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:         func.return %[[NEG]], %[[B]]
func.func @use_before_last_member(%x: tensor<?x32xf32>, %w0: tensor<8x32xf32>, %w1q: tensor<8x32x!rquant.q4_0>, %s: index) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty(%s) : tensor<?x8xf32>
  %i0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<?x8xf32>) -> tensor<?x8xf32>
  %a = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w0 : tensor<?x32xf32>, tensor<8x32xf32>) outs(%i0 : tensor<?x8xf32>) {
  ^bb0(%xa: f32, %wa: f32, %acc: f32):
    %p = arith.mulf %xa, %wa : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<?x8xf32>
  %en = tensor.empty(%s) : tensor<?x8xf32>
  %neg = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<?x8xf32>) outs(%en : tensor<?x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %n = arith.negf %v : f32
    linalg.yield %n : f32
  } -> tensor<?x8xf32>
  %w1 = rquant.dequantize %w1q : tensor<8x32x!rquant.q4_0> -> tensor<8x32xf32>
  %e1 = tensor.empty(%s) : tensor<?x8xf32>
  %i1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<?x8xf32>) -> tensor<?x8xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w1 : tensor<?x32xf32>, tensor<8x32xf32>) outs(%i1 : tensor<?x8xf32>) {
  ^bb0(%xa: f32, %wa: f32, %acc: f32):
    %p = arith.mulf %xa, %wa : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<?x8xf32>
  func.return %neg, %b : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// Siblings inside an scf.for body (the layer loop) are fused there too; a row reduction
// (one input reads the reduced dim) is never a sibling.
// CHECK-LABEL: func.func @in_loop
// CHECK:         scf.for
// CHECK:           %{{[^,]*}}, %{{.*}} = linalg.generic {{.*}} outs(%{{.*}}, %{{.*}} : tensor<?x8xf32>, tensor<?x8xf32>)
// CHECK:           linalg.generic {{.*}} ins(%{{.*}} : tensor<?x8xf32>) outs(%{{.*}} : tensor<?xf32>)
// CHECK:           linalg.generic {{.*}} ins(%{{.*}} : tensor<?x8xf32>) outs(%{{.*}} : tensor<?xf32>)
func.func @in_loop(%x: tensor<?x8xf32>, %w0: tensor<8x8xf32>, %w1: tensor<8x8xf32>, %s: index, %n: index) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %h = scf.for %i = %c0 to %n step %c1 iter_args(%hi = %x) -> (tensor<?x8xf32>) {
    %zero = arith.constant 0.0 : f32
    %e0 = tensor.empty(%s) : tensor<?x8xf32>
    %i0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<?x8xf32>) -> tensor<?x8xf32>
    %a = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%hi, %w0 : tensor<?x8xf32>, tensor<8x8xf32>) outs(%i0 : tensor<?x8xf32>) {
    ^bb0(%xa: f32, %wa: f32, %acc: f32):
      %p = arith.mulf %xa, %wa : f32
      %r = arith.addf %p, %acc : f32
      linalg.yield %r : f32
    } -> tensor<?x8xf32>
    %b = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%hi, %w1 : tensor<?x8xf32>, tensor<8x8xf32>) outs(%i0 : tensor<?x8xf32>) {
    ^bb0(%xa: f32, %wa: f32, %acc: f32):
      %p = arith.mulf %xa, %wa : f32
      %r = arith.addf %p, %acc : f32
      linalg.yield %r : f32
    } -> tensor<?x8xf32>
    %er = tensor.empty(%s) : tensor<?xf32>
    %ir = linalg.fill ins(%zero : f32) outs(%er : tensor<?xf32>) -> tensor<?xf32>
    %sa = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%a : tensor<?x8xf32>) outs(%ir : tensor<?xf32>) {
    ^bb0(%v: f32, %acc: f32):
      %r = arith.addf %v, %acc : f32
      linalg.yield %r : f32
    } -> tensor<?xf32>
    %sb = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%b : tensor<?x8xf32>) outs(%ir : tensor<?xf32>) {
    ^bb0(%v: f32, %acc: f32):
      %r = arith.addf %v, %acc : f32
      linalg.yield %r : f32
    } -> tensor<?xf32>
    scf.yield %hi : tensor<?x8xf32>
  }
  func.return %h : tensor<?x8xf32>
}
