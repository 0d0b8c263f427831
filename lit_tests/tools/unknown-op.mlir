// RUN: not rusty-opt %s 2>&1 | filecheck %s
// An op of an unknown dialect is a located error (unless --allow-unregistered-dialect).
// RUN: rusty-opt %s --allow-unregistered-dialect | filecheck %s --check-prefix=ALLOWED
// CHECK: unknown-op.mlir:8:{{[0-9]+}}: error: Operation nosuch.op is not registered
// CHECK-NOT: Traceback
// ALLOWED: "nosuch.op"() : () -> ()
func.func @g() {
  "nosuch.op"() : () -> ()
  func.return
}
