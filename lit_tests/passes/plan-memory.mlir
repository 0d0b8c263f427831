// RUN: rusty-opt %s -p plan-memory --split-input-file | filecheck %s

// A chain of kernels: %a is dead once %c is allocated, so they share a slot.
// CHECK-LABEL: builtin.module attributes {rusty.memory = {allocs = 3 : i64, slots = 2 : i64}}
// CHECK-LABEL: func.func @chain
// CHECK:         %a = memref.alloc(%{{.*}}) {rusty.slot = 0 : i64} : memref<?x8xf32>
// CHECK:         %b = memref.alloc(%{{.*}}) {rusty.slot = 1 : i64} : memref<?x8xf32>
// CHECK:         %c = memref.alloc(%{{.*}}) {rusty.slot = 0 : i64} : memref<?x8xf32>
func.func @chain(%x: memref<?x8xf32>, %out: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %s = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%s) : memref<?x8xf32>
  dispatch.region "k0"(%x, %a) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
    dispatch.yield
  }
  %b = memref.alloc(%s) : memref<?x8xf32>
  dispatch.region "k1"(%a, %b) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
    dispatch.yield
  }
  %c = memref.alloc(%s) : memref<?x8xf32>
  dispatch.region "k2"(%b, %c) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
    dispatch.yield
  }
  dispatch.region "k3"(%c, %out) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
    dispatch.yield
  }
  func.return
}

// -----

// Buffers used in a loop (the swapping pair) are live for the whole loop, and so is what
// the loop's result may hold; a temporary inside the body lives within one iteration, so
// the buffer allocated after the loop reuses its slot. The callee gets its own slot range.
// CHECK-LABEL: builtin.module attributes {rusty.memory = {allocs = 5 : i64, slots = 4 : i64}}
// CHECK-LABEL: func.func @layer
// CHECK:         %y = memref.alloc(%{{.*}}) {rusty.slot = 0 : i64} : memref<?x8xf32>
// CHECK-LABEL: func.func @main
// CHECK:         %h0 = memref.alloc(%{{.*}}) {rusty.slot = 1 : i64} : memref<?x8xf32>
// CHECK:         %spare = memref.alloc(%{{.*}}) {rusty.slot = 2 : i64} : memref<?x8xf32>
// CHECK:         scf.for
// CHECK:           %t = memref.alloc(%{{.*}}) {rusty.slot = 3 : i64} : memref<?x8xf32>
// CHECK:         %z = memref.alloc(%{{.*}}) {rusty.slot = 3 : i64} : memref<?x8xf32>
func.func @layer(%h: memref<?x8xf32>, %out: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %s = memref.dim %h, %c0 : memref<?x8xf32>
  %y = memref.alloc(%s) : memref<?x8xf32>
  dispatch.region "l0"(%h, %y) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
    dispatch.yield
  }
  dispatch.region "l1"(%y, %out) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
    dispatch.yield
  }
  func.return
}
func.func @main(%x: memref<?x8xf32>, %n: index, %out: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %s = memref.dim %x, %c0 : memref<?x8xf32>
  %h0 = memref.alloc(%s) : memref<?x8xf32>
  dispatch.region "m0"(%x, %h0) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
    dispatch.yield
  }
  %spare = memref.alloc(%s) : memref<?x8xf32>
  %h, %other = scf.for %i = %c0 to %n step %c1 iter_args(%in = %h0, %o = %spare) -> (memref<?x8xf32>, memref<?x8xf32>) {
    %t = memref.alloc(%s) : memref<?x8xf32>
    func.call @layer(%in, %t) : (memref<?x8xf32>, memref<?x8xf32>) -> ()
    dispatch.region "m1"(%t, %o) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
    ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
      dispatch.yield
    }
    scf.yield %o, %in : memref<?x8xf32>, memref<?x8xf32>
  }
  %z = memref.alloc(%s) : memref<?x8xf32>
  dispatch.region "m2"(%h, %z) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
    dispatch.yield
  }
  dispatch.region "m3"(%z, %out) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>):
    dispatch.yield
  }
  func.return
}

// -----

// Entries (functions nothing calls) run one at a time, so they share one range, after the range of
// the function they call: @prefill and @decode both start at slot 1, the callee @norm holds slot 0.
// CHECK-LABEL: builtin.module attributes {rusty.memory = {allocs = 4 : i64, slots = 3 : i64}}
// CHECK-LABEL: func.func @prefill
// CHECK:         %a = memref.alloc(%{{.*}}) {rusty.slot = 1 : i64} : memref<?x8xf32>
// CHECK:         %b = memref.alloc(%{{.*}}) {rusty.slot = 2 : i64} : memref<?x8xf32>
// CHECK-LABEL: func.func @norm
// CHECK:         %n = memref.alloc() {rusty.slot = 0 : i64} : memref<8xf32>
// CHECK-LABEL: func.func @decode
// CHECK:         %d = memref.alloc() {rusty.slot = 1 : i64} : memref<1x8xf32>
func.func @prefill(%x: memref<?x8xf32>, %out: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %s = memref.dim %x, %c0 : memref<?x8xf32>
  %a = memref.alloc(%s) : memref<?x8xf32>
  %b = memref.alloc(%s) : memref<?x8xf32>
  dispatch.region "p0"(%x, %a, %b) : (memref<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>, %r: memref<?x8xf32>):
    dispatch.yield
  }
  func.call @norm(%a, %b, %out) : (memref<?x8xf32>, memref<?x8xf32>, memref<?x8xf32>) -> ()
  func.return
}
func.func @norm(%x: memref<?x8xf32>, %y: memref<?x8xf32>, %out: memref<?x8xf32>) {
  %n = memref.alloc() : memref<8xf32>
  dispatch.region "n0"(%x, %y, %n, %out) : (memref<?x8xf32>, memref<?x8xf32>, memref<8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%p: memref<?x8xf32>, %q: memref<?x8xf32>, %r: memref<8xf32>, %o: memref<?x8xf32>):
    dispatch.yield
  }
  func.return
}
func.func @decode(%x: memref<1x8xf32>, %out: memref<1x8xf32>) {
  %d = memref.alloc() : memref<1x8xf32>
  dispatch.region "d0"(%x, %d, %out) : (memref<1x8xf32>, memref<1x8xf32>, memref<1x8xf32>) -> () {
  ^bb0(%p: memref<1x8xf32>, %q: memref<1x8xf32>, %o: memref<1x8xf32>):
    dispatch.yield
  }
  func.return
}

// -----

// When several slots are free, one last used by a buffer of the same type is preferred.
// CHECK-LABEL: func.func @same_type
// CHECK:         %a = memref.alloc() {rusty.slot = 0 : i64} : memref<8xf32>
// CHECK:         %b = memref.alloc() {rusty.slot = 1 : i64} : memref<4xf32>
// CHECK:         %c = memref.alloc() {rusty.slot = 1 : i64} : memref<4xf32>
// CHECK:         %d = memref.alloc() {rusty.slot = 0 : i64} : memref<8xf32>
func.func @same_type(%out: memref<4xf32>) {
  %a = memref.alloc() : memref<8xf32>
  %b = memref.alloc() : memref<4xf32>
  dispatch.region "s0"(%a, %b) : (memref<8xf32>, memref<4xf32>) -> () {
  ^bb0(%p: memref<8xf32>, %q: memref<4xf32>):
    dispatch.yield
  }
  %c = memref.alloc() : memref<4xf32>
  %d = memref.alloc() : memref<8xf32>
  dispatch.region "s1"(%c, %d) : (memref<4xf32>, memref<8xf32>) -> () {
  ^bb0(%p: memref<4xf32>, %q: memref<8xf32>):
    dispatch.yield
  }
  func.return
}

// -----

// Kernel-internal allocs are never given a slot (the pass does not enter kernel bodies), and a
// module without host allocs still gets its summary.

// CHECK-LABEL: builtin.module attributes {rusty.memory = {allocs = 0 : i64, slots = 0 : i64}}
// CHECK:         %t = memref.alloc() : memref<4xf32>
func.func @kernel_alloc(%x: memref<4xf32>) {
  dispatch.region "k"(%x) : (memref<4xf32>) -> () {
  ^bb0(%p: memref<4xf32>):
    %t = memref.alloc() : memref<4xf32>
    dispatch.yield
  }
  func.return
}
