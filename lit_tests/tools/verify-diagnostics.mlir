// RUN: rusty-opt %s --split-input-file --verify-diagnostics
// RUN: not rusty-opt %S/Inputs/verify-diagnostics-unmatched.mlir --split-input-file --verify-diagnostics --allow-unregistered-dialect --load-pass-plugin=%S/Inputs/diagnostics_plugin.py -p test-emit-diagnostics 2>&1 | filecheck %S/Inputs/verify-diagnostics-unmatched.mlir
// RUN: not rusty-opt %S/Inputs/verify-diagnostics-unmatched.mlir --verify-diagnostics=only-expected --allow-unregistered-dialect --load-pass-plugin=%S/Inputs/diagnostics_plugin.py -p test-emit-diagnostics 2>&1 | filecheck %S/Inputs/verify-diagnostics-unmatched.mlir --check-prefix=ONLY
// Annotations are matched against the verifier's errors, line by line; every form: verify-diagnostics-forms.mlir.

func.func @operand_type(%a: i32) -> f32 {
  // expected-error @+1 {{operand 'lhs' at position 0 does not verify}}
  %b = "arith.addf"(%a, %a) : (i32, i32) -> f32
  func.return %b : f32
}

// -----

func.func @same_line(%a: i32) -> f32 {
  %b = "arith.addf"(%a, %a) : (i32, i32) -> f32 // expected-error {{does not verify}}
  func.return %b : f32
}
