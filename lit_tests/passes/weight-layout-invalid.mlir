// RUN: not rusty-opt %s -p weight-layout 2>&1 | filecheck %s --check-prefix=TARGET
// RUN: not rusty-opt %s -p 'weight-layout{scales=f16}' 2>&1 | filecheck %s --check-prefix=OPTION

// Whether scales are bound as f16 or as words comes from the module's target (its f16 field):
// without one the pass says how to set it, as one error line.
// TARGET: error: the module has no rgpu.target attribute: run attach-target{target=NAME} first
// TARGET-NOT: Traceback
// The pass has no options: the layout follows the target, not a flag.
// OPTION: rusty-opt: error: pass 'weight-layout': {{.*}}["scales"] not found
// OPTION-NOT: Traceback
func.func @no_target() {
  %w = dispatch.weight "w" {stored = tensor<1x32x!rquant.q4_0>} : memref<5xi32>
  func.return
}
