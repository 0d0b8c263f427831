// RUN: rusty-opt %s --split-input-file --verify-diagnostics
// What the tools verify beyond xDSL's verifiers (rusty_ir/ir.py: verify): SSA dominance, tensor.empty sizes, dim indices, scf.yield types.

// A value used before the op that defines it, in the same block: the error is at the use, a note at the definition.
func.func @use_before_def(%a: f32) -> f32 {
  // expected-error @+1 {{operand #0 (the result of 'arith.addf') is used before it is defined}}
  %b = arith.addf %c, %a : f32
  %c = arith.addf %a, %a : f32
  // expected-note @above {{operand #0 is defined here}}
  func.return %b : f32
}

// -----

// A nested region uses a value of the enclosing block that is defined after the loop.
func.func @nested_use_before_def(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    // expected-error @+1 {{operand #0 (the result of 'arith.addi') is used before it is defined, or outside its scope}}
    %x = arith.addi %later, %i : index
  }
  %later = arith.addi %c1, %c1 : index
  // expected-note @-1 {{operand #0 is defined here}}
  func.return
}

// -----

// Values of enclosing blocks are visible in nested regions, and later blocks see what dominates them.
func.func @ok(%a: f32, %n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %s = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %a) -> (f32) {
    %t = arith.addf %acc, %a : f32
    scf.yield %t : f32
  }
  cf.br ^next
^next:
  %r = arith.addf %s, %a : f32
  func.return %r : f32
}

// -----

// tensor.empty needs one size per dynamic dimension (xDSL's verifier does not check it; MLIR's does).
func.func @empty_sizes(%n: index) -> tensor<?x?xf32> {
  // expected-error @+1 {{'tensor.empty' op incorrect number of dynamic sizes, has 1, expected 2}}
  %e = tensor.empty(%n) : tensor<?x?xf32>
  func.return %e : tensor<?x?xf32>
}

// -----

// A region without its terminator gets an empty scf.yield from xDSL: it must still yield what scf.if returns.
func.func @missing_yield(%c: i1, %a: f32) -> f32 {
  // expected-error @+1 {{'scf.yield' op yields 0 values () where 'scf.if' returns 1 (f32)}}
  %r = scf.if %c -> (f32) {
    %b = arith.addf %a, %a : f32
  } else {
    scf.yield %a : f32
  }
  func.return %r : f32
}

// -----

// A constant dimension index past the rank (MLIR's verifier refuses it; passes read the shape at that index).
func.func @dim_out_of_range(%t: tensor<?x8xf32>) -> index {
  %c2 = arith.constant 2 : index
  // expected-error @+1 {{'tensor.dim' op index 2 is out of range for a value of rank 2}}
  %d = tensor.dim %t, %c2 : tensor<?x8xf32>
  func.return %d : index
}
