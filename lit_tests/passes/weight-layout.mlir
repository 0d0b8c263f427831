// RUN: rusty-opt %s -p weight-layout --split-input-file | filecheck %s
// RUN: rusty-opt %s -p weight-layout,weight-layout --split-input-file | filecheck %s
// RUN: rusty-opt %s -p weight-layout,distribute-to-gpu-ids,lower-quant-loads,convert-tiled-to-gpu --split-input-file | rusty-translate --to-schedule --split-input-file | filecheck %s --check-prefix=SCHEDULE
// The second RUN line: parts are never split again (the pass is idempotent).
// tests/backends/test_quant_loads.py runs both layouts on wgpu against rusty_ir.weights.dequantize.

// A tied q4_0 table (2 x 64: 4 blocks of 18 bytes, bound as 18 words) read by two kernels only
// through quant loads, on a target with f16: the weight becomes its two parts, codes (4 blocks x
// 16 bytes = 16 words) and scales (4 f16), inserted in its place; each kernel takes both in place
// of the weight, in its grid and body, and its rquant.load / rquant.load_block read them in the split
// layout, row and column unchanged. The runtime schedule binds the two parts by name.
// CHECK-LABEL: func.func @tied
// CHECK-SAME:  (%[[X:.*]]: memref<2xf32>, %[[Y:.*]]: memref<2xf32>)
// CHECK-NEXT:    %[[CODES:.*]] = dispatch.weight "token_embd.weight" {part = "codes", stored = tensor<2x64x!rquant.q4_0>} : memref<16xi32>
// CHECK-NEXT:    %[[SCALES:.*]] = dispatch.weight "token_embd.weight" {part = "scales", stored = tensor<2x64x!rquant.q4_0>} : memref<4xf16>
// CHECK-NEXT:    tiled.kernel "embed_0"(%[[CODES]], %[[SCALES]], %[[X]]) {workgroup_size = array<i64: 2, 1, 1>} : memref<16xi32>, memref<4xf16>, memref<2xf32> grid {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<16xi32>, %{{.*}}: memref<4xf16>, %{{.*}}: memref<2xf32>):
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%[[EC:.*]]: memref<16xi32>, %[[ES:.*]]: memref<4xf16>, %{{.*}}: memref<2xf32>):
// CHECK:           %[[C63:.*]] = arith.constant 63 : index
// CHECK-NEXT:      tiled.forall (%[[R:[^)]*]]) in
// CHECK-NEXT:        %{{.*}} = rquant.load %[[EC]], %[[ES]][%[[R]], %[[C63]]] {scheme = "q4_0", shape = array<i64: 2, 64>, layout = "split"} : memref<16xi32>, memref<4xf16> -> f32
// CHECK:         tiled.kernel "logits_0"(%[[CODES]], %[[SCALES]], %[[Y]]) {workgroup_size = array<i64: 2, 1, 1>} : memref<16xi32>, memref<4xf16>, memref<2xf32> grid {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<16xi32>, %{{.*}}: memref<4xf16>, %{{.*}}: memref<2xf32>):
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%[[LC:.*]]: memref<16xi32>, %[[LS:.*]]: memref<4xf16>, %{{.*}}: memref<2xf32>):
// CHECK:             %[[S:[^,]*]], %{{[^,]*}}, %[[Q0:[^,]*]], {{.*}} = rquant.load_block %[[LC]], %[[LS]][%{{.*}}, %{{.*}}] {scheme = "q4_0", shape = array<i64: 2, 64>, layout = "split"} : memref<16xi32>, memref<4xf16> -> f32, f32, f32,
// CHECK-NEXT:        %{{.*}} = arith.mulf %[[S]], %[[Q0]] : f32
// CHECK-NOT:     layout = "blocks"
// SCHEDULE:      "kernels": {
// SCHEDULE:        "embed_0": {
// SCHEDULE:          {"binding": 0, "name": "{{.*}}", "arg_index": 0, "access": "read", "element_type": "i32", "shape": [16]},
// SCHEDULE-NEXT:     {"binding": 1, "name": "{{.*}}", "arg_index": 1, "access": "read", "element_type": "f16", "shape": [4]},
// SCHEDULE:      "weights": [{"name": "token_embd.weight", "layered": false, "scheme": "q4_0", "shape": [2, 64]}],
// SCHEDULE:        {"op": "weight", "result": "[[C:.*]]", "name": "token_embd.weight", "layer": null, "scheme": "q4_0", "shape": [2, 64], "part": "codes"},
// SCHEDULE-NEXT:   {"op": "weight", "result": "[[S:.*]]", "name": "token_embd.weight", "layer": null, "scheme": "q4_0", "shape": [2, 64], "part": "scales"},
// SCHEDULE-NEXT:   {"op": "launch", "kernel": "embed_0", {{.*}} "buffers": ["[[C]]", "[[S]]", "x"]
// SCHEDULE-NEXT:   {"op": "launch", "kernel": "logits_0", {{.*}} "buffers": ["[[C]]", "[[S]]", "y"]
builtin.module attributes {rgpu.target = #rgpu.target<"webgpu", max_invocations = 256, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 0, f16 = true, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
  func.func @tied(%x: memref<2xf32>, %y: memref<2xf32>) {
    %e = dispatch.weight "token_embd.weight" {stored = tensor<2x64x!rquant.q4_0>} : memref<18xi32>
    tiled.kernel "embed_0"(%e, %x) {workgroup_size = array<i64: 2, 1, 1>} : memref<18xi32>, memref<2xf32> grid {
    ^bb0(%gw: memref<18xi32>, %gx: memref<2xf32>):
      %c1 = arith.constant 1 : index
      tiled.yield %c1, %c1, %c1 : index, index, index
    } body {
    ^bb0(%bw: memref<18xi32>, %bx: memref<2xf32>):
      %c2 = arith.constant 2 : index
      %c63 = arith.constant 63 : index
      tiled.forall (%r) in (%c2) invocation {
        %v = rquant.load %bw[%r, %c63] {scheme = "q4_0", shape = array<i64: 2, 64>, layout = "blocks"} : memref<18xi32> -> f32
        memref.store %v, %bx[%r] : memref<2xf32>
        tiled.yield
      }
      tiled.yield
    }
    tiled.kernel "logits_0"(%e, %y) {workgroup_size = array<i64: 2, 1, 1>} : memref<18xi32>, memref<2xf32> grid {
    ^bb0(%gw: memref<18xi32>, %gy: memref<2xf32>):
      %c1 = arith.constant 1 : index
      tiled.yield %c1, %c1, %c1 : index, index, index
    } body {
    ^bb0(%bw: memref<18xi32>, %by: memref<2xf32>):
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      tiled.forall (%r) in (%c2) invocation {
        %s, %o, %q:32 = rquant.load_block %bw[%r, %c1] {scheme = "q4_0", shape = array<i64: 2, 64>, layout = "blocks"} : memref<18xi32> -> f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32
        %m = arith.mulf %s, %q#0 : f32
        memref.store %m, %by[%r] : memref<2xf32>
        tiled.yield
      }
      tiled.yield
    }
    func.return
  }
}

// -----

// Without f16 arithmetic (f16 = false) the scales are bound as words, two halves each, rounded
// up: a q8_0 3 x 32 weight (3 blocks of 34 bytes) splits into 3 x 32 bytes of codes = 24 words
// and 3 halves = 2 words of scales. A rquant.dot_block keeps its activation words (in order)
// and their sum; only its weight buffers and layout change.
// CHECK-LABEL: func.func @dp4a
// CHECK-SAME:  (%[[ACTS:.*]]: memref<8xi32>, %[[Y:.*]]: memref<3xi32>)
// CHECK-NEXT:    %[[CODES:.*]] = dispatch.weight "blk.0.ffn_down.weight" {part = "codes", stored = tensor<3x32x!rquant.q8_0>} : memref<24xi32>
// CHECK-NEXT:    %[[SCALES:.*]] = dispatch.weight "blk.0.ffn_down.weight" {part = "scales", stored = tensor<3x32x!rquant.q8_0>} : memref<2xi32>
// CHECK-NEXT:    tiled.kernel "gemv_dp4a_0"(%[[CODES]], %[[SCALES]], %[[ACTS]], %[[Y]]) {workgroup_size = array<i64: 3, 1, 1>} : memref<24xi32>, memref<2xi32>, memref<8xi32>, memref<3xi32> grid {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<24xi32>, %{{.*}}: memref<2xi32>, %{{.*}}: memref<8xi32>, %{{.*}}: memref<3xi32>):
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%[[C:.*]]: memref<24xi32>, %[[S:.*]]: memref<2xi32>, %{{.*}}: memref<8xi32>, %{{.*}}: memref<3xi32>):
// CHECK:             %[[A0:.*]] = memref.load
// CHECK-NEXT:        %[[A1:.*]] = memref.load
// CHECK-NEXT:        %[[SUM:.*]] = arith.constant 0 : i32
// CHECK-NEXT:        %{{.*}}, %{{.*}}, %{{.*}} = rquant.dot_block %[[C]], %[[S]][%{{.*}}, %{{.*}}], %[[A0]], %[[A1]], %[[A0]], %[[A1]], %[[A0]], %[[A1]], %[[A0]], %[[A1]] sum %[[SUM]] {scheme = "q8_0", shape = array<i64: 3, 32>, layout = "split"} : memref<24xi32>, memref<2xi32> -> f32, f32, i32
builtin.module attributes {rgpu.target = #rgpu.target<"webgpu", max_invocations = 256, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 0, f16 = false, int_dot = true, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
  func.func @dp4a(%acts: memref<8xi32>, %y: memref<3xi32>) {
    %w = dispatch.weight "blk.0.ffn_down.weight" {stored = tensor<3x32x!rquant.q8_0>} : memref<26xi32>
    tiled.kernel "gemv_dp4a_0"(%w, %acts, %y) {workgroup_size = array<i64: 3, 1, 1>} : memref<26xi32>, memref<8xi32>, memref<3xi32> grid {
    ^bb0(%gw: memref<26xi32>, %ga: memref<8xi32>, %gy: memref<3xi32>):
      %c1 = arith.constant 1 : index
      tiled.yield %c1, %c1, %c1 : index, index, index
    } body {
    ^bb0(%bw: memref<26xi32>, %ba: memref<8xi32>, %by: memref<3xi32>):
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c3 = arith.constant 3 : index
      tiled.forall (%r) in (%c3) invocation {
        %a0 = memref.load %ba[%c0] : memref<8xi32>
        %a1 = memref.load %ba[%c1] : memref<8xi32>
        %sum = arith.constant 0 : i32
        %s, %o, %d = rquant.dot_block %bw[%r, %c0], %a0, %a1, %a0, %a1, %a0, %a1, %a0, %a1 sum %sum {scheme = "q8_0", shape = array<i64: 3, 32>, layout = "blocks"} : memref<26xi32> -> f32, f32, i32
        memref.store %d, %by[%r] : memref<3xi32>
        tiled.yield
      }
      tiled.yield
    }
    func.return
  }
}

// -----

// A layer weight passed through a call (the decoder layer's arguments): the callee's argument is
// replaced by two arguments in its place, its signature follows, and the call passes the caller's
// two parts, made from the layer-indexed dispatch.weight (layer operand kept). q4_1 keeps two
// halves per block (scale and minimum): 4 blocks give 16 words of codes and 8 f16 scales.
// CHECK-LABEL: func.func @layer
// CHECK-SAME:  (%[[X:[^:]*]]: memref<32xf32>, %[[C:[^:]*]]: memref<16xi32>, %[[S:[^:]*]]: memref<8xf16>, %[[Y:[^:]*]]: memref<4xf32>)
// CHECK-NEXT:    tiled.kernel "proj_0"(%[[X]], %[[C]], %[[S]], %[[Y]]) {workgroup_size = array<i64: 4, 1, 1>} : memref<32xf32>, memref<16xi32>, memref<8xf16>, memref<4xf32> grid {
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<32xf32>, %[[BC:.*]]: memref<16xi32>, %[[BS:.*]]: memref<8xf16>, %{{.*}}: memref<4xf32>):
// CHECK:             rquant.load %[[BC]], %[[BS]][%{{.*}}, %{{.*}}] {scheme = "q4_1", shape = array<i64: 4, 32>, layout = "split"} : memref<16xi32>, memref<8xf16> -> f32
// CHECK-LABEL: func.func @entry
// CHECK-SAME:  (%[[EX:.*]]: memref<32xf32>, %[[EY:.*]]: memref<4xf32>, %[[L:.*]]: index)
// CHECK-NEXT:    %[[WC:.*]] = dispatch.weight "blk.{}.attn_q.weight"[%[[L]]] {part = "codes", stored = tensor<4x32x!rquant.q4_1>} : memref<16xi32>
// CHECK-NEXT:    %[[WS:.*]] = dispatch.weight "blk.{}.attn_q.weight"[%[[L]]] {part = "scales", stored = tensor<4x32x!rquant.q4_1>} : memref<8xf16>
// CHECK-NEXT:    func.call @layer(%[[EX]], %[[WC]], %[[WS]], %[[EY]]) : (memref<32xf32>, memref<16xi32>, memref<8xf16>, memref<4xf32>) -> ()
// CHECK-NEXT:    func.return
builtin.module attributes {rgpu.target = #rgpu.target<"webgpu", max_invocations = 256, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 0, f16 = true, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
  func.func @layer(%x: memref<32xf32>, %w: memref<20xi32> {rquant.stored = tensor<4x32x!rquant.q4_1>}, %y: memref<4xf32>) {
    tiled.kernel "proj_0"(%x, %w, %y) {workgroup_size = array<i64: 4, 1, 1>} : memref<32xf32>, memref<20xi32>, memref<4xf32> grid {
    ^bb0(%gx: memref<32xf32>, %gw: memref<20xi32>, %gy: memref<4xf32>):
      %c1 = arith.constant 1 : index
      tiled.yield %c1, %c1, %c1 : index, index, index
    } body {
    ^bb0(%bx: memref<32xf32>, %bw: memref<20xi32>, %by: memref<4xf32>):
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      tiled.forall (%r) in (%c4) invocation {
        %v = rquant.load %bw[%r, %c0] {scheme = "q4_1", shape = array<i64: 4, 32>, layout = "blocks"} : memref<20xi32> -> f32
        memref.store %v, %by[%r] : memref<4xf32>
        tiled.yield
      }
      tiled.yield
    }
    func.return
  }
  func.func @entry(%x: memref<32xf32>, %y: memref<4xf32>, %l: index) {
    %w = dispatch.weight "blk.{}.attn_q.weight"[%l] {stored = tensor<4x32x!rquant.q4_1>} : memref<20xi32>
    func.call @layer(%x, %w, %y) : (memref<32xf32>, memref<20xi32>, memref<4xf32>) -> ()
    func.return
  }
}

// -----

// Weights that keep their layout: "a" goes to a layer argument whose kernel's grid uses it (so
// the argument does not qualify, nor the weight passed to it); "b" is also read as raw words by
// memref.load; "c" is plain f16 (no split layout). Nothing changes: no parts, no split loads.
// CHECK-LABEL: func.func @layer
// CHECK-SAME:  (%{{[^:]*}}: memref<5xi32> {rquant.stored = tensor<1x32x!rquant.q4_0>}, %{{.*}}: memref<1xf32>)
// CHECK:         rquant.load %{{.*}}[%{{.*}}, %{{.*}}] {scheme = "q4_0", shape = array<i64: 1, 32>, layout = "blocks"} : memref<5xi32> -> f32
// CHECK-LABEL: func.func @entry
// CHECK-NEXT:    %[[A:.*]] = dispatch.weight "a" {stored = tensor<1x32x!rquant.q4_0>} : memref<5xi32>
// CHECK-NEXT:    func.call @layer(%[[A]], %{{.*}}) : (memref<5xi32>, memref<1xf32>) -> ()
// CHECK-NEXT:    %[[B:.*]] = dispatch.weight "b" {stored = tensor<1x32x!rquant.q4_0>} : memref<5xi32>
// CHECK-NEXT:    tiled.kernel "reads_words"(%[[B]], %{{.*}}) {{.*}} : memref<5xi32>, memref<1xf32> grid {
// CHECK:           rquant.load %{{.*}}[%{{.*}}, %{{.*}}] {scheme = "q4_0", shape = array<i64: 1, 32>, layout = "blocks"} : memref<5xi32> -> f32
// CHECK:         %[[H:.*]] = dispatch.weight "c" : memref<1x32xf16>
// CHECK-NEXT:    tiled.kernel "plain"(%[[H]], %{{.*}}) {{.*}} : memref<1x32xf16>, memref<1xf32> grid {
// CHECK:           rquant.load %{{.*}}[%{{.*}}, %{{.*}}] {scheme = "f16", shape = array<i64: 1, 32>, layout = "blocks"} : memref<16xi32> -> f32
// CHECK-NOT:     part =
// CHECK-NOT:     layout = "split"
builtin.module attributes {rgpu.target = #rgpu.target<"webgpu", max_invocations = 256, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 0, f16 = true, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
  func.func @layer(%w: memref<5xi32> {rquant.stored = tensor<1x32x!rquant.q4_0>}, %y: memref<1xf32>) {
    tiled.kernel "grid_reads"(%w, %y) {workgroup_size = array<i64: 1, 1, 1>} : memref<5xi32>, memref<1xf32> grid {
    ^bb0(%gw: memref<5xi32>, %gy: memref<1xf32>):
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %n = memref.dim %gw, %c0 : memref<5xi32>
      tiled.yield %n, %c1, %c1 : index, index, index
    } body {
    ^bb0(%bw: memref<5xi32>, %by: memref<1xf32>):
      %c0 = arith.constant 0 : index
      %v = rquant.load %bw[%c0, %c0] {scheme = "q4_0", shape = array<i64: 1, 32>, layout = "blocks"} : memref<5xi32> -> f32
      memref.store %v, %by[%c0] : memref<1xf32>
      tiled.yield
    }
    func.return
  }
  func.func @entry(%y: memref<1xf32>) {
    %a = dispatch.weight "a" {stored = tensor<1x32x!rquant.q4_0>} : memref<5xi32>
    func.call @layer(%a, %y) : (memref<5xi32>, memref<1xf32>) -> ()
    %b = dispatch.weight "b" {stored = tensor<1x32x!rquant.q4_0>} : memref<5xi32>
    tiled.kernel "reads_words"(%b, %y) {workgroup_size = array<i64: 1, 1, 1>} : memref<5xi32>, memref<1xf32> grid {
    ^bb0(%gw: memref<5xi32>, %gy: memref<1xf32>):
      %c1 = arith.constant 1 : index
      tiled.yield %c1, %c1, %c1 : index, index, index
    } body {
    ^bb0(%bw: memref<5xi32>, %by: memref<1xf32>):
      %c0 = arith.constant 0 : index
      %v = rquant.load %bw[%c0, %c0] {scheme = "q4_0", shape = array<i64: 1, 32>, layout = "blocks"} : memref<5xi32> -> f32
      %raw = memref.load %bw[%c0] : memref<5xi32>
      %f = arith.bitcast %raw : i32 to f32
      %sum = arith.addf %v, %f : f32
      memref.store %sum, %by[%c0] : memref<1xf32>
      tiled.yield
    }
    %h = dispatch.weight "c" : memref<1x32xf16>
    tiled.kernel "plain"(%h, %y) {workgroup_size = array<i64: 1, 1, 1>} : memref<1x32xf16>, memref<1xf32> grid {
    ^bb0(%gw: memref<16xi32>, %gy: memref<1xf32>):
      %c1 = arith.constant 1 : index
      tiled.yield %c1, %c1, %c1 : index, index, index
    } body {
    ^bb0(%bw: memref<16xi32>, %by: memref<1xf32>):
      %c0 = arith.constant 0 : index
      %v = rquant.load %bw[%c0, %c0] {scheme = "f16", shape = array<i64: 1, 32>, layout = "blocks"} : memref<16xi32> -> f32
      memref.store %v, %by[%c0] : memref<1xf32>
      tiled.yield
    }
    func.return
  }
}

// -----

// A splittable argument whose caller passes a weight that another kernel's grid reads: the caller
// cannot pass parts, so the argument stays whole and the call still matches its callee.
// CHECK-LABEL: func.func @layer
// CHECK-SAME:    (%{{[^:]*}}: memref<18xi32> {rquant.stored = tensor<4x32x!rquant.q4_0>}, %{{.*}}: memref<4xf32>)
// CHECK:         rquant.load %{{.*}} {scheme = "q4_0", shape = array<i64: 4, 32>, layout = "blocks"}
// CHECK-LABEL: func.func @entry
// CHECK:         %[[W:.*]] = dispatch.weight "w" {stored = tensor<4x32x!rquant.q4_0>} : memref<18xi32>
// CHECK-NEXT:    func.call @layer(%[[W]], %{{.*}}) : (memref<18xi32>, memref<4xf32>) -> ()
builtin.module attributes {rgpu.target = #rgpu.target<"webgpu", max_invocations = 256, max_workgroup_memory = 16384, max_workgroups_per_dim = 65535, subgroup_size = 0, f16 = true, int_dot = false, max_binding_bytes = 134217728, binding_offset_alignment = 256>} {
  func.func @layer(%w: memref<18xi32> {rquant.stored = tensor<4x32x!rquant.q4_0>}, %y: memref<4xf32>) {
    tiled.kernel "k"(%w, %y) {workgroup_size = array<i64: 4, 1, 1>} : memref<18xi32>, memref<4xf32> grid {
    ^bb0(%gw: memref<18xi32>, %gy: memref<4xf32>):
      %c1 = arith.constant 1 : index
      tiled.yield %c1, %c1, %c1 : index, index, index
    } body {
    ^bb0(%bw: memref<18xi32>, %by: memref<4xf32>):
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      tiled.forall (%r) in (%c4) invocation {
        %v = rquant.load %bw[%r, %c0] {scheme = "q4_0", shape = array<i64: 4, 32>, layout = "blocks"} : memref<18xi32> -> f32
        memref.store %v, %by[%r] : memref<4xf32>
        tiled.yield
      }
      tiled.yield
    }
    func.return
  }
  func.func @entry(%y: memref<4xf32>) {
    %w = dispatch.weight "w" {stored = tensor<4x32x!rquant.q4_0>} : memref<18xi32>
    func.call @layer(%w, %y) : (memref<18xi32>, memref<4xf32>) -> ()
    tiled.kernel "sized"(%w, %y) {workgroup_size = array<i64: 1, 1, 1>} : memref<18xi32>, memref<4xf32> grid {
    ^bb0(%gw: memref<18xi32>, %gy: memref<4xf32>):
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %n = memref.dim %gw, %c0 : memref<18xi32>
      tiled.yield %n, %c1, %c1 : index, index, index
    } body {
    ^bb0(%bw: memref<18xi32>, %by: memref<4xf32>):
      tiled.yield
    }
    func.return
  }
}
