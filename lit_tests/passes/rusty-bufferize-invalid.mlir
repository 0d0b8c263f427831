// RUN: rusty-opt %s -p rusty-bufferize --split-input-file --verify-diagnostics

// Returning an argument would need a copy into the out-param.
func.func @return_argument(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{operand #0 of 'func.return' is not computed in its destination buffer; it would need a copy}}
  func.return %x : tensor<?x8xf32>
}

// -----

// A tensor computation left outside any dispatch.region.
func.func @host_compute(%x: tensor<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %d = tensor.dim %x, %c0 : tensor<?x8xf32>
  // expected-error @+1 {{unexpected host op 'tensor.empty' with tensor operands or results}}
  %e = tensor.empty(%d) : tensor<?x8xf32>
  func.return
}

// -----

// A loop would overwrite the caller's buffer it starts from.
func.func @loop_from_argument(%x: tensor<?x8xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{a loop-carried tensor must start from a value computed in this function}}
  %h = scf.for %i = %c0 to %n step %c1 iter_args(%hi = %x) -> (tensor<?x8xf32>) {
    scf.yield %hi : tensor<?x8xf32>
  }
  func.return
}

// -----

// The same value returned twice would need a copy for the second out-param.
func.func @returned_twice(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %y = dispatch.region "copy_0"(%x) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%a: tensor<8xf32>):
    dispatch.yield %a : tensor<8xf32>
  }
  // expected-error @+1 {{operand #1 of 'func.return' is not computed in its destination buffer}}
  func.return %y, %y : tensor<8xf32>, tensor<8xf32>
}
