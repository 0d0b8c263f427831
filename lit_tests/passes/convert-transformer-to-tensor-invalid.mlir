// RUN: rusty-opt %s -p convert-transformer-to-tensor --split-input-file --verify-diagnostics

// The exact (erf) GELU has no lowering: GPU targets lack erf.
func.func @gelu_erf(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{tfm.gelu with approximate = "none" needs erf, which GPU targets lack; use "tanh"}}
  %r = tfm.gelu %a {approximate = "none"} : tensor<?x8xf32>
  func.return %r : tensor<?x8xf32>
}

// -----

// Only the leading (token) dimension may be dynamic: the kernels are generated for static rows.
func.func @dynamic_row_width(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{tensor<?x?xf32> is not supported: only the leading (token) dimension may be dynamic}}
  %r = tfm.add %a, %b : tensor<?x?xf32>
  func.return %r : tensor<?x?xf32>
}

// -----

// A dimension of size 0 has nothing to compute and no kernel for it.
func.func @zero_width(%a: tensor<?x0xf32>) -> tensor<?x0xf32> {
  // expected-error @+1 {{tensor<?x0xf32> is not supported}}
  %r = tfm.silu %a : tensor<?x0xf32>
  func.return %r : tensor<?x0xf32>
}
