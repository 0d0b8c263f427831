// RUN: %roundtrip
// RUN: rusty-opt %s --split-input-file | filecheck %s
// Upstream linalg ops that xDSL 0.74 lacks (dialects/linalg_ext/upstream.py), in mlir-opt-22's custom syntax:
// they parse, print back the same way and survive the generic form (%roundtrip). mlir-opt-22 itself reads
// both forms (tests/tools/test_mlir_opt_interop.py).

// CHECK-LABEL: func.func @contractions
// CHECK: linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%s, %m : tensor<8x16xf32>, tensor<12x16xf32>) outs(%o : tensor<8x12xf32>) -> tensor<8x12xf32>
// CHECK-NEXT: linalg.matmul ins(%s, %t : tensor<8x16xf32>, tensor<16x12xf32>) outs(%o : tensor<8x12xf32>) -> tensor<8x12xf32>
// CHECK-NEXT: linalg.batch_matmul ins(%a, %b : tensor<2x8x16xf32>, tensor<2x16x12xf32>) outs(%c : tensor<2x8x12xf32>) -> tensor<2x8x12xf32>
// CHECK-NEXT: linalg.matvec ins(%m, %x : tensor<12x16xf32>, tensor<16xf32>) outs(%y : tensor<12xf32>) -> tensor<12xf32>
func.func @contractions(%a: tensor<2x8x16xf32>, %b: tensor<2x16x12xf32>, %c: tensor<2x8x12xf32>, %m: tensor<12x16xf32>, %x: tensor<16xf32>, %y: tensor<12xf32>, %s: tensor<8x16xf32>, %t: tensor<16x12xf32>, %o: tensor<8x12xf32>) {
  %0 = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%s, %m : tensor<8x16xf32>, tensor<12x16xf32>) outs(%o : tensor<8x12xf32>) -> tensor<8x12xf32>
  %1 = linalg.matmul ins(%s, %t : tensor<8x16xf32>, tensor<16x12xf32>) outs(%o : tensor<8x12xf32>) -> tensor<8x12xf32>
  %2 = linalg.batch_matmul ins(%a, %b : tensor<2x8x16xf32>, tensor<2x16x12xf32>) outs(%c : tensor<2x8x12xf32>) -> tensor<2x8x12xf32>
  %3 = linalg.matvec ins(%m, %x : tensor<12x16xf32>, tensor<16xf32>) outs(%y : tensor<12xf32>) -> tensor<12xf32>
  func.return
}

// -----

// CHECK-LABEL: func.func @pointwise
// CHECK: linalg.elementwise kind=#linalg.elementwise_kind<exp> ins(%s : tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
// CHECK-NEXT: linalg.elementwise kind=#linalg.elementwise_kind<add> indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>] ins(%s, %v : tensor<8x16xf32>, tensor<16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
// CHECK-NEXT: linalg.softmax dimension(1) ins(%s : tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
// CHECK-NEXT: linalg.map ins(%s, %s : tensor<8x16xf32>, tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) (%p: f32, %q: f32, %i: f32) {
// CHECK-NEXT:   %{{.*}} = arith.mulf %p, %q : f32
// CHECK-NEXT:   linalg.yield
// CHECK-NEXT: }
// The short form mlir-opt prints for a single op is read as the same region.
// CHECK-NEXT: linalg.map ins(%s, %s : tensor<8x16xf32>, tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) (%{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32) {
// CHECK-NEXT:   arith.addf
func.func @pointwise(%s: tensor<8x16xf32>, %v: tensor<16xf32>) {
  %0 = linalg.elementwise kind=#linalg.elementwise_kind<exp> ins(%s : tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
  %1 = linalg.elementwise kind=#linalg.elementwise_kind<add> indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>] ins(%s, %v : tensor<8x16xf32>, tensor<16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
  %2 = linalg.softmax dimension(1) ins(%s : tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
  %3 = linalg.map ins(%s, %s : tensor<8x16xf32>, tensor<8x16xf32>) outs(%s : tensor<8x16xf32>)
    (%p: f32, %q: f32, %i: f32) {
      %r = arith.mulf %p, %q : f32
      linalg.yield %r : f32
    }
  %4 = linalg.map { arith.addf } ins(%s, %s : tensor<8x16xf32>, tensor<8x16xf32>) outs(%s : tensor<8x16xf32>)
  func.return
}
