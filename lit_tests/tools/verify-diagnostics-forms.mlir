// RUN: rusty-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect --load-pass-plugin=%S/Inputs/diagnostics_plugin.py -p test-emit-diagnostics
// RUN: rusty-opt %s --split-input-file --verify-diagnostics=only-expected --allow-unregistered-dialect --load-pass-plugin=%S/Inputs/diagnostics_plugin.py -p test-emit-diagnostics
// Every annotation form of mlir-opt's --verify-diagnostics (rusty_ir/tools/verify_diagnostics.py), matched
// against the warnings, remarks, errors and notes that test-emit-diagnostics (Inputs/diagnostics_plugin.py) emits.

// The same line, @+N and @-N.
func.func @offsets() {
  "test.remark"() {message = "same line"} : () -> ()  // expected-remark {{same line}}
  // expected-warning @+1 {{one line below}}
  "test.warning"() {message = "one line below"} : () -> ()
  "test.warning"() {message = "two lines above"} : () -> ()

  // expected-warning @-2 {{two lines above}}
  func.return
}

// -----

// @below: the next line without an annotation; @above: the closest line above without one. Several may stack;
// two identical annotations need two diagnostics.
func.func @above_below() {
  // expected-remark @below {{first}}
  // expected-remark @below {{second}}
  "test.many"() {remarks = ["first", "second"]} : () -> ()
  "test.many"() {remarks = ["twice", "twice"]} : () -> ()
  // expected-remark @above {{twice}}
  // expected-remark @above {{twice}}
  func.return
}

// -----

// A pass error with its note; {{regex}} parts under -re.
func.func @error_and_note() {
  // expected-note @above {{in this function}}
  // expected-error-re @+1 {{'test.fail' op failed after {{[0-9]+}} tries (@{{.*}})}}
  "test.fail"() {message = "failed after 3 tries (@error_and_note)"} : () -> ()
  func.return
}

// -----

// Without -re, braces in the text are literal.
func.func @literal_braces() {
  // expected-warning @+1 {{attach-target{target=NAME} {{.*}} first}}
  "test.warning"() {message = "run attach-target{target=NAME} {{.*}} first"} : () -> ()
  func.return
}

// -----

// @unknown: a diagnostic with no location.
// expected-error @unknown {{no location at all}}
func.func @unlocated() {
  "test.fail_unlocated"() {message = "no location at all"} : () -> ()
  func.return
}

// -----

// Verifier and parser errors are checked the same way.
func.func @parse_error(%a: f32) -> f32 {
  // expected-error @+1 {{Expected ','}}
  %b = arith.addf %a : f32
  func.return %b : f32
}

// -----

// A warning with a note, and the chunk still succeeds.
func.func @warning_with_note() {
// expected-note @above {{at the function}}
  "test.warning"() {message = "w", note = "at the function"} : () -> ()  // expected-warning {{w}}
  func.return
}
