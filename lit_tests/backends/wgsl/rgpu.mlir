// RUN: rusty-translate --to-wgsl %s | filecheck %s
// rgpu ops: unpack_f16 (an f16 half of an i32 word, as f32), pack_f16 (two f32 as the halves of
// a word), dot4_i8 (four signed bytes times four) and subgroup_add, with gpu.subgroup_size and gpu.lane_id.
// tests/backends/test_wgsl_exec.py runs the kernels against numpy.

"gpu.module"() <{sym_name = "rgpu"}> ({
  // out[i] = [lo half of w[i], hi half of w[i]] as f32.
  "gpu.func"() <{function_type = (memref<?xi32>, memref<?x2xf32>) -> (), kernel}> ({
  ^bb0(%w: memref<?xi32>, %out: memref<?x2xf32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %word = memref.load %w[%i] : memref<?xi32>
    %lo = rgpu.unpack_f16 %word lo : i32 -> f32
    %hi = rgpu.unpack_f16 %word hi : i32 -> f32
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    memref.store %lo, %out[%i, %c0] : memref<?x2xf32>
    memref.store %hi, %out[%i, %c1] : memref<?x2xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "unpack", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // out[i] = x[2i] and x[2i + 1] rounded to f16, packed into one word (x[2i] in the low half).
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xi32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>, %out: memref<?xi32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %even = arith.muli %i, %c2 : index
    %odd = arith.addi %even, %c1 : index
    %a = memref.load %x[%even] : memref<?xf32>
    %b = memref.load %x[%odd] : memref<?xf32>
    %word = rgpu.pack_f16 %a, %b : i32
    memref.store %word, %out[%i] : memref<?xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "pack", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // out[i] = the dot product of the four signed bytes of a[i] and b[i].
  "gpu.func"() <{function_type = (memref<?xi32>, memref<?xi32>, memref<?xi32>) -> (), kernel}> ({
  ^bb0(%a: memref<?xi32>, %b: memref<?xi32>, %out: memref<?xi32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %x = memref.load %a[%i] : memref<?xi32>
    %y = memref.load %b[%i] : memref<?xi32>
    %d = rgpu.dot4_i8 %x, %y : i32
    memref.store %d, %out[%i] : memref<?xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "dot4", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // out[i] = [sum of x over i's subgroup, subgroup size, lane id] (as f32).
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?x3xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>, %out: memref<?x3xf32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %v = memref.load %x[%i] : memref<?xf32>
    %sum = rgpu.subgroup_add %v : f32
    %size = "gpu.subgroup_size"() : () -> index
    %lane = "gpu.lane_id"() : () -> index
    %size_i = arith.index_cast %size : index to i32
    %lane_i = arith.index_cast %lane : index to i32
    %size_f = arith.sitofp %size_i : i32 to f32
    %lane_f = arith.sitofp %lane_i : i32 to f32
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    memref.store %sum, %out[%i, %c0] : memref<?x3xf32>
    memref.store %size_f, %out[%i, %c1] : memref<?x3xf32>
    memref.store %lane_f, %out[%i, %c2] : memref<?x3xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "subgroup_sum", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
}) : () -> ()

// CHECK-NOT:   enable f16;
// CHECK-LABEL: // gpu.module @rgpu > gpu.func @unpack
// CHECK:         let [[W:v_word]]: i32 = unpack_w[v_i];
// CHECK-NEXT:    let v_lo: f32 = unpack2x16float(bitcast<u32>([[W]])).x;
// CHECK-NEXT:    let v_hi: f32 = unpack2x16float(bitcast<u32>([[W]])).y;

// CHECK-LABEL: // gpu.module @rgpu > gpu.func @pack
// CHECK:         let v_word: i32 = bitcast<i32>(pack2x16float(vec2<f32>(v_a, v_b)));

// CHECK-LABEL: // gpu.module @rgpu > gpu.func @dot4
// CHECK:         let v_d: i32 = dot4I8Packed(bitcast<u32>(v_x), bitcast<u32>(v_y));

// CHECK-LABEL: // gpu.module @rgpu > gpu.func @subgroup_sum
// CHECK:       fn subgroup_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32) {
// CHECK:         let v_sum: f32 = subgroupAdd(v_v);
// CHECK-NEXT:    let v_size: i32 = i32(sg_size);
// CHECK-NEXT:    let v_lane: i32 = i32(sg_lane);
