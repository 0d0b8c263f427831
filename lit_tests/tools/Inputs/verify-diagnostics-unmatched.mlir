// Checked by ../verify-diagnostics.mlir: each kind of mismatch is reported at its line, and the run fails.
// CHECK-DAG: verify-diagnostics-unmatched.mlir:15:6: error: expected error "no such message" was not produced
// CHECK-DAG: verify-diagnostics-unmatched.mlir:16:3: error: unexpected error: 'arith.addf' op operand 'lhs'
// CHECK-DAG: verify-diagnostics-unmatched.mlir:23:6: error: 'warning' diagnostic emitted when expecting a 'remark'
// CHECK-DAG: verify-diagnostics-unmatched.mlir:25:3: error: unexpected remark: not annotated
// CHECK-DAG: verify-diagnostics-unmatched.mlir:31:6: error: 'expected-error' annotation not understood
// CHECK-DAG: verify-diagnostics-unmatched.mlir:32:6: error: invalid regex in expected-error-re
// CHECK-DAG: verify-diagnostics-unmatched.mlir:23:6: error: expected remark "careful" was not produced
// ONLY-NOT: unexpected
// ONLY-NOT: emitted when expecting
// ONLY: verify-diagnostics-unmatched.mlir:15:6: error: expected error "no such message" was not produced
// ONLY-NOT: unexpected

func.func @wrong(%a: i32) -> f32 {
  // expected-error @+1 {{no such message}}
  %b = "arith.addf"(%a, %a) : (i32, i32) -> f32
  func.return %b : f32
}

// -----

func.func @kinds() {
  // expected-remark @+1 {{careful}}
  "test.warning"() {message = "careful"} : () -> ()
  "test.remark"() {message = "not annotated"} : () -> ()
  func.return
}

// -----

  // expected-error @ +1 {{a space after the @}}
  // expected-error-re {{unbalanced {{[a-z}}
