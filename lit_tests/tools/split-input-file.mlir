// RUN: not rusty-opt %s --split-input-file -p canonicalize > %t.out 2> %t.err
// RUN: filecheck %s --check-prefix=OUT < %t.out
// RUN: filecheck %s --check-prefix=ERR < %t.err
// RUN: not rusty-opt %s --split-input-file -p canonicalize -o %t.file 2>/dev/null
// RUN: not test -e %t.file
// RUN: rusty-opt %S/Inputs/split-marker.mlir --split-input-file='// =====' | filecheck %s --check-prefix=MARKER
// RUN: rusty-opt %S/Inputs/split-marker.mlir --split-input-file='// =====' --output-split-marker='// ~~~' | filecheck %s --check-prefix=OUTMARKER
// Every chunk is processed even when some fail (a parse error, a verifier error, a pass error): the outputs of
// the chunks that succeed are printed with a '// -----' line between every two chunks (a failed chunk's output
// is empty), each error is printed with its line, and the exit status is 1. -o writes nothing then.

// OUT:      func.func @first
// OUT-NEXT:   func.return
// OUT:      // -----
// OUT-NEXT: // -----
// OUT-NEXT: builtin.module {
// OUT-NEXT:   func.func @third
// OUT:      // -----
// OUT-NEXT: // -----
// OUT-NEXT: // -----
// OUT-NEXT: builtin.module {
// OUT-NEXT:   func.func @last
// OUT-NOT:  // -----

// ERR:      split-input-file.mlir:52:22: error: Expected ','
// ERR-NEXT:   %b = arith.addf %a : f32
// ERR-NEXT:                      ^
// ERR:      split-input-file.mlir:66:3: error: 'tensor.empty' op incorrect number of dynamic sizes, has 0, expected 1
// ERR-NEXT:   %e = tensor.empty() : tensor<?xf32>
// ERR-NEXT:   ^
// ERR:      split-input-file.mlir:74:14: error: Operation nosuch.op is not registered
// ERR-NOT:  error:

// --split-input-file=MARKER splits at other lines; --output-split-marker sets the line printed between outputs.
// MARKER:         func.func @one
// MARKER:       // -----
// MARKER-NEXT:  builtin.module {
// MARKER-NEXT:    func.func @two
// OUTMARKER:      func.func @one
// OUTMARKER:      // ~~~
// OUTMARKER-NEXT: builtin.module {
// OUTMARKER-NEXT:   func.func @two

func.func @first() {
  func.return
}

// -----

// A parse error.
func.func @second(%a: f32) -> f32 {
  %b = arith.addf %a : f32
  func.return %b : f32
}

// -----

func.func @third() {
  func.return
}

// -----

// A verifier error.
func.func @fourth() -> tensor<?xf32> {
  %e = tensor.empty() : tensor<?xf32>
  func.return %e : tensor<?xf32>
}

// -----

// An op of a dialect nobody registered.
func.func @fifth() {
  "nosuch.op"() : () -> ()
  func.return
}

// -----

func.func @last() {
  func.return
}
