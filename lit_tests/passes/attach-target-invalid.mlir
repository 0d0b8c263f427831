// RUN: not rusty-opt %s -p 'attach-target{target=mali}' 2>&1 | filecheck %s --check-prefix=TARGET
// RUN: not rusty-opt %s -p 'attach-target{target=apple subgroup-size=24}' 2>&1 | filecheck %s --check-prefix=SUBGROUP
// RUN: not rusty-opt %s -p 'attach-target{max-workgroup-memory=-7}' 2>&1 | filecheck %s --check-prefix=NEGATIVE
// RUN: not rusty-opt %s -p 'attach-target{max-invocations=abc}' 2>&1 | filecheck %s --check-prefix=TYPE

// An unknown target name lists the known ones; a field given as an option must make a valid
// target (a power-of-two or 0 subgroup width, non-negative limits). Each is one error line
// naming the pass, with no traceback and no module printed.
// TARGET: error: attach-target: unknown target 'mali' (known: webgpu, apple, nvidia)
// TARGET-NOT: Traceback
// TARGET-NOT: builtin.module
// SUBGROUP: error: attach-target: target 'apple': subgroup_size must be a power of two or 0, got 24
// SUBGROUP-NOT: Traceback
// SUBGROUP-NOT: builtin.module
// NEGATIVE: error: attach-target: target 'webgpu': max_workgroup_memory must be a non-negative integer, got -7
// NEGATIVE-NOT: Traceback
// NEGATIVE-NOT: builtin.module
// An option of the wrong type is refused when the pipeline is parsed.
// TYPE: rusty-opt: error: pass 'attach-target': {{.*}}abc
// TYPE-NOT: Traceback
func.func @f() {
  func.return
}
