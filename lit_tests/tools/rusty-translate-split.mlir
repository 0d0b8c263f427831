// RUN: not rusty-translate --to-wgsl %s --split-input-file > %t.out 2> %t.err
// RUN: filecheck %s --check-prefix=OUT < %t.out
// RUN: filecheck %s --check-prefix=ERR < %t.err
// rusty-translate --split-input-file translates every chunk even when one fails, as rusty-opt does: the
// outputs between '// -----' lines, each error with its line and a caret, exit status 1.

// OUT:      // -----
// OUT:      gpu.func @ok
// OUT:      @compute @workgroup_size(64, 1, 1)
// ERR:      rusty-translate-split.mlir:15:27: error: expected 2 operand types but had 1
// ERR-NEXT: {{^}}  %b = "arith.addf"(%a) : (f32, f32) -> f32
// ERR-NEXT: {{^}}                          ^

func.func @bad(%a: f32) {
  %b = "arith.addf"(%a) : (f32, f32) -> f32
  func.return
}

// -----

"gpu.module"() <{sym_name = "kernels"}> ({
  "gpu.func"() <{function_type = (memref<?xf32>) -> (), kernel}> ({
  ^bb0(%x: memref<?xf32>):
    "gpu.return"() : () -> ()
  }) {sym_name = "ok", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
}) : () -> ()
