// RUN: rusty-opt %s -p 'split-bindings{max-bytes=128 alignment=32}' --split-input-file | filecheck %s
// RUN: rusty-opt %s -p 'split-bindings{max-bytes=128 alignment=32}' --split-input-file | rusty-translate --to-schedule --split-input-file | filecheck %s --check-prefix=ABI
// RUN: rusty-opt %s -p 'split-bindings{max-bytes=128 alignment=32}' --split-input-file | rusty-translate --to-wgsl --split-input-file | filecheck %s --check-prefix=WGSL
// RUN: rusty-opt %s -p 'split-bindings{max-bytes=128 alignment=32}' --split-input-file | rusty-translate --to-msl --split-input-file | filecheck %s --check-prefix=MSL
// RUN: rusty-opt %s -p 'split-bindings{max-bytes=128 alignment=32},split-bindings{max-bytes=64 alignment=32}' --split-input-file | filecheck %s --check-prefix=TWICE
// tests/backends/test_split_bindings.py runs a split kernel on wgpu (and as MSL) against numpy.

// Splitting parts again composes: offsets stay relative to the original argument.
// TWICE: gpu.launch_func @kernels::@gather blocks in (%{{.*}}) threads in (%{{.*}}) args(%[[W:[^ ]*]] : memref<64xi32>, %[[W]] : memref<64xi32>, %[[W]] : memref<64xi32>, %[[W]] : memref<64xi32>, %[[M:[^ ]*]] : memref<10x8xf32>, %[[M]] : memref<10x8xf32>, %[[M]] : memref<10x8xf32>, %[[M]] : memref<10x8xf32>, %[[M]] : memref<10x8xf32>, %{{.*}})
// TWICE: rusty.binding_parts = [array<i64: 0, 0, 0, 64>, array<i64: 1, 0, 64, 64>, array<i64: 2, 0, 128, 64>, array<i64: 3, 0, 192, 64>, array<i64: 4, 1, 0, 64>, array<i64: 5, 1, 64, 64>, array<i64: 6, 1, 128, 64>, array<i64: 7, 1, 192, 64>, array<i64: 8, 1, 256, 64>]

// A 256-byte word array (1-D: a row is one i32) becomes two parts of 32 words; a 10x8xf32
// matrix (32-byte rows) parts of 4, 4 and 2 rows. Each load becomes an scf.if chain on the
// row index, rebased into the part; the launch passes each buffer once per part, and
// rusty.binding_parts records (argument, argument it is a part of, byte offset, byte size).
// The dynamic %out is left alone.
// CHECK-LABEL: func.func @step
// CHECK:         gpu.launch_func @kernels::@gather blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) args(%[[W:[^ ]*]] : memref<64xi32>, %[[W]] : memref<64xi32>, %[[M:[^ ]*]] : memref<10x8xf32>, %[[M]] : memref<10x8xf32>, %[[M]] : memref<10x8xf32>, %{{.*}} : memref<?xf32>, %{{.*}} : index)
// CHECK:       gpu.func @gather(%[[A0:[^:]*]]: memref<32xi32>, %[[A1:[^:]*]]: memref<32xi32>, %[[B0:[^:]*]]: memref<4x8xf32>, %[[B1:[^:]*]]: memref<4x8xf32>, %[[B2:[^:]*]]: memref<2x8xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: index) kernel attributes {gpu.known_block_size = array<i32: 64, 1, 1>, rusty.binding_parts = [array<i64: 0, 0, 0, 128>, array<i64: 1, 0, 128, 128>, array<i64: 2, 1, 0, 128>, array<i64: 3, 1, 128, 128>, array<i64: 4, 1, 256, 64>]} {
// CHECK:         %[[I:.*]] = gpu.thread_id
// CHECK:         %[[C32:.*]] = arith.constant 32 : index
// CHECK-NEXT:    %[[LO:.*]] = arith.cmpi ult, %[[I]], %[[C32]] : index
// CHECK-NEXT:    %{{.*}} = scf.if %[[LO]] -> (i32) {
// CHECK-NEXT:      %[[X0:.*]] = memref.load %[[A0]][%[[I]]] : memref<32xi32>
// CHECK-NEXT:      scf.yield %[[X0]] : i32
// CHECK-NEXT:    } else {
// CHECK-NEXT:      %[[J:.*]] = arith.subi %[[I]], %[[C32]] : index
// CHECK-NEXT:      %[[X1:.*]] = memref.load %[[A1]][%[[J]]] : memref<32xi32>
// CHECK-NEXT:      scf.yield %[[X1]] : i32
// CHECK-NEXT:    }
// CHECK:         %[[ROW:.*]] = arith.divui
// CHECK-NEXT:    %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:    %[[C8:.*]] = arith.constant 8 : index
// CHECK-NEXT:    %{{.*}} = arith.cmpi ult, %[[ROW]], %[[C4]] : index
// CHECK-NEXT:    %{{.*}} = scf.if %{{.*}} -> (f32) {
// CHECK-NEXT:      %{{.*}} = memref.load %[[B0]][%[[ROW]], %{{.*}}] : memref<4x8xf32>
// CHECK:         } else {
// CHECK-NEXT:      %{{.*}} = arith.cmpi ult, %[[ROW]], %[[C8]] : index
// CHECK-NEXT:      %{{.*}} = scf.if %{{.*}} -> (f32) {
// CHECK-NEXT:        %[[R1:.*]] = arith.subi %[[ROW]], %[[C4]] : index
// CHECK-NEXT:        %{{.*}} = memref.load %[[B1]][%[[R1]], %{{.*}}] : memref<4x8xf32>
// CHECK:           } else {
// CHECK-NEXT:        %[[R2:.*]] = arith.subi %[[ROW]], %[[C8]] : index
// CHECK-NEXT:        %{{.*}} = memref.load %[[B2]][%[[R2]], %{{.*}}] : memref<2x8xf32>
// CHECK-NOT:     memref.load %{{.*}} : memref<64xi32>
// CHECK:         gpu.return

// ABI:   "buffers": [
// ABI-NEXT: {"binding": 0, "name": "a_p0", "arg_index": 0, "access": "read", "element_type": "i32", "shape": [32], "byte_range": [0, 128]},
// ABI-NEXT: {"binding": 1, "name": "a_p1", "arg_index": 1, "access": "read", "element_type": "i32", "shape": [32], "byte_range": [128, 128]},
// ABI-NEXT: {"binding": 2, "name": "b_p0", "arg_index": 2, "access": "read", "element_type": "f32", "shape": [4, 8], "byte_range": [0, 128]},
// ABI-NEXT: {"binding": 3, "name": "b_p1", "arg_index": 3, "access": "read", "element_type": "f32", "shape": [4, 8], "byte_range": [128, 128]},
// ABI-NEXT: {"binding": 4, "name": "b_p2", "arg_index": 4, "access": "read", "element_type": "f32", "shape": [2, 8], "byte_range": [256, 64]},
// ABI-NEXT: {"binding": 5, "name": "out", "arg_index": 5, "access": "read_write", "element_type": "f32", "shape": [null]}
// ABI:   {"op": "launch", "kernel": "gather", {{.*}} "buffers": ["w", "w", "m", "m", "m", "x"], "scalars": ["s"]}

// WGSL: @group(0) @binding(0) var<storage, read> gather_a_p0: array<i32>;
// WGSL: @group(0) @binding(1) var<storage, read> gather_a_p1: array<i32>;
// WGSL: @group(0) @binding(4) var<storage, read> gather_b_p2: array<f32>;
// WGSL: @group(0) @binding(5) var<storage, read_write> gather_out: array<f32>;
// WGSL:   let v3: i32 = gather_a_p1[v2];
// MSL: device const int* gather_a_p0 {{\[\[}}buffer(0)]],
// MSL: device const float* gather_b_p2 {{\[\[}}buffer(4)]],
builtin.module attributes {gpu.container_module} {
  func.func @step(%w: memref<64xi32>, %m: memref<10x8xf32>, %x: memref<?xf32>, %s: index) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    "gpu.launch_func"(%c1, %c1, %c1, %c64, %c1, %c1, %w, %m, %x, %s) <{kernel = @kernels::@gather, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 4, 0>}> : (index, index, index, index, index, index, memref<64xi32>, memref<10x8xf32>, memref<?xf32>, index) -> ()
    func.return
  }
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<64xi32>, memref<10x8xf32>, memref<?xf32>, index) -> (), kernel}> ({
    ^bb0(%a: memref<64xi32>, %b: memref<10x8xf32>, %out: memref<?xf32>, %n: index):
      %i = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %c8 = arith.constant 8 : index
      %word = memref.load %a[%i] : memref<64xi32>
      %f = arith.sitofp %word : i32 to f32
      %r = arith.remui %i, %c8 : index
      %row = arith.divui %i, %c8 : index
      %v = memref.load %b[%row, %r] : memref<10x8xf32>
      %sum = arith.addf %f, %v : f32
      memref.store %sum, %out[%i] : memref<?xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "gather", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
}

// -----

// Nothing over the limit (a 128-byte weight, a dynamic activation): the module is unchanged.
// CHECK-LABEL: func.func @small
// CHECK:         gpu.launch_func @kernels::@copy blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) args(%{{.*}} : memref<32xf32>, %{{.*}} : memref<?xf32>)
// CHECK:       gpu.func @copy(%{{.*}}: memref<32xf32>, %{{.*}}: memref<?xf32>) kernel attributes {gpu.known_block_size = array<i32: 32, 1, 1>} {
// CHECK:         memref.load %{{.*}}[%{{.*}}] : memref<32xf32>
// CHECK-NOT:   rusty.binding_parts
builtin.module attributes {gpu.container_module} {
  func.func @small(%w: memref<32xf32>, %x: memref<?xf32>) {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    "gpu.launch_func"(%c1, %c1, %c1, %c32, %c1, %c1, %w, %x) <{kernel = @kernels::@copy, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 0>}> : (index, index, index, index, index, index, memref<32xf32>, memref<?xf32>) -> ()
    func.return
  }
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<32xf32>, memref<?xf32>) -> (), kernel}> ({
    ^bb0(%a: memref<32xf32>, %out: memref<?xf32>):
      %i = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %v = memref.load %a[%i] : memref<32xf32>
      memref.store %v, %out[%i] : memref<?xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "copy", gpu.known_block_size = array<i32: 32, 1, 1>} : () -> ()
  }) : () -> ()
}
