// Checked by ../verify-diagnostics.mlir: a wrong annotation and an unexpected error both fail.
// NOT-MATCHED-DAG: verify-diagnostics-unmatched.mlir:6: expected error "no such message" was not produced
// NOT-MATCHED-DAG: unexpected {{.*}}verify-diagnostics-unmatched.mlir:6:3: error: 'arith.addf' op
func.func @wrong(%a: i32) -> f32 {
  // expected-error @+1 {{no such message}}
  %b = "arith.addf"(%a, %a) : (i32, i32) -> f32
  func.return %b : f32
}
