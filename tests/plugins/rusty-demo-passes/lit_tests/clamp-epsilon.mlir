// RUN: rusty-opt %s -p 'demo-clamp-epsilon{min=1.0e-5}' 2>/dev/null | filecheck %s
// RUN: rusty-opt %s -p 'demo-clamp-epsilon{min=1.0e-5}' --verify-diagnostics

// A norm below min is raised to it, one above keeps its own; one remark per function that changed.
// CHECK-LABEL: func.func @layer
// CHECK:         tfm.rms_norm %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f32}
// CHECK:         tfm.rms_norm %{{.*}}, %{{.*}} {epsilon = 1.000000e-04 : f32}
func.func @layer(%x: tensor<?x64xf32>, %w: tensor<64xf32>) -> tensor<?x64xf32> {  // expected-remark {{raised the epsilon of 1 rms_norm ops to 1e-05}}
  %a = tfm.rms_norm %x, %w {epsilon = 1.000000e-06 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %b = tfm.rms_norm %a, %w {epsilon = 1.000000e-04 : f32} : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  func.return %b : tensor<?x64xf32>
}
