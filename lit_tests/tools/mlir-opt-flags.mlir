// RUN: rusty-opt %s -p cse --mlir-print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: rusty-opt %s -p cse --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: rusty-opt %s -p cse,canonicalize --mlir-print-ir-before=canonicalize 2>&1 >/dev/null | filecheck %s --check-prefix=BEFORE
// RUN: rusty-opt %s -p cse,canonicalize --mlir-print-ir-after=cse 2>&1 >/dev/null | filecheck %s --check-prefix=AFTER
// RUN: rusty-opt %s -p cse,canonicalize --mlir-print-ir-after=cse,canonicalize --mlir-print-ir-before-all 2>&1 >/dev/null | filecheck %s --check-prefix=MANY
// RUN: rusty-opt %s -p cse,canonicalize --mlir-print-ir-after-all --mlir-print-op-generic 2>&1 >/dev/null | filecheck %s --check-prefix=ALLGENERIC
// RUN: rusty-opt %s -p cse,canonicalize --mlir-timing 2>&1 >/dev/null | filecheck %s --check-prefix=TIMING
// RUN: rusty-opt %s -p cse,canonicalize --time-passes 2>&1 >/dev/null | filecheck %s --check-prefix=TIMING
// RUN: rusty-opt %s -p cse --mlir-pass-statistics 2>&1 >/dev/null | filecheck %s --check-prefix=STATS
// RUN: not rusty-opt %s -p cse --mlir-print-ir-after=nosuch 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: not rusty-opt %s -p cse --mlir-print-ir-before=cse,nosuch 2>&1 | filecheck %s --check-prefix=UNKNOWN-BEFORE
// RUN: rusty-opt %s -p cse --mlir-print-ir-after=dce 2>&1 >/dev/null | filecheck %s --check-prefix=ABSENT
// RUN: not rusty-opt %s --no-such-flag 2>&1 | filecheck %s --check-prefix=BADFLAG
// RUN: not rusty-opt %s --verify-diagnostics=sometimes 2>&1 | filecheck %s --check-prefix=BADLEVEL
// mlir-opt's flag spellings (the earlier ones, --print-op-generic, --print-ir-after-all and --time-passes, still work).

// GENERIC: "func.func"() <{sym_name = "dup", function_type = (f32) -> f32}> ({
// GENERIC:   "arith.mulf"

// BEFORE:      // -----// IR Dump Before canonicalize //----- //
// BEFORE-NOT:  IR Dump
// AFTER:       // -----// IR Dump After cse //----- //
// AFTER-NEXT:  builtin.module {
// AFTER-NOT:   IR Dump

// MANY:        IR Dump Before cse
// MANY:        IR Dump After cse
// MANY:        IR Dump Before canonicalize
// MANY:        IR Dump After canonicalize
// ALLGENERIC:  // -----// IR Dump After cse //----- //
// ALLGENERIC-NEXT: "builtin.module"() ({
// ALLGENERIC:  // -----// IR Dump After canonicalize //----- //

// TIMING:      ... Execution time report ...
// TIMING:      Total Execution Time: {{[0-9.]+}} seconds
// TIMING:      ----Wall Time----  ----Name----
// TIMING-NEXT: {{[0-9.]+}} ({{ *[0-9.]+}}%)  Parser
// TIMING-NEXT: {{[0-9.]+}} ({{ *[0-9.]+}}%)  cse
// TIMING-NEXT: {{[0-9.]+}} ({{ *[0-9.]+}}%)  canonicalize
// TIMING-NEXT: {{[0-9.]+}} ({{ *[0-9.]+}}%)  Verifier
// TIMING-NEXT: {{[0-9.]+}} ({{ *[0-9.]+}}%)  Output
// TIMING-NEXT: {{[0-9.]+}} (100.0%)  Total

// STATS:      ... Pass statistics report ...
// STATS:      cse
// STATS-NEXT:   (S) 1 runs
// STATS-NEXT:   (S) 6 ops-before
// STATS-NEXT:   (S) 5 ops-after

// UNKNOWN: rusty-opt: error: --mlir-print-ir-after: unknown pass 'nosuch' (rusty-opt --list-passes shows them all)
// UNKNOWN-BEFORE: rusty-opt: error: --mlir-print-ir-before: unknown pass 'nosuch'
// ABSENT: rusty-opt: warning: --mlir-print-ir-after: pass 'dce' is not in the pipeline
// BADFLAG: rusty-opt: error: unrecognized arguments: --no-such-flag (rusty-opt --help lists the flags)
// BADFLAG-NOT: usage:
// BADLEVEL: rusty-opt: error: argument --verify-diagnostics: invalid choice: 'sometimes'

func.func @dup(%a: f32) -> f32 {
  %b = arith.addf %a, %a : f32
  %c = arith.addf %a, %a : f32
  %d = arith.mulf %b, %c : f32
  func.return %d : f32
}
