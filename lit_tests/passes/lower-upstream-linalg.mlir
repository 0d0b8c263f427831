// RUN: rusty-opt %s -p lower-upstream-linalg --split-input-file | filecheck %s
// Upstream linalg's named ops become the generics the kernel schedules take. Numerics on the wgpu adapter:
// tests/backends/test_upstream_kernels.py.

// A matmul's B (K x N) is transposed to the weight layout (N x K) by an elementwise generic; the sum starts
// from a zero fill (the op's, now unused, is erased: the host keeps no tensor op without a user).
// CHECK-LABEL: func.func @matmul
// CHECK: %[[BT:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%b : tensor<16x12xf32>)
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %[[BT]] : tensor<8x16xf32>, tensor<12x16xf32>)
// CHECK-NOT: linalg.matmul
// CHECK-NOT: linalg.fill
func.func @matmul(%a: tensor<8x16xf32>, %b: tensor<16x12xf32>) -> tensor<8x12xf32> {
  %e = tensor.empty() : tensor<8x12xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<8x12xf32>) -> tensor<8x12xf32>
  %r = linalg.matmul ins(%a, %b : tensor<8x16xf32>, tensor<16x12xf32>) outs(%f : tensor<8x12xf32>) -> tensor<8x12xf32>
  func.return %r : tensor<8x12xf32>
}

// -----

// Maps already in the weight layout need no transpose; an init that is not a zero fill is added after the sum.
// CHECK-LABEL: func.func @matmul_bt_acc
// CHECK-NOT: affine_map<(d0, d1) -> (d1, d0)>
// CHECK: %[[S:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %bt : tensor<8x16xf32>, tensor<12x16xf32>)
// CHECK: linalg.generic {{.*}}ins(%[[S]], %c : tensor<8x12xf32>, tensor<8x12xf32>) outs(%c : tensor<8x12xf32>)
// CHECK-NEXT: ^{{.*}}(%[[X:.*]]: f32, %[[Y:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: arith.addf %[[X]], %[[Y]] : f32
func.func @matmul_bt_acc(%a: tensor<8x16xf32>, %bt: tensor<12x16xf32>, %c: tensor<8x12xf32>) -> tensor<8x12xf32> {
  %r = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%a, %bt : tensor<8x16xf32>, tensor<12x16xf32>) outs(%c : tensor<8x12xf32>) -> tensor<8x12xf32>
  func.return %r : tensor<8x12xf32>
}

// -----

// A matvec reads the vector first (the activation), the matrix as the weight.
// CHECK-LABEL: func.func @matvec
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x, %m : tensor<16xf32>, tensor<12x16xf32>)
// CHECK-NEXT: ^{{.*}}(%[[XV:.*]]: f32, %[[MV:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: arith.mulf %[[MV]], %[[XV]] : f32
func.func @matvec(%m: tensor<12x16xf32>, %x: tensor<16xf32>) -> tensor<12xf32> {
  %e = tensor.empty() : tensor<12xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<12xf32>) -> tensor<12xf32>
  %r = linalg.matvec ins(%m, %x : tensor<12x16xf32>, tensor<16xf32>) outs(%f : tensor<12xf32>) -> tensor<12xf32>
  func.return %r : tensor<12xf32>
}

// -----

// A batch of 2: two 2-D contractions over slices, gathered by linalg.index.
// CHECK-LABEL: func.func @batch
// CHECK-COUNT-2: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: linalg.index 0 : index
// CHECK: arith.select
func.func @batch(%a: tensor<2x8x16xf32>, %b: tensor<2x16x12xf32>) -> tensor<2x8x12xf32> {
  %e = tensor.empty() : tensor<2x8x12xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x8x12xf32>) -> tensor<2x8x12xf32>
  %r = linalg.batch_matmul ins(%a, %b : tensor<2x8x16xf32>, tensor<2x16x12xf32>) outs(%f : tensor<2x8x12xf32>) -> tensor<2x8x12xf32>
  func.return %r : tensor<2x8x12xf32>
}

// -----

// Softmax: a max reduction, exp(x - max), a sum, a division.
// CHECK-LABEL: func.func @softmax
// CHECK: arith.maximumf
// CHECK: arith.subf
// CHECK-NEXT: math.exp
// CHECK: arith.addf
// CHECK: arith.divf
// CHECK-NOT: linalg.softmax
func.func @softmax(%s: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %0 = linalg.softmax dimension(1) ins(%s : tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
  func.return %0 : tensor<8x16xf32>
}

// -----

// Elementwise named ops keep their maps and body.
// CHECK-LABEL: func.func @pointwise
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%s : tensor<8x16xf32>) outs(%t : tensor<16x8xf32>)
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%v : tensor<16xf32>) outs(%s : tensor<8x16xf32>)
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%s, %v : tensor<8x16xf32>, tensor<16xf32>)
// CHECK-NEXT: ^{{.*}}(%[[P:.*]]: f32, %[[Q:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: arith.subf %[[P]], %[[Q]] : f32
// CHECK: linalg.generic {{.*}}ins(%s, %s : tensor<8x16xf32>, tensor<8x16xf32>) outs(%s : tensor<8x16xf32>)
// CHECK: arith.addf
func.func @pointwise(%s: tensor<8x16xf32>, %t: tensor<16x8xf32>, %v: tensor<16xf32>) {
  %0 = linalg.transpose ins(%s : tensor<8x16xf32>) outs(%t : tensor<16x8xf32>) permutation = [1, 0]
  %1 = linalg.broadcast ins(%v : tensor<16xf32>) outs(%s : tensor<8x16xf32>) dimensions = [0]
  %2 = linalg.elementwise kind=#linalg.elementwise_kind<sub> indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>] ins(%s, %v : tensor<8x16xf32>, tensor<16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
  %3 = linalg.map { arith.addf } ins(%s, %s : tensor<8x16xf32>, tensor<8x16xf32>) outs(%s : tensor<8x16xf32>)
  func.return
}
