// RUN: rusty-opt %s --split-input-file --verify-diagnostics

func.func @unpack_word_type(%w: i64) -> f32 {
  // expected-error @+1 {{rgpu.unpack_f16 expects an i32 word, got i64}}
  %h = "rgpu.unpack_f16"(%w) <{half = #rgpu<half lo>}> : (i64) -> f32
  func.return %h : f32
}

// -----

func.func @subgroup_type(%x: f64) -> f64 {
  // expected-error @+1 {{rgpu.subgroup_add works on f32, f16 or i32, got f64}}
  %s = rgpu.subgroup_add %x : f64
  func.return %s : f64
}

// -----

func.func @subgroup_result_type(%x: f32) -> i32 {
  // expected-error @+1 {{attribute f32 expected from variable 'T', but got i32}}
  %s = "rgpu.subgroup_add"(%x) : (f32) -> i32
  func.return %s : i32
}

// -----

// The custom form checks its types while parsing.
func.func @unpack_parse(%w: i32) -> f16 {
  // expected-error @+1 {{rgpu.unpack_f16 has type i32 -> f32, got i32 -> f16}}
  %h = rgpu.unpack_f16 %w lo : i32 -> f16
  func.return %h : f16
}

// -----

func.func @pack_f16_of_f16(%a: f16, %b: f32) -> i32 {
  // expected-error @+1 {{operand 'lo' at position 0 does not verify}}
  %w = "rgpu.pack_f16"(%a, %b) : (f16, f32) -> i32
  func.return %w : i32
}
