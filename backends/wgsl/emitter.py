"""Prints the gpu.module/gpu.func kernels of an xDSL module as WGSL, with each kernel's binding interface.

The emitter prints a small closed set of gpu-level ops (docs/backends.md lists
them) and raises ``RustyError`` naming the op and where it is for anything
else: anything the target cannot express must be legalized by an IR pass first.

How it prints, in order:

1. For every ``gpu.func ... kernel`` of every top-level ``gpu.module`` (in IR
   order) compute its interface: memref arguments become storage buffers
   ``@group(0) @binding(i)``, scalar arguments fields of one uniform params
   struct bound after them (``kernel_abi`` has the layout rules).
2. Print the kernel body op by op. Every SSA result becomes a ``let`` (or a
   ``var`` for loop-carried values and ``scf.if`` results); constants are
   inlined as typed literals at their uses, so every operand expression is an
   atom and infix formats need no precedence handling. Pure ops print from
   ``OP_FORMATS`` (one line per op); the few structural ops have handlers.
3. Prepend what the kernels need at module scope: ``enable f16;``, helper
   functions (``erf``), then each kernel's struct, buffers and workgroup vars.

Names live on the emitter instance and are scoped per function: SSA values
are ``v_<name hint>`` (``v<N>`` without a hint), module-scope names are
prefixed with the kernel name, so no name can shadow another or a builtin.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from xdsl.dialects import gpu
from xdsl.dialects.builtin import (
    DenseArrayBase,
    Float16Type,
    Float32Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    NoneAttr,
    AffineMapAttr,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.ir.affine import AffineMap

from rusty_ir.backends.runtime.kernel_abi import (
    PARAMS_ALIGN,
    BufferBinding,
    KernelInterface,
    ParamField,
    ParamsLayout,
)
from rusty_ir.errors import RustyError, describe_op

# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def _wgsl_scalar_type(t: Attribute) -> str | None:
    """The WGSL type of an IR scalar type, or None when WGSL has no equivalent."""
    if isinstance(t, Float32Type):
        return "f32"
    if isinstance(t, Float16Type):
        return "f16"
    if isinstance(t, IndexType):
        return "i32"  # index is 32-bit on the GPU (docs/architecture.md)
    if isinstance(t, IntegerType) and t.signedness.data.name == "SIGNLESS":
        return {1: "bool", 32: "i32"}.get(t.width.data)
    return None


ELEMENT_BYTES: Mapping[str, int] = MappingProxyType({"f32": 4, "i32": 4, "f16": 2})
"""Storage/workgroup element types and their byte sizes (bool is not host-shareable)."""

# Operand placeholders in OP_FORMATS: {a} {b} {c} operand expressions, {ua} {ub}
# the operand reinterpreted as u32, {T} the result's WGSL type. A dict value
# picks a format by the WGSL type of operand 0 ("*" = any other).
OP_FORMATS: Mapping[str, str | Mapping[str, str]] = MappingProxyType(
    {
        # arith: float and integer arithmetic
        "arith.addf": "{a} + {b}",
        "arith.addi": "{a} + {b}",
        "arith.subf": "{a} - {b}",
        "arith.subi": "{a} - {b}",
        "arith.mulf": "{a} * {b}",
        "arith.muli": "{a} * {b}",
        "arith.divf": "{a} / {b}",
        "arith.divsi": "{a} / {b}",
        "arith.divui": "bitcast<i32>({ua} / {ub})",
        "arith.remsi": "{a} % {b}",
        "arith.remui": "bitcast<i32>({ua} % {ub})",
        "arith.negf": "-{a}",
        # min/max: WGSL min/max do not propagate NaN like maximumf/minimumf (documented)
        "arith.maximumf": "max({a}, {b})",
        "arith.minimumf": "min({a}, {b})",
        "arith.maxnumf": "max({a}, {b})",
        "arith.minnumf": "min({a}, {b})",
        "arith.maxsi": "max({a}, {b})",
        "arith.minsi": "min({a}, {b})",
        "arith.maxui": "bitcast<i32>(max({ua}, {ub}))",
        "arith.minui": "bitcast<i32>(min({ua}, {ub}))",
        # bitwise; on i1 (WGSL bool) xor is !=
        "arith.andi": "{a} & {b}",
        "arith.ori": "{a} | {b}",
        "arith.xori": {"bool": "{a} != {b}", "*": "{a} ^ {b}"},
        "arith.shli": "{a} << {ub}",
        "arith.shrsi": "{a} >> {ub}",
        "arith.shrui": "bitcast<i32>({ua} >> {ub})",
        "arith.select": "select({c}, {b}, {a})",
        # casts (index and i32 are both WGSL i32)
        "arith.index_cast": "{a}",
        "arith.sitofp": "{T}({a})",
        "arith.uitofp": "{T}({ua})",
        "arith.fptosi": "{T}({a})",
        "arith.fptoui": "bitcast<i32>(u32({a}))",
        "arith.extf": "{T}({a})",
        "arith.truncf": "{T}({a})",
        "arith.bitcast": "bitcast<{T}>({a})",
        "arith.extui": "{T}({a})",  # only i1 -> i32 reaches here (the type map has no other widths)
        "arith.extsi": "-{T}({a})",  # i1 -> i32: true is -1
        "arith.trunci": "({a} & 1) != 0",  # i32 -> i1
        # math
        "math.absf": "abs({a})",
        "math.absi": "abs({a})",
        "math.ceil": "ceil({a})",
        "math.cos": "cos({a})",
        "math.erf": "rusty_erf({a})",
        "math.exp": "exp({a})",
        "math.exp2": "exp2({a})",
        "math.floor": "floor({a})",
        "math.fma": "fma({a}, {b}, {c})",
        "math.log": "log({a})",
        "math.log2": "log2({a})",
        "math.powf": "pow({a}, {b})",
        "math.roundeven": "round({a})",
        "math.rsqrt": "inverseSqrt({a})",
        "math.sin": "sin({a})",
        "math.sqrt": "sqrt({a})",
        "math.tanh": "tanh({a})",
        "math.trunc": "trunc({a})",
        # rgpu
        "rgpu.unpack_f16": "unpack2x16float({ua}).{half}",
        "rgpu.subgroup_add": "subgroupAdd({a})",
    }
)

CMPI_FORMATS: Sequence[str] = (
    # arith.cmpi predicate numbers 0..9: eq ne slt sle sgt sge ult ule ugt uge
    "{a} == {b}",
    "{a} != {b}",
    "{a} < {b}",
    "{a} <= {b}",
    "{a} > {b}",
    "{a} >= {b}",
    "{ua} < {ub}",
    "{ua} <= {ub}",
    "{ua} > {ub}",
    "{ua} >= {ub}",
)

CMPF_FORMATS: Sequence[str] = (
    # arith.cmpf predicate numbers 0..15, built from ==, <, <=, >, >= only: they
    # are ordered (false on NaN) everywhere. `!=` is not used: WGSL says it is
    # unordered but naga on Vulkan emits an ordered compare (false on NaN).
    "false",  # false
    "{a} == {b}",  # oeq
    "{a} > {b}",  # ogt
    "{a} >= {b}",  # oge
    "{a} < {b}",  # olt
    "{a} <= {b}",  # ole
    "({a} < {b}) || ({a} > {b})",  # one
    "({a} == {a}) && ({b} == {b})",  # ord
    "!(({a} < {b}) || ({a} > {b}))",  # ueq
    "!({a} <= {b})",  # ugt
    "!({a} < {b})",  # uge
    "!({a} >= {b})",  # ult
    "!({a} > {b})",  # ule
    "!({a} == {b})",  # une
    "!(({a} == {a}) && ({b} == {b}))",  # uno
    "true",  # true
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
_BUILTIN_PARAM_TYPES: Mapping[str, str] = MappingProxyType({"sg_lane": "u32", "sg_size": "u32"})

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
_F32_ONLY = frozenset({"math.erf"})
_SUBGROUP_OPS = frozenset({"rgpu.subgroup_add", "gpu.lane_id", "gpu.subgroup_size"})

WORKGROUP_MEMORY_SPACE = 3
"""memref memory space of workgroup memory (MLIR's #gpu.address_space<workgroup>)."""

# Keywords and reserved words a user-chosen name (kernel, params field) must avoid.
WGSL_RESERVED = frozenset(
    """alias break case const const_assert continue continuing default diagnostic discard else enable false fn for
    if let loop override requires return struct switch true var while bool f16 f32 i32 u32 vec2 vec3 vec4 array
    atomic mat2x2 mat3x3 mat4x4 ptr sampler texture_2d NULL Self abstract active alignas alignof as asm asm_fragment
    async attribute auto await become cast catch class co_await co_return co_yield coherent column_major common compile
    compile_fragment concept const_cast consteval constexpr constinit crate debugger decltype delete demote
    demote_to_helper do dynamic_cast enum explicit export extends extern external fallthrough filter final finally
    friend from fxgroup get goto groupshared highp impl implements import inline instanceof interface layout lowp
    macro macro_rules match mediump meta mod module move mut mutable namespace new nil noexcept noinline
    nointerpolation non_coherent noncoherent noperspective null nullptr of operator package packoffset partition pass
    patch pixelfragment precise precision premerge priv protected pub public readonly ref regardless register
    reinterpret_cast require resource restrict self set shared sizeof smooth snorm static static_assert static_cast std
    subroutine super target template this thread_local throw trait try type typedef typeid typename typeof union
    unless unorm unsafe unsized use using varying virtual volatile wgsl where with writeonly yield""".split()
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_ident(name: str, what: str, op: Operation) -> str:
    if not _IDENT.fullmatch(name) or name.startswith("__") or name in WGSL_RESERVED:
        raise _located(f"{what} '{name}' is not a valid WGSL identifier", op)
    return name


def _located(message: str, op: Operation) -> RustyError:
    """A RustyError that says where ``op`` is and carries it (``err.op``) so tools can point at its line."""
    where = _where_func(op) if isinstance(op, gpu.FuncOp) else describe_op(op)
    err = RustyError(f"{message}, in {where}")
    err.op = op  # type: ignore[attr-defined]
    return err


def _where_func(func: Operation) -> str:
    """'gpu.func @k in gpu.module @m' (describe_op names the enclosing symbols, not the op's own)."""
    return f"'{func.name}' @{func.sym_name.data}" + describe_op(func).split("'" + func.name + "'", 1)[1]  # type: ignore[attr-defined]


def _sanitize(hint: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", hint)


# ---------------------------------------------------------------------------
# Literals
# ---------------------------------------------------------------------------


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


def _int_literal(value: int, op: Operation) -> str:
    if not -(2**31) <= value < 2**32:
        raise _located(f"constant {value} does not fit in 32 bits", op)
    value = (value + 2**31) % 2**32 - 2**31  # signless: keep the bits, print as i32
    if value == -(2**31):
        return "i32(-2147483648)"  # -2147483648i would negate an out-of-range 2147483648i
    return f"({value}i)" if value < 0 else f"{value}i"


# ---------------------------------------------------------------------------
# Emission
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _MemrefInfo:
    """How a memref value is addressed: a WGSL array name and row-major strides."""

    name: str
    strides: tuple[int, ...]


@dataclass(frozen=True)
class WgslProgram:
    """The WGSL text of all kernels of a module and one interface per kernel, in the same order."""

    source: str
    kernels: tuple[KernelInterface, ...]


class _KernelEmitter:
    """Prints one gpu.func kernel; holds that function's names (scoped per function)."""

    def __init__(self, func: gpu.FuncOp, module_name: str, taken: set[str]):
        self.func = func
        self.module_name = module_name
        self.kernel = _check_ident(func.sym_name.data, "kernel name", func)
        self.taken = taken  # module-scope names of the whole WGSL module, shared by kernels
        self.exprs: dict[SSAValue, str] = {}
        self.memrefs: dict[SSAValue, _MemrefInfo] = {}
        self.local_names: set[str] = set()
        self.unnamed = 0
        self.lines: list[str] = []
        self.decls: list[str] = []  # module-scope declarations of this kernel
        self.builtins: set[str] = set()
        self.helpers: set[str] = set()
        self.uses_f16 = False
        self.uses_subgroups = False
        self.workgroup_bytes = 0
        self.writes_storage = False
        self.workgroup_size = [1, 1, 1]
        self.indent = 1

    # -- names and types ---------------------------------------------------

    def _global_name(self, suffix: str) -> str:
        base = f"{self.kernel}_{_sanitize(suffix)}"
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def _local_name(self, value: SSAValue) -> str:
        hint = value.name_hint
        if hint:
            base = f"v_{_sanitize(hint)}"
        else:
            base = f"v{self.unnamed}"
            self.unnamed += 1
        name, n = base, 0
        while name in self.local_names or name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.local_names.add(name)
        return name

    def _type(self, t: Attribute, op: Operation) -> str:
        wgsl = _wgsl_scalar_type(t)
        if wgsl is None:
            raise _located(f"type {t} has no WGSL equivalent (legalize it before printing)", op)
        if wgsl == "f16":
            self.uses_f16 = True
        return wgsl

    def _memref_layout(self, t: Attribute, op: Operation, *, allow_dynamic: bool) -> tuple[str, tuple[int, ...]]:
        """Element WGSL type and row-major strides of a memref type the emitter can address."""
        if not isinstance(t, MemRefType):
            raise _located(f"expected a memref, got {t}", op)
        identity = isinstance(t.layout, NoneAttr) or (
            isinstance(t.layout, AffineMapAttr) and t.layout.data == AffineMap.identity(t.get_num_dims())
        )
        if not identity:
            raise _located(f"memref layout {t.layout} is not supported (identity layouts only)", op)
        elem = self._type(t.element_type, op)
        if elem not in ELEMENT_BYTES:
            raise _located(f"memref element type {t.element_type} cannot live in GPU memory", op)
        shape = t.get_shape()
        if any(d < 0 for d in shape[1:]) or (shape and shape[0] < 0 and not allow_dynamic):
            rule = "only the outermost dimension may be dynamic" if allow_dynamic else "workgroup and private arrays need a static shape"
            raise _located(f"memref type {t}: {rule}", op)
        strides = tuple(int(np.prod(shape[i + 1 :], dtype=np.int64)) for i in range(len(shape)))
        return elem, strides

    def _expr(self, value: SSAValue, user: Operation) -> str:
        if value in self.exprs:
            return self.exprs[value]
        owner = value.owner
        if isinstance(owner, Operation) and owner.name == "arith.constant":
            return self._constant(owner)
        raise _located(f"operand {value} has no WGSL value (not printed yet)", user)

    def _constant(self, op: Operation) -> str:
        attr = op.properties.get("value")
        wgsl = self._type(op.results[0].type, op)
        if isinstance(attr, FloatAttr):
            return _float_literal(attr.value.data, wgsl)
        if isinstance(attr, IntegerAttr):
            value = attr.value.data
            if wgsl == "bool":
                return "true" if value & 1 else "false"
            return _int_literal(value, op)
        raise _located(f"constant {attr} is not a scalar", op)

    def _emit(self, line: str) -> None:
        self.lines.append("  " * self.indent + line)

    # -- kernel ------------------------------------------------------------

    def emit(self) -> tuple[str, KernelInterface]:
        func = self.func
        if len(func.body.blocks) != 1:
            raise _located(f"kernel has {len(func.body.blocks)} blocks; only structured control flow (scf) is printed", func)
        size_attr = func.known_block_size
        if not isinstance(size_attr, DenseArrayBase):
            raise _located("kernel has no gpu.known_block_size, which gives its @workgroup_size", func)
        sizes = [int(s) for s in size_attr.get_values()]  # type: ignore[arg-type]
        if not 1 <= len(sizes) <= 3 or any(s < 1 for s in sizes):
            raise _located(f"gpu.known_block_size {sizes} must be 1 to 3 positive sizes", func)
        self.workgroup_size = (sizes + [1, 1])[:3]

        buffers, params = self._bind_arguments(func.body.block)
        self._emit_block(func.body.block)
        entry_params = [
            f"@builtin({builtin}) {param}: {_BUILTIN_PARAM_TYPES.get(param, 'vec3<u32>')}"
            for param, builtin, _ in BUILTINS.values()
            if param in self.builtins
        ]
        wx, wy, wz = self.workgroup_size
        text = [f"// gpu.module @{self.module_name} > gpu.func @{self.kernel}", *self.decls]
        text.append(f"@compute @workgroup_size({wx}, {wy}, {wz})")
        text.append(f"fn {self.kernel}({', '.join(entry_params)}) {{")
        text += self.lines
        text.append("}")
        interface = KernelInterface(
            name=self.kernel,
            module=self.module_name,
            entry_point=self.kernel,
            workgroup_size=(wx, wy, wz),
            buffers=tuple(buffers),
            params=params,
            workgroup_memory_bytes=self.workgroup_bytes,
            uses_f16=self.uses_f16,
            uses_subgroups=self.uses_subgroups,
        )
        return "\n".join(text) + "\n", interface

    def _bind_arguments(self, block: Block) -> tuple[list[BufferBinding], ParamsLayout | None]:
        """Steps 1 of the module docstring: storage buffers, then one uniform params struct."""
        func = self.func
        stored = {op.operands[1] for op in func.walk() if op.name == "memref.store"}
        buffers: list[BufferBinding] = []
        scalars: list[tuple[int, SSAValue, str]] = []
        for index, arg in enumerate(block.args):
            label = _sanitize(arg.name_hint) if arg.name_hint else f"arg{index}"
            if isinstance(arg.type, MemRefType):
                space = arg.type.memory_space
                if not isinstance(space, NoneAttr):
                    raise _located(f"kernel argument #{index} ({arg.type}) must be in global memory (no memory space)", func)
                elem, strides = self._memref_layout(arg.type, func, allow_dynamic=True)
                access = "read_write" if arg in stored else "read"
                name = self._global_name(label)
                self.decls.append(f"@group(0) @binding({len(buffers)}) var<storage, {access}> {name}: array<{elem}>;")
                self.memrefs[arg] = _MemrefInfo(name, strides)
                shape = tuple(None if d < 0 else d for d in arg.type.get_shape())
                buffers.append(BufferBinding(len(buffers), label, index, access, elem, shape))  # type: ignore[arg-type]
            else:
                scalars.append((index, arg, label))
        # Invocations talk through a storage buffer only if the kernel both writes and reads it;
        # then a barrier must also order storage memory (WGSL's storageBarrier).
        loaded = {op.operands[0] for op in func.walk() if op.name == "memref.load"}
        self.writes_storage = bool(stored & loaded & set(block.args))
        if not scalars:
            return buffers, None
        struct_name = self._global_name("Params")
        var_name = self._global_name("params")
        fields: list[ParamField] = []
        seen: set[str] = set()
        for k, (index, arg, label) in enumerate(scalars):
            wgsl = self._type(arg.type, func)
            field_name = label if label not in WGSL_RESERVED and label not in seen and not label.startswith("__") else f"arg{index}"
            seen.add(field_name)
            field_type = "i32" if wgsl in ("i32", "bool") else "f32"
            fields.append(ParamField(field_name, index, field_type, 4 * k, str(arg.type)))
            access = f"{var_name}.{field_name}"
            self.exprs[arg] = {"f16": f"f16({access})", "bool": f"({access} != 0)"}.get(wgsl, access)
        size = -(-4 * len(fields) // PARAMS_ALIGN) * PARAMS_ALIGN
        self.decls.append(f"struct {struct_name} {{")
        self.decls += [f"  {f.name}: {f.type}," for f in fields]
        self.decls.append("}")
        self.decls.append(f"@group(0) @binding({len(buffers)}) var<uniform> {var_name}: {struct_name};")
        return buffers, ParamsLayout(len(buffers), struct_name, tuple(fields), size)

    # -- blocks and ops ----------------------------------------------------

    def _emit_block(self, block: Block) -> None:
        for op in block.ops:
            self._emit_op(op)

    def _emit_op(self, op: Operation) -> None:
        handler = _HANDLERS.get(op.name)
        if handler is not None:
            handler(self, op)
            return
        if op.name in OP_FORMATS or op.name in ("arith.cmpi", "arith.cmpf") or op.name in BUILTINS:
            self._emit_expression_op(op)
            return
        raise _located("the WGSL emitter cannot print this op", op)

    def _let(self, op: Operation, expr: str) -> None:
        result = op.results[0]
        wgsl = self._type(result.type, op)
        name = self._local_name(result)
        self._emit(f"let {name}: {wgsl} = {expr};")
        self.exprs[result] = name

    def _emit_expression_op(self, op: Operation) -> None:
        if len(op.results) != 1:
            raise _located("expected one result", op)
        result_type = self._type(op.results[0].type, op)
        operand_types = [self._type(o.type, op) for o in op.operands]
        operands = [self._expr(o, op) for o in op.operands]
        fields: dict[str, str] = {"T": result_type}
        if op.name in BUILTINS:
            param, _, fmt = BUILTINS[op.name]
            self.builtins.add(param)
            dim = op.properties["dimension"].data.value if "dimension" in op.properties else ""  # type: ignore[union-attr]
            fields["dim"] = dim
        elif op.name == "arith.cmpi":
            fmt = CMPI_FORMATS[op.properties["predicate"].value.data]  # type: ignore[union-attr]
        elif op.name == "arith.cmpf":
            fmt = CMPF_FORMATS[op.properties["predicate"].value.data]  # type: ignore[union-attr]
        else:
            entry = OP_FORMATS[op.name]
            fmt = entry if isinstance(entry, str) else entry.get(operand_types[0], entry["*"])
        if op.name in _F32_ONLY and result_type != "f32":
            raise _located(f"{op.name} is printed for f32 only (extf to f32 first)", op)
        if op.name in HELPERS:
            self.helpers.add(op.name)
        if op.name in _SUBGROUP_OPS:
            self.uses_subgroups = True
        if op.name == "rgpu.unpack_f16":
            fields["half"] = "x" if op.properties["half"].data.value == "lo" else "y"  # type: ignore[union-attr]
        for letter, expr, wgsl in zip("abc", operands, operand_types):
            fields[letter] = expr
            if "{u" + letter + "}" in fmt:
                if wgsl != "i32":
                    raise _located(f"unsigned {op.name} on {wgsl} is not supported", op)
                fields["u" + letter] = f"bitcast<u32>({expr})"
        self._let(op, fmt.format(**fields))

    def _block_size(self, op: Operation) -> None:
        dim = op.properties["dimension"].data.value  # type: ignore[union-attr]
        self.exprs[op.results[0]] = f"{self.workgroup_size['xyz'.index(dim)]}i"

    def _skip_constant(self, op: Operation) -> None:
        self._constant(op)  # validate now; the literal is inlined at each use

    def _index(self, info: _MemrefInfo, indices: Sequence[SSAValue], op: Operation) -> str:
        if len(indices) != len(info.strides):
            raise _located(f"expected {len(info.strides)} indices", op)
        terms = [self._expr(i, op) + ("" if s == 1 else f" * {s}") for i, s in zip(indices, info.strides, strict=True)]
        return " + ".join(terms) if terms else "0"

    def _memref(self, value: SSAValue, op: Operation) -> _MemrefInfo:
        if value not in self.memrefs:
            raise _located("memref operand is not a kernel argument or memref.alloca", op)
        return self.memrefs[value]

    def _load(self, op: Operation) -> None:
        info = self._memref(op.operands[0], op)
        self._let(op, f"{info.name}[{self._index(info, op.operands[1:], op)}]")

    def _store(self, op: Operation) -> None:
        info = self._memref(op.operands[1], op)
        value = self._expr(op.operands[0], op)
        self._emit(f"{info.name}[{self._index(info, op.operands[2:], op)}] = {value};")

    def _alloca(self, op: Operation) -> None:
        t = op.results[0].type
        elem, strides = self._memref_layout(t, op, allow_dynamic=False)
        assert isinstance(t, MemRefType)
        count = int(np.prod(t.get_shape(), dtype=np.int64))
        space = t.memory_space
        if isinstance(space, IntegerAttr) and space.value.data == WORKGROUP_MEMORY_SPACE:
            name = self._global_name(op.results[0].name_hint or "shared")
            self.decls.append(f"var<workgroup> {name}: array<{elem}, {count}>;")
            self.workgroup_bytes += count * ELEMENT_BYTES[elem]
        elif isinstance(space, NoneAttr):
            name = self._local_name(op.results[0])
            self._emit(f"var {name}: array<{elem}, {count}>;")
        else:
            raise _located(f"memref.alloca in memory space {space} (expected none or {WORKGROUP_MEMORY_SPACE} = workgroup)", op)
        self.memrefs[op.results[0]] = _MemrefInfo(name, strides)

    def _declare_vars(self, values: Sequence[SSAValue], op: Operation, inits: Sequence[str] | None) -> list[str]:
        names: list[str] = []
        for k, value in enumerate(values):
            wgsl = self._type(value.type, op)
            name = self._local_name(value)
            self._emit(f"var {name}: {wgsl}" + ("" if inits is None else f" = {inits[k]}") + ";")
            names.append(name)
        return names

    def _for(self, op: Operation) -> None:
        lb, ub, step, *inits = (self._expr(o, op) for o in op.operands)
        body = op.regions[0].block
        iv, *iter_args = body.args
        self._type(iv.type, op)
        # Loop-carried values are `var`s; the results alias the same vars (they
        # are only assigned inside this loop, so after it they hold the final value).
        names = self._declare_vars(list(op.results), op, inits)
        for arg, result, name in zip(iter_args, op.results, names, strict=True):
            self.exprs[arg] = self.exprs[result] = name
        ivname = self._local_name(iv)
        self.exprs[iv] = ivname
        self._emit(f"for (var {ivname}: i32 = {lb}; {ivname} < {ub}; {ivname} = {ivname} + {step}) {{")
        self._nested(body)
        self._emit("}")

    def _if(self, op: Operation) -> None:
        names = self._declare_vars(list(op.results), op, None)
        for result, name in zip(op.results, names, strict=True):
            self.exprs[result] = name
        self._emit(f"if ({self._expr(op.operands[0], op)}) {{")
        self._nested(op.regions[0].block)
        if op.regions[1].blocks:
            self._emit("} else {")
            self._nested(op.regions[1].block)
        self._emit("}")

    def _nested(self, block: Block) -> None:
        self.indent += 1
        self._emit_block(block)
        self.indent -= 1

    def _yield(self, op: Operation) -> None:
        parent = op.parent_op()
        assert parent is not None
        targets = [self.exprs[r] for r in parent.results]
        values = [self._expr(v, op) for v in op.operands]
        if len(values) > 1 and parent.name == "scf.for":
            # parallel assignment: a yield may swap loop-carried vars
            temps = [f"{t}_next" for t in targets]
            for tmp, v in zip(temps, values, strict=True):
                self._emit(f"let {tmp} = {v};")
            values = temps
        for target, v in zip(targets, values, strict=True):
            if target != v:
                self._emit(f"{target} = {v};")

    def _barrier(self, op: Operation) -> None:
        # gpu.barrier orders all memory of the workgroup; WGSL splits that in two, and the
        # storage half is only needed when a storage buffer is both written and read.
        if self.writes_storage:
            self._emit("storageBarrier();")
        self._emit("workgroupBarrier();")

    def _return(self, op: Operation) -> None:
        if op.operands:
            raise _located("a kernel returns no values", op)
        if op is not self.func.body.block.last_op:
            self._emit("return;")


_HANDLERS: Mapping[str, Callable[[_KernelEmitter, Operation], None]] = MappingProxyType(
    {
        "arith.constant": _KernelEmitter._skip_constant,
        "gpu.barrier": _KernelEmitter._barrier,
        "gpu.block_dim": _KernelEmitter._block_size,
        "gpu.return": _KernelEmitter._return,
        "memref.alloca": _KernelEmitter._alloca,
        "memref.load": _KernelEmitter._load,
        "memref.store": _KernelEmitter._store,
        "scf.for": _KernelEmitter._for,
        "scf.if": _KernelEmitter._if,
        "scf.yield": _KernelEmitter._yield,
    }
)


class WgslEmitter:
    """Prints every kernel of a module into one WGSL module (all state on the instance)."""

    def __init__(self, module: ModuleOp):
        self.module = module

    def emit(self) -> WgslProgram:
        taken: set[str] = set(h for h, _ in HELPERS.values())
        chunks: list[str] = []
        interfaces: list[KernelInterface] = []
        helpers: set[str] = set()
        uses_f16 = False
        entry_points: dict[str, Operation] = {}
        for gpu_module in self.module.body.block.ops:
            if not isinstance(gpu_module, gpu.ModuleOp):
                continue  # host code is not ours to print
            for func in gpu_module.body.block.ops:
                if not isinstance(func, gpu.FuncOp):
                    raise _located("the WGSL emitter cannot print this op inside a gpu.module", func)
                if func.kernel is None:
                    raise _located("only kernels are printed (device functions must be inlined first)", func)
                name = func.sym_name.data
                if name in entry_points:
                    raise _located(f"two kernels are named @{name} (WGSL entry points must be unique)", func)
                entry_points[name] = func
                taken.add(name)
                kernel = _KernelEmitter(func, gpu_module.sym_name.data, taken)
                text, interface = kernel.emit()
                chunks.append(text)
                interfaces.append(interface)
                helpers |= kernel.helpers
                uses_f16 |= kernel.uses_f16
        header = ["// WGSL emitted by rusty-ir from gpu.module kernels."]
        if uses_f16:
            header.append("enable f16;")
        source = "\n".join(header) + "\n\n" + "".join(HELPERS[h][1] + "\n" for h in sorted(helpers)) + "\n".join(chunks)
        return WgslProgram(source, tuple(interfaces))


def emit_program(module: ModuleOp) -> WgslProgram:
    """The WGSL source of all kernels in ``module`` plus each kernel's interface."""
    return WgslEmitter(module).emit()


def emit_wgsl(module: ModuleOp) -> str:
    """The WGSL source of every ``gpu.func`` kernel of every top-level ``gpu.module``, in IR order."""
    return emit_program(module).source


def kernel_interfaces(module: ModuleOp) -> list[KernelInterface]:
    """The binding interface of each kernel, in the order ``emit_wgsl`` prints them."""
    return list(emit_program(module).kernels)
