// RUN: rusty-opt %s --split-input-file --mlir-print-debuginfo | filecheck %s
// RUN: rusty-opt %s --split-input-file --print-debuginfo --mlir-print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: rusty-opt %s --split-input-file -p lower-upstream-linalg --mlir-print-debuginfo | filecheck %s --check-prefix=PASS
// RUN: rusty-opt %s --split-input-file | filecheck %s --check-prefix=PLAIN
// Locations, as mlir-opt keeps them: an op written without one is where it starts in the input; a loc(...)
// given is kept, through aliases defined after their use (mlir-opt prints them at the end); an op a pass
// builds gets the location of the op it rewrites. mlir-opt-22 reads what is printed
// (tests/tools/test_mlir_opt_interop.py).

// CHECK-LABEL: func.func @written
// CHECK-SAME: (%a: f32 loc("{{.*}}debuginfo.mlir":[[# @LINE + 4]]:20)) -> f32 {
// CHECK-NEXT: arith.addf %a, %a : f32 loc("{{.*}}debuginfo.mlir":[[# @LINE + 4]]:8)
// CHECK-NEXT: func.return %{{.*}} : f32 loc("{{.*}}debuginfo.mlir":[[# @LINE + 4]]:3)
// CHECK-NEXT: } loc("{{.*}}debuginfo.mlir":[[# @LINE + 1]]:1)
func.func @written(%a: f32) -> f32 {
  %0 = arith.addf %a, %a : f32
  func.return %0 : f32
}
// PLAIN-NOT: loc(

// -----

// CHECK-LABEL: func.func @given
// CHECK: arith.addf %a, %a : f32 loc("model.py":12:5)
// CHECK: func.return %{{.*}} : f32 loc(callsite("layer.py":3:4 at "model.py":40:2))
// CHECK: } loc("model.py":10:1)
// GENERIC: "arith.addf"(%a, %a) <{fastmath = #arith.fastmath<none>}> : (f32, f32) -> f32 loc("model.py":12:5)
func.func @given(%a: f32) -> f32 {
  %0 = arith.addf %a, %a : f32 loc(#loc1)
  func.return %0 : f32 loc(#loc2)
} loc(#loc)
#loc = loc("model.py":10:1)
#loc1 = loc("model.py":12:5)
#loc2 = loc(callsite("layer.py":3:4 at "model.py":40:2))

// -----

// Every op the matmul becomes (the transpose, the fill, the contraction and their bodies) is at the matmul.
// PASS-LABEL: func.func @rewritten
// PASS-NOT: loc(unknown)
// PASS: linalg.generic
// PASS-NOT: loc(unknown)
// PASS: } -> tensor<8x12xf32> loc("{{.*}}debuginfo.mlir":[[# @LINE + 4]]:8)
// PASS-NOT: loc(unknown)
func.func @rewritten(%a: tensor<8x16xf32>, %b: tensor<16x12xf32>, %c: tensor<8x12xf32>) -> tensor<8x12xf32> {
  %e = tensor.empty() : tensor<8x12xf32>
  %r = linalg.matmul ins(%a, %b : tensor<8x16xf32>, tensor<16x12xf32>) outs(%c : tensor<8x12xf32>) -> tensor<8x12xf32>
  func.return %r : tensor<8x12xf32>
}
