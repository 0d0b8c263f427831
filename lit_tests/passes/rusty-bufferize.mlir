// RUN: rusty-opt %s -p rusty-bufferize --split-input-file | filecheck %s
// tests/passes/test_rusty_bufferize.py runs the last case before and after the pass on numpy.

// Two regions: the first result gets an alloc sized by memref.dim of the activation it comes
// from, the returned one is written straight into the function's out-param.
// CHECK-LABEL: func.func @two_regions
// CHECK-SAME:  (%[[X:.*]]: memref<?x8xf32>, %[[OUT:.*]]: memref<?x8xf32>) {
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[D:.*]] = memref.dim %[[X]], %[[C0]] : memref<?x8xf32>
// CHECK-NEXT:    %[[Y:.*]] = memref.alloc(%[[D]]) : memref<?x8xf32>
// CHECK-NEXT:    dispatch.region "double_0"(%[[X]], %[[Y]]) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
// CHECK-NEXT:    ^bb0(%[[P:.*]]: memref<?x8xf32>, %[[O:.*]]: memref<?x8xf32>):
// CHECK-NEXT:      %[[PT:.*]] = bufferization.to_tensor %[[P]] : memref<?x8xf32> to tensor<?x8xf32>
// CHECK:           %[[R:.*]] = linalg.generic {{.*}} ins(%[[PT]] : tensor<?x8xf32>)
// CHECK:           bufferization.materialize_in_destination %[[R]] in restrict writable %[[O]] : (tensor<?x8xf32>, memref<?x8xf32>) -> ()
// CHECK-NEXT:      dispatch.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    dispatch.region "double_1"(%[[Y]], %[[OUT]]) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
// CHECK:         func.return
// CHECK-NEXT:  }
func.func @two_regions(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %y = dispatch.region "double_0"(%x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%p: tensor<?x8xf32>):
    %c0 = arith.constant 0 : index
    %d = tensor.dim %p, %c0 : tensor<?x8xf32>
    %e = tensor.empty(%d) : tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(s, n) -> (s, n)>, affine_map<(s, n) -> (s, n)>], iterator_types = [#linalg.iterator_type<parallel>, #linalg.iterator_type<parallel>]} ins(%p : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%a: f32, %o: f32):
      %s = arith.addf %a, %a : f32
      linalg.yield %s : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  %z = dispatch.region "double_1"(%y) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%p: tensor<?x8xf32>):
    %c0 = arith.constant 0 : index
    %d = tensor.dim %p, %c0 : tensor<?x8xf32>
    %e = tensor.empty(%d) : tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(s, n) -> (s, n)>, affine_map<(s, n) -> (s, n)>], iterator_types = [#linalg.iterator_type<parallel>, #linalg.iterator_type<parallel>]} ins(%p : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%a: f32, %o: f32):
      %s = arith.addf %a, %a : f32
      linalg.yield %s : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  func.return %z : tensor<?x8xf32>
}

// -----

// Host shape ops, a quantized weight (the words of its bytes, with the tensor they store), a KV cache buffer
// written by a region without results,
// a static result size, and a non-tensor result that stays a result.
// CHECK-LABEL: func.func @host_ops
// CHECK-SAME:  (%[[X:.*]]: memref<?x32xf32>, %[[L:.*]]: index, %[[OUT:.*]]: memref<4xf32>) -> index {
// CHECK:         %[[W:.*]] = dispatch.weight "blk.{}.w"[%[[L]]] {stored = tensor<4x32x!rquant.q8_0>} : memref<34xi32>
// CHECK-NEXT:    %[[KC:.*]] = dispatch.cache @kv[%[[L]]] {part = "k"} : memref<?x32xf32>
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[S:.*]] = memref.dim %[[X]], %[[C0]] : memref<?x32xf32>
// CHECK-NEXT:    %[[XC:.*]] = "memref.cast"(%[[X]]) : (memref<?x32xf32>) -> memref<?x32xf32>
// CHECK-NEXT:    dispatch.region "append_0"(%[[XC]], %[[KC]], %[[L]]) : (memref<?x32xf32>, memref<?x32xf32>, index) -> () {
// CHECK-NEXT:    ^bb0(%[[A:.*]]: memref<?x32xf32>, %[[K:.*]]: memref<?x32xf32>, %{{.*}}: index):
// CHECK-NEXT:      %[[AT:.*]] = bufferization.to_tensor %[[A]] : memref<?x32xf32> to tensor<?x32xf32>
// CHECK-NEXT:      linalg_ext.cache_append %[[AT]], %[[AT]] into %[[K]], %[[K]] at
// CHECK-NEXT:      dispatch.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    dispatch.region "gemv_1"(%[[W]], %[[OUT]]) : (memref<34xi32>, memref<4xf32>) -> () {
// CHECK-NEXT:    ^bb0(%[[WA:.*]]: memref<34xi32>, %[[O:.*]]: memref<4xf32>):
// CHECK-NEXT:      %[[WT:.*]] = rquant.to_tensor %[[WA]] : memref<34xi32> to tensor<4x32x!rquant.q8_0>
// CHECK:         func.return %[[S]] : index
// dispatch.kv_cache @kv {...} does not parse back (its sym_name parses as a symbol ref): generic form.
"dispatch.kv_cache"() <{sym_name = "kv", num_layers = 2 : i64, row_width = 32 : i64}> : () -> ()
func.func @host_ops(%x: tensor<?x32xf32>, %l: index) -> (tensor<4xf32>, index) {
  %w = dispatch.weight "blk.{}.w"[%l] : tensor<4x32x!rquant.q8_0>
  %kc = dispatch.cache @kv[%l] {part = "k"} : memref<?x32xf32>
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x32xf32>
  %xc = tensor.cast %x : tensor<?x32xf32> to tensor<?x32xf32>
  dispatch.region "append_0"(%xc, %kc, %l) : (tensor<?x32xf32>, memref<?x32xf32>, index) -> () {
  ^bb0(%a: tensor<?x32xf32>, %k: memref<?x32xf32>, %pos: index):
    linalg_ext.cache_append %a, %a into %k, %k at %pos : tensor<?x32xf32>, tensor<?x32xf32>, memref<?x32xf32>, memref<?x32xf32>
    dispatch.yield
  }
  %y = dispatch.region "gemv_1"(%w) : (tensor<4x32x!rquant.q8_0>) -> tensor<4xf32> {
  ^bb0(%wa: tensor<4x32x!rquant.q8_0>):
    %f = rquant.dequantize %wa : tensor<4x32x!rquant.q8_0> -> tensor<4x32xf32>
    %e = tensor.empty() : tensor<4xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(n, k) -> (n, k)>, affine_map<(n, k) -> (n)>], iterator_types = [#linalg.iterator_type<parallel>, #linalg.iterator_type<reduction>]} ins(%f : tensor<4x32xf32>) outs(%e : tensor<4xf32>) {
    ^bb1(%a: f32, %acc: f32):
      %t = arith.addf %acc, %a : f32
      linalg.yield %t : f32
    } -> tensor<4xf32>
    dispatch.yield %r : tensor<4xf32>
  }
  func.return %y, %s : tensor<4xf32>, index
}

// -----

// A quantized argument (a function's and a declaration's) becomes the words of its bytes, marked with the
// tensor they store (rquant.stored), which the region reads back with rquant.to_tensor.
// (xDSL prints no argument attributes on a declaration: its rquant.stored shows in the generic form only.)
// CHECK-LABEL: func.func private @ext(memref<18xi32>, memref<4xf32>)
// CHECK-LABEL: func.func @quantized_arg
// CHECK-SAME:  (%[[W:.*]]: memref<18xi32> {rquant.stored = tensor<4x32x!rquant.q4_0>}, %[[OUT:.*]]: memref<4xf32>) {
// CHECK-NEXT:    dispatch.region "deq_0"(%[[W]], %[[OUT]]) : (memref<18xi32>, memref<4xf32>) -> () {
// CHECK-NEXT:    ^bb0(%[[WA:.*]]: memref<18xi32>, %{{.*}}: memref<4xf32>):
// CHECK-NEXT:      %{{.*}} = rquant.to_tensor %[[WA]] : memref<18xi32> to tensor<4x32x!rquant.q4_0>
func.func private @ext(tensor<4x32x!rquant.q4_0>) -> tensor<4xf32>
func.func @quantized_arg(%w: tensor<4x32x!rquant.q4_0>) -> tensor<4xf32> {
  %r = dispatch.region "deq_0"(%w) : (tensor<4x32x!rquant.q4_0>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4x32x!rquant.q4_0>):
    %f = rquant.dequantize %a : tensor<4x32x!rquant.q4_0> -> tensor<4x32xf32>
    %s = tensor.extract_slice %f[0, 0] [4, 1] [1, 1] : tensor<4x32xf32> to tensor<4xf32>
    dispatch.yield %s : tensor<4xf32>
  }
  func.return %r : tensor<4xf32>
}

// -----

// The model's structure: a layer function called in an scf.for over layers. The loop-carried
// activation becomes two swapping buffers; the call's result is written straight into the
// loop's out buffer, the layer's result into its out-param, the entry's into its out-param.
// CHECK-LABEL: func.func @layer
// CHECK-SAME:  (%[[H:.*]]: memref<?x8xf32>, %[[W:.*]]: memref<8x8xf32>, %[[OUT:.*]]: memref<?x8xf32>) {
// CHECK:         %[[D:.*]] = memref.dim %[[H]], %{{.*}} : memref<?x8xf32>
// CHECK-NEXT:    %[[Y:.*]] = memref.alloc(%[[D]]) : memref<?x8xf32>
// CHECK-NEXT:    dispatch.region "matmul_0"(%[[H]], %[[W]], %[[Y]])
// CHECK:         dispatch.region "add_1"(%[[Y]], %[[H]], %[[OUT]])
// CHECK:         func.return
// CHECK-NEXT:  }
// CHECK-LABEL: func.func @main
// CHECK-SAME:  (%[[X:.*]]: memref<?x8xf32>, %[[N:.*]]: index, %[[OUT:.*]]: memref<?x8xf32>) {
// CHECK:         %[[H0:.*]] = memref.alloc(%{{.*}}) : memref<?x8xf32>
// CHECK-NEXT:    dispatch.region "scale_0"(%[[X]], %[[H0]])
// CHECK:         %[[D:.*]] = memref.dim %[[H0]], %{{.*}} : memref<?x8xf32>
// CHECK-NEXT:    %[[SPARE:.*]] = memref.alloc(%[[D]]) : memref<?x8xf32>
// CHECK-NEXT:    %[[H:.*]], %{{.*}} = scf.for %[[L:.*]] = %{{.*}} to %[[N]] step %{{.*}} iter_args(%[[IN:.*]] = %[[H0]], %[[LOUT:.*]] = %[[SPARE]]) -> (memref<?x8xf32>, memref<?x8xf32>) {
// CHECK-NEXT:      %[[WL:.*]] = dispatch.weight "blk.{}.w"[%[[L]]] : memref<8x8xf32>
// CHECK-NEXT:      func.call @layer(%[[IN]], %[[WL]], %[[LOUT]]) : (memref<?x8xf32>, memref<8x8xf32>, memref<?x8xf32>) -> ()
// CHECK-NEXT:      scf.yield %[[LOUT]], %[[IN]] : memref<?x8xf32>, memref<?x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    dispatch.region "neg_2"(%[[H]], %[[OUT]])
// CHECK:         func.return
// CHECK-NEXT:  }
func.func @layer(%h: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %y = dispatch.region "matmul_0"(%h, %w) : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%x: tensor<?x8xf32>, %ww: tensor<8x8xf32>):
    %c0 = arith.constant 0 : index
    %d = tensor.dim %x, %c0 : tensor<?x8xf32>
    %e = tensor.empty(%d) : tensor<?x8xf32>
    %zero = arith.constant 0.0 : f32
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(s, n, k) -> (s, k)>, affine_map<(s, n, k) -> (n, k)>, affine_map<(s, n, k) -> (s, n)>], iterator_types = [#linalg.iterator_type<parallel>, #linalg.iterator_type<parallel>, #linalg.iterator_type<reduction>]} ins(%x, %ww : tensor<?x8xf32>, tensor<8x8xf32>) outs(%f : tensor<?x8xf32>) {
    ^bb1(%a: f32, %b: f32, %acc: f32):
      %m = arith.mulf %a, %b : f32
      %s = arith.addf %acc, %m : f32
      linalg.yield %s : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  %z = dispatch.region "add_1"(%y, %h) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%p: tensor<?x8xf32>, %q: tensor<?x8xf32>):
    %c0 = arith.constant 0 : index
    %d = tensor.dim %p, %c0 : tensor<?x8xf32>
    %e = tensor.empty(%d) : tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(s, n) -> (s, n)>, affine_map<(s, n) -> (s, n)>, affine_map<(s, n) -> (s, n)>], iterator_types = [#linalg.iterator_type<parallel>, #linalg.iterator_type<parallel>]} ins(%p, %q : tensor<?x8xf32>, tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%a: f32, %b: f32, %o: f32):
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  func.return %z : tensor<?x8xf32>
}

func.func @main(%x: tensor<?x8xf32>, %n: index) -> tensor<?x8xf32> {
  %h0 = dispatch.region "scale_0"(%x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%p: tensor<?x8xf32>):
    %c0 = arith.constant 0 : index
    %d = tensor.dim %p, %c0 : tensor<?x8xf32>
    %e = tensor.empty(%d) : tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(s, n) -> (s, n)>, affine_map<(s, n) -> (s, n)>], iterator_types = [#linalg.iterator_type<parallel>, #linalg.iterator_type<parallel>]} ins(%p : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%a: f32, %o: f32):
      %two = arith.constant 2.0 : f32
      %s = arith.mulf %a, %two : f32
      linalg.yield %s : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  %i0 = arith.constant 0 : index
  %i1 = arith.constant 1 : index
  %h = scf.for %l = %i0 to %n step %i1 iter_args(%hi = %h0) -> (tensor<?x8xf32>) {
    %w = dispatch.weight "blk.{}.w"[%l] : tensor<8x8xf32>
    %o = func.call @layer(%hi, %w) : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
    scf.yield %o : tensor<?x8xf32>
  }
  %r = dispatch.region "neg_2"(%h) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%p: tensor<?x8xf32>):
    %c0 = arith.constant 0 : index
    %d = tensor.dim %p, %c0 : tensor<?x8xf32>
    %e = tensor.empty(%d) : tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(s, n) -> (s, n)>, affine_map<(s, n) -> (s, n)>], iterator_types = [#linalg.iterator_type<parallel>, #linalg.iterator_type<parallel>]} ins(%p : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%a: f32, %o: f32):
      %s = arith.negf %a : f32
      linalg.yield %s : f32
    } -> tensor<?x8xf32>
    dispatch.yield %r : tensor<?x8xf32>
  }
  func.return %r : tensor<?x8xf32>
}

