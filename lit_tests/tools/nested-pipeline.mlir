// RUN: rusty-opt %s --pass-pipeline='builtin.module(gpu.module(gpu.func(cse)))' | filecheck %s --check-prefix=GPU
// RUN: rusty-opt %s --pass-pipeline='builtin.module(func.func(cse), gpu.module(gpu.func(cse)))' | filecheck %s --check-prefix=BOTH
// RUN: rusty-opt %s --pass-pipeline='builtin.module(func.func(cse))' --mlir-print-ir-after=cse 2>&1 >/dev/null | filecheck %s --check-prefix=DUMP
// RUN: not rusty-opt %s --pass-pipeline='builtin.module(func.func(cse)' 2>&1 | filecheck %s --check-prefix=UNBALANCED
// Nested pass managers anchored on ops, as mlir-opt runs them: a group runs on each op of its anchor directly
// inside the op the enclosing group runs on, and on nothing else (rusty_ir.pipeline's NestedPass).

// cse anchored on gpu.func leaves the host function's duplicates alone.
// GPU-LABEL: func.func @host
// GPU-NEXT: arith.addi
// GPU-NEXT: arith.addi
// GPU-LABEL: gpu.func @kernel
// GPU-NEXT: %[[X:.*]] = arith.addi
// GPU-NEXT: arith.muli %[[X]], %[[X]]

// BOTH-LABEL: func.func @host
// BOTH-NEXT: %[[H:.*]] = arith.addi
// BOTH-NEXT: arith.muli %[[H]], %[[H]]
// BOTH-LABEL: gpu.func @kernel
// BOTH-NEXT: %[[K:.*]] = arith.addi
// BOTH-NEXT: arith.muli %[[K]], %[[K]]

// Each run of a nested pass is dumped on the op it ran on (the calls to @other need not resolve there).
// DUMP: // -----// IR Dump After cse ('func.func' operation: @host) //----- //
// DUMP-NEXT: func.func @host
// DUMP: // -----// IR Dump After cse ('func.func' operation: @other) //----- //
// DUMP-NEXT: func.func @other

// UNBALANCED: error: pipeline 'builtin.module(func.func(cse)': unbalanced parentheses or braces

func.func @host(%a: i32) -> i32 {
  %0 = arith.addi %a, %a : i32
  %1 = arith.addi %a, %a : i32
  %2 = arith.muli %0, %1 : i32
  func.return %2 : i32
}
func.func @other(%a: i32) -> i32 {
  %0 = func.call @host(%a) : (i32) -> i32
  func.return %0 : i32
}
gpu.module @kernels {
  gpu.func @kernel(%a: i32, %out: memref<1xi32>) kernel {
    %0 = arith.addi %a, %a : i32
    %1 = arith.addi %a, %a : i32
    %2 = arith.muli %0, %1 : i32
    %c0 = arith.constant 0 : index
    memref.store %2, %out[%c0] : memref<1xi32>
    gpu.return
  }
}
