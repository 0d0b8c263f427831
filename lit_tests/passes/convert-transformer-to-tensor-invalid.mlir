// RUN: rusty-opt %s -p convert-transformer-to-tensor --split-input-file --verify-diagnostics

// The exact (erf) GELU has no lowering: GPU targets lack erf.
func.func @gelu_erf(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{tfm.gelu with approximate = "none" needs erf, which GPU targets lack; use "tanh"}}
  %r = tfm.gelu %a {approximate = "none"} : tensor<?x8xf32>
  func.return %r : tensor<?x8xf32>
}
