"""The Metal Shading Language table: how MSL differs from the shared C-like printer (backends/c_like).

``emit_program(module, limits)`` prints the gpu.module/gpu.func kernels of an
xDSL module as one MSL source, with the same kernel interfaces (buffer
indices, params layout, threadgroup sizes) as the WGSL backend, so one host
schedule drives either. Each kernel is a ``kernel void`` function:

- buffers are parameters ``device const T* name [[buffer(i)]]`` (``device T*``
  when the kernel stores to them), scalar arguments one
  ``constant K_Params& params [[buffer(n)]]`` struct of 4-byte fields;
- workgroup arrays are ``threadgroup T name[N];`` at the top of the kernel;
- builtins are parameters with attributes (``thread_position_in_threadgroup``,
  ``threadgroup_position_in_grid``, ``threadgroups_per_grid``,
  ``thread_position_in_grid``, ``thread_index_in_simdgroup``,
  ``threads_per_simdgroup``); ``gpu.barrier`` is ``threadgroup_barrier``;
  ``rgpu.subgroup_add`` is ``simd_sum``; ``rgpu.unpack_f16`` reads a ``half2``
  out of the word with ``as_type``.

i32 ``+ - *`` and shifts go through ``uint`` so that they wrap (and shift
amounts are taken modulo 32) as in WGSL: signed overflow is undefined in C++,
and MSL is C++. Every kernel is checked against a target description's limits
(threads per threadgroup, threadgroup memory): a kernel that exceeds one is a
``RustyError`` naming the kernel and the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Protocol

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from rusty_ir.backends.c_like.emitter import (
    CMPF_FORMATS,
    CMPI_FORMATS,
    COMMON_OP_FORMATS,
    CLikeLanguage,
    KernelParts,
    Program,
    emit_module,
    located,
    split_abi,
)
from rusty_ir.backends.runtime.kernel_abi import KernelInterface

MslProgram = Program
"""The MSL text of all kernels of a module and one interface per kernel, in the same order."""


class TargetLimits(Protocol):
    """What the MSL emitter checks each kernel against (``rusty_ir.targets.TargetDescription``, a frozen
    dataclass: so read-only here)."""

    @property
    def name(self) -> str: ...
    @property
    def max_invocations(self) -> int: ...
    @property
    def max_workgroup_memory(self) -> int: ...


_C_TYPES = {"f32": "float", "f16": "half", "i32": "int", "bool": "bool"}

OP_FORMATS = MappingProxyType(
    {
        **COMMON_OP_FORMATS,
        # i32 + - * wrap through uint (signed overflow is undefined behaviour in MSL, as in C++)
        "arith.addi": "as_type<int>({ua} + {ub})",
        "arith.subi": "as_type<int>({ua} - {ub})",
        "arith.muli": "as_type<int>({ua} * {ub})",
        "arith.ceildivui": "as_type<{T}>(({ua} + {ub} - 1u) / {ub})",
        "arith.divui": "as_type<{T}>({ua} / {ub})",
        "arith.remui": "as_type<{T}>({ua} % {ub})",
        "arith.maxui": "as_type<{T}>(max({ua}, {ub}))",
        "arith.minui": "as_type<{T}>(min({ua}, {ub}))",
        # shift amounts modulo 32, as WGSL defines them (a C++ shift by >= 32 is undefined)
        "arith.shli": "as_type<{T}>({ua} << ({ub} & 31u))",
        "arith.shrsi": "{a} >> ({ub} & 31u)",
        "arith.shrui": "as_type<{T}>({ua} >> ({ub} & 31u))",
        "arith.select": "{a} ? {b} : {c}",  # operands: condition, true value, false value
        "arith.fptoui": "as_type<int>(uint({a}))",
        "arith.bitcast": "as_type<{T}>({a})",
        "vector.bitcast": "as_type<{T}>({a})",
        "math.roundeven": "rint({a})",  # metal::round rounds halves away from zero; rint to even
        "math.rsqrt": "rsqrt({a})",
        "rgpu.unpack_f16": "float(as_type<half2>({ua}).{half})",
        "rgpu.pack_f16": "as_type<int>(uint(as_type<ushort>(half({a}))) | (uint(as_type<ushort>(half({b}))) << 16))",
        "rgpu.dot4_i8": "rusty_dot4_i8({a}, {b})",
        "rgpu.subgroup_add": "simd_sum({a})",
        "rgpu.subgroup_max": "simd_max({a})",
        "rgpu.subgroup_min": "simd_min({a})",
        "rgpu.subgroup_shuffle_xor": "simd_shuffle_xor({a}, ushort({mask}))",
    }
)
"""Op name -> MSL format (placeholders as in ``CLikeLanguage.op_formats``)."""

BUILTINS = MappingProxyType(
    {
        "gpu.global_id": ("gid", "thread_position_in_grid", "int(gid.{dim})"),
        "gpu.thread_id": ("lid", "thread_position_in_threadgroup", "int(lid.{dim})"),
        "gpu.block_id": ("wid", "threadgroup_position_in_grid", "int(wid.{dim})"),
        "gpu.grid_dim": ("nwg", "threadgroups_per_grid", "int(nwg.{dim})"),
        "gpu.lane_id": ("sg_lane", "thread_index_in_simdgroup", "int(sg_lane)"),
        "gpu.subgroup_size": ("sg_size", "threads_per_simdgroup", "int(sg_size)"),
    }
)
"""Builtin op -> (kernel parameter, MSL attribute, expression); the parameter order is this table's."""

HELPERS = MappingProxyType(
    {
        "rgpu.dot4_i8": (
            "rusty_dot4_i8",
            (
                "// the dot product of two words' four signed bytes (WGSL dot4I8Packed): MSL has no packed dot.\n"
                "inline int rusty_dot4_i8(int a, int b) {\n"
                "  int sum = 0;\n"
                "  for (int shift = 24; shift >= 0; shift -= 8) {  // byte i sign-extended: << (24 - 8i), then >> 24\n"
                "    sum += ((a << shift) >> 24) * ((b << shift) >> 24);\n"
                "  }\n"
                "  return sum;\n"
                "}\n"
            ),
        ),
        "math.erf": (
            "rusty_erf",
            (
                "// erf(x), Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7): MSL has no erf.\n"
                "inline float rusty_erf(float x) {\n"
                "  const float a = abs(x);\n"
                "  const float t = 1.0f / (1.0f + 0.3275911f * a);\n"
                "  const float p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));\n"
                "  return sign(x) * (1.0f - p * exp(-a * a));\n"
                "}\n"
            ),
        ),
    }
)

MSL_RESERVED = frozenset(
    ["alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch", "char", "char16_t", "char32_t", "class", "compl", "const", "constexpr", "const_cast", "continue", "decltype", "default", "delete", "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq", "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast", "return", "short", "signed", "sizeof", "static", "static_assert", "static_cast", "struct", "switch", "template", "this", "thread_local", "throw", "true", "try", "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq", "half", "uint", "ushort", "uchar", "ulong", "size_t", "ptrdiff_t", "kernel", "vertex", "fragment", "device", "constant", "threadgroup", "thread", "threadgroup_imageblock", "ray_data", "object_data", "metal", "main", "float2", "float3", "float4", "half2", "half3", "half4", "int2", "int3", "int4", "uint2", "uint3", "uint4", "bool2", "bool3", "bool4", "as_type"]
)  # fmt: skip # one line per word would be 120 lines
"""C++14 keywords, MSL address spaces, function qualifiers and type names: not usable as kernel or field names."""


def _float_literal(value: float, abi: str) -> str:
    """An MSL literal of exactly this f32/f16 value; infinities, NaN and -0 via as_type of the bits."""
    if abi == "f16":
        h = np.float16(value)
        if not np.isfinite(h) or (h == 0 and np.signbit(h)):
            return f"as_type<half>(ushort({int(np.array(h).view(np.uint16)):#06x}))"
        text = str(np.float32(h)) + "f"  # f32 holds every f16 exactly: no double rounding
        return f"half({text})"
    v = np.float32(value)
    if not np.isfinite(v) or (v == 0 and np.signbit(v)):
        return f"as_type<float>({int(np.array(v).view(np.uint32)):#010x}u)"
    text = str(v) + "f"
    return f"({text})" if text.startswith("-") else text


class Msl(CLikeLanguage):
    """MSL: C++ declarations, ``as_type`` for reinterpretation, buffers and builtins as kernel parameters."""

    name = "MSL"
    types = MappingProxyType(_C_TYPES)
    reserved = MSL_RESERVED
    op_formats = OP_FORMATS
    cmpi_formats = CMPI_FORMATS  # C's ==, <, <=, >, >=, &&, || and ! mean the same as WGSL's
    cmpf_formats = CMPF_FORMATS  # built from ordered comparisons only, as in WGSL
    builtins = BUILTINS
    builtin_types = MappingProxyType({"sg_lane": "uint", "sg_size": "uint", "*": "uint3"})
    helpers = HELPERS

    def __init__(self, limits: TargetLimits | None = None):
        self.limits = limits

    def vector_type(self, elem: str, lanes: int) -> str:
        return f"{elem}{lanes}"

    def unsigned_of(self, expr: str, lanes: int) -> str:
        return f"as_type<uint>({expr})" if lanes == 1 else f"as_type<uint{lanes}>({expr})"

    def vector_literal(self, abi: str, lanes: Sequence[str]) -> str:
        # list-initialization: Metal's vectors are clang ext_vector_types, which take it (a constructor
        # call with several scalars is a Metal extension plain clang lacks)
        return f"{self.spell(abi)}{{{', '.join(lanes)}}}"

    def vector_cast(self, expr: str, result_abi: str) -> str | None:
        # lane by lane: clang reads `float4(half4_value)` as a reinterpretation, Metal as a conversion
        elem, lanes = split_abi(result_abi)
        return self.vector_literal(result_abi, [f"{self.types[elem]}({expr}[{i}])" for i in range(lanes)])

    def float_literal(self, value: float, abi: str) -> str:
        return _float_literal(value, abi)

    def int_literal(self, value: int) -> str:
        if value == -(2**31):
            return "as_type<int>(0x80000000u)"  # -2147483648 would negate an out-of-range 2147483648
        return f"({value})" if value < 0 else str(value)

    def barrier(self, writes_storage: bool) -> list[str]:
        # gpu.barrier orders all memory of the threadgroup; device memory only matters when a
        # buffer is both written and read by the kernel.
        flags = "mem_flags::mem_device | mem_flags::mem_threadgroup" if writes_storage else "mem_flags::mem_threadgroup"
        return [f"threadgroup_barrier({flags});"]

    def kernel_text(self, k: KernelParts) -> str:
        c = self.types
        args = [
            f"device {'' if b.access == 'read_write' else 'const '}{self.spell(b.elem)}* {b.name} [[buffer({b.binding})]]"
            for b in k.buffers
        ]
        text = [f"// gpu.module @{k.module_name} > gpu.func @{k.name}"]
        if k.params is not None:
            text.append(f"struct {k.params.struct_name} {{")
            text += [f"  {c[f.type]} {f.name};" for f in k.params.fields]
            text.append("};")
            args.append(f"constant {k.params.struct_name}& {k.params_var} [[buffer({k.params.binding})]]")
        args += [
            f"{self.builtin_types.get(param, self.builtin_types['*'])} {param} [[{builtin}]]"
            for param, builtin, _ in self.builtins.values()
            if param in k.builtins
        ]
        wx, wy, wz = k.workgroup_size
        text.append(f"// threadgroup size {wx} x {wy} x {wz} (the host schedule's block)")
        text.append(f"[[max_total_threads_per_threadgroup({wx * wy * wz})]]")
        text.append(f"kernel void {k.name}(" + ",\n    ".join(args) + ") {")
        text += [f"  threadgroup {self.spell(a.elem)} {a.name}[{a.count}];" for a in k.workgroup_arrays]
        text += k.body
        text.append("}")
        return "\n".join(text) + "\n"

    def module_text(self, chunks: Sequence[str], helpers: Sequence[str], uses_f16: bool) -> str:
        header = "// Metal Shading Language emitted by rusty-ir from gpu.module kernels.\n#include <metal_stdlib>\nusing namespace metal;\n"
        return header + "\n" + "".join(h + "\n" for h in helpers) + "\n".join(chunks)

    def check_kernel(self, k: KernelParts, interface: KernelInterface, func: Operation) -> None:
        if self.limits is None:
            return
        lim = self.limits
        threads = k.workgroup_size[0] * k.workgroup_size[1] * k.workgroup_size[2]
        if threads > lim.max_invocations:
            raise located(
                f"kernel @{k.name} has {threads} threads per threadgroup; the '{lim.name}' target allows "
                f"{lim.max_invocations} (max_invocations)",
                func,
            )
        if interface.workgroup_memory_bytes > lim.max_workgroup_memory:
            raise located(
                f"kernel @{k.name} needs {interface.workgroup_memory_bytes} bytes of threadgroup memory; the "
                f"'{lim.name}' target allows {lim.max_workgroup_memory} (max_workgroup_memory)",
                func,
            )


def default_limits() -> TargetLimits:
    """The ``apple`` target description (rusty_ir/targets.py): Apple GPUs' limits."""
    from rusty_ir.targets import TARGETS

    return TARGETS["apple"]


def emit_program(module: ModuleOp, limits: TargetLimits | None = None) -> MslProgram:
    """The MSL source of all kernels in ``module`` plus each kernel's interface.

    Every kernel is checked against ``limits`` (default: the ``apple`` target description).
    """
    return emit_module(Msl(limits if limits is not None else default_limits()), module)


def emit_msl(module: ModuleOp, limits: TargetLimits | None = None) -> str:
    """The MSL source of every ``gpu.func`` kernel of every top-level ``gpu.module``, in IR order."""
    return emit_program(module, limits).source
