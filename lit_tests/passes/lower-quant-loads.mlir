// RUN: rusty-opt %s -p lower-quant-loads --split-input-file | filecheck %s
// RUN: rusty-opt %s -p lower-quant-loads,convert-tiled-to-gpu --split-input-file | rusty-translate --to-wgsl --split-input-file | filecheck %s --check-prefix=WGSL
// Kernels at the level the pass runs (tiled.kernel bodies after distribute-to-gpu-ids), each weight
// read replaced by word loads and bit arithmetic; no quant op is left. The layouts are those of
// rusty_ir/weights.py; tests/backends/test_quant_loads.py runs every scheme in both layouts on wgpu
// (and as MSL) against rusty_ir.weights.dequantize.

// rquant.load of a q4_0 weight as stored (2 x 64: 2 blocks of 18 bytes per row, bound as 18 words):
// block = col / 32, j = col % 32, block index = row * 2 + block, at byte base = index * 18. The f16
// scale is half number base / 2 (word half / 2, shifted by 16 bits for an odd half, unpacked);
// code j sits in byte base + 2 + (j mod 16), in its low nibble for j < 16, its high one otherwise.
// The nibble becomes a float by OR-ing it into the bits of 2^23 (1258291200) and subtracting
// 2^23 + 8 (0x4B000008), the zero point taken off in the same op; value = scale * (code - 8).
// CHECK-LABEL: func.func @load_q4_0
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%[[WORDS:.*]]: memref<18xi32>, %[[OUT:.*]]: memref<128xf32>):
// CHECK:           %[[ROW:.*]] = arith.divui
// CHECK-NEXT:      %[[COL:.*]] = arith.remui
// CHECK-NEXT:      %[[C32:.*]] = arith.constant 32 : index
// CHECK-NEXT:      %[[BLK:.*]] = arith.divui %[[COL]], %[[C32]] : index
// CHECK-NEXT:      %[[J:.*]] = arith.remui %[[COL]], %[[C32]] : index
// CHECK-NEXT:      %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[RB:.*]] = arith.muli %[[ROW]], %[[C2]] : index
// CHECK-NEXT:      %[[IDX:.*]] = arith.addi %[[RB]], %[[BLK]] : index
// CHECK-NEXT:      %[[C18:.*]] = arith.constant 18 : index
// CHECK-NEXT:      %[[BASE:.*]] = arith.muli %[[IDX]], %[[C18]] : index
// CHECK-NEXT:      %[[HALF:.*]] = arith.divui %[[BASE]], %[[C2]] : index
// CHECK-NEXT:      %[[HW:.*]] = arith.divui %[[HALF]], %[[C2]] : index
// CHECK-NEXT:      %[[HWORD:.*]] = memref.load %[[WORDS]][%[[HW]]] : memref<18xi32>
// CHECK-NEXT:      %[[HODD:.*]] = arith.remui %[[HALF]], %[[C2]] : index
// CHECK-NEXT:      %[[C16:.*]] = arith.constant 16 : index
// CHECK-NEXT:      %[[HSH:.*]] = arith.muli %[[HODD]], %[[C16]] : index
// CHECK-NEXT:      %[[HSH32:.*]] = arith.index_cast %[[HSH]] : index to i32
// CHECK-NEXT:      %[[HBITS:.*]] = arith.shrui %[[HWORD]], %[[HSH32]] : i32
// CHECK-NEXT:      %[[SCALE:.*]] = rgpu.unpack_f16 %[[HBITS]] lo : i32 -> f32
// CHECK-NEXT:      %[[AT:.*]] = arith.addi %[[BASE]], %[[C2]] : index
// CHECK-NEXT:      %[[HI:.*]] = arith.cmpi uge, %[[J]], %[[C16]] : index
// CHECK-NEXT:      %[[JHI:.*]] = arith.subi %[[J]], %[[C16]] : index
// CHECK-NEXT:      %[[JB:.*]] = arith.select %[[HI]], %[[JHI]], %[[J]] : index
// CHECK-NEXT:      %[[BYTE:.*]] = arith.addi %[[AT]], %[[JB]] : index
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[BW:.*]] = arith.divui %[[BYTE]], %[[C4]] : index
// CHECK-NEXT:      %[[CWORD:.*]] = memref.load %[[WORDS]][%[[BW]]] : memref<18xi32>
// CHECK-NEXT:      %[[BI:.*]] = arith.remui %[[BYTE]], %[[C4]] : index
// CHECK-NEXT:      %[[C8:.*]] = arith.constant 8 : index
// CHECK-NEXT:      %[[BSH:.*]] = arith.muli %[[BI]], %[[C8]] : index
// CHECK-NEXT:      %[[BSH32:.*]] = arith.index_cast %[[BSH]] : index to i32
// CHECK-NEXT:      %[[SHIFTED:.*]] = arith.shrui %[[CWORD]], %[[BSH32]] : i32
// CHECK-NEXT:      %[[C255:.*]] = arith.constant 255 : i32
// CHECK-NEXT:      %[[B:.*]] = arith.andi %[[SHIFTED]], %[[C255]] : i32
// CHECK-NEXT:      %[[I4:.*]] = arith.constant 4 : i32
// CHECK-NEXT:      %[[I0:.*]] = arith.constant 0 : i32
// CHECK-NEXT:      %[[NSH:.*]] = arith.select %[[HI]], %[[I4]], %[[I0]] : i32
// CHECK-NEXT:      %[[NB:.*]] = arith.shrui %[[B]], %[[NSH]] : i32
// CHECK-NEXT:      %[[C15:.*]] = arith.constant 15 : i32
// CHECK-NEXT:      %[[NIB:.*]] = arith.andi %[[NB]], %[[C15]] : i32
// CHECK-NEXT:      %[[MAGIC:.*]] = arith.constant 1258291200 : i32
// CHECK-NEXT:      %[[BITS:.*]] = arith.ori %[[NIB]], %[[MAGIC]] : i32
// CHECK-NEXT:      %[[F:.*]] = arith.bitcast %[[BITS]] : i32 to f32
// CHECK-NEXT:      %[[ZP:.*]] = arith.constant 0x4B000008 : f32
// CHECK-NEXT:      %[[Q:.*]] = arith.subf %[[F]], %[[ZP]] : f32
// CHECK-NEXT:      %[[V:.*]] = arith.mulf %[[SCALE]], %[[Q]] : f32
// CHECK-NEXT:      memref.store %[[V]], %[[OUT]][%{{.*}}] : memref<128xf32>
// CHECK-NOT:       rquant.
// WGSL-LABEL:  fn load_q4_0(
// WGSL:          let [[SC:v[0-9]+]]: f32 = unpack2x16float(bitcast<u32>({{v[0-9]+}})).x;
// WGSL:          let [[BITS:v[0-9]+]]: i32 = {{v[0-9]+}} | 1258291200i;
// WGSL-NEXT:     let [[F:v[0-9]+]]: f32 = bitcast<f32>([[BITS]]);
// WGSL-NEXT:     let [[Q:v[0-9]+]]: f32 = [[F]] - 8.388616e+06f;
// WGSL-NEXT:     let v_v: f32 = [[SC]] * [[Q]];
func.func @load_q4_0(%w: memref<18xi32> {rquant.stored = tensor<2x64x!rquant.q4_0>}, %y: memref<128xf32>) {
  tiled.kernel "load_q4_0"(%w, %y) {workgroup_size = array<i64: 64, 1, 1>} : memref<18xi32>, memref<128xf32> grid {
  ^bb0(%gw: memref<18xi32>, %gy: memref<128xf32>):
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    tiled.yield %c2, %c1, %c1 : index, index, index
  } body {
  ^bb0(%words: memref<18xi32>, %out: memref<128xf32>):
    %i = gpu.global_id x
    %c64 = arith.constant 64 : index
    %row = arith.divui %i, %c64 : index
    %col = arith.remui %i, %c64 : index
    %v = rquant.load %words[%row, %col] {scheme = "q4_0", shape = array<i64: 2, 64>, layout = "blocks"} : memref<18xi32> -> f32
    memref.store %v, %out[%i] : memref<128xf32>
    tiled.yield
  }
  func.return
}

// -----

// rquant.load_block in the split layout, scales bound as f16 (2 x 64 q4_0: 16 words of codes, 4
// f16 scales): block index = row * 2 + col; its scale is scales[index], extended to f32; its 16
// code bytes start at byte index * 16, a multiple of 4, so they are 4 consecutive word loads
// (vectorize merges them). Results: scale, offset 0.0, then codes j < 16 from the low nibbles
// (code 5: word 1 >> 8) and j >= 16 from the high ones (code 21: word 1 >> 12), each minus 8.
// CHECK-LABEL: func.func @block_split
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%[[CODES:.*]]: memref<16xi32>, %[[SCALES:.*]]: memref<4xf16>, %[[OUT:.*]]: memref<8xf32>):
// CHECK-NEXT:      %[[ROW:.*]] = gpu.thread_id
// CHECK-NEXT:      %[[C1:.*]] = arith.constant 1 : index
// CHECK:           %{{.*}} = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:      %[[OFF:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:      %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[RB:.*]] = arith.muli %[[ROW]], %[[C2]] : index
// CHECK-NEXT:      %[[IDX:.*]] = arith.addi %[[RB]], %[[C1]] : index
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[SI:.*]] = arith.muli %[[IDX]], %[[ONE]] : index
// CHECK-NEXT:      %[[H:.*]] = memref.load %[[SCALES]][%[[SI]]] : memref<4xf16>
// CHECK-NEXT:      %[[SCALE:.*]] = arith.extf %[[H]] : f16 to f32
// CHECK-NEXT:      %[[C16:.*]] = arith.constant 16 : index
// CHECK-NEXT:      %[[AT:.*]] = arith.muli %[[IDX]], %[[C16]] : index
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[FIRST:.*]] = arith.divui %[[AT]], %[[C4]] : index
// CHECK-NEXT:      %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:      %[[I0:.*]] = arith.addi %[[FIRST]], %[[C0]] : index
// CHECK-NEXT:      %[[W0:.*]] = memref.load %[[CODES]][%[[I0]]] : memref<16xi32>
// CHECK-NEXT:      %[[I1:.*]] = arith.addi %[[FIRST]], %[[ONE]] : index
// CHECK-NEXT:      %[[W1:.*]] = memref.load %[[CODES]][%[[I1]]] : memref<16xi32>
// CHECK-NEXT:      %[[I2:.*]] = arith.addi %[[FIRST]], %[[C2]] : index
// CHECK-NEXT:      %{{.*}} = memref.load %[[CODES]][%[[I2]]] : memref<16xi32>
// CHECK-NEXT:      %[[C3:.*]] = arith.constant 3 : index
// CHECK-NEXT:      %[[I3:.*]] = arith.addi %[[FIRST]], %[[C3]] : index
// CHECK-NEXT:      %{{.*}} = memref.load %[[CODES]][%[[I3]]] : memref<16xi32>
// CHECK-NEXT:      %[[S0:.*]] = arith.constant 0 : i32
// CHECK-NEXT:      %{{.*}} = arith.shrui %[[W0]], %[[S0]] : i32
// CHECK-NEXT:      %[[C15:.*]] = arith.constant 15 : i32
// CHECK-NEXT:      %{{.*}} = arith.andi %{{.*}}, %[[C15]] : i32
// CHECK-NEXT:      %[[MAGIC:.*]] = arith.constant 1258291200 : i32
// CHECK-NEXT:      %{{.*}} = arith.ori %{{.*}}, %[[MAGIC]] : i32
// CHECK-NEXT:      %{{.*}} = arith.bitcast %{{.*}} : i32 to f32
// CHECK-NEXT:      %[[ZP:.*]] = arith.constant 0x4B000008 : f32
// CHECK-NEXT:      %{{.*}} = arith.subf %{{.*}}, %[[ZP]] : f32
// CHECK-NEXT:      %[[S8:.*]] = arith.constant 8 : i32
// CHECK:           %[[X5:.*]] = arith.shrui %[[W1]], %[[S8]] : i32
// CHECK-NEXT:      %[[N5:.*]] = arith.andi %[[X5]], %[[C15]] : i32
// CHECK-NEXT:      %[[B5:.*]] = arith.ori %[[N5]], %[[MAGIC]] : i32
// CHECK-NEXT:      %[[F5:.*]] = arith.bitcast %[[B5]] : i32 to f32
// CHECK-NEXT:      %[[Q5:.*]] = arith.subf %[[F5]], %[[ZP]] : f32
// CHECK:           %[[S12:.*]] = arith.constant 12 : i32
// CHECK:           %[[X21:.*]] = arith.shrui %[[W1]], %[[S12]] : i32
// CHECK-NEXT:      %[[N21:.*]] = arith.andi %[[X21]], %[[C15]] : i32
// CHECK-NEXT:      %[[B21:.*]] = arith.ori %[[N21]], %[[MAGIC]] : i32
// CHECK-NEXT:      %[[F21:.*]] = arith.bitcast %[[B21]] : i32 to f32
// CHECK-NEXT:      %[[Q21:.*]] = arith.subf %[[F21]], %[[ZP]] : f32
// CHECK:           memref.store %[[SCALE]], %[[OUT]][%{{.*}}] : memref<8xf32>
// CHECK-NEXT:      memref.store %[[OFF]], %[[OUT]][%{{.*}}] : memref<8xf32>
// CHECK-NEXT:      memref.store %[[Q5]], %[[OUT]][%{{.*}}] : memref<8xf32>
// CHECK-NEXT:      memref.store %[[Q21]], %[[OUT]][%{{.*}}] : memref<8xf32>
// CHECK-NOT:       rquant.
// WGSL:        enable f16;
// WGSL-LABEL:  fn block_split(
// WGSL:          let [[H:v[0-9]+]]: f16 = block_split_scales[{{v[0-9]+}}];
// WGSL-NEXT:     let v_sc: f32 = f32([[H]]);
func.func @block_split(%c: memref<16xi32>, %s: memref<4xf16>, %y: memref<8xf32>) {
  tiled.kernel "block_split"(%c, %s, %y) {workgroup_size = array<i64: 2, 1, 1>} : memref<16xi32>, memref<4xf16>, memref<8xf32> grid {
  ^bb0(%gc: memref<16xi32>, %gs: memref<4xf16>, %gy: memref<8xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%codes: memref<16xi32>, %scales: memref<4xf16>, %out: memref<8xf32>):
    %row = gpu.thread_id x
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %base = arith.muli %row, %c4 : index
    %o1 = arith.addi %base, %c1 : index
    %o2 = arith.addi %o1, %c1 : index
    %o3 = arith.addi %o2, %c1 : index
    %sc, %off, %q:32 = rquant.load_block %codes, %scales[%row, %c1] {scheme = "q4_0", shape = array<i64: 2, 64>, layout = "split"} : memref<16xi32>, memref<4xf16> -> f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32
    memref.store %sc, %out[%base] : memref<8xf32>
    memref.store %off, %out[%o1] : memref<8xf32>
    memref.store %q#5, %out[%o2] : memref<8xf32>
    memref.store %q#21, %out[%o3] : memref<8xf32>
    tiled.yield
  }
  func.return
}

// -----

// rquant.load_block of a q8_0 weight as stored (1 x 64: 34-byte blocks, so a block's codes start
// at byte index * 34 + 2, 2 modulo 4 for odd blocks): 9 words are loaded from (index * 34 + 2) / 4
// and each code word is funnel-shifted from two neighbours by shift = ((index * 34 + 2) % 4) * 8
// bits, the unshifted word selected when shift = 0 (shifting an i32 by 32 is not defined). Code 6
// is byte 2 of code word 1; a signed byte becomes a float as (byte ^ 0x80) - 128 with the 2^23 trick.
// CHECK-LABEL: func.func @block_q8
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%[[WORDS:.*]]: memref<17xi32>, %[[OUT:.*]]: memref<4xf32>):
// CHECK-NEXT:      %[[BLK:.*]] = gpu.thread_id
// CHECK-NEXT:      %[[C0:.*]] = arith.constant 0 : index
// CHECK:           %{{.*}} = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:      %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[RB:.*]] = arith.muli %[[C0]], %[[C2]] : index
// CHECK-NEXT:      %[[IDX:.*]] = arith.addi %[[RB]], %[[BLK]] : index
// CHECK-NEXT:      %[[C34:.*]] = arith.constant 34 : index
// CHECK-NEXT:      %[[BASE:.*]] = arith.muli %[[IDX]], %[[C34]] : index
// CHECK:           %[[SCALE:.*]] = rgpu.unpack_f16 %{{.*}} lo : i32 -> f32
// CHECK-NEXT:      %[[AT:.*]] = arith.addi %[[BASE]], %[[C2]] : index
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[FIRST:.*]] = arith.divui %[[AT]], %[[C4]] : index
// CHECK-NEXT:      %[[Z:.*]] = arith.constant 0 : index
// CHECK-NEXT:      %[[I0:.*]] = arith.addi %[[FIRST]], %[[Z]] : index
// CHECK-NEXT:      %[[W0:.*]] = memref.load %[[WORDS]][%[[I0]]] : memref<17xi32>
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[I1:.*]] = arith.addi %[[FIRST]], %[[ONE]] : index
// CHECK-NEXT:      %[[W1:.*]] = memref.load %[[WORDS]][%[[I1]]] : memref<17xi32>
// CHECK-NEXT:      %[[I2:.*]] = arith.addi %[[FIRST]], %[[C2]] : index
// CHECK-NEXT:      %[[W2:.*]] = memref.load %[[WORDS]][%[[I2]]] : memref<17xi32>
// CHECK-COUNT-6:   memref.load %[[WORDS]][%{{.*}}] : memref<17xi32>
// CHECK-NEXT:      %[[REM:.*]] = arith.remui %[[AT]], %[[C4]] : index
// CHECK-NEXT:      %[[SH:.*]] = arith.muli %[[REM]], %{{.*}} : index
// CHECK-NEXT:      %[[SH32:.*]] = arith.index_cast %[[SH]] : index to i32
// CHECK-NEXT:      %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK-NEXT:      %[[EVEN:.*]] = arith.cmpi eq, %[[SH32]], %[[ZERO]] : i32
// CHECK-NEXT:      %[[C32:.*]] = arith.constant 32 : i32
// CHECK-NEXT:      %[[BACK:.*]] = arith.subi %[[C32]], %[[SH32]] : i32
// CHECK-NEXT:      %[[LO0:.*]] = arith.shrui %[[W0]], %[[SH32]] : i32
// CHECK-NEXT:      %[[HI0:.*]] = arith.shli %[[W1]], %[[BACK]] : i32
// CHECK-NEXT:      %[[OR0:.*]] = arith.ori %[[LO0]], %[[HI0]] : i32
// CHECK-NEXT:      %{{.*}} = arith.select %[[EVEN]], %[[W0]], %[[OR0]] : i32
// CHECK-NEXT:      %[[LO1:.*]] = arith.shrui %[[W1]], %[[SH32]] : i32
// CHECK-NEXT:      %[[HI1:.*]] = arith.shli %[[W2]], %[[BACK]] : i32
// CHECK-NEXT:      %[[OR1:.*]] = arith.ori %[[LO1]], %[[HI1]] : i32
// CHECK-NEXT:      %[[CW1:.*]] = arith.select %[[EVEN]], %[[W1]], %[[OR1]] : i32
// CHECK:           %[[C255:.*]] = arith.constant 255 : i32
// CHECK:           %[[C128:.*]] = arith.constant 128 : i32
// CHECK:           %[[MAGIC:.*]] = arith.constant 1258291200 : i32
// CHECK:           %[[ZP:.*]] = arith.constant 0x4B000080 : f32
// CHECK:           %[[S16:.*]] = arith.constant 16 : i32
// CHECK:           %[[X6:.*]] = arith.shrui %[[CW1]], %[[S16]] : i32
// CHECK-NEXT:      %[[B6:.*]] = arith.andi %[[X6]], %[[C255]] : i32
// CHECK-NEXT:      %[[U6:.*]] = arith.xori %[[B6]], %[[C128]] : i32
// CHECK-NEXT:      %[[M6:.*]] = arith.ori %[[U6]], %[[MAGIC]] : i32
// CHECK-NEXT:      %[[F6:.*]] = arith.bitcast %[[M6]] : i32 to f32
// CHECK-NEXT:      %[[Q6:.*]] = arith.subf %[[F6]], %[[ZP]] : f32
// CHECK:           %[[V:.*]] = arith.mulf %[[SCALE]], %[[Q6]] : f32
// CHECK-NEXT:      memref.store %[[V]], %[[OUT]][%{{.*}}] : memref<4xf32>
// CHECK-NOT:       rquant.
// WGSL-LABEL:  fn block_q8(
// WGSL:          let [[EVEN:v[0-9]+]]: bool = [[SH:v[0-9]+]] == 0i;
// WGSL-NEXT:     let [[BACK:v[0-9]+]]: i32 = 32i - [[SH]];
// WGSL:          let {{v[0-9]+}}: i32 = select({{v[0-9]+}}, {{v[0-9]+}}, [[EVEN]]);
// WGSL:          let {{v[0-9]+}}: i32 = {{v[0-9]+}} ^ 128i;
// WGSL:          - 8.388736e+06f;
func.func @block_q8(%w: memref<17xi32> {rquant.stored = tensor<1x64x!rquant.q8_0>}, %y: memref<4xf32>) {
  tiled.kernel "block_q8"(%w, %y) {workgroup_size = array<i64: 2, 1, 1>} : memref<17xi32>, memref<4xf32> grid {
  ^bb0(%gw: memref<17xi32>, %gy: memref<4xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%words: memref<17xi32>, %out: memref<4xf32>):
    %blk = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c2 = arith.constant 2 : index
    %base = arith.muli %blk, %c2 : index
    %sc, %off, %q:32 = rquant.load_block %words[%c0, %blk] {scheme = "q8_0", shape = array<i64: 1, 64>, layout = "blocks"} : memref<17xi32> -> f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32
    %v = arith.mulf %sc, %q#6 : f32
    memref.store %v, %out[%base] : memref<4xf32>
    tiled.yield
  }
  func.return
}

// -----

// rquant.load of q4_1 in the split layout with scales bound as words (no f16 arithmetic): block
// index = row * 2 + col / 32 has two halves, scale (half index * 2) and minimum (half index * 2 + 1),
// each unpacked from word half / 2 shifted by (half % 2) * 16. Codes are unsigned nibbles at byte
// index * 16 + (j mod 16) of the codes: the float is taken off 2^23 only (0x4B000000), and the
// value is scale * code + minimum.
// CHECK-LABEL: func.func @load_q4_1
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%[[CODES:.*]]: memref<8xi32>, %[[SCALES:.*]]: memref<2xi32>, %[[OUT:.*]]: memref<64xf32>):
// CHECK:           %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[RB:.*]] = arith.muli %{{.*}}, %[[C2]] : index
// CHECK-NEXT:      %[[IDX:.*]] = arith.addi %[[RB]], %{{.*}} : index
// CHECK-NEXT:      %[[HS:.*]] = arith.muli %[[IDX]], %[[C2]] : index
// CHECK-NEXT:      %[[SW:.*]] = arith.divui %[[HS]], %[[C2]] : index
// CHECK-NEXT:      %[[SWORD:.*]] = memref.load %[[SCALES]][%[[SW]]] : memref<2xi32>
// CHECK-NEXT:      %[[SODD:.*]] = arith.remui %[[HS]], %[[C2]] : index
// CHECK-NEXT:      %[[C16:.*]] = arith.constant 16 : index
// CHECK-NEXT:      %[[SSH:.*]] = arith.muli %[[SODD]], %[[C16]] : index
// CHECK-NEXT:      %[[SSH32:.*]] = arith.index_cast %[[SSH]] : index to i32
// CHECK-NEXT:      %[[SBITS:.*]] = arith.shrui %[[SWORD]], %[[SSH32]] : i32
// CHECK-NEXT:      %[[SCALE:.*]] = rgpu.unpack_f16 %[[SBITS]] lo : i32 -> f32
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[HM:.*]] = arith.addi %[[HS]], %[[ONE]] : index
// CHECK-NEXT:      %[[MW:.*]] = arith.divui %[[HM]], %[[C2]] : index
// CHECK-NEXT:      %[[MWORD:.*]] = memref.load %[[SCALES]][%[[MW]]] : memref<2xi32>
// CHECK-NEXT:      %[[MODD:.*]] = arith.remui %[[HM]], %[[C2]] : index
// CHECK-NEXT:      %[[MSH:.*]] = arith.muli %[[MODD]], %[[C16]] : index
// CHECK-NEXT:      %[[MSH32:.*]] = arith.index_cast %[[MSH]] : index to i32
// CHECK-NEXT:      %[[MBITS:.*]] = arith.shrui %[[MWORD]], %[[MSH32]] : i32
// CHECK-NEXT:      %[[MIN:.*]] = rgpu.unpack_f16 %[[MBITS]] lo : i32 -> f32
// CHECK-NEXT:      %[[AT:.*]] = arith.muli %[[IDX]], %[[C16]] : index
// CHECK:           %[[BYTE:.*]] = arith.addi %[[AT]], %{{.*}} : index
// CHECK:           %{{.*}} = memref.load %[[CODES]][%{{.*}}] : memref<8xi32>
// CHECK:           %[[MAGIC:.*]] = arith.constant 1258291200 : i32
// CHECK-NEXT:      %[[BITS:.*]] = arith.ori %{{.*}}, %[[MAGIC]] : i32
// CHECK-NEXT:      %[[F:.*]] = arith.bitcast %[[BITS]] : i32 to f32
// CHECK-NEXT:      %[[ZP:.*]] = arith.constant 0x4B000000 : f32
// CHECK-NEXT:      %[[Q:.*]] = arith.subf %[[F]], %[[ZP]] : f32
// CHECK-NEXT:      %[[SQ:.*]] = arith.mulf %[[SCALE]], %[[Q]] : f32
// CHECK-NEXT:      %[[V:.*]] = arith.addf %[[SQ]], %[[MIN]] : f32
// CHECK-NEXT:      memref.store %[[V]], %[[OUT]][%{{.*}}] : memref<64xf32>
// CHECK-NOT:       rquant.
// WGSL-LABEL:  fn load_q4_1(
// WGSL:          let [[SC:v[0-9]+]]: f32 = unpack2x16float(bitcast<u32>({{v[0-9]+}})).x;
// WGSL:          let [[MIN:v[0-9]+]]: f32 = unpack2x16float(bitcast<u32>({{v[0-9]+}})).x;
// WGSL:          let [[Q:v[0-9]+]]: f32 = {{v[0-9]+}} - 8.388608e+06f;
// WGSL-NEXT:     let [[SQ:v[0-9]+]]: f32 = [[SC]] * [[Q]];
// WGSL-NEXT:     let v_v: f32 = [[SQ]] + [[MIN]];
func.func @load_q4_1(%c: memref<8xi32>, %s: memref<2xi32>, %y: memref<64xf32>) {
  tiled.kernel "load_q4_1"(%c, %s, %y) {workgroup_size = array<i64: 64, 1, 1>} : memref<8xi32>, memref<2xi32>, memref<64xf32> grid {
  ^bb0(%gc: memref<8xi32>, %gs: memref<2xi32>, %gy: memref<64xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%codes: memref<8xi32>, %scales: memref<2xi32>, %out: memref<64xf32>):
    %col = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %v = rquant.load %codes, %scales[%c0, %col] {scheme = "q4_1", shape = array<i64: 1, 64>, layout = "split"} : memref<8xi32>, memref<2xi32> -> f32
    memref.store %v, %out[%col] : memref<64xf32>
    tiled.yield
  }
  func.return
}

// -----

// rquant.dot_block of q4_0 codes (split layout) with 8 words of int8 activations: each of the 4
// code words gives two rgpu.dot4_i8, its low nibbles (w & 0x0F0F0F0F = 252645135, values j < 16)
// against activation word i and its high nibbles ((w >> 4) & 0x0F0F0F0F) against word 4 + i; the
// 8 products are summed and the zero point is taken off once: dot - asum * 8.
// CHECK-LABEL: func.func @dot
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%[[CODES:.*]]: memref<16xi32>, %[[SCALES:.*]]: memref<4xf16>, %{{.*}}: memref<8xi32>, %[[OUT:.*]]: memref<2xi32>):
// CHECK:           %[[A0:.*]] = memref.load
// CHECK-NEXT:      %[[A1:.*]] = memref.load
// CHECK-NEXT:      %[[A4:.*]] = memref.load
// CHECK-NEXT:      %[[A5:.*]] = memref.load
// CHECK-NEXT:      %[[ASUM:.*]] = arith.constant 5 : i32
// CHECK:           %[[SCALE:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK:           %[[W0:.*]] = memref.load %[[CODES]][%{{.*}}] : memref<16xi32>
// CHECK-NEXT:      %{{.*}} = arith.addi
// CHECK-NEXT:      %[[W1:.*]] = memref.load %[[CODES]][%{{.*}}] : memref<16xi32>
// CHECK-NEXT:      %{{.*}} = arith.addi
// CHECK-NEXT:      %{{.*}} = memref.load %[[CODES]][%{{.*}}] : memref<16xi32>
// CHECK-NEXT:      %{{.*}} = arith.constant 3 : index
// CHECK-NEXT:      %{{.*}} = arith.addi
// CHECK-NEXT:      %{{.*}} = memref.load %[[CODES]][%{{.*}}] : memref<16xi32>
// CHECK-NEXT:      %[[NIB:.*]] = arith.constant 252645135 : i32
// CHECK-NEXT:      %[[L0:.*]] = arith.andi %[[W0]], %[[NIB]] : i32
// CHECK-NEXT:      %[[D0:.*]] = rgpu.dot4_i8 %[[L0]], %[[A0]] : i32
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : i32
// CHECK-NEXT:      %[[S0:.*]] = arith.shrui %[[W0]], %[[C4]] : i32
// CHECK-NEXT:      %[[H0:.*]] = arith.andi %[[S0]], %[[NIB]] : i32
// CHECK-NEXT:      %[[D1:.*]] = rgpu.dot4_i8 %[[H0]], %[[A4]] : i32
// CHECK-NEXT:      %[[L1:.*]] = arith.andi %[[W1]], %[[NIB]] : i32
// CHECK-NEXT:      %[[D2:.*]] = rgpu.dot4_i8 %[[L1]], %[[A1]] : i32
// CHECK-NEXT:      %[[S1:.*]] = arith.shrui %[[W1]], %[[C4]] : i32
// CHECK-NEXT:      %[[H1:.*]] = arith.andi %[[S1]], %[[NIB]] : i32
// CHECK-NEXT:      %{{.*}} = rgpu.dot4_i8 %[[H1]], %[[A5]] : i32
// CHECK-COUNT-4:   rgpu.dot4_i8
// CHECK-NEXT:      %[[SUM1:.*]] = arith.addi %[[D0]], %[[D1]] : i32
// CHECK-NEXT:      %{{.*}} = arith.addi %[[SUM1]], %[[D2]] : i32
// CHECK-COUNT-5:   arith.addi
// CHECK-NEXT:      %[[C8:.*]] = arith.constant 8 : i32
// CHECK-NEXT:      %[[ZS:.*]] = arith.muli %[[ASUM]], %[[C8]] : i32
// CHECK-NEXT:      %[[D:.*]] = arith.subi %{{.*}}, %[[ZS]] : i32
// CHECK-NEXT:      memref.store %[[D]], %[[OUT]][%{{.*}}] : memref<2xi32>
// CHECK-NOT:       rquant.
// WGSL-LABEL:  fn dot(
// WGSL:          dot4I8Packed(bitcast<u32>({{v[0-9]+}}), bitcast<u32>(v_a0));
// WGSL-NEXT:     let [[C:v[0-9]+]]: i32 = bitcast<i32>(bitcast<u32>({{v[0-9]+}}) >> bitcast<u32>(4i));
// WGSL-NEXT:     let [[H:v[0-9]+]]: i32 = [[C]] & 252645135i;
// WGSL-NEXT:     dot4I8Packed(bitcast<u32>([[H]]), bitcast<u32>(v_a4));
// WGSL:          let v_d: i32 = {{v[0-9]+}} - {{v[0-9]+}};
func.func @dot(%c: memref<16xi32>, %s: memref<4xf16>, %a: memref<8xi32>, %y: memref<2xi32>) {
  tiled.kernel "dot"(%c, %s, %a, %y) {workgroup_size = array<i64: 2, 1, 1>} : memref<16xi32>, memref<4xf16>, memref<8xi32>, memref<2xi32> grid {
  ^bb0(%gc: memref<16xi32>, %gs: memref<4xf16>, %ga: memref<8xi32>, %gy: memref<2xi32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%codes: memref<16xi32>, %scales: memref<4xf16>, %acts: memref<8xi32>, %out: memref<2xi32>):
    %row = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c5 = arith.constant 5 : index
    %a0 = memref.load %acts[%c0] : memref<8xi32>
    %a1 = memref.load %acts[%c1] : memref<8xi32>
    %a4 = memref.load %acts[%c4] : memref<8xi32>
    %a5 = memref.load %acts[%c5] : memref<8xi32>
    %asum = arith.constant 5 : i32
    %sc, %off, %d = rquant.dot_block %codes, %scales[%row, %c1], %a0, %a1, %a0, %a1, %a4, %a5, %a4, %a5 sum %asum {scheme = "q4_0", shape = array<i64: 2, 64>, layout = "split"} : memref<16xi32>, memref<4xf16> -> f32, f32, i32
    memref.store %d, %out[%row] : memref<2xi32>
    tiled.yield
  }
  func.return
}

// -----

// rquant.load_codes of q4_0 (split layout): the block's 4 code words, their low nibbles (w & 0x0F0F0F0F) as
// words 0..3 (values j < 16) and their high nibbles ((w >> 4) & 0x0F0F0F0F) as words 4..7, each nibble a
// non-negative signed byte; the zero point moves into the offset: 0 - scale * 8.
// CHECK-LABEL: func.func @codes
// CHECK:           %[[SCALE:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK:           %[[W0:.*]] = memref.load %[[CODES:.*]][%{{.*}}] : memref<16xi32>
// CHECK:           memref.load %[[CODES]][%{{.*}}] : memref<16xi32>
// CHECK:           memref.load %[[CODES]][%{{.*}}] : memref<16xi32>
// CHECK:           %[[W3:.*]] = memref.load %[[CODES]][%{{.*}}] : memref<16xi32>
// CHECK-NEXT:      %[[NIB:.*]] = arith.constant 252645135 : i32
// CHECK-NEXT:      %[[L0:.*]] = arith.andi %[[W0]], %[[NIB]] : i32
// CHECK-COUNT-3:   arith.andi
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : i32
// CHECK-NEXT:      %{{.*}} = arith.shrui %[[W0]], %[[C4]] : i32
// CHECK:           %[[S3:.*]] = arith.shrui %[[W3]], %[[C4]] : i32
// CHECK-NEXT:      %[[H3:.*]] = arith.andi %[[S3]], %[[NIB]] : i32
// CHECK-NEXT:      %[[EIGHT:.*]] = arith.constant 8.000000e+00 : f32
// CHECK-NEXT:      %[[Z:.*]] = arith.mulf %[[SCALE]], %[[EIGHT]] : f32
// CHECK-NEXT:      %[[OFF:.*]] = arith.subf %{{.*}}, %[[Z]] : f32
// CHECK-NEXT:      memref.store %[[L0]], %{{.*}}[%{{.*}}, %{{.*}}] : memref<2x8xi32>
// CHECK-NEXT:      memref.store %[[H3]], %{{.*}}[%{{.*}}, %{{.*}}] : memref<2x8xi32>
// CHECK-NEXT:      memref.store %[[SCALE]]
// CHECK-NEXT:      memref.store %[[OFF]]
// CHECK-NOT:       rquant.
// WGSL-LABEL:  fn codes(
// WGSL:          & 252645135i;
func.func @codes(%c: memref<16xi32>, %s: memref<4xf16>, %y: memref<2x8xi32>, %f: memref<2x2xf32>) {
  tiled.kernel "codes"(%c, %s, %y, %f) {workgroup_size = array<i64: 2, 1, 1>} : memref<16xi32>, memref<4xf16>, memref<2x8xi32>, memref<2x2xf32> grid {
  ^bb0(%gc: memref<16xi32>, %gs: memref<4xf16>, %gy: memref<2x8xi32>, %gf: memref<2x2xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%codes: memref<16xi32>, %scales: memref<4xf16>, %out: memref<2x8xi32>, %fl: memref<2x2xf32>):
    %row = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c7 = arith.constant 7 : index
    %sc, %off, %w:8 = rquant.load_codes %codes, %scales[%row, %c1] {scheme = "q4_0", shape = array<i64: 2, 64>, layout = "split"} : memref<16xi32>, memref<4xf16> -> f32, f32, i32, i32, i32, i32, i32, i32, i32, i32
    memref.store %w#0, %out[%row, %c0] : memref<2x8xi32>
    memref.store %w#7, %out[%row, %c7] : memref<2x8xi32>
    memref.store %sc, %fl[%row, %c0] : memref<2x2xf32>
    memref.store %off, %fl[%row, %c1] : memref<2x2xf32>
    tiled.yield
  }
  func.return
}

// -----

// Plain floats: a rquant.load_block of f16 decodes one 16-byte group (8 halves) with scale 1.0 and
// offset 0.0, from word (row * 16 + block * 8) / 2: four consecutive words, each unpacked lo then
// hi (value 3 is the high half of word 1). A rquant.load of bf16 takes the 16 bits of element
// row * 8 + col out of its word and shifts them into the high half of an f32.
// CHECK-LABEL: func.func @plain
// CHECK:         } body {
// CHECK-NEXT:    ^{{.*}}(%[[HW:.*]]: memref<8xi32>, %[[BW:.*]]: memref<8xi32>, %[[OUT:.*]]: memref<8xf32>):
// CHECK-NEXT:      %[[COL:.*]] = gpu.thread_id
// CHECK-NEXT:      %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:      %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[SCALE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:      %{{.*}} = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:      %[[K:.*]] = arith.constant 16 : index
// CHECK-NEXT:      %[[ROWOFF:.*]] = arith.muli %[[C0]], %[[K]] : index
// CHECK-NEXT:      %[[C8:.*]] = arith.constant 8 : index
// CHECK-NEXT:      %[[BLKOFF:.*]] = arith.muli %[[C1]], %[[C8]] : index
// CHECK-NEXT:      %[[FIRST:.*]] = arith.addi %[[ROWOFF]], %[[BLKOFF]] : index
// CHECK-NEXT:      %[[C2:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[WORD0:.*]] = arith.divui %[[FIRST]], %[[C2]] : index
// CHECK-NEXT:      %[[Z:.*]] = arith.constant 0 : index
// CHECK-NEXT:      %[[I0:.*]] = arith.addi %[[WORD0]], %[[Z]] : index
// CHECK-NEXT:      %[[R0:.*]] = memref.load %[[HW]][%[[I0]]] : memref<8xi32>
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[I1:.*]] = arith.addi %[[WORD0]], %[[ONE]] : index
// CHECK-NEXT:      %[[R1:.*]] = memref.load %[[HW]][%[[I1]]] : memref<8xi32>
// CHECK-COUNT-2:   memref.load %[[HW]]
// CHECK-NEXT:      %{{.*}} = rgpu.unpack_f16 %[[R0]] lo : i32 -> f32
// CHECK-NEXT:      %{{.*}} = rgpu.unpack_f16 %[[R0]] hi : i32 -> f32
// CHECK-NEXT:      %{{.*}} = rgpu.unpack_f16 %[[R1]] lo : i32 -> f32
// CHECK-NEXT:      %[[V3:.*]] = rgpu.unpack_f16 %[[R1]] hi : i32 -> f32
// CHECK-COUNT-4:   rgpu.unpack_f16
// CHECK-NEXT:      %[[BK:.*]] = arith.constant 8 : index
// CHECK-NEXT:      %[[BROW:.*]] = arith.muli %[[C1]], %[[BK]] : index
// CHECK-NEXT:      %[[FLAT:.*]] = arith.addi %[[BROW]], %[[COL]] : index
// CHECK-NEXT:      %[[B2:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[BWI:.*]] = arith.divui %[[FLAT]], %[[B2]] : index
// CHECK-NEXT:      %[[BWORD:.*]] = memref.load %[[BW]][%[[BWI]]] : memref<8xi32>
// CHECK-NEXT:      %[[ODD:.*]] = arith.remui %[[FLAT]], %[[B2]] : index
// CHECK-NEXT:      %[[B16:.*]] = arith.constant 16 : index
// CHECK-NEXT:      %[[SH:.*]] = arith.muli %[[ODD]], %[[B16]] : index
// CHECK-NEXT:      %[[SH32:.*]] = arith.index_cast %[[SH]] : index to i32
// CHECK-NEXT:      %[[X:.*]] = arith.shrui %[[BWORD]], %[[SH32]] : i32
// CHECK-NEXT:      %[[MASK:.*]] = arith.constant 65535 : i32
// CHECK-NEXT:      %[[LOW:.*]] = arith.andi %[[X]], %[[MASK]] : i32
// CHECK-NEXT:      %[[S16:.*]] = arith.constant 16 : i32
// CHECK-NEXT:      %[[HIGH:.*]] = arith.shli %[[LOW]], %[[S16]] : i32
// CHECK-NEXT:      %[[BF:.*]] = arith.bitcast %[[HIGH]] : i32 to f32
// CHECK-NEXT:      %[[P:.*]] = arith.mulf %[[SCALE]], %[[V3]] : f32
// CHECK-NEXT:      %{{.*}} = arith.addf %[[P]], %[[BF]] : f32
// CHECK-NOT:       rquant.
// WGSL-LABEL:  fn plain(
// WGSL:          let v_v_3: f32 = unpack2x16float(bitcast<u32>({{v[0-9]+}})).y;
// WGSL:          let [[M:v[0-9]+]]: i32 = {{v[0-9]+}} & 65535i;
// WGSL-NEXT:     let [[S:v[0-9]+]]: i32 = [[M]] << bitcast<u32>(16i);
// WGSL-NEXT:     let v_x: f32 = bitcast<f32>([[S]]);
func.func @plain(%h: memref<1x16xf16>, %b: memref<2x8xbf16>, %y: memref<8xf32>) {
  tiled.kernel "plain"(%h, %b, %y) {workgroup_size = array<i64: 8, 1, 1>} : memref<1x16xf16>, memref<2x8xbf16>, memref<8xf32> grid {
  ^bb0(%gh: memref<8xi32>, %gb: memref<8xi32>, %gy: memref<8xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%hw: memref<8xi32>, %bw: memref<8xi32>, %out: memref<8xf32>):
    %col = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %sc, %off, %v:8 = rquant.load_block %hw[%c0, %c1] {scheme = "f16", shape = array<i64: 1, 16>, layout = "blocks"} : memref<8xi32> -> f32, f32, f32, f32, f32, f32, f32, f32, f32, f32
    %x = rquant.load %bw[%c1, %col] {scheme = "bf16", shape = array<i64: 2, 8>, layout = "blocks"} : memref<8xi32> -> f32
    %p = arith.mulf %sc, %v#3 : f32
    %r = arith.addf %p, %x : f32
    memref.store %r, %out[%col] : memref<8xf32>
    tiled.yield
  }
  func.return
}

// -----

// rquant.load_block of a q4_k weight (1 x 256: one 144-byte super-block, 36 words) decodes kernel
// block blk = 32 values of super-block blk / 8, sub-block i = blk % 8: three bytes of the 12 packed
// scales at base + 4 (bytes i, i + 4 and i % 4) give the 6-bit scale and minimum (low 6 bits for
// i < 4, else nibbles below top bits: selected on i < 4); scale = d * sc, offset = -(dmin * m). The
// codes are the 32 bytes at base + 16 + 32 * (i / 2), 8 aligned words each shifted once by
// 4 * (i % 2) (the low or high nibbles), then masked byte by byte with constant shifts.
// CHECK-LABEL: func.func @block_q4_k
// CHECK:           %[[C8:.*]] = arith.constant 8 : index
// CHECK-NEXT:      %[[SB:.*]] = arith.divui %[[BLK:.*]], %[[C8]] : index
// CHECK:           %[[C144:.*]] = arith.constant 144 : index
// CHECK-NEXT:      %[[BASE:.*]] = arith.muli %{{.*}}, %[[C144]] : index
// CHECK-NEXT:      %[[I:.*]] = arith.remui %[[BLK]], %[[C8]] : index
// CHECK:           %[[LOW:.*]] = arith.cmpi ult, %[[I]], %{{.*}} : index
// CHECK:           %[[SC:.*]] = arith.select %[[LOW]], %{{.*}}, %{{.*}} : i32
// CHECK:           %[[M:.*]] = arith.select %[[LOW]], %{{.*}}, %{{.*}} : i32
// CHECK:           %[[D:.*]] = rgpu.unpack_f16
// CHECK:           %[[SCF:.*]] = arith.subf
// CHECK-NEXT:      %[[SCALE:.*]] = arith.mulf %[[D]], %[[SCF]] : f32
// CHECK:           %[[DMIN:.*]] = rgpu.unpack_f16
// CHECK:           %[[MF:.*]] = arith.subf
// CHECK-NEXT:      %[[DM:.*]] = arith.mulf %[[DMIN]], %[[MF]] : f32
// CHECK-NEXT:      %[[OFF:.*]] = arith.negf %[[DM]] : f32
// CHECK-COUNT-8:   memref.load
// CHECK:           %[[SHIFT:.*]] = arith.index_cast %{{.*}} : index to i32
// CHECK-COUNT-8:   arith.shrui %{{.*}}, %[[SHIFT]] : i32
// CHECK:           %[[V:.*]] = arith.mulf %[[SCALE]], %{{.*}} : f32
// CHECK-NEXT:      %{{.*}} = arith.addf %[[V]], %[[OFF]] : f32
// CHECK-NOT:       rquant.
// WGSL-LABEL:  fn block_q4_k(
// WGSL:          * 144i;
// WGSL:          let v_off: f32 = -{{v[0-9]+}};
func.func @block_q4_k(%w: memref<36xi32> {rquant.stored = tensor<1x256x!rquant.q4_k>}, %y: memref<16xf32>) {
  tiled.kernel "block_q4_k"(%w, %y) {workgroup_size = array<i64: 8, 1, 1>} : memref<36xi32>, memref<16xf32> grid {
  ^bb0(%gw: memref<36xi32>, %gy: memref<16xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%words: memref<36xi32>, %out: memref<16xf32>):
    %blk = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %c2 = arith.constant 2 : index
    %base = arith.muli %blk, %c2 : index
    %sc, %off, %q:32 = rquant.load_block %words[%c0, %blk] {scheme = "q4_k", shape = array<i64: 1, 256>, layout = "blocks"} : memref<36xi32> -> f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32
    %v = arith.mulf %sc, %q#5 : f32
    %r = arith.addf %v, %off : f32
    memref.store %r, %out[%base] : memref<16xf32>
    tiled.yield
  }
  func.return
}

// -----

// rquant.load of iq4_nl (Q4_0's layout): the nibble indexes the non-linear grid, packed as the grid
// values + 128 in four constant words (-127, -104, -83, -65 -> bytes 1, 24, 45, 63 = 0x3F2D1801):
// the word is selected on nibble >> 2 and byte nibble & 3 taken out, then 2^23 + 128 subtracted.
// CHECK-LABEL: func.func @load_iq4_nl
// CHECK:           %[[C15:.*]] = arith.constant 15 : i32
// CHECK-NEXT:      %[[NIB:.*]] = arith.andi %{{.*}}, %[[C15]] : i32
// CHECK-NEXT:      %[[C2:.*]] = arith.constant 2 : i32
// CHECK-NEXT:      %[[QUARTER:.*]] = arith.shrui %[[NIB]], %[[C2]] : i32
// CHECK-NEXT:      %{{.*}} = arith.constant 1059919873 : i32
// CHECK:           arith.cmpi eq, %[[QUARTER]]
// CHECK-COUNT-3:   arith.select
// CHECK:           %{{.*}} = arith.constant 0x4B000080 : f32
// CHECK-NOT:       rquant.
func.func @load_iq4_nl(%w: memref<5xi32> {rquant.stored = tensor<1x32x!rquant.iq4_nl>}, %y: memref<32xf32>) {
  tiled.kernel "load_iq4_nl"(%w, %y) {workgroup_size = array<i64: 32, 1, 1>} : memref<5xi32>, memref<32xf32> grid {
  ^bb0(%gw: memref<5xi32>, %gy: memref<32xf32>):
    %c1 = arith.constant 1 : index
    tiled.yield %c1, %c1, %c1 : index, index, index
  } body {
  ^bb0(%words: memref<5xi32>, %out: memref<32xf32>):
    %col = gpu.thread_id x
    %c0 = arith.constant 0 : index
    %v = rquant.load %words[%c0, %col] {scheme = "iq4_nl", shape = array<i64: 1, 32>, layout = "blocks"} : memref<5xi32> -> f32
    memref.store %v, %out[%col] : memref<32xf32>
    tiled.yield
  }
  func.return
}
