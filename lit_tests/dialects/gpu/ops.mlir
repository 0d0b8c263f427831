// RUN: rusty-opt %s --split-input-file | filecheck %s
// RUN: %roundtrip

// unpack_f16 reads either half of an i32 word as f32.
// CHECK-LABEL: func.func @unpack
// CHECK-SAME:  (%[[W:.*]]: i32)
// CHECK-NEXT:    %[[LO:.*]] = rgpu.unpack_f16 %[[W]] lo : i32 -> f32
// CHECK-NEXT:    %[[HI:.*]] = rgpu.unpack_f16 %[[W]] hi : i32 -> f32
// CHECK-NEXT:    func.return %[[LO]], %[[HI]] : f32, f32
func.func @unpack(%w: i32) -> (f32, f32) {
  %lo = rgpu.unpack_f16 %w lo : i32 -> f32
  %hi = rgpu.unpack_f16 %w hi : i32 -> f32
  func.return %lo, %hi : f32, f32
}

// -----

// pack_f16 rounds two f32 values to halves and packs them into one i32 word (lo in bits 0..15).
// CHECK-LABEL: func.func @pack
// CHECK-SAME:  (%[[A:.*]]: f32, %[[B:.*]]: f32)
// CHECK-NEXT:    %[[W:.*]] = rgpu.pack_f16 %[[A]], %[[B]] : i32
// CHECK-NEXT:    func.return %[[W]] : i32
func.func @pack(%a: f32, %b: f32) -> i32 {
  %w = rgpu.pack_f16 %a, %b : i32
  func.return %w : i32
}

// -----

// dot4_i8 is the dot product of two words' four signed bytes.
// CHECK-LABEL: func.func @dot4
// CHECK-SAME:  (%[[A:.*]]: i32, %[[B:.*]]: i32)
// CHECK-NEXT:    %[[D:.*]] = rgpu.dot4_i8 %[[A]], %[[B]] : i32
// CHECK-NEXT:    func.return %[[D]] : i32
func.func @dot4(%a: i32, %b: i32) -> i32 {
  %d = rgpu.dot4_i8 %a, %b : i32
  func.return %d : i32
}

// -----

// The generic form of unpack_f16 parses to the same op.
// CHECK-LABEL: func.func @unpack_generic
// CHECK-NEXT:    %{{.*}} = rgpu.unpack_f16 %{{.*}} hi : i32 -> f32
func.func @unpack_generic(%w: i32) -> f32 {
  %h = "rgpu.unpack_f16"(%w) <{half = #rgpu<half hi>}> : (i32) -> f32
  func.return %h : f32
}

// -----

// subgroup_add on each supported type.
// CHECK-LABEL: func.func @subgroup_add
// CHECK-SAME:  (%[[A:.*]]: f32, %[[B:.*]]: f16, %[[C:.*]]: i32)
// CHECK-NEXT:    %{{.*}} = rgpu.subgroup_add %[[A]] : f32
// CHECK-NEXT:    %{{.*}} = rgpu.subgroup_add %[[B]] : f16
// CHECK-NEXT:    %{{.*}} = rgpu.subgroup_add %[[C]] : i32
func.func @subgroup_add(%a: f32, %b: f16, %c: i32) -> (f32, f16, i32) {
  %x = rgpu.subgroup_add %a : f32
  %y = rgpu.subgroup_add %b : f16
  %z = rgpu.subgroup_add %c : i32
  func.return %x, %y, %z : f32, f16, i32
}
