// RUN: rusty-opt %s -p form-dispatches --split-input-file --verify-diagnostics
// After every pass, casts must change the width as upstream MLIR requires (rusty_ir/pipeline.py:
// require_legal_casts; xDSL 0.74 does not verify it): extf/extsi/extui widen, truncf/trunci narrow.

func.func @identity_extf(%a: f32) -> f32 {
  // expected-error @+1 {{after form-dispatches: 'arith.extf' from f32 to f32; it must widen (upstream MLIR refuses it)}}
  %b = arith.extf %a : f32 to f32
  func.return %b : f32
}

// -----

func.func @widening_truncf(%a: f16) -> f32 {
  // expected-error @+1 {{after form-dispatches: 'arith.truncf' from f16 to f32; it must narrow}}
  %b = arith.truncf %a : f16 to f32
  func.return %b : f32
}

// -----

func.func @vector_extf(%a: vector<4xf32>) -> vector<4xf16> {
  // expected-error @+1 {{after form-dispatches: 'arith.extf' from vector<4xf32> to vector<4xf16>; it must widen}}
  %b = arith.extf %a : vector<4xf32> to vector<4xf16>
  func.return %b : vector<4xf16>
}

// -----

// Legal casts pass.
func.func @legal(%a: f16, %i: i8, %k: i64) -> (f32, i32, i32) {
  %b = arith.extf %a : f16 to f32
  %j = arith.extsi %i : i8 to i32
  %l = arith.trunci %k : i64 to i32
  func.return %b, %j, %l : f32, i32, i32
}
