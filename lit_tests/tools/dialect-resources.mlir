// RUN: rusty-opt %s --split-input-file | filecheck %s
// RUN: rusty-opt %s --split-input-file --mlir-print-op-generic | rusty-opt --split-input-file | filecheck %s
// RUN: rusty-opt %s --split-input-file -p cse | filecheck %s --check-prefix=PASS
// A {-# dialect_resources #-} section is read and printed back after the module, as mlir-opt does, with the blobs
// of the dense_resource<...> handles the module still names (mlir-opt-22 reads it: test_mlir_opt_interop.py).

// CHECK-LABEL: func.func @weights
// CHECK: arith.constant dense_resource<blob1> : tensor<2xf32>
// CHECK: {-#
// CHECK-NEXT: dialect_resources: {
// CHECK-NEXT: builtin: {
// CHECK-NEXT: blob1: "0x040000000000803F00000040"
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: #-}
// PASS: blob1: "0x040000000000803F00000040"
func.func @weights() -> tensor<2xf32> {
  %0 = arith.constant dense_resource<blob1> : tensor<2xf32>
  func.return %0 : tensor<2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      blob1: "0x040000000000803F00000040"
    }
  }
#-}

// -----

// A chunk without resources prints none.
// CHECK-LABEL: func.func @none
// CHECK-NOT: dialect_resources
func.func @none() {
  func.return
}

// -----

// The same handle in another chunk is that chunk's own blob (each chunk is a fresh input, as in mlir-opt).
// CHECK-LABEL: func.func @again
// CHECK: arith.constant dense_resource<blob1> : tensor<1xf32>
// CHECK: blob1: "0x0400000000000040"
func.func @again() -> tensor<1xf32> {
  %0 = arith.constant dense_resource<blob1> : tensor<1xf32>
  func.return %0 : tensor<1xf32>
}
{-#
  dialect_resources: {
    builtin: {
      blob1: "0x0400000000000040"
    }
  }
#-}
