// RUN: rusty-opt %s -p convert-dispatch-to-tiled --split-input-file | filecheck %s
// tests/passes/test_dispatch_to_tiled.py runs each strategy on wgpu against numpy, and the tiny
// model through the whole default pipeline.

// Elementwise: one invocation per element; the grid covers S * 8 invocations in workgroups of
// 64 (folded into y past 65535), the body delinearizes its linear id and stores y[s, d].
// CHECK-LABEL: func.func @elementwise
// CHECK-SAME:  (%[[X:.*]]: memref<?x8xf32>, %[[S:.*]]: index, %[[Y:.*]]: memref<?x8xf32>)
// CHECK-NEXT:    tiled.kernel "axpb_0"(%[[X]], %[[S]], %[[Y]]) {workgroup_size = array<i64: 64, 1, 1>} : memref<?x8xf32>, index, memref<?x8xf32> grid {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<?x8xf32>, %[[GS:.*]]: index, %{{.*}}: memref<?x8xf32>):
// CHECK:           %[[TOTAL:.*]] = arith.muli %[[GS]], %{{.*}} : index
// CHECK-NEXT:      %[[C64:.*]] = arith.constant 64 : index
// CHECK-NEXT:      %[[GROUPS:.*]] = arith.ceildivui %[[TOTAL]], %[[C64]] : index
// CHECK-NEXT:      %[[MAXX:.*]] = arith.constant 65535 : index
// CHECK-NEXT:      %[[GX:.*]] = arith.minui %[[GROUPS]], %[[MAXX]] : index
// CHECK-NEXT:      %[[GY:.*]] = arith.ceildivui %[[GROUPS]], %[[GX]] : index
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:      tiled.yield %[[GX]], %[[GY]], %[[ONE]] : index, index, index
// CHECK-NEXT:    } body {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: memref<?x8xf32>, %[[BS:.*]]: index, %[[OUT:.*]]: memref<?x8xf32>):
// CHECK:           %[[NX:.*]] = "gpu.grid_dim"() <{dimension = #gpu<dim x>}> : () -> index
// CHECK-NEXT:      %[[BY:.*]] = "gpu.block_id"() <{dimension = #gpu<dim y>}> : () -> index
// CHECK:           %[[BX:.*]] = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
// CHECK:           %[[TX:.*]] = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
// CHECK-NEXT:      %[[LIN:.*]] = arith.addi %{{.*}}, %[[TX]] : index
// CHECK:           %[[IN:.*]] = arith.cmpi ult, %[[LIN]], %{{.*}} : index
// CHECK-NEXT:      scf.if %[[IN]] {
// CHECK-NEXT:        %[[D:.*]] = arith.remui %[[LIN]], %{{.*}} : index
// CHECK-NEXT:        %[[R:.*]] = arith.divui %[[LIN]], %{{.*}} : index
// CHECK-NEXT:        %[[V:.*]] = memref.load %[[A]][%[[R]], %[[D]]] : memref<?x8xf32>
// CHECK:             %[[M:.*]] = arith.mulf %[[V]], %{{.*}} : f32
// CHECK-NEXT:        %[[P:.*]] = arith.addf %[[M]], %{{.*}} : f32
// CHECK-NEXT:        memref.store %[[P]], %[[OUT]][%[[R]], %[[D]]] : memref<?x8xf32>
// CHECK:           tiled.yield
// CHECK-NOT:     dispatch.region
func.func @elementwise(%x: memref<?x8xf32>, %s: index, %y: memref<?x8xf32>) {
  dispatch.region "axpb_0"(%x, %s, %y) {config = #dispatch.lowering_config<elementwise, workgroup = [64, 1, 1]>} : (memref<?x8xf32>, index, memref<?x8xf32>) -> () {
  ^bb0(%a: memref<?x8xf32>, %n: index, %out: memref<?x8xf32>):
    %at = bufferization.to_tensor %a : memref<?x8xf32> to tensor<?x8xf32>
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%at : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%v: f32, %o: f32):
      %c2 = arith.constant 2.0 : f32
      %c1 = arith.constant 1.0 : f32
      %m = arith.mulf %v, %c2 : f32
      %p = arith.addf %m, %c1 : f32
      linalg.yield %p : f32
    } -> tensor<?x8xf32>
    bufferization.materialize_in_destination %r in restrict writable %out : (tensor<?x8xf32>, memref<?x8xf32>) -> ()
    dispatch.yield
  }
  func.return
}

// -----

// Row: one workgroup per row. The row count is a tensor.dim of the region's input: traced to
// memref.dim of that buffer on the grid. Each thread folds a strided part of the 50-long row,
// the partial sums meet in workgroup memory (a tree with a barrier per halving), and the
// normalized row is stored by the threads striding over it.
// CHECK-LABEL: func.func @row
// CHECK-SAME:  (%[[X:.*]]: memref<?x50xf32>, %[[Y:.*]]: memref<?x50xf32>)
// CHECK-NEXT:    tiled.kernel "norm_0"(%[[X]], %[[Y]]) {workgroup_size = array<i64: 64, 1, 1>} : memref<?x50xf32>, memref<?x50xf32> grid {
// CHECK-NEXT:    ^{{.*}}(%[[GX:.*]]: memref<?x50xf32>, %{{.*}}: memref<?x50xf32>):
// CHECK-NEXT:      %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:      %[[N:.*]] = memref.dim %[[GX]], %[[C0]] : memref<?x50xf32>
// CHECK-NEXT:      %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:      tiled.yield %[[N]], %[[C1]], %[[C1]] : index, index, index
// CHECK-NEXT:    } body {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: memref<?x50xf32>, %[[OUT:.*]]: memref<?x50xf32>):
// CHECK-NEXT:      %[[SH:.*]] = memref.alloca() : memref<64xf32, 3 : i64>
// CHECK:           %[[ROW:.*]] = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
// CHECK-NEXT:      %[[TID:.*]] = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
// CHECK-NEXT:      %[[LEN:.*]] = arith.constant 50 : index
// CHECK:           %[[PART:.*]] = scf.for %[[C:.*]] = %[[TID]] to %[[LEN]] step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (f32) {
// CHECK-NEXT:        %[[V:.*]] = memref.load %[[A]][%[[ROW]], %[[C]]] : memref<?x50xf32>
// CHECK-NEXT:        %[[SQ:.*]] = arith.mulf %[[V]], %[[V]] : f32
// CHECK-NEXT:        %[[NEXT:.*]] = arith.addf %[[SQ]], %[[ACC]] : f32
// CHECK-NEXT:        scf.yield %[[NEXT]] : f32
// CHECK-NEXT:      }
// CHECK-NEXT:      memref.store %[[PART]], %[[SH]][%[[TID]]] : memref<64xf32, 3 : i64>
// CHECK-NEXT:      "gpu.barrier"() : () -> ()
// CHECK-NEXT:      %[[C32:.*]] = arith.constant 32 : index
// CHECK-NEXT:      %[[LOW:.*]] = arith.cmpi ult, %[[TID]], %[[C32]] : index
// CHECK-NEXT:      scf.if %[[LOW]] {
// CHECK:           "gpu.barrier"() : () -> ()
// CHECK-NEXT:      arith.constant 16 : index
// CHECK-COUNT-5:   "gpu.barrier"() : () -> ()
// CHECK:           %[[TOTAL:.*]] = memref.load %[[SH]][%{{.*}}] : memref<64xf32, 3 : i64>
// CHECK:           scf.for %[[C2:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:        %[[V2:.*]] = memref.load %[[A]][%[[ROW]], %[[C2]]] : memref<?x50xf32>
// CHECK-NEXT:        %[[Q:.*]] = arith.divf %[[V2]], %[[TOTAL]] : f32
// CHECK-NEXT:        memref.store %[[Q]], %[[OUT]][%[[ROW]], %[[C2]]] : memref<?x50xf32>
func.func @row(%x: memref<?x50xf32>, %y: memref<?x50xf32>) {
  dispatch.region "norm_0"(%x, %y) {config = #dispatch.lowering_config<row, workgroup = [64, 1, 1]>} : (memref<?x50xf32>, memref<?x50xf32>) -> () {
  ^bb0(%a: memref<?x50xf32>, %out: memref<?x50xf32>):
    %at = bufferization.to_tensor %a : memref<?x50xf32> to tensor<?x50xf32>
    %c0 = arith.constant 0 : index
    %n = tensor.dim %at, %c0 : tensor<?x50xf32>
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?xf32>) -> tensor<?xf32>
    %ss = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%at : tensor<?x50xf32>) outs(%i : tensor<?xf32>) {
    ^bb1(%v: f32, %acc: f32):
      %sq = arith.mulf %v, %v : f32
      %s = arith.addf %sq, %acc : f32
      linalg.yield %s : f32
    } -> tensor<?xf32>
    %e2 = tensor.empty(%n) : tensor<?x50xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%at, %ss : tensor<?x50xf32>, tensor<?xf32>) outs(%e2 : tensor<?x50xf32>) {
    ^bb1(%v: f32, %t: f32, %o: f32):
      %q = arith.divf %v, %t : f32
      linalg.yield %q : f32
    } -> tensor<?x50xf32>
    bufferization.materialize_in_destination %r in restrict writable %out : (tensor<?x50xf32>, memref<?x50xf32>) -> ()
    dispatch.yield
  }
  func.return
}

// -----

// Contraction with a q4_0 weight (bound as its 333 raw words): a workgroup per (4 output rows,
// token), 10 = ceil(37 / 4) workgroups in x and one per token in y; the activation row
// (one chunk of K here) is staged in workgroup memory with one pad float per 32-value block
// (64 + 2 floats: lanes walking different blocks hit different banks); 16 threads per row walk whole 32-value
// blocks (the f16 scale unpacked once per block) into four independent sums, added after the
// loop; partial sums meet in the same workgroup
// buffer and the first lane of each in-range row stores the residual-add epilogue.
// CHECK-LABEL: func.func @contraction
// CHECK-SAME:  (%[[X:.*]]: memref<?x64xf32>, %[[W:.*]]: memref<37x64x!quant.q4_0>, %[[H:.*]]: memref<?x37xf32>, %[[S:.*]]: index, %[[Y:.*]]: memref<?x37xf32>)
// CHECK-NEXT:    tiled.kernel "gemv_0"(%[[X]], %[[W]], %[[H]], %[[S]], %[[Y]]) {workgroup_size = array<i64: 64, 1, 1>} : memref<?x64xf32>, memref<37x64x!quant.q4_0>, memref<?x37xf32>, index, memref<?x37xf32> grid {
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: memref<?x64xf32>, %{{.*}}: memref<333xi32>, %{{.*}}: memref<?x37xf32>, %[[GS:.*]]: index, %{{.*}}: memref<?x37xf32>):
// CHECK:           %[[C10:.*]] = arith.constant 10 : index
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:      tiled.yield %[[C10]], %[[GS]], %[[ONE]] : index, index, index
// CHECK-NEXT:    } body {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: memref<?x64xf32>, %[[WORDS:.*]]: memref<333xi32>, %[[HB:.*]]: memref<?x37xf32>, %{{.*}}: index, %[[OUT:.*]]: memref<?x37xf32>):
// CHECK-NEXT:      %[[SCRATCH:.*]] = memref.alloca() : memref<66xf32, 3 : i64>
// CHECK:           %[[TID:.*]] = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
// CHECK-NEXT:      %[[TPR:.*]] = arith.constant 16 : index
// CHECK-NEXT:      %[[LANE:.*]] = arith.remui %[[TID]], %[[TPR]] : index
// CHECK-NEXT:      %[[GROUP:.*]] = arith.divui %[[TID]], %[[TPR]] : index
// CHECK-NEXT:      %[[BX:.*]] = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
// CHECK:           %[[NROW:.*]] = arith.addi %{{.*}}, %[[GROUP]] : index
// CHECK-NEXT:      %[[LASTROW:.*]] = arith.constant 36 : index
// CHECK-NEXT:      %[[NIN:.*]] = arith.minui %[[NROW]], %[[LASTROW]] : index
// CHECK:           "gpu.block_id"() <{dimension = #gpu<dim y>}> : () -> index
// CHECK:           memref.store %{{.*}}, %[[SCRATCH]][%{{.*}}] : memref<66xf32, 3 : i64>
// CHECK:           "gpu.barrier"() : () -> ()
// CHECK:           %[[P0:.*]], %[[P1:.*]], %[[P2:.*]], %[[P3:.*]] = scf.for %{{.*}} = %[[LANE]] to %{{.*}} step %{{.*}} iter_args(%{{.*}}) -> (f32, f32, f32, f32) {
// CHECK:             %[[SCALEWORD:.*]] = memref.load %[[WORDS]][%{{.*}}] : memref<333xi32>
// CHECK:             rgpu.unpack_f16 %{{.*}} lo : i32 -> f32
// CHECK-NOT:         rgpu.unpack_f16
// CHECK:             memref.load %[[SCRATCH]]
// CHECK:           "gpu.barrier"() : () -> ()
// CHECK:           %[[S1:.*]] = arith.addf %[[P0]], %[[P1]] : f32
// CHECK-NEXT:      %[[S2:.*]] = arith.addf %[[S1]], %[[P2]] : f32
// CHECK-NEXT:      %[[PART:.*]] = arith.addf %[[S2]], %[[P3]] : f32
// CHECK:           memref.store %[[PART]], %[[SCRATCH]][%{{.*}}] : memref<66xf32, 3 : i64>
// CHECK-NEXT:      "gpu.barrier"() : () -> ()
// CHECK-COUNT-4:   "gpu.barrier"() : () -> ()
// CHECK:           %[[FIRST:.*]] = arith.cmpi eq, %[[LANE]], %{{.*}} : index
// CHECK:           %[[INROW:.*]] = arith.cmpi ult, %[[NROW]], %{{.*}} : index
// CHECK-NEXT:      %[[STORE:.*]] = arith.andi %[[FIRST]], %[[INROW]] : i1
// CHECK-NEXT:      scf.if %[[STORE]] {
// CHECK:               %[[RES:.*]] = memref.load %[[HB]][%[[TOK:.*]], %[[NROW]]] : memref<?x37xf32>
// CHECK:               %[[SUM:.*]] = arith.addf %[[RES]], %{{.*}} : f32
// CHECK-NEXT:          memref.store %[[SUM]], %[[OUT]][%[[TOK]], %[[NROW]]] : memref<?x37xf32>
func.func @contraction(%x: memref<?x64xf32>, %w: memref<37x64x!quant.q4_0>, %h: memref<?x37xf32>, %s: index, %y: memref<?x37xf32>) {
  dispatch.region "gemv_0"(%x, %w, %h, %s, %y) {config = #dispatch.lowering_config<gemv, workgroup = [64, 1, 1], workgroup_tile = [1, 8], thread_tile = [4], split = 32>} : (memref<?x64xf32>, memref<37x64x!quant.q4_0>, memref<?x37xf32>, index, memref<?x37xf32>) -> () {
  ^bb0(%a: memref<?x64xf32>, %wb: memref<37x64x!quant.q4_0>, %hb: memref<?x37xf32>, %n: index, %out: memref<?x37xf32>):
    %at = bufferization.to_tensor %a : memref<?x64xf32> to tensor<?x64xf32>
    %wt = bufferization.to_tensor %wb : memref<37x64x!quant.q4_0> to tensor<37x64x!quant.q4_0>
    %ht = bufferization.to_tensor %hb : memref<?x37xf32> to tensor<?x37xf32>
    %wf = quant.dequantize %wt : tensor<37x64x!quant.q4_0> -> tensor<37x64xf32>
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x37xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x37xf32>) -> tensor<?x37xf32>
    %mm = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%at, %wf : tensor<?x64xf32>, tensor<37x64xf32>) outs(%i : tensor<?x37xf32>) {
    ^bb1(%xa: f32, %wa: f32, %acc: f32):
      %p = arith.mulf %xa, %wa : f32
      %r = arith.addf %p, %acc : f32
      linalg.yield %r : f32
    } -> tensor<?x37xf32>
    %e2 = tensor.empty(%n) : tensor<?x37xf32>
    %sum = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%ht, %mm : tensor<?x37xf32>, tensor<?x37xf32>) outs(%e2 : tensor<?x37xf32>) {
    ^bb1(%u: f32, %v: f32, %o: f32):
      %r = arith.addf %u, %v : f32
      linalg.yield %r : f32
    } -> tensor<?x37xf32>
    bufferization.materialize_in_destination %sum in restrict writable %out : (tensor<?x37xf32>, memref<?x37xf32>) -> ()
    dispatch.yield
  }
  func.return
}

// -----

// Attention: a workgroup per (head, query row); the scaled query head is staged in workgroup
// memory, then an scf.for over KV tiles of 32 positions up to pos + s carries (max, sum, acc):
// each thread scores one position, a tree in workgroup memory gives the tile's maximum, and
// groups of head_dim threads accumulate their share of the tile; kv head = h / 2. The groups'
// partial sums meet in workgroup memory and group 0 stores acc / l.
// CHECK-LABEL: func.func @attention
// CHECK-SAME:  (%[[Q:.*]]: memref<?x16xf32>, %[[KC:.*]]: memref<?x8xf32>, %[[VC:.*]]: memref<?x8xf32>, %[[POS:.*]]: index, %[[Y:.*]]: memref<?x16xf32>)
// A single query row (decode) takes the split-KV version: 32-position partitions, one
// workgroup each, write (acc[4], m, l) per (head, row, partition) to a host buffer of
// 4 * rows * ceil((pos + rows) / 32) * 6 floats, and a second kernel merges them.
// CHECK:         %[[SINGLE:.*]] = arith.cmpi ule, %{{.*}}, %{{.*}} : index
// CHECK-NEXT:    scf.if %[[SINGLE]] {
// CHECK:           %[[PARTS:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK-NEXT:      tiled.kernel "attention_0"(%[[Q]], %[[KC]], %[[VC]], %[[POS]], %[[Y]], %[[PARTS]]) {workgroup_size = array<i64: 32, 1, 1>}
// CHECK:             %[[SPLITS:.*]] = arith.ceildivui
// CHECK:             tiled.yield %{{.*}}, %{{.*}}, %[[SPLITS]] : index, index, index
// CHECK:             "gpu.block_id"() <{dimension = #gpu<dim z>}> : () -> index
// CHECK:           tiled.kernel "attention_0"(%[[Q]], %[[KC]], %[[VC]], %[[POS]], %[[Y]], %[[PARTS]]) {workgroup_size = array<i64: 32, 1, 1>}
// CHECK:               math.exp
// CHECK:               arith.divf
// CHECK:           tiled.kernel "attention_0"(%[[Q]], %[[KC]], %[[VC]], %[[POS]], %[[Y]]) {workgroup_size = array<i64: 32, 1, 1>}
// CHECK-NEXT:    ^{{.*}}(%[[GQ:.*]]: memref<?x16xf32>, %{{.*}}: memref<?x8xf32>, %{{.*}}: memref<?x8xf32>, %{{.*}}: index, %{{.*}}: memref<?x16xf32>):
// CHECK:           %[[ROWS:.*]] = memref.dim %[[GQ]], %{{.*}} : memref<?x16xf32>
// CHECK:           %[[HEADS:.*]] = arith.constant 4 : index
// CHECK:           tiled.yield %[[HEADS]], %[[ROWS]], %{{.*}} : index, index, index
// CHECK-NEXT:    } body {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: memref<?x16xf32>, %[[K:.*]]: memref<?x8xf32>, %[[V:.*]]: memref<?x8xf32>, %[[P:.*]]: index, %[[OUT:.*]]: memref<?x16xf32>):
// CHECK-DAG:       %[[QSH:.*]] = memref.alloca() : memref<4xf32, 3 : i64>
// CHECK:           %[[TID:.*]] = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
// CHECK-NEXT:      %[[HEAD:.*]] = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
// CHECK-NEXT:      %[[ROW:.*]] = "gpu.block_id"() <{dimension = #gpu<dim y>}> : () -> index
// CHECK-NEXT:      %[[GROUP:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[KVH:.*]] = arith.divui %[[HEAD]], %[[GROUP]] : index
// CHECK:           %[[PS:.*]] = arith.addi %[[P]], %[[ROW]] : index
// CHECK:           %[[END:.*]] = arith.addi %[[PS]], %{{.*}} : index
// CHECK:           memref.load %[[A]][%[[ROW]], %{{.*}}] : memref<?x16xf32>
// CHECK:           memref.store %{{.*}}, %[[QSH]][%{{.*}}] : memref<4xf32, 3 : i64>
// CHECK:           "gpu.barrier"() : () -> ()
// CHECK:           %{{.*}}, %[[L:.*]], %[[ACC:.*]] = scf.for %{{.*}} = %{{.*}} to %[[END]] step %{{.*}} iter_args(
// CHECK:             memref.load %[[K]]
// CHECK:             memref.store %{{.*}}, %{{.*}}[%[[TID]]] : memref<32xf32, 3 : i64>
// CHECK:             "gpu.barrier"() : () -> ()
// CHECK:             arith.maximumf
// CHECK:             math.exp
// CHECK:             memref.load %[[V]]
// CHECK:             "gpu.barrier"() : () -> ()
// CHECK:           memref.store %[[ACC]]
// CHECK:           memref.store %[[L]]
// CHECK:           scf.if
// CHECK:             %[[O:.*]] = arith.divf
// CHECK:             memref.store %[[O]], %[[OUT]][%[[ROW]], %{{.*}}] : memref<?x16xf32>
func.func @attention(%q: memref<?x16xf32>, %kc: memref<?x8xf32>, %vc: memref<?x8xf32>, %pos: index, %y: memref<?x16xf32>) {
  dispatch.region "attention_0"(%q, %kc, %vc, %pos, %y) {config = #dispatch.lowering_config<attention, workgroup = [32, 1, 1], reduction_tile = 32>} : (memref<?x16xf32>, memref<?x8xf32>, memref<?x8xf32>, index, memref<?x16xf32>) -> () {
  ^bb0(%a: memref<?x16xf32>, %k: memref<?x8xf32>, %v: memref<?x8xf32>, %p: index, %out: memref<?x16xf32>):
    %at = bufferization.to_tensor %a : memref<?x16xf32> to tensor<?x16xf32>
    %r = linalg_ext.attention %at, %k, %v, %p {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
    bufferization.materialize_in_destination %r in restrict writable %out : (tensor<?x16xf32>, memref<?x16xf32>) -> ()
    dispatch.yield
  }
  func.return
}

// -----

// A contraction tiled over 4 tokens per workgroup is multi-versioned: the host tests the batch
// (the step's tokens) and launches a one-token kernel (tile [4]) or, in the else branch, the
// tiled one (tile [4, 4]).
// CHECK-LABEL: func.func @contraction_tokens
// CHECK-SAME:  (%[[X:.*]]: memref<?x64xf32>, %[[W:.*]]: memref<37x64xf32>, %[[Y:.*]]: memref<?x37xf32>, %[[S:.*]]: index)
// CHECK:         %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[SINGLE:.*]] = arith.cmpi ule, %[[S]], %[[ONE]] : index
// CHECK-NEXT:    scf.if %[[SINGLE]] {
// CHECK-NEXT:      tiled.kernel "mm_0"(%[[X]], %[[W]], %[[Y]], %[[S]]) {workgroup_size = array<i64: 64, 1, 1>}
// CHECK-NEXT:      ^{{.*}}(%{{.*}}: memref<?x64xf32>, %{{.*}}: memref<37x64xf32>, %{{.*}}: memref<?x37xf32>, %[[ROWS:.*]]: index):
// CHECK:             tiled.yield %{{.*}}, %[[ROWS]], %{{.*}} : index, index, index
// CHECK:           tiled.kernel "mm_0"(%[[X]], %[[W]], %[[Y]], %[[S]]) {workgroup_size = array<i64: 64, 1, 1>}
// CHECK-NEXT:      ^{{.*}}(%{{.*}}: memref<?x64xf32>, %{{.*}}: memref<37x64xf32>, %{{.*}}: memref<?x37xf32>, %[[ROWS2:.*]]: index):
// CHECK:             %[[FOUR:.*]] = arith.constant 4 : index
// CHECK-NEXT:        %[[GY:.*]] = arith.ceildivui %[[ROWS2]], %[[FOUR]] : index
// CHECK:             tiled.yield %{{.*}}, %[[GY]], %{{.*}} : index, index, index
// CHECK-NOT:     dispatch.region
func.func @contraction_tokens(%x: memref<?x64xf32>, %w: memref<37x64xf32>, %y: memref<?x37xf32>, %s: index) {
  dispatch.region "mm_0"(%x, %w, %y, %s) {config = #dispatch.lowering_config<gemm, workgroup = [64, 1, 1], workgroup_tile = [32, 32], thread_tile = [4, 4], reduction_tile = 32>} : (memref<?x64xf32>, memref<37x64xf32>, memref<?x37xf32>, index) -> () {
  ^bb0(%a: memref<?x64xf32>, %wb: memref<37x64xf32>, %out: memref<?x37xf32>, %n: index):
    %at = bufferization.to_tensor %a : memref<?x64xf32> to tensor<?x64xf32>
    %wt = bufferization.to_tensor %wb : memref<37x64xf32> to tensor<37x64xf32>
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty(%n) : tensor<?x37xf32>
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x37xf32>) -> tensor<?x37xf32>
    %mm = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%at, %wt : tensor<?x64xf32>, tensor<37x64xf32>) outs(%i : tensor<?x37xf32>) {
    ^bb1(%xa: f32, %wa: f32, %acc: f32):
      %p = arith.mulf %xa, %wa : f32
      %r = arith.addf %p, %acc : f32
      linalg.yield %r : f32
    } -> tensor<?x37xf32>
    bufferization.materialize_in_destination %mm in restrict writable %out : (tensor<?x37xf32>, memref<?x37xf32>) -> ()
    dispatch.yield
  }
  func.return
}
