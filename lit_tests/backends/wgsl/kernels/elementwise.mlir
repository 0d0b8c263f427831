// RUN: rusty-translate --to-wgsl %s | filecheck %s
// A fused elementwise kernel: out[i] = (a[i] + b[i]) * c[i] for i < n, one element per thread.
// tests/backends/test_wgsl_kernels.py runs it against numpy.

"gpu.module"() <{sym_name = "elementwise"}> ({
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>, index) -> (), kernel}> ({
  ^bb0(%a: memref<?xf32>, %b: memref<?xf32>, %c: memref<?xf32>, %out: memref<?xf32>, %n: index):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %in_range = arith.cmpi slt, %i, %n : index
    scf.if %in_range {
      %x = memref.load %a[%i] : memref<?xf32>
      %y = memref.load %b[%i] : memref<?xf32>
      %z = memref.load %c[%i] : memref<?xf32>
      %sum = arith.addf %x, %y : f32
      %r = arith.mulf %sum, %z : f32
      memref.store %r, %out[%i] : memref<?xf32>
    }
    "gpu.return"() : () -> ()
  }) {sym_name = "add_mul", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
}) : () -> ()

// CHECK-LABEL: // gpu.module @elementwise > gpu.func @add_mul
// CHECK-NEXT:  @group(0) @binding(0) var<storage, read> add_mul_a: array<f32>;
// CHECK-NEXT:  @group(0) @binding(1) var<storage, read> add_mul_b: array<f32>;
// CHECK-NEXT:  @group(0) @binding(2) var<storage, read> add_mul_c: array<f32>;
// CHECK-NEXT:  @group(0) @binding(3) var<storage, read_write> add_mul_out: array<f32>;
// CHECK-NEXT:  struct add_mul_Params {
// CHECK-NEXT:    n: i32,
// CHECK-NEXT:  }
// CHECK-NEXT:  @group(0) @binding(4) var<uniform> add_mul_params: add_mul_Params;
// CHECK-NEXT:  @compute @workgroup_size(64, 1, 1)
// CHECK-NEXT:  fn add_mul(@builtin(global_invocation_id) gid: vec3<u32>) {
// CHECK-NEXT:    let [[I:v_i]]: i32 = i32(gid.x);
// CHECK-NEXT:    let [[OK:v_in_range]]: bool = [[I]] < add_mul_params.n;
// CHECK-NEXT:    if ([[OK]]) {
// CHECK-NEXT:      let [[X:v_x]]: f32 = add_mul_a[[[I]]];
// CHECK-NEXT:      let [[Y:v_y]]: f32 = add_mul_b[[[I]]];
// CHECK-NEXT:      let [[Z:v_z]]: f32 = add_mul_c[[[I]]];
// CHECK-NEXT:      let [[SUM:v_sum]]: f32 = [[X]] + [[Y]];
// CHECK-NEXT:      let [[R:v_r]]: f32 = [[SUM]] * [[Z]];
// CHECK-NEXT:      add_mul_out[[[I]]] = [[R]];
// CHECK-NEXT:    }
// CHECK-NEXT:  }
