// RUN: not rusty-opt %s -p 'tune-workgroups' 2>&1 | filecheck %s --check-prefix=TARGET
// RUN: not rusty-opt %s -p 'attach-target,tune-workgroups{configs="%t.missing.json"}' 2>&1 | filecheck %s --check-prefix=MISSING
// RUN: echo '{"regions": {"0123": {"config": "not a config"}}}' > %t.bad.json
// RUN: not rusty-opt %s -p 'attach-target,tune-workgroups{configs="%t.bad.json"}' 2>&1 | filecheck %s --check-prefix=BAD
// RUN: not rusty-opt %s -p 'tune-workgroups{mode=measure}' 2>&1 | filecheck %s --check-prefix=UNKNOWN

// The heuristic reads the module's target: without one the pass says how to set it.
// TARGET: error: the module has no rgpu.target attribute: run attach-target{target=NAME} first
// TARGET-NOT: Traceback
// A tuned-configs file (rusty_ir/tuning.py writes them) that cannot be read or parsed is one error line.
// MISSING: error: tune-workgroups: cannot read tuned configs '{{.*}}missing.json': {{.*}}No such file or directory
// MISSING-NOT: Traceback
// BAD: error: tune-workgroups: cannot read tuned configs '{{.*}}bad.json': a config does not parse
// BAD-NOT: Traceback
// Measuring is the driver's work now (rusty compile --tune), not an option of the pass.
// UNKNOWN: rusty-opt: error: pass 'tune-workgroups': {{.*}}mode
// UNKNOWN-NOT: Traceback
func.func @any() {
  func.return
}
