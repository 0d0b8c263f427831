// RUN: not rusty-opt %s -p demo-reciprocal-div 2>&1 | filecheck %s
// RUN: rusty-opt %s -p demo-reciprocal-div --verify-diagnostics

// A division by the constant 0 is an error at the division, with a note at the constant.
// CHECK: error: 'arith.divf' op division by the constant 0: the kernel would compute inf or NaN
// CHECK: note: the constant is defined here
builtin.module attributes {gpu.container_module} {
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<4xf32>) -> (), kernel}> ({
    ^bb0(%a: memref<4xf32>):
      %c0 = arith.constant 0 : index
      %x = memref.load %a[%c0] : memref<4xf32>
      %zero = arith.constant 0.000000e+00 : f32  // expected-note {{the constant is defined here}}
      %y = arith.divf %x, %zero : f32  // expected-error {{division by the constant 0}}
      memref.store %y, %a[%c0] : memref<4xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "broken"} : () -> ()
  }) : () -> ()
}
