// RUN: rusty-translate --to-schedule %s | filecheck %s
// A hand-written gpu-level model shaped like what convert-tiled-to-gpu produces:
// vocabulary 16, hidden 8, 2 layers, an f32 KV cache of row width 8.
//   h0 = embedding rows of the tokens
//   per layer l (weights blk.{l}.w : [8]):
//     K[pos+s] = h[s], V[pos+s] = h[s] * w          (append to the cache)
//     t[s, d] = w[d] * tanh(mean_{j <= pos+s} K[j, d] * V[j, d]) + 0.01 * l
//     h' = h + t
//   logits = output.weight . h[S-1];  out = argmax(logits)
// tests/backends/test_model_runtime.py runs it with the wgpu runtime against numpy.

module attributes {gpu.container_module} {
  dispatch.kv_cache @kv {num_layers = 2 : i64, row_width = 8 : i64}

  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<?xi32>, memref<16x8xf32>, memref<?x8xf32>, index, index) -> (), kernel}> ({
    ^bb0(%tokens: memref<?xi32>, %table: memref<16x8xf32>, %h: memref<?x8xf32>, %S: index, %pos: index):
      %gid = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
      %c8 = arith.constant 8 : index
      %n = arith.muli %S, %c8 : index
      %in = arith.cmpi ult, %gid, %n : index
      scf.if %in {
        %s = arith.divui %gid, %c8 : index
        %d = arith.remui %gid, %c8 : index
        %t = memref.load %tokens[%s] : memref<?xi32>
        %ti = arith.index_cast %t : i32 to index
        %v = memref.load %table[%ti, %d] : memref<16x8xf32>
        memref.store %v, %h[%s, %d] : memref<?x8xf32>
      }
      "gpu.return"() : () -> ()
    }) {sym_name = "embed", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

    "gpu.func"() <{function_type = (memref<?x8xf32>, memref<8xf32>, memref<?x8xf32>, memref<?x8xf32>, index, index) -> (), kernel}> ({
    ^bb0(%h: memref<?x8xf32>, %w: memref<8xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %S: index, %pos: index):
      %gid = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
      %c8 = arith.constant 8 : index
      %n = arith.muli %S, %c8 : index
      %in = arith.cmpi ult, %gid, %n : index
      scf.if %in {
        %s = arith.divui %gid, %c8 : index
        %d = arith.remui %gid, %c8 : index
        %row = arith.addi %pos, %s : index
        %x = memref.load %h[%s, %d] : memref<?x8xf32>
        %wd = memref.load %w[%d] : memref<8xf32>
        %xv = arith.mulf %x, %wd : f32
        memref.store %x, %kc[%row, %d] : memref<?x8xf32>
        memref.store %xv, %vc[%row, %d] : memref<?x8xf32>
      }
      "gpu.return"() : () -> ()
    }) {sym_name = "append", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

    "gpu.func"() <{function_type = (memref<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>, memref<8xf32>, memref<?x8xf32>, index, index, index) -> (), kernel}> ({
    ^bb0(%h: memref<?x8xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %w: memref<8xf32>, %t: memref<?x8xf32>, %S: index, %pos: index, %layer: index):
      %gid = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c8 = arith.constant 8 : index
      %zero = arith.constant 0.0 : f32
      %n = arith.muli %S, %c8 : index
      %in = arith.cmpi ult, %gid, %n : index
      scf.if %in {
        %s = arith.divui %gid, %c8 : index
        %d = arith.remui %gid, %c8 : index
        %row = arith.addi %pos, %s : index
        %len = arith.addi %row, %c1 : index
        %acc = scf.for %j = %c0 to %len step %c1 iter_args(%a = %zero) -> (f32) {
          %k = memref.load %kc[%j, %d] : memref<?x8xf32>
          %v = memref.load %vc[%j, %d] : memref<?x8xf32>
          %a2 = math.fma %k, %v, %a : f32
          scf.yield %a2 : f32
        }
        %lenf = arith.index_cast %len : index to i32
        %lenff = arith.sitofp %lenf : i32 to f32
        %mean = arith.divf %acc, %lenff : f32
        %th = math.tanh %mean : f32
        %wd = memref.load %w[%d] : memref<8xf32>
        %li = arith.index_cast %layer : index to i32
        %lf = arith.sitofp %li : i32 to f32
        %cent = arith.constant 0.01 : f32
        %bias = arith.mulf %lf, %cent : f32
        %r = math.fma %wd, %th, %bias : f32
        memref.store %r, %t[%s, %d] : memref<?x8xf32>
      }
      "gpu.return"() : () -> ()
    }) {sym_name = "mix", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

    "gpu.func"() <{function_type = (memref<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>, index, index) -> (), kernel}> ({
    ^bb0(%h: memref<?x8xf32>, %t: memref<?x8xf32>, %out: memref<?x8xf32>, %S: index, %pos: index):
      %gid = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
      %c8 = arith.constant 8 : index
      %n = arith.muli %S, %c8 : index
      %in = arith.cmpi ult, %gid, %n : index
      scf.if %in {
        %s = arith.divui %gid, %c8 : index
        %d = arith.remui %gid, %c8 : index
        %a = memref.load %h[%s, %d] : memref<?x8xf32>
        %b = memref.load %t[%s, %d] : memref<?x8xf32>
        %c = arith.addf %a, %b : f32
        memref.store %c, %out[%s, %d] : memref<?x8xf32>
      }
      "gpu.return"() : () -> ()
    }) {sym_name = "residual", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

    "gpu.func"() <{function_type = (memref<?x8xf32>, memref<16x8xf32>, memref<16xf32>, index, index) -> (), kernel}> ({
    ^bb0(%h: memref<?x8xf32>, %wout: memref<16x8xf32>, %logits: memref<16xf32>, %S: index, %pos: index):
      %v = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c8 = arith.constant 8 : index
      %zero = arith.constant 0.0 : f32
      %last = arith.subi %S, %c1 : index
      %acc = scf.for %d = %c0 to %c8 step %c1 iter_args(%a = %zero) -> (f32) {
        %x = memref.load %h[%last, %d] : memref<?x8xf32>
        %wv = memref.load %wout[%v, %d] : memref<16x8xf32>
        %a2 = math.fma %x, %wv, %a : f32
        scf.yield %a2 : f32
      }
      memref.store %acc, %logits[%v] : memref<16xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "logits", gpu.known_block_size = array<i32: 16, 1, 1>} : () -> ()

    "gpu.func"() <{function_type = (memref<16xf32>, memref<1xi32>, index, index) -> (), kernel}> ({
    ^bb0(%logits: memref<16xf32>, %out: memref<1xi32>, %S: index, %pos: index):
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c16 = arith.constant 16 : index
      %first = memref.load %logits[%c0] : memref<16xf32>
      %best:2 = scf.for %j = %c1 to %c16 step %c1 iter_args(%m = %first, %bi = %c0) -> (f32, index) {
        %x = memref.load %logits[%j] : memref<16xf32>
        %gt = arith.cmpf ogt, %x, %m : f32
        %m2 = arith.select %gt, %x, %m : f32
        %b2 = arith.select %gt, %j, %bi : index
        scf.yield %m2, %b2 : f32, index
      }
      %r = arith.index_cast %best#1 : index to i32
      memref.store %r, %out[%c0] : memref<1xi32>
      "gpu.return"() : () -> ()
    }) {sym_name = "argmax", gpu.known_block_size = array<i32: 1, 1, 1>} : () -> ()
  }) : () -> ()

  // One decoder layer, destination-passing style: writes %out.
  func.func @layer(%h: memref<?x8xf32>, %l: index, %pos: index, %out: memref<?x8xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %c63 = arith.constant 63 : index
    %c64 = arith.constant 64 : index
    %S = memref.dim %h, %c0 : memref<?x8xf32>
    %w = dispatch.weight "blk.{}.w"[%l] : memref<8xf32>
    %kc = dispatch.cache @kv[%l] {part = "k"} : memref<?x8xf32>
    %vc = dispatch.cache @kv[%l] {part = "v"} : memref<?x8xf32>
    %n = arith.muli %S, %c8 : index
    %n63 = arith.addi %n, %c63 : index
    %g = arith.divui %n63, %c64 : index
    "gpu.launch_func"(%g, %c1, %c1, %c64, %c1, %c1, %h, %w, %kc, %vc, %S, %pos) <{kernel = @kernels::@append, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 6, 0>}> : (index, index, index, index, index, index, memref<?x8xf32>, memref<8xf32>, memref<?x8xf32>, memref<?x8xf32>, index, index) -> ()
    %t = memref.alloc(%S) {rusty.slot = 2 : i64} : memref<?x8xf32>
    "gpu.launch_func"(%g, %c1, %c1, %c64, %c1, %c1, %h, %kc, %vc, %w, %t, %S, %pos, %l) <{kernel = @kernels::@mix, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 8, 0>}> : (index, index, index, index, index, index, memref<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>, memref<8xf32>, memref<?x8xf32>, index, index, index) -> ()
    "gpu.launch_func"(%g, %c1, %c1, %c64, %c1, %c1, %h, %t, %out, %S, %pos) <{kernel = @kernels::@residual, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 5, 0>}> : (index, index, index, index, index, index, memref<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>, index, index) -> ()
    return
  }

  func.func @prefill(%tokens: memref<?xi32>, %pos: index, %out: memref<1xi32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c8 = arith.constant 8 : index
    %c16 = arith.constant 16 : index
    %c64 = arith.constant 64 : index
    %S = memref.dim %tokens, %c0 : memref<?xi32>
    %n = arith.muli %S, %c8 : index
    %g = arith.ceildivui %n, %c64 : index
    %table = dispatch.weight "token_embd.weight" : memref<16x8xf32>
    %h0 = memref.alloc(%S) {rusty.slot = 0 : i64} : memref<?x8xf32>
    "gpu.launch_func"(%g, %c1, %c1, %c64, %c1, %c1, %tokens, %table, %h0, %S, %pos) <{kernel = @kernels::@embed, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 5, 0>}> : (index, index, index, index, index, index, memref<?xi32>, memref<16x8xf32>, memref<?x8xf32>, index, index) -> ()
    %spare = memref.alloc(%S) {rusty.slot = 1 : i64} : memref<?x8xf32>
    %hl:2 = scf.for %l = %c0 to %c2 step %c1 iter_args(%in = %h0, %o = %spare) -> (memref<?x8xf32>, memref<?x8xf32>) {
      func.call @layer(%in, %l, %pos, %o) : (memref<?x8xf32>, index, index, memref<?x8xf32>) -> ()
      scf.yield %o, %in : memref<?x8xf32>, memref<?x8xf32>
    }
    %wout = dispatch.weight "output.weight" : memref<16x8xf32>
    %logits = memref.alloc() {rusty.slot = 3 : i64} : memref<16xf32>
    "gpu.launch_func"(%c1, %c1, %c1, %c16, %c1, %c1, %hl#0, %wout, %logits, %S, %pos) <{kernel = @kernels::@logits, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 5, 0>}> : (index, index, index, index, index, index, memref<?x8xf32>, memref<16x8xf32>, memref<16xf32>, index, index) -> ()
    "gpu.launch_func"(%c1, %c1, %c1, %c1, %c1, %c1, %logits, %out, %S, %pos) <{kernel = @kernels::@argmax, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 4, 0>}> : (index, index, index, index, index, index, memref<16xf32>, memref<1xi32>, index, index) -> ()
    return
  }

  func.func @decode(%token: memref<1xi32>, %pos: index, %out: memref<1xi32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c16 = arith.constant 16 : index
    %c64 = arith.constant 64 : index
    %tokens = "memref.cast"(%token) : (memref<1xi32>) -> memref<?xi32>
    %S = memref.dim %tokens, %c0 : memref<?xi32>
    %table = dispatch.weight "token_embd.weight" : memref<16x8xf32>
    %h0 = memref.alloc(%S) {rusty.slot = 0 : i64} : memref<?x8xf32>
    "gpu.launch_func"(%c1, %c1, %c1, %c64, %c1, %c1, %tokens, %table, %h0, %S, %pos) <{kernel = @kernels::@embed, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 5, 0>}> : (index, index, index, index, index, index, memref<?xi32>, memref<16x8xf32>, memref<?x8xf32>, index, index) -> ()
    %spare = memref.alloc(%S) {rusty.slot = 1 : i64} : memref<?x8xf32>
    %hl:2 = scf.for %l = %c0 to %c2 step %c1 iter_args(%in = %h0, %o = %spare) -> (memref<?x8xf32>, memref<?x8xf32>) {
      func.call @layer(%in, %l, %pos, %o) : (memref<?x8xf32>, index, index, memref<?x8xf32>) -> ()
      scf.yield %o, %in : memref<?x8xf32>, memref<?x8xf32>
    }
    %wout = dispatch.weight "output.weight" : memref<16x8xf32>
    %logits = memref.alloc() {rusty.slot = 3 : i64} : memref<16xf32>
    "gpu.launch_func"(%c1, %c1, %c1, %c16, %c1, %c1, %hl#0, %wout, %logits, %S, %pos) <{kernel = @kernels::@logits, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 5, 0>}> : (index, index, index, index, index, index, memref<?x8xf32>, memref<16x8xf32>, memref<16xf32>, index, index) -> ()
    "gpu.launch_func"(%c1, %c1, %c1, %c1, %c1, %c1, %logits, %out, %S, %pos) <{kernel = @kernels::@argmax, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 4, 0>}> : (index, index, index, index, index, index, memref<16xf32>, memref<1xi32>, index, index) -> ()
    return
  }
}

// The header, declarations and each kernel's interface (the WGSL emitter's KernelInterface.to_dict).
// CHECK:      {
// CHECK-NEXT:   "format": "rusty-schedule",
// CHECK-NEXT:   "version": 1,
// CHECK-NEXT:   "entries": ["prefill", "decode"],
// CHECK-NEXT:   "kernels": {
// CHECK-NEXT:     "append": {
// CHECK-NEXT:       "name": "append",
// CHECK-NEXT:       "module": "kernels",
// CHECK-NEXT:       "entry_point": "append",
// CHECK-NEXT:       "workgroup_size": [64, 1, 1],
// CHECK-NEXT:       "buffers": [
// CHECK-NEXT:         {"binding": 0, "name": "h", "arg_index": 0, "access": "read", "element_type": "f32", "shape": [null, 8]},
// CHECK-NEXT:         {"binding": 1, "name": "w", "arg_index": 1, "access": "read", "element_type": "f32", "shape": [8]},
// CHECK-NEXT:         {"binding": 2, "name": "kc", "arg_index": 2, "access": "read_write", "element_type": "f32", "shape": [null, 8]},
// CHECK:        "params": {
// CHECK-NEXT:     "binding": 4,
// CHECK:          "fields": [
// CHECK-NEXT:       {"name": "S", "arg_index": 4, "type": "i32", "offset": 0, "ir_type": "index"},
// CHECK-NEXT:       {"name": "pos", "arg_index": 5, "type": "i32", "offset": 4, "ir_type": "index"}
// CHECK:        "argmax": {
// CHECK:        "embed": {
// CHECK:        "logits": {
// CHECK:        "mix": {
// CHECK:        "residual": {
// CHECK:        "kv_caches": [{"name": "kv", "num_layers": 2, "row_width": 8, "element_type": "f32", "block_size": 0}],
// CHECK-NEXT:   "slots": [
// CHECK-NEXT:     {"slot": 0, "element_types": ["f32"]},
// CHECK-NEXT:     {"slot": 1, "element_types": ["f32"]},
// CHECK-NEXT:     {"slot": 2, "element_types": ["f32"]},
// CHECK-NEXT:     {"slot": 3, "element_types": ["f32"]}
// CHECK-NEXT:   ],
// CHECK-NEXT:   "weights": [
// CHECK-NEXT:     {"name": "blk.{}.w", "layered": true, "scheme": "f32", "shape": [8]},
// CHECK-NEXT:     {"name": "output.weight", "layered": false, "scheme": "f32", "shape": [16, 8]},
// CHECK-NEXT:     {"name": "token_embd.weight", "layered": false, "scheme": "f32", "shape": [16, 8]}
// CHECK-NEXT:   ],

// The decoder layer: index arith becomes let steps (constants inlined), launches name their buffers and scalars.
// CHECK-NEXT:   "functions": {
// CHECK-NEXT:     "layer": {
// CHECK-NEXT:       "args": [
// CHECK-NEXT:         {"name": "h", "kind": "buffer", "element_type": "f32", "shape": [null, 8]},
// CHECK-NEXT:         {"name": "l", "kind": "index"},
// CHECK-NEXT:         {"name": "pos", "kind": "index"},
// CHECK-NEXT:         {"name": "out", "kind": "buffer", "element_type": "f32", "shape": [null, 8]}
// CHECK-NEXT:       ],
// CHECK-NEXT:       "body": [
// CHECK-NEXT:         {"op": "dim", "result": "S", "buffer": "h", "index": 0},
// CHECK-NEXT:         {"op": "weight", "result": "w", "name": "blk.{}.w", "layer": "l", "scheme": "f32", "shape": [8]},
// CHECK-NEXT:         {"op": "cache", "result": "kc", "cache": "kv", "part": "k", "layer": "l"},
// CHECK-NEXT:         {"op": "cache", "result": "vc", "cache": "kv", "part": "v", "layer": "l"},
// CHECK-NEXT:         {"op": "let", "result": "n", "expr": ["mul", "S", 8]},
// CHECK-NEXT:         {"op": "let", "result": "n63", "expr": ["add", "n", 63]},
// CHECK-NEXT:         {"op": "let", "result": "g", "expr": ["div", "n63", 64]},
// CHECK-NEXT:         {"op": "launch", "kernel": "append", "grid": ["g", 1, 1], "block": [64, 1, 1], "buffers": ["h", "w", "kc", "vc"], "scalars": ["S", "pos"]},
// CHECK-NEXT:         {"op": "alloc", "result": "t", "slot": 2, "element_type": "f32", "shape": ["S", 8]},
// CHECK-NEXT:         {"op": "launch", "kernel": "mix", "grid": ["g", 1, 1], "block": [64, 1, 1], "buffers": ["h", "kc", "vc", "w", "t"], "scalars": ["S", "pos", "l"]},
// CHECK-NEXT:         {"op": "launch", "kernel": "residual", "grid": ["g", 1, 1], "block": [64, 1, 1], "buffers": ["h", "t", "out"], "scalars": ["S", "pos"]},
// CHECK-NEXT:         {"op": "return", "values": []}
// CHECK-NEXT:       ]
// CHECK-NEXT:     },

// Prefill: S from the token buffer, a loop over the layers whose two buffers swap each iteration.
// CHECK-NEXT:     "prefill": {
// CHECK-NEXT:       "args": [
// CHECK-NEXT:         {"name": "tokens", "kind": "buffer", "element_type": "i32", "shape": [null]},
// CHECK-NEXT:         {"name": "pos", "kind": "index"},
// CHECK-NEXT:         {"name": "out", "kind": "buffer", "element_type": "i32", "shape": [1]}
// CHECK-NEXT:       ],
// CHECK-NEXT:       "body": [
// CHECK-NEXT:         {"op": "dim", "result": "S", "buffer": "tokens", "index": 0},
// CHECK-NEXT:         {"op": "let", "result": "n", "expr": ["mul", "S", 8]},
// CHECK-NEXT:         {"op": "let", "result": "g", "expr": ["ceildiv", "n", 64]},
// CHECK-NEXT:         {"op": "weight", "result": "table", "name": "token_embd.weight", "layer": null, "scheme": "f32", "shape": [16, 8]},
// CHECK-NEXT:         {"op": "alloc", "result": "h0", "slot": 0, "element_type": "f32", "shape": ["S", 8]},
// CHECK-NEXT:         {"op": "launch", "kernel": "embed", "grid": ["g", 1, 1], "block": [64, 1, 1], "buffers": ["tokens", "table", "h0"], "scalars": ["S", "pos"]},
// CHECK-NEXT:         {"op": "alloc", "result": "spare", "slot": 1, "element_type": "f32", "shape": ["S", 8]},
// CHECK-NEXT:         {
// CHECK-NEXT:           "op": "loop",
// CHECK-NEXT:           "iv": "l",
// CHECK-NEXT:           "lower": 0,
// CHECK-NEXT:           "upper": 2,
// CHECK-NEXT:           "step": 1,
// CHECK-NEXT:           "iter_args": {{\[\["in", "h0"\], \["o", "spare"\]\]}},
// CHECK-NEXT:           "body": [{"op": "call", "callee": "layer", "args": ["in", "l", "pos", "o"], "results": []}],
// CHECK-NEXT:           "yield": ["o", "in"],
// CHECK-NEXT:           "results": ["hl", "hl_1"]
// CHECK-NEXT:         },
// CHECK-NEXT:         {"op": "weight", "result": "wout", "name": "output.weight", "layer": null, "scheme": "f32", "shape": [16, 8]},
// CHECK-NEXT:         {"op": "alloc", "result": "logits", "slot": 3, "element_type": "f32", "shape": [16]},
// CHECK-NEXT:         {"op": "launch", "kernel": "logits", "grid": [1, 1, 1], "block": [16, 1, 1], "buffers": ["hl", "wout", "logits"], "scalars": ["S", "pos"]},
// CHECK-NEXT:         {"op": "launch", "kernel": "argmax", "grid": [1, 1, 1], "block": [1, 1, 1], "buffers": ["logits", "out"], "scalars": ["S", "pos"]},
// CHECK-NEXT:         {"op": "return", "values": []}
// CHECK-NEXT:       ]
// CHECK-NEXT:     },

// Decode: memref.cast is not a step (its result is the token buffer); constant grids are folded.
// CHECK-NEXT:     "decode": {
// CHECK-NEXT:       "args": [
// CHECK-NEXT:         {"name": "token", "kind": "buffer", "element_type": "i32", "shape": [1]},
// CHECK:            "body": [
// CHECK-NEXT:         {"op": "dim", "result": "S", "buffer": "token", "index": 0},
// CHECK-NEXT:         {"op": "weight", "result": "table", "name": "token_embd.weight", "layer": null, "scheme": "f32", "shape": [16, 8]},
// CHECK-NEXT:         {"op": "alloc", "result": "h0", "slot": 0, "element_type": "f32", "shape": ["S", 8]},
// CHECK-NEXT:         {"op": "launch", "kernel": "embed", "grid": [1, 1, 1], "block": [64, 1, 1], "buffers": ["token", "table", "h0"], "scalars": ["S", "pos"]},
// CHECK:              "op": "loop",
// CHECK:          {"op": "return", "values": []}
// CHECK-NEXT:       ]
// CHECK-NEXT:     }
// CHECK-NEXT:   }
// CHECK-NEXT: }
