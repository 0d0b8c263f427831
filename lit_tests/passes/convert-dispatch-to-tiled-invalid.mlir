// RUN: rusty-opt %s -p attach-target,convert-dispatch-to-tiled --split-input-file --verify-diagnostics

// A region without a lowering config: tune-workgroups has not run.
func.func @no_config(%x: memref<?x8xf32>, %y: memref<?x8xf32>) {
  // expected-error @+1 {{dispatch region 'copy_0' has no lowering config (run tune-workgroups first)}}
  dispatch.region "copy_0"(%x, %y) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
  ^bb0(%a: memref<?x8xf32>, %out: memref<?x8xf32>):
    dispatch.yield
  }
  func.return
}

// -----

// A region still returning tensors: rusty-bufferize has not run.
func.func @tensor_results(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{dispatch region 'copy_0' still returns tensors (run rusty-bufferize first)}}
  %r = dispatch.region "copy_0"(%x) {config = #dispatch.lowering_config<elementwise, workgroup = [64, 1, 1]>} : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>):
    dispatch.yield %a : tensor<?x8xf32>
  }
  func.return %r : tensor<?x8xf32>
}

// -----

// A row region with nothing to reduce.
func.func @row_without_reduction(%x: memref<?x8xf32>, %s: index, %y: memref<?x8xf32>) {
  dispatch.region "neg_0"(%x, %s, %y) {config = #dispatch.lowering_config<row, workgroup = [64, 1, 1]>} : (memref<?x8xf32>, index, memref<?x8xf32>) -> () {
  ^bb0(%a: memref<?x8xf32>, %n: index, %out: memref<?x8xf32>):
    // expected-error @+1 {{dispatch region 'neg_0' (row): a row region needs a reduction}}
    %at = bufferization.to_tensor %a : memref<?x8xf32> to tensor<?x8xf32>
    %e = tensor.empty(%n) : tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%at : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%v: f32, %o: f32):
      %m = arith.negf %v : f32
      linalg.yield %m : f32
    } -> tensor<?x8xf32>
    bufferization.materialize_in_destination %r in restrict writable %out : (tensor<?x8xf32>, memref<?x8xf32>) -> ()
    dispatch.yield
  }
  func.return
}

// -----

// Attention needs a KV tile (reduction_tile) that divides its workgroup size.
func.func @attention_tile(%q: memref<?x16xf32>, %kc: memref<?x8xf32>, %pos: index, %y: memref<?x16xf32>) {
  dispatch.region "attention_0"(%q, %kc, %pos, %y) {config = #dispatch.lowering_config<attention, workgroup = [32, 1, 1], reduction_tile = 64>} : (memref<?x16xf32>, memref<?x8xf32>, index, memref<?x16xf32>) -> () {
  ^bb0(%a: memref<?x16xf32>, %k: memref<?x8xf32>, %p: index, %out: memref<?x16xf32>):
    %at = bufferization.to_tensor %a : memref<?x16xf32> to tensor<?x16xf32>
    // expected-error @+1 {{dispatch region 'attention_0' (attention): attention needs a power-of-two workgroup that is a multiple of head_dim (4) and of a power-of-two reduction_tile, with head_dim divisible by workgroup / reduction_tile and reduction_tile by workgroup / head_dim}}
    %r = linalg_ext.attention %at, %k, %k, %p {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 4 : i64, scale = 0.5 : f32} : tensor<?x16xf32>, memref<?x8xf32>, memref<?x8xf32> -> tensor<?x16xf32>
    bufferization.materialize_in_destination %r in restrict writable %out : (tensor<?x16xf32>, memref<?x16xf32>) -> ()
    dispatch.yield
  }
  func.return
}

// -----

// A size computed by an op the kernel cannot see (not an argument, constant or tensor.dim).
func.func @size_not_passed(%x: memref<?x8xf32>, %s: index, %y: memref<?x8xf32>) {
  // expected-error @+1 {{a size in this region is computed by 'arith.addi', not passed in}}
  dispatch.region "neg_0"(%x, %s, %y) {config = #dispatch.lowering_config<elementwise, workgroup = [64, 1, 1]>} : (memref<?x8xf32>, index, memref<?x8xf32>) -> () {
  ^bb0(%a: memref<?x8xf32>, %n: index, %out: memref<?x8xf32>):
    %at = bufferization.to_tensor %a : memref<?x8xf32> to tensor<?x8xf32>
    %n2 = arith.addi %n, %n : index
    %e = tensor.empty(%n2) : tensor<?x8xf32>
    %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%at : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
    ^bb1(%v: f32, %o: f32):
      %m = arith.negf %v : f32
      linalg.yield %m : f32
    } -> tensor<?x8xf32>
    bufferization.materialize_in_destination %r in restrict writable %out : (tensor<?x8xf32>, memref<?x8xf32>) -> ()
    dispatch.yield
  }
  func.return
}

// -----

// math = dp4a needs a target with packed 8-bit dot products (the webgpu target promises none).
func.func @dp4a_without_int_dot(%x: memref<?x64xf32>, %w: memref<72xi32> {rquant.stored = tensor<8x64x!rquant.q4_0>}, %s: index, %y: memref<?x8xf32>) {
  // expected-error @+1 {{dispatch region 'gemv_0' (gemv): math = dp4a needs a target with packed 8-bit dot products; webgpu has none (attach-target{int-dot=1} if the adapter has them)}}
  dispatch.region "gemv_0"(%x, %w, %s, %y) {config = #dispatch.lowering_config<gemv, workgroup = [32, 1, 1], workgroup_tile = [1, 4], thread_tile = [4], split = 32, math = dp4a>} : (memref<?x64xf32>, memref<72xi32>, index, memref<?x8xf32>) -> () {
  ^bb0(%a: memref<?x64xf32>, %b: memref<72xi32>, %n: index, %out: memref<?x8xf32>):
    dispatch.yield
  }
  func.return
}

// -----

// A split sample with more chunks than invocations: the combine gives each chunk an invocation.
func.func @split_sample_too_many_chunks(%l: memref<1000xf32>, %p: memref<521xi32>, %out: memref<1xi32>) {
  dispatch.region "sample_0"(%l, %p, %out) {config = #dispatch.lowering_config<sample, workgroup = [8, 1, 1], split = 64>} : (memref<1000xf32>, memref<521xi32>, memref<1xi32>) -> () {
  ^bb0(%a: memref<1000xf32>, %b: memref<521xi32>, %o: memref<1xi32>):
    %x = bufferization.to_tensor %a : memref<1000xf32> to tensor<1000xf32>
    %w = bufferization.to_tensor %b : memref<521xi32> to tensor<521xi32>
    // expected-error @+1 {{dispatch region 'sample_0' (sample): a split sample needs a split that is a multiple of the 8 invocations and at most 8 chunks of the 1000 logits, got split = 64 (16 chunks)}}
    %t = linalg_ext.sample %x, %w : tensor<1000xf32>, tensor<521xi32> -> tensor<1xi32>
    bufferization.materialize_in_destination %t in restrict writable %o : (tensor<1xi32>, memref<1xi32>) -> ()
    dispatch.yield
  }
  func.return
}
