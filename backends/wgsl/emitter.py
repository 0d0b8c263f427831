"""The WGSL language table: how WGSL differs from the shared C-like printer (backends/c_like).

``emit_program`` prints the gpu.module/gpu.func kernels of an xDSL module as one
WGSL module, with each kernel's binding interface. Buffers are module-scope
``var<storage>`` at ``@group(0) @binding(i)``, scalar arguments one
``var<uniform>`` struct, workgroup arrays module-scope ``var<workgroup>``,
builtins entry-point parameters; docs/backends.md has the contract.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from rusty_ir.backends.c_like.emitter import (
    CMPF_FORMATS,
    CMPI_FORMATS,
    COMMON_OP_FORMATS,
    CLikeLanguage,
    KernelParts,
    Program,
    emit_module,
)
from rusty_ir.backends.runtime.kernel_abi import KernelInterface

WgslProgram = Program
"""The WGSL text of all kernels of a module and one interface per kernel, in the same order."""

# Operand placeholders in OP_FORMATS: {a} {b} {c} operand expressions, {ua} {ub}
# the operand reinterpreted as u32, {T} the result's WGSL type. A dict value
# picks a format by the WGSL type of operand 0 ("*" = any other).
OP_FORMATS: Mapping[str, str | Mapping[str, str]] = MappingProxyType(
    {
        **COMMON_OP_FORMATS,
        # what WGSL spells its own way: unsigned ops read their operands as u32 and bitcast back
        "arith.addi": "{a} + {b}",
        "arith.subi": "{a} - {b}",
        "arith.muli": "{a} * {b}",
        "arith.ceildivui": "bitcast<{T}>(({ua} + {ub} - 1u) / {ub})",
        "arith.divui": "bitcast<{T}>({ua} / {ub})",
        "arith.remui": "bitcast<{T}>({ua} % {ub})",
        "arith.maxui": "bitcast<{T}>(max({ua}, {ub}))",
        "arith.minui": "bitcast<{T}>(min({ua}, {ub}))",
        "arith.shli": "{a} << {ub}",
        "arith.shrsi": "{a} >> {ub}",
        "arith.shrui": "bitcast<{T}>({ua} >> {ub})",
        "arith.select": "select({c}, {b}, {a})",
        "arith.fptoui": "bitcast<i32>(u32({a}))",
        "arith.bitcast": "bitcast<{T}>({a})",
        "vector.bitcast": "bitcast<{T}>({a})",
        "math.roundeven": "round({a})",
        "math.rsqrt": "inverseSqrt({a})",
        "rgpu.unpack_f16": "unpack2x16float({ua}).{half}",
        "rgpu.pack_f16": "bitcast<i32>(pack2x16float(vec2<f32>({a}, {b})))",
        "rgpu.dot4_i8": "dot4I8Packed({ua}, {ub})",
        "rgpu.subgroup_add": "subgroupAdd({a})",
        "rgpu.subgroup_max": "subgroupMax({a})",
        "rgpu.subgroup_min": "subgroupMin({a})",
        "rgpu.subgroup_shuffle_xor": "subgroupShuffleXor({a}, {mask}u)",
    }
)

# Builtin values: op name -> (entry-point parameter, WGSL builtin, expression on it)
BUILTINS: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {
        "gpu.global_id": ("gid", "global_invocation_id", "i32(gid.{dim})"),
        "gpu.thread_id": ("lid", "local_invocation_id", "i32(lid.{dim})"),
        "gpu.block_id": ("wid", "workgroup_id", "i32(wid.{dim})"),
        "gpu.grid_dim": ("nwg", "num_workgroups", "i32(nwg.{dim})"),
        "gpu.lane_id": ("sg_lane", "subgroup_invocation_id", "i32(sg_lane)"),
        "gpu.subgroup_size": ("sg_size", "subgroup_size", "i32(sg_size)"),
    }
)

# Helper functions emitted once at module scope when an op needs them.
HELPERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        # Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 on all of R (absolute; f32 only).
        "math.erf": (
            "rusty_erf",
            "// erf(x), Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7): WGSL has no erf.\n"
            "fn rusty_erf(x: f32) -> f32 {\n"
            "  let a = abs(x);\n"
            "  let t = 1.0f / (1.0f + 0.3275911f * a);\n"
            "  let p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));\n"
            "  return sign(x) * (1.0f - p * exp(-a * a));\n"
            "}\n",
        ),
    }
)
# Keywords and reserved words a user-chosen name (kernel, params field) must avoid.
WGSL_RESERVED = frozenset(
    ["alias", "break", "case", "const", "const_assert", "continue", "continuing", "default", "diagnostic", "discard", "else", "enable", "false", "fn", "for", "if", "let", "loop", "override", "requires", "return", "struct", "switch", "true", "var", "while", "bool", "f16", "f32", "i32", "u32", "vec2", "vec3", "vec4", "array", "atomic", "mat2x2", "mat3x3", "mat4x4", "ptr", "sampler", "texture_2d", "NULL", "Self", "abstract", "active", "alignas", "alignof", "as", "asm", "asm_fragment", "async", "attribute", "auto", "await", "become", "cast", "catch", "class", "co_await", "co_return", "co_yield", "coherent", "column_major", "common", "compile", "compile_fragment", "concept", "const_cast", "consteval", "constexpr", "constinit", "crate", "debugger", "decltype", "delete", "demote", "demote_to_helper", "do", "dynamic_cast", "enum", "explicit", "export", "extends", "extern", "external", "fallthrough", "filter", "final", "finally", "friend", "from", "fxgroup", "get", "goto", "groupshared", "highp", "impl", "implements", "import", "inline", "instanceof", "interface", "layout", "lowp", "macro", "macro_rules", "match", "mediump", "meta", "mod", "module", "move", "mut", "mutable", "namespace", "new", "nil", "noexcept", "noinline", "nointerpolation", "non_coherent", "noncoherent", "noperspective", "null", "nullptr", "of", "operator", "package", "packoffset", "partition", "pass", "patch", "pixelfragment", "precise", "precision", "premerge", "priv", "protected", "pub", "public", "readonly", "ref", "regardless", "register", "reinterpret_cast", "require", "resource", "restrict", "self", "set", "shared", "sizeof", "smooth", "snorm", "static", "static_assert", "static_cast", "std", "subroutine", "super", "target", "template", "this", "thread_local", "throw", "trait", "try", "type", "typedef", "typeid", "typename", "typeof", "union", "unless", "unorm", "unsafe", "unsized", "use", "using", "varying", "virtual", "volatile", "wgsl", "where", "with", "writeonly", "yield"]
)  # fmt: skip # one line per word would be 190 lines


def _float_literal(value: float, wgsl_type: str) -> str:
    """A WGSL literal of exactly this f32/f16 value; specials and -0 via bitcast."""
    np_type = np.float16 if wgsl_type == "f16" else np.float32
    v = np_type(value)
    if not np.isfinite(v) or (v == 0 and np.signbit(v)):
        if wgsl_type == "f16":
            bits = int(np.array(v, np.float16).view(np.uint16))
            return f"f16(unpack2x16float({bits:#06x}u).x)"  # naga rejects bitcast<vec2<f16>>(u32)
        bits = int(np.array(v, np.float32).view(np.uint32))
        return f"bitcast<f32>({bits:#010x}u)"
    text = str(v) + ("h" if wgsl_type == "f16" else "f")
    return f"({text})" if text.startswith("-") else text


class Wgsl(CLikeLanguage):
    """WGSL: ``let``/``var`` declarations, ``bitcast<u32>`` for unsigned ops, module-scope bindings."""

    name = "WGSL"
    types = MappingProxyType({"f32": "f32", "f16": "f16", "i32": "i32", "bool": "bool"})
    reserved = WGSL_RESERVED
    op_formats = OP_FORMATS
    cmpi_formats = CMPI_FORMATS
    cmpf_formats = CMPF_FORMATS
    builtins = BUILTINS
    builtin_types = MappingProxyType({"sg_lane": "u32", "sg_size": "u32", "*": "vec3<u32>"})
    helpers = HELPERS

    def vector_type(self, elem: str, lanes: int) -> str:
        return f"vec{lanes}<{elem}>"

    def unsigned_of(self, expr: str, lanes: int) -> str:
        return f"bitcast<u32>({expr})" if lanes == 1 else f"bitcast<vec{lanes}<u32>>({expr})"

    def shift_right(self, expr: str, amount: int) -> str:
        return f"{expr} >> {amount}u"

    def float_literal(self, value: float, abi: str) -> str:
        return _float_literal(value, abi)

    def int_literal(self, value: int) -> str:
        if value == -(2**31):
            return "i32(-2147483648)"  # -2147483648i would negate an out-of-range 2147483648i
        return f"({value}i)" if value < 0 else f"{value}i"

    def let(self, name: str, type_: str, expr: str) -> str:
        return f"let {name}: {type_} = {expr};"

    def var(self, name: str, type_: str, init: str | None) -> str:
        return f"var {name}: {type_}" + ("" if init is None else f" = {init}") + ";"

    def temp(self, name: str, type_: str, expr: str) -> str:
        return f"let {name} = {expr};"

    def for_header(self, iv: str, lb: str, ub: str, step: str) -> str:
        return f"for (var {iv}: i32 = {lb}; {iv} < {ub}; {iv} = {iv} + {step}) {{"

    def private_array(self, name: str, elem: str, count: int) -> str:
        return f"var {name}: array<{elem}, {count}>;"

    def param_read(self, access: str, abi: str) -> str:
        return {"f16": f"f16({access})", "bool": f"({access} != 0)"}.get(abi, access)

    def barrier(self, writes_storage: bool) -> list[str]:
        # gpu.barrier orders all memory of the workgroup; WGSL splits that in two, and the
        # storage half is only needed when a storage buffer is both written and read.
        return (["storageBarrier();"] if writes_storage else []) + ["workgroupBarrier();"]

    def kernel_text(self, k: KernelParts) -> str:
        decls = [f"@group(0) @binding({b.binding}) var<storage, {b.access}> {b.name}: array<{self.spell(b.elem)}>;" for b in k.buffers]
        if k.params is not None:
            decls.append(f"struct {k.params.struct_name} {{")
            decls += [f"  {f.name}: {f.type}," for f in k.params.fields]
            decls.append("}")
            decls.append(f"@group(0) @binding({k.params.binding}) var<uniform> {k.params_var}: {k.params.struct_name};")
        decls += [f"var<workgroup> {a.name}: array<{self.spell(a.elem)}, {a.count}>;" for a in k.workgroup_arrays]
        entry_params = [
            f"@builtin({builtin}) {param}: {self.builtin_types.get(param, self.builtin_types['*'])}"
            for param, builtin, _ in self.builtins.values()
            if param in k.builtins
        ]
        wx, wy, wz = k.workgroup_size
        text = [f"// gpu.module @{k.module_name} > gpu.func @{k.name}", *decls]
        text.append(f"@compute @workgroup_size({wx}, {wy}, {wz})")
        text.append(f"fn {k.name}({', '.join(entry_params)}) {{")
        text += k.body
        text.append("}")
        return "\n".join(text) + "\n"

    def module_text(self, chunks: Sequence[str], helpers: Sequence[str], uses_f16: bool) -> str:
        header = ["// WGSL emitted by rusty-ir from gpu.module kernels."]
        if uses_f16:
            header.append("enable f16;")
        return "\n".join(header) + "\n\n" + "".join(h + "\n" for h in helpers) + "\n".join(chunks)


WGSL = Wgsl()
"""The WGSL language table (stateless; the emitter keeps all state per instance)."""


class WgslEmitter:
    """Prints every kernel of a module into one WGSL module (all state on the instance)."""

    def __init__(self, module: ModuleOp):
        self.module = module

    def emit(self) -> WgslProgram:
        return emit_module(WGSL, self.module)


def emit_program(module: ModuleOp) -> WgslProgram:
    """The WGSL source of all kernels in ``module`` plus each kernel's interface."""
    return WgslEmitter(module).emit()


def emit_wgsl(module: ModuleOp) -> str:
    """The WGSL source of every ``gpu.func`` kernel of every top-level ``gpu.module``, in IR order."""
    return emit_program(module).source


def kernel_interfaces(module: ModuleOp) -> list[KernelInterface]:
    """The binding interface of each kernel, in the order ``emit_wgsl`` prints them."""
    return list(emit_program(module).kernels)
