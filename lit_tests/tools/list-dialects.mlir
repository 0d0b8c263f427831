// RUN: rusty-opt --load-dialect-plugin=%S/../../docs/plugin_example/rusty_hello/__init__.py --list-dialects | filecheck %s

// The Python classes of rusty-ir's dialects and of a plugin's (docs/plugins.md embeds rusty-ir's part).
// CHECK: ### `dispatch`
// CHECK: `from rusty_ir.dialects.dispatch import ...`
// CHECK: | `dispatch.lowering_config` | `LoweringConfigAttr` | data: `rusty_ir.dialects.dispatch.attrs.LoweringConfig` |
// CHECK: ### `hello` ({{.*}}__init__.py)
// CHECK: | `hello.trace` | `TraceOp` | operands: value | Marks a value as interesting; has no effect on execution. |
// CHECK: | `tfm.rms_norm` | `RmsNormOp` | operands: input, weight; results: result; properties: epsilon, head_dim? |
// CHECK: | `tiled.kernel` | `KernelOp` | operands: args*; properties: label, workgroup_size; regions: grid, body |
