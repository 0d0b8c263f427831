// RUN: rusty-opt %s --split-input-file | filecheck %s
// RUN: rusty-opt %s --split-input-file | rusty-opt --split-input-file | filecheck %s
// RUN: rusty-opt %s --split-input-file -p linalg-fuse-siblings | rusty-opt --split-input-file | filecheck %s --check-prefix=FUSED
// RUN: rusty-opt %s --split-input-file -p linalg-fuse-siblings --print-op-generic | rusty-opt --split-input-file | filecheck %s --check-prefix=FUSED
// A linalg.generic with several results prints `} -> (T1, T2)` as MLIR does, and that parses back
// (rusty_ir/upstream_syntax.py); xDSL's own `} -> T1, T2` is still read.

// CHECK-LABEL: func.func @two_results
// CHECK:         %{{.*}}, %{{.*}} = linalg.generic
// CHECK:         } -> (tensor<4xf32>, tensor<4xf32>)
func.func @two_results(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %a, %b = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e, %e : tensor<4xf32>, tensor<4xf32>) {
  ^bb0(%v: f32, %o1: f32, %o2: f32):
    %s = arith.addf %v, %v : f32
    linalg.yield %s, %v : f32, f32
  } -> (tensor<4xf32>, tensor<4xf32>)
  func.return %a, %b : tensor<4xf32>, tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @unparenthesized
// CHECK:         } -> (tensor<4xf32>, tensor<4xf32>)
func.func @unparenthesized(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %a, %b = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e, %e : tensor<4xf32>, tensor<4xf32>) {
  ^bb0(%v: f32, %o1: f32, %o2: f32):
    linalg.yield %v, %v : f32, f32
  } -> tensor<4xf32>, tensor<4xf32>
  func.return %a, %b : tensor<4xf32>, tensor<4xf32>
}

// -----

// Sibling contractions of one input, fused by linalg-fuse-siblings into a two-result generic.
// FUSED-LABEL: func.func @siblings
// FUSED:         %[[G:.*]], %[[U:.*]] = linalg.generic
// FUSED:         } -> (tensor<2x16xf32>, tensor<2x16xf32>)
// FUSED:         func.return %[[G]], %[[U]]
func.func @siblings(%x: tensor<2x8xf32>, %wg: tensor<16x8xf32>, %wu: tensor<16x8xf32>) -> (tensor<2x16xf32>, tensor<2x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<2x16xf32>
  %i0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<2x16xf32>) -> tensor<2x16xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %wg : tensor<2x8xf32>, tensor<16x8xf32>) outs(%i0 : tensor<2x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<2x16xf32>
  %e1 = tensor.empty() : tensor<2x16xf32>
  %i1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x16xf32>) -> tensor<2x16xf32>
  %u = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %wu : tensor<2x8xf32>, tensor<16x8xf32>) outs(%i1 : tensor<2x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<2x16xf32>
  func.return %g, %u : tensor<2x16xf32>, tensor<2x16xf32>
}
