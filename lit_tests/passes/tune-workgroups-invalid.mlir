// RUN: rusty-opt %s -p 'tune-workgroups{target=mali}' --split-input-file --verify-diagnostics
// RUN: not rusty-opt %s -p 'tune-workgroups{mode=fast}' 2>&1 | filecheck %s --check-prefix=MODE
// RUN: not rusty-opt %s -p 'tune-workgroups{mode=measure repeats=0}' 2>&1 | filecheck %s --check-prefix=REPEATS
// RUN: not rusty-opt %s -p 'tune-workgroups{prefill-length=-4}' 2>&1 | filecheck %s --check-prefix=LENGTH
// RUN: not rusty-opt %s -p 'tune-workgroups{mode}' 2>&1 | filecheck %s --check-prefix=NOVALUE
// RUN: not rusty-opt %s -p 'tune-workgroups{measure=true}' 2>&1 | filecheck %s --check-prefix=UNKNOWN

// Option values are checked before anything is measured; each is one error line, no traceback.
// MODE: error: tune-workgroups: unknown mode 'fast' (known: heuristic, measure)
// MODE-NOT: Traceback
// REPEATS: error: tune-workgroups: repeats must be at least 1, got 0
// LENGTH: error: tune-workgroups: prefill-length must not be negative, got -4
// NOVALUE: rusty-opt: error: pass 'tune-workgroups': {{.*}}
// NOVALUE-NOT: Traceback
// UNKNOWN: rusty-opt: error: pass 'tune-workgroups': {{.*}}measure
// UNKNOWN-NOT: Traceback

// An unknown target description is refused (the error names the known ones).
// expected-error @+1 {{tune-workgroups: unknown target 'mali' (known: webgpu, apple, nvidia)}}
func.func @any() {
  func.return
}
