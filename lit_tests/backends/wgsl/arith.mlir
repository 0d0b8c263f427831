// RUN: rusty-translate --to-wgsl %s | filecheck %s
// arith ops: float and integer arithmetic, unsigned ops through bitcast<u32>,
// every cmpf/cmpi predicate, i1 logic, casts and constants with special values.
// tests/backends/test_wgsl_exec.py runs every kernel here against numpy.

"gpu.module"() <{sym_name = "arith"}> ({
  // Float arithmetic: out[i, k] = op_k(a[i], b[i]).
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xf32>, memref<?x7xf32>) -> (), kernel}> ({
  ^bb0(%a: memref<?xf32>, %b: memref<?xf32>, %out: memref<?x7xf32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %x = memref.load %a[%i] : memref<?xf32>
    %y = memref.load %b[%i] : memref<?xf32>
    %add = arith.addf %x, %y : f32
    %sub = arith.subf %x, %y : f32
    %mul = arith.mulf %x, %y : f32
    %div = arith.divf %x, %y : f32
    %max = arith.maximumf %x, %y : f32
    %min = arith.minimumf %x, %y : f32
    %neg = arith.negf %x : f32
    %k0 = arith.constant 0 : index
    %k1 = arith.constant 1 : index
    %k2 = arith.constant 2 : index
    %k3 = arith.constant 3 : index
    %k4 = arith.constant 4 : index
    %k5 = arith.constant 5 : index
    %k6 = arith.constant 6 : index
    memref.store %add, %out[%i, %k0] : memref<?x7xf32>
    memref.store %sub, %out[%i, %k1] : memref<?x7xf32>
    memref.store %mul, %out[%i, %k2] : memref<?x7xf32>
    memref.store %div, %out[%i, %k3] : memref<?x7xf32>
    memref.store %max, %out[%i, %k4] : memref<?x7xf32>
    memref.store %min, %out[%i, %k5] : memref<?x7xf32>
    memref.store %neg, %out[%i, %k6] : memref<?x7xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "float_binary", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // Integer arithmetic, signed and unsigned: out[i, k] = op_k(a[i], b[i]); shifts by b & 31.
  "gpu.func"() <{function_type = (memref<?xi32>, memref<?xi32>, memref<?x18xi32>) -> (), kernel}> ({
  ^bb0(%a: memref<?xi32>, %b: memref<?xi32>, %out: memref<?x18xi32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %x = memref.load %a[%i] : memref<?xi32>
    %y = memref.load %b[%i] : memref<?xi32>
    %c31 = arith.constant 31 : i32
    %s = arith.andi %y, %c31 : i32
    %addi = arith.addi %x, %y : i32
    %subi = arith.subi %x, %y : i32
    %muli = arith.muli %x, %y : i32
    %divsi = arith.divsi %x, %y : i32
    %remsi = arith.remsi %x, %y : i32
    %divui = arith.divui %x, %y : i32
    %remui = arith.remui %x, %y : i32
    %maxsi = arith.maxsi %x, %y : i32
    %minsi = arith.minsi %x, %y : i32
    %maxui = arith.maxui %x, %y : i32
    %minui = arith.minui %x, %y : i32
    %andi = arith.andi %x, %y : i32
    %ori = arith.ori %x, %y : i32
    %xori = arith.xori %x, %y : i32
    %shli = arith.shli %x, %s : i32
    %shrsi = arith.shrsi %x, %s : i32
    %shrui = arith.shrui %x, %s : i32
    %absi = math.absi %x : i32
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
    %k15 = arith.constant 15 : index
    %k16 = arith.constant 16 : index
    %k17 = arith.constant 17 : index
    memref.store %addi, %out[%i, %k0] : memref<?x18xi32>
    memref.store %subi, %out[%i, %k1] : memref<?x18xi32>
    memref.store %muli, %out[%i, %k2] : memref<?x18xi32>
    memref.store %divsi, %out[%i, %k3] : memref<?x18xi32>
    memref.store %remsi, %out[%i, %k4] : memref<?x18xi32>
    memref.store %divui, %out[%i, %k5] : memref<?x18xi32>
    memref.store %remui, %out[%i, %k6] : memref<?x18xi32>
    memref.store %maxsi, %out[%i, %k7] : memref<?x18xi32>
    memref.store %minsi, %out[%i, %k8] : memref<?x18xi32>
    memref.store %maxui, %out[%i, %k9] : memref<?x18xi32>
    memref.store %minui, %out[%i, %k10] : memref<?x18xi32>
    memref.store %andi, %out[%i, %k11] : memref<?x18xi32>
    memref.store %ori, %out[%i, %k12] : memref<?x18xi32>
    memref.store %xori, %out[%i, %k13] : memref<?x18xi32>
    memref.store %shli, %out[%i, %k14] : memref<?x18xi32>
    memref.store %shrsi, %out[%i, %k15] : memref<?x18xi32>
    memref.store %shrui, %out[%i, %k16] : memref<?x18xi32>
    memref.store %absi, %out[%i, %k17] : memref<?x18xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "int_binary", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // Every cmpf predicate on (a, b), then every cmpi predicate on (p, q); 1 = true.
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xf32>, memref<?xi32>, memref<?xi32>, memref<?x26xi32>) -> (), kernel}> ({
  ^bb0(%a: memref<?xf32>, %b: memref<?xf32>, %p: memref<?xi32>, %q: memref<?xi32>, %out: memref<?x26xi32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %x = memref.load %a[%i] : memref<?xf32>
    %y = memref.load %b[%i] : memref<?xf32>
    %m = memref.load %p[%i] : memref<?xi32>
    %n = memref.load %q[%i] : memref<?xi32>
    %f_false = arith.cmpf false, %x, %y : f32
    %r_f_false = arith.extui %f_false : i1 to i32
    %f_oeq = arith.cmpf oeq, %x, %y : f32
    %r_f_oeq = arith.extui %f_oeq : i1 to i32
    %f_ogt = arith.cmpf ogt, %x, %y : f32
    %r_f_ogt = arith.extui %f_ogt : i1 to i32
    %f_oge = arith.cmpf oge, %x, %y : f32
    %r_f_oge = arith.extui %f_oge : i1 to i32
    %f_olt = arith.cmpf olt, %x, %y : f32
    %r_f_olt = arith.extui %f_olt : i1 to i32
    %f_ole = arith.cmpf ole, %x, %y : f32
    %r_f_ole = arith.extui %f_ole : i1 to i32
    %f_one = arith.cmpf one, %x, %y : f32
    %r_f_one = arith.extui %f_one : i1 to i32
    %f_ord = arith.cmpf ord, %x, %y : f32
    %r_f_ord = arith.extui %f_ord : i1 to i32
    %f_ueq = arith.cmpf ueq, %x, %y : f32
    %r_f_ueq = arith.extui %f_ueq : i1 to i32
    %f_ugt = arith.cmpf ugt, %x, %y : f32
    %r_f_ugt = arith.extui %f_ugt : i1 to i32
    %f_uge = arith.cmpf uge, %x, %y : f32
    %r_f_uge = arith.extui %f_uge : i1 to i32
    %f_ult = arith.cmpf ult, %x, %y : f32
    %r_f_ult = arith.extui %f_ult : i1 to i32
    %f_ule = arith.cmpf ule, %x, %y : f32
    %r_f_ule = arith.extui %f_ule : i1 to i32
    %f_une = arith.cmpf une, %x, %y : f32
    %r_f_une = arith.extui %f_une : i1 to i32
    %f_uno = arith.cmpf uno, %x, %y : f32
    %r_f_uno = arith.extui %f_uno : i1 to i32
    %f_true = arith.cmpf true, %x, %y : f32
    %r_f_true = arith.extui %f_true : i1 to i32
    %i_eq = arith.cmpi eq, %m, %n : i32
    %r_i_eq = arith.extui %i_eq : i1 to i32
    %i_ne = arith.cmpi ne, %m, %n : i32
    %r_i_ne = arith.extui %i_ne : i1 to i32
    %i_slt = arith.cmpi slt, %m, %n : i32
    %r_i_slt = arith.extui %i_slt : i1 to i32
    %i_sle = arith.cmpi sle, %m, %n : i32
    %r_i_sle = arith.extui %i_sle : i1 to i32
    %i_sgt = arith.cmpi sgt, %m, %n : i32
    %r_i_sgt = arith.extui %i_sgt : i1 to i32
    %i_sge = arith.cmpi sge, %m, %n : i32
    %r_i_sge = arith.extui %i_sge : i1 to i32
    %i_ult = arith.cmpi ult, %m, %n : i32
    %r_i_ult = arith.extui %i_ult : i1 to i32
    %i_ule = arith.cmpi ule, %m, %n : i32
    %r_i_ule = arith.extui %i_ule : i1 to i32
    %i_ugt = arith.cmpi ugt, %m, %n : i32
    %r_i_ugt = arith.extui %i_ugt : i1 to i32
    %i_uge = arith.cmpi uge, %m, %n : i32
    %r_i_uge = arith.extui %i_uge : i1 to i32
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
    %k15 = arith.constant 15 : index
    %k16 = arith.constant 16 : index
    %k17 = arith.constant 17 : index
    %k18 = arith.constant 18 : index
    %k19 = arith.constant 19 : index
    %k20 = arith.constant 20 : index
    %k21 = arith.constant 21 : index
    %k22 = arith.constant 22 : index
    %k23 = arith.constant 23 : index
    %k24 = arith.constant 24 : index
    %k25 = arith.constant 25 : index
    memref.store %r_f_false, %out[%i, %k0] : memref<?x26xi32>
    memref.store %r_f_oeq, %out[%i, %k1] : memref<?x26xi32>
    memref.store %r_f_ogt, %out[%i, %k2] : memref<?x26xi32>
    memref.store %r_f_oge, %out[%i, %k3] : memref<?x26xi32>
    memref.store %r_f_olt, %out[%i, %k4] : memref<?x26xi32>
    memref.store %r_f_ole, %out[%i, %k5] : memref<?x26xi32>
    memref.store %r_f_one, %out[%i, %k6] : memref<?x26xi32>
    memref.store %r_f_ord, %out[%i, %k7] : memref<?x26xi32>
    memref.store %r_f_ueq, %out[%i, %k8] : memref<?x26xi32>
    memref.store %r_f_ugt, %out[%i, %k9] : memref<?x26xi32>
    memref.store %r_f_uge, %out[%i, %k10] : memref<?x26xi32>
    memref.store %r_f_ult, %out[%i, %k11] : memref<?x26xi32>
    memref.store %r_f_ule, %out[%i, %k12] : memref<?x26xi32>
    memref.store %r_f_une, %out[%i, %k13] : memref<?x26xi32>
    memref.store %r_f_uno, %out[%i, %k14] : memref<?x26xi32>
    memref.store %r_f_true, %out[%i, %k15] : memref<?x26xi32>
    memref.store %r_i_eq, %out[%i, %k16] : memref<?x26xi32>
    memref.store %r_i_ne, %out[%i, %k17] : memref<?x26xi32>
    memref.store %r_i_slt, %out[%i, %k18] : memref<?x26xi32>
    memref.store %r_i_sle, %out[%i, %k19] : memref<?x26xi32>
    memref.store %r_i_sgt, %out[%i, %k20] : memref<?x26xi32>
    memref.store %r_i_sge, %out[%i, %k21] : memref<?x26xi32>
    memref.store %r_i_ult, %out[%i, %k22] : memref<?x26xi32>
    memref.store %r_i_ule, %out[%i, %k23] : memref<?x26xi32>
    memref.store %r_i_ugt, %out[%i, %k24] : memref<?x26xi32>
    memref.store %r_i_uge, %out[%i, %k25] : memref<?x26xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "compare", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // i1 logic with p = a < 0, q = b > 0: and, or, xor (extsi: -1), select, trunci, not.
  "gpu.func"() <{function_type = (memref<?xi32>, memref<?xi32>, memref<?x6xi32>) -> (), kernel}> ({
  ^bb0(%a: memref<?xi32>, %b: memref<?xi32>, %out: memref<?x6xi32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %x = memref.load %a[%i] : memref<?xi32>
    %y = memref.load %b[%i] : memref<?xi32>
    %zero = arith.constant 0 : i32
    %p = arith.cmpi slt, %x, %zero : i32
    %q = arith.cmpi sgt, %y, %zero : i32
    %and = arith.andi %p, %q : i1
    %or = arith.ori %p, %q : i1
    %xor = arith.xori %p, %q : i1
    %and_i = arith.extui %and : i1 to i32
    %or_i = arith.extui %or : i1 to i32
    %xor_i = arith.extsi %xor : i1 to i32
    %sel = arith.select %p, %x, %y : i32
    %low = arith.trunci %x : i32 to i1
    %low_i = arith.extui %low : i1 to i32
    %true = arith.constant true
    %nq = arith.xori %q, %true : i1
    %nq_i = arith.extui %nq : i1 to i32
    %k0 = arith.constant 0 : index
    %k1 = arith.constant 1 : index
    %k2 = arith.constant 2 : index
    %k3 = arith.constant 3 : index
    %k4 = arith.constant 4 : index
    %k5 = arith.constant 5 : index
    memref.store %and_i, %out[%i, %k0] : memref<?x6xi32>
    memref.store %or_i, %out[%i, %k1] : memref<?x6xi32>
    memref.store %xor_i, %out[%i, %k2] : memref<?x6xi32>
    memref.store %sel, %out[%i, %k3] : memref<?x6xi32>
    memref.store %low_i, %out[%i, %k4] : memref<?x6xi32>
    memref.store %nq_i, %out[%i, %k5] : memref<?x6xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "bool_ops", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // Casts: out_f = sitofp, uitofp, bitcast, index_cast round trip; out_i = fptosi, fptoui(|f|), bitcast, index_cast(i), index_cast(index + 3).
  "gpu.func"() <{function_type = (memref<?xf32>, memref<?xi32>, memref<?x4xf32>, memref<?x5xi32>) -> (), kernel}> ({
  ^bb0(%f: memref<?xf32>, %a: memref<?xi32>, %out_f: memref<?x4xf32>, %out_i: memref<?x5xi32>):
    %i = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    %x = memref.load %f[%i] : memref<?xf32>
    %n = memref.load %a[%i] : memref<?xi32>
    %sitofp = arith.sitofp %n : i32 to f32
    %uitofp = arith.uitofp %n : i32 to f32
    %bits_f = arith.bitcast %n : i32 to f32
    %idx = arith.index_cast %n : i32 to index
    %c3 = arith.constant 3 : index
    %idx3 = arith.addi %idx, %c3 : index
    %back = arith.index_cast %idx3 : index to i32
    %back_f = arith.sitofp %back : i32 to f32
    %fptosi = arith.fptosi %x : f32 to i32
    %ax = math.absf %x : f32
    %fptoui = arith.fptoui %ax : f32 to i32
    %bits_i = arith.bitcast %x : f32 to i32
    %ii = arith.index_cast %i : index to i32
    %k0 = arith.constant 0 : index
    %k1 = arith.constant 1 : index
    %k2 = arith.constant 2 : index
    %k3 = arith.constant 3 : index
    %k4 = arith.constant 4 : index
    memref.store %sitofp, %out_f[%i, %k0] : memref<?x4xf32>
    memref.store %uitofp, %out_f[%i, %k1] : memref<?x4xf32>
    memref.store %bits_f, %out_f[%i, %k2] : memref<?x4xf32>
    memref.store %back_f, %out_f[%i, %k3] : memref<?x4xf32>
    memref.store %fptosi, %out_i[%i, %k0] : memref<?x5xi32>
    memref.store %fptoui, %out_i[%i, %k1] : memref<?x5xi32>
    memref.store %bits_i, %out_i[%i, %k2] : memref<?x5xi32>
    memref.store %ii, %out_i[%i, %k3] : memref<?x5xi32>
    memref.store %back, %out_i[%i, %k4] : memref<?x5xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "casts", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()

  // Constants, written by one thread: finite, inf, -inf, nan, -0.0; i32 extremes; true; an index.
  "gpu.func"() <{function_type = (memref<12xf32>, memref<9xi32>) -> (), kernel}> ({
  ^bb0(%out_f: memref<12xf32>, %out_i: memref<9xi32>):
    %k0 = arith.constant 0 : index
    %cf0 = arith.constant 1.5 : f32
    %kf0 = arith.constant 0 : index
    memref.store %cf0, %out_f[%kf0] : memref<12xf32>
    %cf1 = arith.constant -2.25 : f32
    %kf1 = arith.constant 1 : index
    memref.store %cf1, %out_f[%kf1] : memref<12xf32>
    %cf2 = arith.constant 0.1 : f32
    %kf2 = arith.constant 2 : index
    memref.store %cf2, %out_f[%kf2] : memref<12xf32>
    %cf3 = arith.constant 3.4028235e+38 : f32
    %kf3 = arith.constant 3 : index
    memref.store %cf3, %out_f[%kf3] : memref<12xf32>
    %cf4 = arith.constant 1.0e-30 : f32
    %kf4 = arith.constant 4 : index
    memref.store %cf4, %out_f[%kf4] : memref<12xf32>
    %cf5 = arith.constant 0x7F800000 : f32
    %kf5 = arith.constant 5 : index
    memref.store %cf5, %out_f[%kf5] : memref<12xf32>
    %cf6 = arith.constant 0xFF800000 : f32
    %kf6 = arith.constant 6 : index
    memref.store %cf6, %out_f[%kf6] : memref<12xf32>
    %cf7 = arith.constant 0x7FC00000 : f32
    %kf7 = arith.constant 7 : index
    memref.store %cf7, %out_f[%kf7] : memref<12xf32>
    %cf8 = arith.constant -0.0 : f32
    %kf8 = arith.constant 8 : index
    memref.store %cf8, %out_f[%kf8] : memref<12xf32>
    %cf9 = arith.constant 65504.0 : f32
    %kf9 = arith.constant 9 : index
    memref.store %cf9, %out_f[%kf9] : memref<12xf32>
    %cf10 = arith.constant 0.0 : f32
    %kf10 = arith.constant 10 : index
    memref.store %cf10, %out_f[%kf10] : memref<12xf32>
    %cf11 = arith.constant -1.0e+10 : f32
    %kf11 = arith.constant 11 : index
    memref.store %cf11, %out_f[%kf11] : memref<12xf32>
    %ci0 = arith.constant 0 : i32
    %ki0 = arith.constant 0 : index
    memref.store %ci0, %out_i[%ki0] : memref<9xi32>
    %ci1 = arith.constant 7 : i32
    %ki1 = arith.constant 1 : index
    memref.store %ci1, %out_i[%ki1] : memref<9xi32>
    %ci2 = arith.constant -1 : i32
    %ki2 = arith.constant 2 : index
    memref.store %ci2, %out_i[%ki2] : memref<9xi32>
    %ci3 = arith.constant -2147483648 : i32
    %ki3 = arith.constant 3 : index
    memref.store %ci3, %out_i[%ki3] : memref<9xi32>
    %ci4 = arith.constant 2147483647 : i32
    %ki4 = arith.constant 4 : index
    memref.store %ci4, %out_i[%ki4] : memref<9xi32>
    %ci5 = arith.constant 0xF0F0F0F0 : i32
    %ki5 = arith.constant 5 : index
    memref.store %ci5, %out_i[%ki5] : memref<9xi32>
    %ci6 = arith.constant 4294967295 : i32
    %ki6 = arith.constant 6 : index
    memref.store %ci6, %out_i[%ki6] : memref<9xi32>
    %t = arith.constant true
    %t_i = arith.extui %t : i1 to i32
    %kt = arith.constant 7 : index
    memref.store %t_i, %out_i[%kt] : memref<9xi32>
    %big = arith.constant 100000 : index
    %big_i = arith.index_cast %big : index to i32
    %kb = arith.constant 8 : index
    memref.store %big_i, %out_i[%kb] : memref<9xi32>
    "gpu.return"() : () -> ()
  }) {sym_name = "constants", gpu.known_block_size = array<i32: 1, 1, 1>} : () -> ()
}) : () -> ()

// CHECK-LABEL: // gpu.module @arith > gpu.func @float_binary
// CHECK:       fn float_binary(@builtin(global_invocation_id) gid: vec3<u32>) {
// CHECK:         let [[X:v_x]]: f32 = float_binary_a[v_i];
// CHECK:         let [[Y:v_y]]: f32 = float_binary_b[v_i];
// CHECK-NEXT:    let v_add: f32 = [[X]] + [[Y]];
// CHECK-NEXT:    let v_sub: f32 = [[X]] - [[Y]];
// CHECK-NEXT:    let v_mul: f32 = [[X]] * [[Y]];
// CHECK-NEXT:    let v_div: f32 = [[X]] / [[Y]];
// CHECK-NEXT:    let v_max: f32 = max([[X]], [[Y]]);
// CHECK-NEXT:    let v_min: f32 = min([[X]], [[Y]]);
// CHECK-NEXT:    let v_neg: f32 = -[[X]];
// CHECK-NEXT:    float_binary_out[v_i * 7 + 0i] = v_add;

// CHECK-LABEL: // gpu.module @arith > gpu.func @int_binary
// CHECK:         let [[S:v_s]]: i32 = v_y & 31i;
// CHECK:         let v_divsi: i32 = v_x / v_y;
// CHECK-NEXT:    let v_remsi: i32 = v_x % v_y;
// CHECK-NEXT:    let v_divui: i32 = bitcast<i32>(bitcast<u32>(v_x) / bitcast<u32>(v_y));
// CHECK-NEXT:    let v_remui: i32 = bitcast<i32>(bitcast<u32>(v_x) % bitcast<u32>(v_y));
// CHECK-NEXT:    let v_maxsi: i32 = max(v_x, v_y);
// CHECK-NEXT:    let v_minsi: i32 = min(v_x, v_y);
// CHECK-NEXT:    let v_maxui: i32 = bitcast<i32>(max(bitcast<u32>(v_x), bitcast<u32>(v_y)));
// CHECK-NEXT:    let v_minui: i32 = bitcast<i32>(min(bitcast<u32>(v_x), bitcast<u32>(v_y)));
// CHECK-NEXT:    let v_andi: i32 = v_x & v_y;
// CHECK-NEXT:    let v_ori: i32 = v_x | v_y;
// CHECK-NEXT:    let v_xori: i32 = v_x ^ v_y;
// CHECK-NEXT:    let v_shli: i32 = v_x << bitcast<u32>([[S]]);
// CHECK-NEXT:    let v_shrsi: i32 = v_x >> bitcast<u32>([[S]]);
// CHECK-NEXT:    let v_shrui: i32 = bitcast<i32>(bitcast<u32>(v_x) >> bitcast<u32>([[S]]));
// CHECK-NEXT:    let v_absi: i32 = abs(v_x);

// CHECK-LABEL: // gpu.module @arith > gpu.func @compare
// CHECK:         let v_f_false: bool = false;
// CHECK:         let v_f_oeq: bool = v_x == v_y;
// CHECK:         let v_f_one: bool = (v_x < v_y) || (v_x > v_y);
// CHECK:         let v_f_ord: bool = (v_x == v_x) && (v_y == v_y);
// CHECK:         let v_f_ugt: bool = !(v_x <= v_y);
// CHECK:         let v_f_une: bool = !(v_x == v_y);
// CHECK:         let v_f_uno: bool = !((v_x == v_x) && (v_y == v_y));
// CHECK:         let v_f_true: bool = true;
// CHECK:         let v_i_slt: bool = v_m < v_n;
// CHECK:         let v_i_ult: bool = bitcast<u32>(v_m) < bitcast<u32>(v_n);
// CHECK-NEXT:    let v_r_i_ult: i32 = i32(v_i_ult);

// CHECK-LABEL: // gpu.module @arith > gpu.func @bool_ops
// CHECK:         let [[P:v_p]]: bool = v_x < 0i;
// CHECK-NEXT:    let [[Q:v_q]]: bool = v_y > 0i;
// CHECK-NEXT:    let v_and: bool = [[P]] & [[Q]];
// CHECK-NEXT:    let v_or: bool = [[P]] | [[Q]];
// CHECK-NEXT:    let v_xor: bool = [[P]] != [[Q]];
// CHECK:         let v_xor_i: i32 = -i32(v_xor);
// CHECK-NEXT:    let v_sel: i32 = select(v_y, v_x, [[P]]);
// CHECK-NEXT:    let v_low: bool = (v_x & 1) != 0;
// CHECK:         let v_nq: bool = [[Q]] != true;

// CHECK-LABEL: // gpu.module @arith > gpu.func @casts
// CHECK:         let v_sitofp: f32 = f32(v_n);
// CHECK-NEXT:    let v_uitofp: f32 = f32(bitcast<u32>(v_n));
// CHECK-NEXT:    let v_bits_f: f32 = bitcast<f32>(v_n);
// CHECK-NEXT:    let v_idx: i32 = v_n;
// CHECK:         let v_fptosi: i32 = i32(v_x);
// CHECK:         let v_fptoui: i32 = bitcast<i32>(u32(v_ax));
// CHECK-NEXT:    let v_bits_i: i32 = bitcast<i32>(v_x);

// Constants are inlined as typed literals; inf, nan and -0.0 go through bitcast.
// CHECK-LABEL: // gpu.module @arith > gpu.func @constants
// CHECK:       @compute @workgroup_size(1, 1, 1)
// CHECK-NEXT:  fn constants() {
// CHECK-NEXT:    constants_out_f[0i] = 1.5f;
// CHECK-NEXT:    constants_out_f[1i] = (-2.25f);
// CHECK-NEXT:    constants_out_f[2i] = 0.1f;
// CHECK-NEXT:    constants_out_f[3i] = 3.4028235e+38f;
// CHECK-NEXT:    constants_out_f[4i] = 1e-30f;
// CHECK-NEXT:    constants_out_f[5i] = bitcast<f32>(0x7f800000u);
// CHECK-NEXT:    constants_out_f[6i] = bitcast<f32>(0xff800000u);
// CHECK-NEXT:    constants_out_f[7i] = bitcast<f32>(0x7fc00000u);
// CHECK-NEXT:    constants_out_f[8i] = bitcast<f32>(0x80000000u);
// CHECK:         constants_out_i[3i] = i32(-2147483648);
// CHECK-NEXT:    constants_out_i[4i] = 2147483647i;
// CHECK-NEXT:    constants_out_i[5i] = (-252645136i);
// CHECK:         let v_t_i: i32 = i32(true);
