// RUN: rusty-translate --to-wgsl %s | filecheck %s
// gpu.thread_id/block_id/block_dim/grid_dim/global_id in x, y and z with a 3-d workgroup:
// block_dim is the workgroup size (a constant), grid_dim the number of workgroups.
// tests/backends/test_wgsl_exec.py runs the kernel against numpy.

"gpu.module"() <{sym_name = "builtins"}> ({
  // Row g (the linear global invocation index) of out gets the 15 ids:
  // thread x y z, block x y z, block_dim x y z, grid_dim x y z, global x y z.
  "gpu.func"() <{function_type = (memref<?x15xi32>) -> (), kernel}> ({
  ^bb0(%out: memref<?x15xi32>):
    %tx = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %ty = "gpu.thread_id"() <{dimension = #gpu<dim y>}> : () -> index
    %tz = "gpu.thread_id"() <{dimension = #gpu<dim z>}> : () -> index
    %bx = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
    %by = "gpu.block_id"() <{dimension = #gpu<dim y>}> : () -> index
    %bz = "gpu.block_id"() <{dimension = #gpu<dim z>}> : () -> index
    %dx = "gpu.block_dim"() <{dimension = #gpu<dim x>}> : () -> index
    %dy = "gpu.block_dim"() <{dimension = #gpu<dim y>}> : () -> index
    %dz = "gpu.block_dim"() <{dimension = #gpu<dim z>}> : () -> index
    %nx = "gpu.grid_dim"() <{dimension = #gpu<dim x>}> : () -> index
    %ny = "gpu.grid_dim"() <{dimension = #gpu<dim y>}> : () -> index
    %nz = "gpu.grid_dim"() <{dimension = #gpu<dim z>}> : () -> index
    %gx = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %gy = "gpu.global_id"() <{dimension = #gpu<dim y>}> : () -> index
    %gz = "gpu.global_id"() <{dimension = #gpu<dim z>}> : () -> index
    %width = arith.muli %dx, %nx : index
    %height = arith.muli %dy, %ny : index
    %plane = arith.muli %width, %height : index
    %zoff = arith.muli %gz, %plane : index
    %yoff = arith.muli %gy, %width : index
    %zy = arith.addi %zoff, %yoff : index
    %row = arith.addi %zy, %gx : index
    %k0 = arith.constant 0 : index
    %k1 = arith.constant 1 : index
    %k2 = arith.constant 2 : index
    %k3 = arith.constant 3 : index
    %k4 = arith.constant 4 : index
    %k5 = arith.constant 5 : index
    %k6 = arith.constant 6 : index
    %k7 = arith.constant 7 : index
    %k8 = arith.constant 8 : index
    %k9 = arith.constant 9 : index
    %k10 = arith.constant 10 : index
    %k11 = arith.constant 11 : index
    %k12 = arith.constant 12 : index
    %k13 = arith.constant 13 : index
    %k14 = arith.constant 14 : index
    %v0 = arith.index_cast %tx : index to i32
    %v1 = arith.index_cast %ty : index to i32
    %v2 = arith.index_cast %tz : index to i32
    %v3 = arith.index_cast %bx : index to i32
    %v4 = arith.index_cast %by : index to i32
    %v5 = arith.index_cast %bz : index to i32
    %v6 = arith.index_cast %dx : index to i32
    %v7 = arith.index_cast %dy : index to i32
    %v8 = arith.index_cast %dz : index to i32
    %v9 = arith.index_cast %nx : index to i32
    %v10 = arith.index_cast %ny : index to i32
    %v11 = arith.index_cast %nz : index to i32
    %v12 = arith.index_cast %gx : index to i32
    %v13 = arith.index_cast %gy : index to i32
    %v14 = arith.index_cast %gz : index to i32
    memref.store %v0, %out[%row, %k0] : memref<?x15xi32>
    memref.store %v1, %out[%row, %k1] : memref<?x15xi32>
    memref.store %v2, %out[%row, %k2] : memref<?x15xi32>
    memref.store %v3, %out[%row, %k3] : memref<?x15xi32>
    memref.store %v4, %out[%row, %k4] : memref<?x15xi32>
    memref.store %v5, %out[%row, %k5] : memref<?x15xi32>
    memref.store %v6, %out[%row, %k6] : memref<?x15xi32>
    memref.store %v7, %out[%row, %k7] : memref<?x15xi32>
    memref.store %v8, %out[%row, %k8] : memref<?x15xi32>
    memref.store %v9, %out[%row, %k9] : memref<?x15xi32>
    memref.store %v10, %out[%row, %k10] : memref<?x15xi32>
    memref.store %v11, %out[%row, %k11] : memref<?x15xi32>
    memref.store %v12, %out[%row, %k12] : memref<?x15xi32>
    memref.store %v13, %out[%row, %k13] : memref<?x15xi32>
    memref.store %v14, %out[%row, %k14] : memref<?x15xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "ids", gpu.known_block_size = array<i32: 4, 2, 3>} : () -> ()
}) : () -> ()

// block_dim is the workgroup size (a literal), grid_dim is num_workgroups.
// CHECK-LABEL: // gpu.module @builtins > gpu.func @ids
// CHECK:       @compute @workgroup_size(4, 2, 3)
// CHECK-NEXT:  fn ids(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
// CHECK-NEXT:    let v_tx: i32 = i32(lid.x);
// CHECK-NEXT:    let v_ty: i32 = i32(lid.y);
// CHECK-NEXT:    let v_tz: i32 = i32(lid.z);
// CHECK-NEXT:    let v_bx: i32 = i32(wid.x);
// CHECK-NEXT:    let v_by: i32 = i32(wid.y);
// CHECK-NEXT:    let v_bz: i32 = i32(wid.z);
// CHECK-NEXT:    let v_nx: i32 = i32(nwg.x);
// CHECK-NEXT:    let v_ny: i32 = i32(nwg.y);
// CHECK-NEXT:    let v_nz: i32 = i32(nwg.z);
// CHECK-NEXT:    let v_gx: i32 = i32(gid.x);
// CHECK-NEXT:    let v_gy: i32 = i32(gid.y);
// CHECK-NEXT:    let v_gz: i32 = i32(gid.z);
// CHECK-NEXT:    let v_width: i32 = 4i * v_nx;
// CHECK-NEXT:    let v_height: i32 = 2i * v_ny;
// CHECK-NOT:     local_invocation_id
// CHECK:         let v_v8: i32 = 3i;
