// RUN: not rusty-opt %s 2>&1 | filecheck %s
// A malformed op: the error names the file, line and column, then shows the line with a caret (as mlir-opt
// does), with no traceback.
// CHECK: rusty-opt-errors.mlir:10:22: error: Expected ','
// CHECK-NEXT: {{^}}  %b = arith.addf %a : f32
// CHECK-NEXT: {{^}}                     ^
// CHECK-NOT: Traceback

func.func @f(%a: f32) -> f32 {
  %b = arith.addf %a : f32
  func.return %b : f32
}
