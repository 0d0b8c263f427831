// RUN: rusty-opt %s -p 'split-bindings{max-bytes=120 alignment=4}' | filecheck %s
// RUN: rusty-opt %s -p 'split-bindings{max-bytes=120 alignment=4}' | rusty-translate --to-wgsl | filecheck %s --check-prefix=WGSL

// A 1-D word array read by 4-wide vector loads: 120 bytes would hold 30 words, but a part
// holds a multiple of 4 so that no aligned vector straddles two parts: 28, 28 and 8 words.
// Each vector.load becomes an scf.if chain like a scalar one, rebased into its part.
// CHECK:       gpu.func @words(%{{.*}}: memref<28xi32>, %{{.*}}: memref<28xi32>, %{{.*}}: memref<8xi32>, %{{.*}}: memref<?xi32>) kernel
// CHECK-SAME:  rusty.binding_parts = [array<i64: 0, 0, 0, 112>, array<i64: 1, 0, 112, 112>, array<i64: 2, 0, 224, 32>]
// CHECK:         %[[C28:.*]] = arith.constant 28 : index
// CHECK:         %{{.*}} = scf.if %{{.*}} -> (vector<4xi32>) {
// CHECK-NEXT:      %{{.*}} = vector.load %{{.*}}[%{{.*}}] : memref<28xi32>, vector<4xi32>
// CHECK:           %[[J:.*]] = arith.subi %{{.*}}, %[[C28]] : index
// CHECK-NEXT:      %{{.*}} = vector.load %{{.*}}[%[[J]]] : memref<28xi32>, vector<4xi32>
// CHECK:           %{{.*}} = vector.load %{{.*}} : memref<8xi32>, vector<4xi32>
// WGSL: var<storage, read> words_w_p0: array<vec4<i32>>;
// WGSL: var<storage, read> words_w_p2: array<vec4<i32>>;
builtin.module attributes {gpu.container_module} {
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<64xi32>, memref<?xi32>) -> (), kernel}> ({
    ^bb0(%w: memref<64xi32>, %out: memref<?xi32>):
      %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %c4 = arith.constant 4 : index
      %i = arith.muli %t, %c4 : index
      %v = vector.load %w[%i] : memref<64xi32>, vector<4xi32>
      vector.store %v, %out[%i] : memref<?xi32>, vector<4xi32>
      "gpu.return"() : () -> ()
    }) {sym_name = "words", gpu.known_block_size = array<i32: 16, 1, 1>} : () -> ()
  }) : () -> ()
}
