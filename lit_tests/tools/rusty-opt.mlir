// RUN: rusty-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(cse), canonicalize)' | filecheck %s
// RUN: rusty-opt %s --split-input-file -p cse,canonicalize | filecheck %s
// RUN: rusty-opt %s --split-input-file -p cse --mlir-print-ir-after-all 2>&1 >/dev/null | filecheck %s --check-prefix=DUMP
// RUN: not rusty-opt %s -p nosuch 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: not rusty-opt %s -p 'cse{bogus=1}' 2>&1 | filecheck %s --check-prefix=OPTION
// RUN: not rusty-opt %s --pass-pipeline='builtin.module(cse' 2>&1 | filecheck %s --check-prefix=SYNTAX

// UNKNOWN: rusty-opt: error: unknown pass 'nosuch'
// UNKNOWN-NOT: Traceback
// OPTION: rusty-opt: error: pass 'cse': {{.*}}bogus
// SYNTAX: rusty-opt: error:
// SYNTAX-NOT: Traceback

// Both pipeline spellings run cse then canonicalize: the duplicate addf is gone.
// CHECK-LABEL: func.func @dup
// CHECK-NEXT:    %[[SUM:.*]] = arith.addf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT:    %[[PROD:.*]] = arith.mulf %[[SUM]], %[[SUM]] : f32
// CHECK-NEXT:    func.return %[[PROD]] : f32
// DUMP: // -----// IR Dump After cse //----- //
func.func @dup(%a: f32) -> f32 {
  %b = arith.addf %a, %a : f32
  %c = arith.addf %a, %a : f32
  %d = arith.mulf %b, %c : f32
  func.return %d : f32
}

// -----

// The second chunk is processed on its own.
// CHECK-LABEL: func.func @second
func.func @second() {
  func.return
}
