// RUN: not rusty-translate --to-msl %S/../wgsl/unsupported.mlir 2>&1 | filecheck %s
// RUN: not rusty-translate --to-msl %S/../wgsl/unsupported-type.mlir 2>&1 | filecheck %s --check-prefix=TYPE
// An op or type the MSL emitter cannot print is a located error, as for WGSL.

// CHECK: unsupported.mlir:9:{{[0-9]+}}: error: 'math.atan' op the MSL emitter cannot print this op, in 'math.atan' (op #2 of its block) in gpu.module @bad > gpu.func @uses_atan
// CHECK-NOT: Traceback
// TYPE: unsupported-type.mlir:{{[0-9]+}}:{{[0-9]+}}: error: {{.*}} has no MSL equivalent (legalize it before printing)
// TYPE-NOT: Traceback
