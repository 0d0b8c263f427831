// RUN: rusty-opt %s -p demo-reciprocal-div | filecheck %s

// Inside kernels, x / 64 becomes x * 0.015625; x / 3 (inexact) and the host's division stay.
// CHECK-LABEL: gpu.func @scale
// CHECK:         %[[R:.*]] = arith.constant 1.562500e-02 : f32
// CHECK:         %[[Y:.*]] = arith.mulf %{{.*}}, %[[R]] : f32
// CHECK:         arith.divf %[[Y]], %{{.*}} : f32
// CHECK-LABEL: func.func @host
// CHECK:         arith.divf
builtin.module attributes {gpu.container_module} {
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<4xf32>) -> (), kernel}> ({
    ^bb0(%a: memref<4xf32>):
      %c0 = arith.constant 0 : index
      %x = memref.load %a[%c0] : memref<4xf32>
      %c64 = arith.constant 6.400000e+01 : f32
      %c3 = arith.constant 3.000000e+00 : f32
      %y = arith.divf %x, %c64 : f32
      %z = arith.divf %y, %c3 : f32
      memref.store %z, %a[%c0] : memref<4xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "scale"} : () -> ()
  }) : () -> ()
  func.func @host(%x: f32) -> f32 {
    %c = arith.constant 2.000000e+00 : f32
    %y = arith.divf %x, %c : f32
    func.return %y : f32
  }
}
