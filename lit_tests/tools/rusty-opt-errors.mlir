// RUN: not rusty-opt %s 2>&1 | filecheck %s
// A malformed op: the error names the file, line and column, with no traceback.
// CHECK: rusty-opt-errors.mlir:7:22: error: Expected ','
// CHECK-NOT: Traceback

func.func @f(%a: f32) -> f32 {
  %b = arith.addf %a : f32
  func.return %b : f32
}
