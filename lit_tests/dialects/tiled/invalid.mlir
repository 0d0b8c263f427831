// RUN: rusty-opt %s --split-input-file --verify-diagnostics

func.func @workgroup_rank() {
  // expected-error @+1 {{workgroup_size must be three positive sizes}}
  tiled.kernel "k"() {workgroup_size = array<i64: 64, 1>} : grid {
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
    tiled.yield
  }
  func.return
}

// -----

func.func @workgroup_too_large() {
  // expected-error @+1 {{workgroup_size [65536, 65536, 2] has more than 1024 invocations (no GPU runs a larger workgroup)}}
  tiled.kernel "k"() {workgroup_size = array<i64: 65536, 65536, 2>} : grid {
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
    tiled.yield
  }
  func.return
}

// -----

func.func @workgroup_zero() {
  // expected-error @+1 {{workgroup_size must be three positive sizes}}
  tiled.kernel "k"() {workgroup_size = array<i64: 64, 0, 1>} : grid {
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
    tiled.yield
  }
  func.return
}

// -----

func.func @grid_arg_count(%x: memref<4xf32>) {
  // expected-error @+1 {{grid must take one block argument per kernel argument}}
  tiled.kernel "k"(%x) {workgroup_size = array<i64: 64, 1, 1>} : memref<4xf32> grid {
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<4xf32>):
    tiled.yield
  }
  func.return
}

// -----

func.func @body_arg_count(%x: memref<4xf32>) {
  // expected-error @+1 {{body must take one block argument per kernel argument}}
  tiled.kernel "k"(%x) {workgroup_size = array<i64: 64, 1, 1>} : memref<4xf32> grid {
  ^bb0(%a: memref<4xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
    tiled.yield
  }
  func.return
}

// -----

func.func @body_arg_type(%x: memref<4xf32>) {
  // expected-error @+1 {{body argument type memref<4xf16> cannot bind operand of type memref<4xf32>}}
  tiled.kernel "k"(%x) {workgroup_size = array<i64: 64, 1, 1>} : memref<4xf32> grid {
  ^bb0(%a: memref<4xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<4xf16>):
    tiled.yield
  }
  func.return
}

// -----

// Raw words must be a 1-D i32 buffer.
func.func @words_rank(%w: memref<34xi32> {rquant.stored = tensor<4x32x!rquant.q8_0>}) {
  // expected-error @+1 {{grid argument type memref<2x17xi32> cannot bind operand of type memref<34xi32>}}
  tiled.kernel "k"(%w) {workgroup_size = array<i64: 64, 1, 1>} : memref<34xi32> grid {
  ^bb0(%a: memref<2x17xi32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%a: memref<2x17xi32>):
    tiled.yield
  }
  func.return
}

// -----

func.func @scalar_type(%n: index) {
  // expected-error @+1 {{grid argument type i32 cannot bind operand of type index}}
  tiled.kernel "k"(%n) {workgroup_size = array<i64: 64, 1, 1>} : index grid {
  ^bb0(%m: i32):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%m: i32):
    tiled.yield
  }
  func.return
}

// -----

func.func @grid_two_counts() {
  // expected-error @+1 {{grid must end with tiled.yield of three index values}}
  tiled.kernel "k"() {workgroup_size = array<i64: 64, 1, 1>} : grid {
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1 : index, index
  } body {
    tiled.yield
  }
  func.return
}

// -----

func.func @grid_i32_counts() {
  // expected-error @+1 {{grid must end with tiled.yield of three index values}}
  tiled.kernel "k"() {workgroup_size = array<i64: 64, 1, 1>} : grid {
    %c1 = arith.constant 1 : i32
    tiled.yield %c1, %c1, %c1 : i32, i32, i32
  } body {
    tiled.yield
  }
  func.return
}

// -----

func.func @grid_without_yield() {
  // expected-error @+1 {{grid must end with tiled.yield of three index values}}
  tiled.kernel "k"() {workgroup_size = array<i64: 64, 1, 1>} : grid {
    "test.op"() : () -> ()
  } body {
    tiled.yield
  }
  func.return
}

// -----

func.func @body_yields_values() {
  // expected-error @+1 {{body must end with an empty tiled.yield}}
  tiled.kernel "k"() {workgroup_size = array<i64: 64, 1, 1>} : grid {
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
    %c1 = arith.constant 1 : index
    tiled.yield %c1 : index
  }
  func.return
}

// -----

func.func @kernel_isolated(%x: memref<4xf32>) {
  // expected-error @+1 {{Operation using value defined out of its IsolatedFromAbove parent}}
  tiled.kernel "k"() {workgroup_size = array<i64: 64, 1, 1>} : grid {
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
    %c0 = arith.constant 0 : index
    %v = memref.load %x[%c0] : memref<4xf32>
    tiled.yield
  }
  func.return
}

// -----

func.func @yield_outside_kernel() {
  // expected-error @+1 {{'tiled.yield' op 'tiled.yield' expects parent op to be one of 'tiled.kernel', 'tiled.forall', 'tiled.promote'}}
  tiled.yield
}
