"""The C-like kernel printer shared by the WGSL and MSL backends: one walk of gpu-level IR, a table per language.

The printer handles a small closed set of gpu-level ops (docs/backends.md lists
them) and raises ``RustyError`` naming the op and where it is for anything
else: anything a target cannot express must be legalized by an IR pass first.
What differs between languages (type names, literals, declarations, address
spaces, builtins, barriers, subgroup ops, the op-to-text table) lives in a
``CLikeLanguage`` subclass; this module never branches on a language's name.

How a program is printed, in order:

1. For every ``gpu.func ... kernel`` of every top-level ``gpu.module`` (in IR
   order) compute its interface: memref arguments become buffers bound at
   ``0..n-1``, scalar arguments fields of one params struct bound at ``n``
   (``kernel_abi`` has the layout rules). Both languages use the same
   interface, so one host schedule drives either.
2. Print the kernel body op by op. Every SSA result becomes an immutable
   local (or a mutable one for loop-carried values and ``scf.if`` results);
   constants are inlined as typed literals at their uses, so every operand
   expression is an atom and infix formats need no precedence handling. Pure
   ops print from the language's ``op_formats`` (one line per op); the few
   structural ops have handlers here.
3. The language assembles each kernel (``kernel_text``: declarations,
   signature, workgroup memory, body) and the module header (extensions,
   includes, helper functions).

Names live on the emitter instance and are scoped per function: SSA values
are ``v_<name hint>`` (``v<N>`` without a hint), module-scope names are
prefixed with the kernel name, so no name can shadow another or a builtin.
Internally scalar types are kernel-ABI names (``f32 f16 i32 bool``, the
spelling of ``kernel_abi``); a language spells them with ``types``.

Size: one printer, over 600 lines: the handlers of the structural ops (loops, ifs, barriers, subgroup ops,
vector and memref access) share the emitter's naming and scope state; what varies per language is already out,
in the ``CLikeLanguage`` subclasses. A split would move handlers away from that state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

import numpy as np
from xdsl.dialects import gpu
from xdsl.dialects.builtin import (
    AffineMapAttr,
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    NoneAttr,
    VectorType,
)
from xdsl.dialects.vector import CombiningKindAttr
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.ir.affine import AffineMap

from rusty_ir.backends.runtime.kernel_abi import (
    PARAMS_ALIGN,
    Access,
    BufferBinding,
    KernelInterface,
    ParamField,
    ParamsLayout,
)
from rusty_ir.dialects.gpu.ops import HalfAttr
from rusty_ir.dialects.gpu.upstream import block_size, is_kernel
from rusty_ir.errors import RustyError, describe_op
from rusty_ir.narrow import prop, type_of

BINDING_PARTS_ATTR = "rusty.binding_parts"
"""Kernel attribute written by ``split-bindings``: which arguments are parts of a bigger buffer, and their byte ranges."""

WORKGROUP_MEMORY_SPACE = 3
"""memref memory space of workgroup memory (MLIR's #gpu.address_space<workgroup>)."""

ELEMENT_BYTES: Mapping[str, int] = MappingProxyType({"f32": 4, "i32": 4, "f16": 2})
"""Buffer/workgroup element types (kernel-ABI names) and their byte sizes (bool is not host-shareable)."""


def abi_type(t: Attribute) -> str | None:
    """The kernel-ABI name of an IR scalar type (f32 f16 i32 bool) or of a vector of 2 to 4 of them
    (``f32x4``, ``f16x2``, ...), or None when no target has it."""
    if isinstance(t, VectorType):
        shape = t.get_shape()
        elem = abi_scalar_type(t.element_type)
        if len(shape) != 1 or not 2 <= shape[0] <= 4 or elem is None or t.get_num_scalable_dims():
            return None
        return f"{elem}x{shape[0]}"
    return abi_scalar_type(t)


def split_abi(abi: str) -> tuple[str, int]:
    """(scalar ABI name, lanes) of an ABI type name: ``f32x4`` -> ("f32", 4), ``i32`` -> ("i32", 1)."""
    elem, _, lanes = abi.partition("x")
    return elem, int(lanes or 1)


def abi_scalar_type(t: Attribute) -> str | None:
    """The kernel-ABI name of an IR scalar type (f32 f16 i32 bool), or None when no target has it."""
    if isinstance(t, Float32Type):
        return "f32"
    if isinstance(t, Float16Type):
        return "f16"
    if isinstance(t, IndexType):
        return "i32"  # index is 32-bit on the GPU (docs/architecture.md)
    if isinstance(t, IntegerType) and t.signedness.data.name == "SIGNLESS":
        return {1: "bool", 32: "i32"}.get(t.width.data)
    return None


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def located(message: str, op: Operation) -> RustyError:
    """A RustyError that says where ``op`` is and carries it (``err.op``) so tools can point at its line."""
    where = _where_func(op) if isinstance(op, gpu.FuncOp) else describe_op(op)
    err = RustyError(f"{message}, in {where}")
    err.op = op
    return err


def _where_func(func: gpu.FuncOp) -> str:
    """'gpu.func @k in gpu.module @m' (describe_op names the enclosing symbols, not the op's own)."""
    return f"'{func.name}' @{func.sym_name.data}" + describe_op(func).split("'" + func.name + "'", 1)[1]


def sanitize(hint: str) -> str:
    """A name hint with every character that is not a letter, digit or underscore replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", hint)


# Comparisons: the same text in WGSL and C/MSL, so the languages share these tables.
COMMON_OP_FORMATS: Mapping[str, str | Mapping[str, str]] = MappingProxyType(
    {
        # arith: float and integer arithmetic
        "arith.addf": "{a} + {b}",
        "arith.subf": "{a} - {b}",
        "arith.mulf": "{a} * {b}",
        "arith.divf": "{a} / {b}",
        "arith.divsi": "{a} / {b}",
        "arith.remsi": "{a} % {b}",
        "arith.negf": "-{a}",
        # min/max: WGSL's and Metal's min/max return the other operand for one NaN, unlike maximumf/minimumf (documented)
        "arith.maximumf": "max({a}, {b})",
        "arith.minimumf": "min({a}, {b})",
        "arith.maxnumf": "max({a}, {b})",
        "arith.minnumf": "min({a}, {b})",
        "arith.maxsi": "max({a}, {b})",
        "arith.minsi": "min({a}, {b})",
        # bitwise; on i1 (bool) xor is !=
        "arith.andi": "{a} & {b}",
        "arith.ori": "{a} | {b}",
        "arith.xori": {"bool": "{a} != {b}", "*": "{a} ^ {b}"},
        # casts (index and i32 are both the language's 32-bit int)
        "arith.index_cast": "{a}",
        "arith.sitofp": "{T}({a})",
        "arith.uitofp": "{T}({ua})",
        "arith.fptosi": "{T}({a})",
        "arith.extf": "{T}({a})",
        "arith.truncf": "{T}({a})",
        "arith.extui": "{T}({a})",  # only i1 -> i32 reaches here (the type maps have no other widths)
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
        "math.sin": "sin({a})",
        "math.sqrt": "sqrt({a})",
        "math.tanh": "tanh({a})",
        "math.trunc": "trunc({a})",
        # vector (1-D, 2 to 4 lanes; loads, stores, extract, insert and reduction have handlers)
        "vector.broadcast": "{T}({a})",
        "vector.fma": "fma({a}, {b}, {c})",
    }
)
"""The op spellings WGSL and MSL share (placeholders as in ``CLikeLanguage.op_formats``); each
language's ``op_formats`` is this table plus what it spells differently."""


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

# ---------------------------------------------------------------------------
# What a kernel is made of, for the language to assemble
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BufferDecl:
    """One buffer argument: its printed name, ABI element type (a vector type when the kernel reads it
    with vector loads: ``f32x4``), access and binding index."""

    name: str
    elem: str
    access: str
    binding: int


@dataclass(frozen=True)
class WorkgroupArray:
    """One workgroup (threadgroup) array: printed name, ABI element type (maybe a vector), element count."""

    name: str
    elem: str
    count: int


@dataclass
class KernelParts:
    """Everything ``CLikeLanguage.kernel_text`` needs to print one kernel."""

    module_name: str
    name: str
    workgroup_size: tuple[int, int, int]
    buffers: list[BufferDecl] = field(default_factory=list)
    params: ParamsLayout | None = None
    params_var: str = ""
    workgroup_arrays: list[WorkgroupArray] = field(default_factory=list)
    builtins: list[str] = field(default_factory=list)
    """Entry-point parameters of the builtins used, in the order of the language's ``builtins`` table."""
    body: list[str] = field(default_factory=list)
    """The body's lines, indented one level."""


# ---------------------------------------------------------------------------
# The language table
# ---------------------------------------------------------------------------


class CLikeLanguage:
    """How one C-like kernel language differs: tables as class attributes (immutable), syntax as methods.

    A subclass fills every table and overrides the methods whose syntax differs;
    the defaults here are the C/C++ spellings.
    """

    name: ClassVar[str] = ""
    """The language's name in messages ("WGSL", "MSL")."""
    types: ClassVar[Mapping[str, str]] = MappingProxyType({})
    """Kernel-ABI scalar type -> the language's spelling."""
    reserved: ClassVar[frozenset[str]] = frozenset()
    """Words a user-chosen name (kernel, params field) must avoid."""
    op_formats: ClassVar[Mapping[str, str | Mapping[str, str]]] = MappingProxyType({})
    """Op name -> format. Placeholders: {a} {b} {c} operands, {ua} {ub} an operand reinterpreted as unsigned
    (``unsigned_of``), {T} the result type, {half} ``x``/``y`` (rgpu.unpack_f16), {mask} the lane mask (rgpu.subgroup_shuffle_xor). A dict value picks a format by
    the ABI type of operand 0 (``"*"`` = any other)."""
    cmpi_formats: ClassVar[Sequence[str]] = ()
    """arith.cmpi predicates 0..9 (eq ne slt sle sgt sge ult ule ugt uge)."""
    cmpf_formats: ClassVar[Sequence[str]] = ()
    """arith.cmpf predicates 0..15."""
    builtins: ClassVar[Mapping[str, tuple[str, str, str]]] = MappingProxyType({})
    """Builtin op -> (entry-point parameter, the language's builtin, expression reading it with ``{dim}``)."""
    builtin_types: ClassVar[Mapping[str, str]] = MappingProxyType({})
    """Entry-point parameter -> its type (``"*"`` for the default)."""
    helpers: ClassVar[Mapping[str, tuple[str, str]]] = MappingProxyType({})
    """Op name -> (helper function name, its text): emitted once at module scope when used."""
    f32_only: ClassVar[frozenset[str]] = frozenset({"math.erf"})
    """Ops printed for f32 results only."""
    subgroup_ops: ClassVar[frozenset[str]] = frozenset(
        {"rgpu.subgroup_add", "rgpu.subgroup_max", "rgpu.subgroup_min", "rgpu.subgroup_shuffle_xor", "gpu.lane_id", "gpu.subgroup_size"}
    )
    """Ops that need subgroup (SIMD-group) support."""

    # -- types -------------------------------------------------------------------

    def vector_type(self, elem: str, lanes: int) -> str:
        """The language's vector of ``lanes`` (2..4) of the scalar type spelled ``elem``."""
        raise NotImplementedError

    def spell(self, abi: str) -> str:
        """The language's spelling of a kernel-ABI type name, scalar or vector (``f32x4``)."""
        elem, lanes = split_abi(abi)
        return self.types[elem] if lanes == 1 else self.vector_type(self.types[elem], lanes)

    def unsigned_of(self, expr: str, lanes: int) -> str:
        """An i32 (or i32 vector) expression reinterpreted as unsigned."""
        raise NotImplementedError

    def vector_literal(self, abi: str, lanes: Sequence[str]) -> str:
        """A vector of the ABI type ``abi`` made of the lane expressions ``lanes``."""
        return f"{self.spell(abi)}({', '.join(lanes)})"

    def vector_cast(self, expr: str, result_abi: str) -> str | None:
        """A conversion of the vector atom ``expr`` to ``result_abi`` (same lanes, other element type), or None
        to print the op's format (``{T}({a})``)."""
        return None

    # -- literals and declarations (C spellings) ------------------------------

    def float_literal(self, value: float, abi: str) -> str:
        raise NotImplementedError

    def int_literal(self, value: int) -> str:
        """A literal of the i32 ``value`` (already in [-2**31, 2**31))."""
        return f"({value})" if value < 0 else str(value)

    def bool_literal(self, value: bool) -> str:
        return "true" if value else "false"

    def let(self, name: str, type_: str, expr: str) -> str:
        """An immutable local."""
        return f"const {type_} {name} = {expr};"

    def var(self, name: str, type_: str, init: str | None) -> str:
        """A mutable local, maybe uninitialized (assigned on every path before use)."""
        return f"{type_} {name}" + ("" if init is None else f" = {init}") + ";"

    def temp(self, name: str, type_: str, expr: str) -> str:
        """A temporary of a parallel assignment (scf.yield swapping loop-carried values)."""
        return self.let(name, type_, expr)

    def for_header(self, iv: str, lb: str, ub: str, step: str) -> str:
        return f"for (int {iv} = {lb}; {iv} < {ub}; {iv} = {iv} + {step}) {{"

    def private_array(self, name: str, elem: str, count: int) -> str:
        return f"{elem} {name}[{count}];"

    def shift_right(self, expr: str, amount: int) -> str:
        """A non-negative i32 ``expr`` divided by ``2**amount`` (a shift)."""
        return f"{expr} >> {amount}"

    def param_read(self, access: str, abi: str) -> str:
        """The expression of a scalar argument read from its params-struct field ``access`` (i32 or f32)."""
        return {"f16": f"half({access})", "bool": f"({access} != 0)"}.get(abi, access)

    def barrier(self, writes_storage: bool) -> list[str]:
        """gpu.barrier; ``writes_storage``: the kernel both writes and reads a buffer, so device memory is ordered too."""
        raise NotImplementedError

    # -- assembly ---------------------------------------------------------------

    def kernel_text(self, k: KernelParts) -> str:
        """One kernel: its module-scope declarations, signature and body."""
        raise NotImplementedError

    def module_text(self, chunks: Sequence[str], helpers: Sequence[str], uses_f16: bool) -> str:
        """The whole module: header, helper functions (sorted by op), kernels in IR order."""
        raise NotImplementedError

    def check_kernel(self, k: KernelParts, interface: KernelInterface, func: Operation) -> None:
        """Raise (located at ``func``) if the kernel exceeds what the target allows; nothing by default."""


# ---------------------------------------------------------------------------
# Emission
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _MemrefInfo:
    """How a memref value is addressed: an array name, row-major strides (in scalars) and the vector width
    of its declaration (the width of the kernel's ``vector.load``/``vector.store`` on it; 1 = scalars)."""

    name: str
    strides: tuple[int, ...]
    width: int = 1


@dataclass(frozen=True)
class Program:
    """The text of all kernels of a module and one interface per kernel, in the same order."""

    source: str
    kernels: tuple[KernelInterface, ...]


class KernelEmitter:
    """Prints one gpu.func kernel; holds that function's names (scoped per function)."""

    def __init__(self, lang: CLikeLanguage, func: gpu.FuncOp, module_name: str, taken: set[str]):
        self.lang = lang
        self.func = func
        self.kernel = self.check_ident(func.sym_name.data, "kernel name", func)
        self.taken = taken  # module-scope names of the whole module, shared by kernels
        self.parts = KernelParts(module_name, self.kernel, (1, 1, 1))
        self.exprs: dict[SSAValue, str] = {}
        self.memrefs: dict[SSAValue, _MemrefInfo] = {}
        self.local_names: set[str] = set()
        self.unnamed = 0
        self.builtins: set[str] = set()
        self.helpers: set[str] = set()
        self.uses_f16 = False
        self.uses_subgroups = False
        self.workgroup_bytes = 0
        self.writes_storage = False
        self.indent = 1
        self.widths = self._vector_widths(func)

    # -- names and types ---------------------------------------------------

    def check_ident(self, name: str, what: str, op: Operation) -> str:
        if not _IDENT.fullmatch(name) or name.startswith("__") or name in self.lang.reserved:
            raise located(f"{what} '{name}' is not a valid {self.lang.name} identifier", op)
        return name

    def _global_name(self, suffix: str) -> str:
        base = f"{self.kernel}_{sanitize(suffix)}"
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def _local_name(self, value: SSAValue) -> str:
        hint = value.name_hint
        if hint:
            base = f"v_{sanitize(hint)}"
        else:
            base = f"v{self.unnamed}"
            self.unnamed += 1
        name, n = base, 0
        while name in self.local_names or name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.local_names.add(name)
        return name

    def _abi(self, t: Attribute, op: Operation) -> str:
        abi = abi_type(t)
        if abi is None or split_abi(abi)[0] not in self.lang.types:
            raise located(f"type {t} has no {self.lang.name} equivalent (legalize it before printing)", op)
        if split_abi(abi)[0] == "f16":
            self.uses_f16 = True
        return abi

    def _type(self, t: Attribute, op: Operation) -> str:
        return self.lang.spell(self._abi(t, op))

    def _vector_widths(self, func: gpu.FuncOp) -> dict[SSAValue, int]:
        """Memref value -> the lane count of the vector loads and stores on it (one width per memref)."""
        widths: dict[SSAValue, int] = {}
        for op in func.walk():
            if op.name not in ("vector.load", "vector.store"):
                continue
            mem = op.operands[0] if op.name == "vector.load" else op.operands[1]
            vec = op.results[0].type if op.name == "vector.load" else op.operands[0].type
            lanes = vec.get_shape()[0] if isinstance(vec, VectorType) and vec.get_num_dims() == 1 else 0
            if lanes not in (2, 4):
                raise located(f"{op.name} of {vec}: only vectors of 2 or 4 lanes are printed", op)
            if widths.setdefault(mem, lanes) != lanes:
                raise located(f"{op.name}: the memref is also accessed with vectors of {widths[mem]} lanes (one width per memref)", op)
        return widths

    def _memref_layout(self, t: Attribute, op: Operation, *, allow_dynamic: bool) -> tuple[str, tuple[int, ...]]:
        """ABI element type and row-major strides of a memref type the emitter can address."""
        if not isinstance(t, MemRefType):
            raise located(f"expected a memref, got {t}", op)
        identity = isinstance(t.layout, NoneAttr) or (
            isinstance(t.layout, AffineMapAttr) and t.layout.data == AffineMap.identity(t.get_num_dims())
        )
        if not identity:
            raise located(f"memref layout {t.layout} is not supported (identity layouts only)", op)
        elem = self._abi(t.element_type, op)
        if elem not in ELEMENT_BYTES:
            raise located(f"memref element type {t.element_type} cannot live in GPU memory", op)
        shape = t.get_shape()
        if any(d < 0 for d in shape[1:]) or (shape and shape[0] < 0 and not allow_dynamic):
            rule = "only the outermost dimension may be dynamic" if allow_dynamic else "workgroup and private arrays need a static shape"
            raise located(f"memref type {t}: {rule}", op)
        strides = tuple(int(np.prod(shape[i + 1 :], dtype=np.int64)) for i in range(len(shape)))
        return elem, strides

    def _expr(self, value: SSAValue, user: Operation) -> str:
        if value in self.exprs:
            return self.exprs[value]
        owner = value.owner
        if isinstance(owner, Operation) and owner.name == "arith.constant":
            return self._constant(owner)
        raise located(f"operand {value} has no {self.lang.name} value (not printed yet)", user)

    def _constant(self, op: Operation) -> str:
        attr = op.properties.get("value")
        abi = self._abi(op.results[0].type, op)
        if isinstance(attr, FloatAttr):
            return self.lang.float_literal(attr.value.data, abi)
        if isinstance(attr, IntegerAttr):
            value = attr.value.data
            if abi == "bool":
                return self.lang.bool_literal(bool(value & 1))
            if not -(2**31) <= value < 2**32:
                raise located(f"constant {value} does not fit in 32 bits", op)
            return self.lang.int_literal((value + 2**31) % 2**32 - 2**31)  # signless: keep the bits, print as i32
        if isinstance(attr, DenseIntOrFPElementsAttr) and isinstance(op.results[0].type, VectorType):
            elem, _ = split_abi(abi)
            values = list(attr.get_values())
            if elem in ("f32", "f16"):
                lanes = [self.lang.float_literal(float(v), elem) for v in values]
            elif elem == "i32":
                lanes = [self.lang.int_literal((int(v) + 2**31) % 2**32 - 2**31) for v in values]
            else:
                lanes = [self.lang.bool_literal(bool(v)) for v in values]
            return f"{self.lang.spell(abi)}({lanes[0]})" if len(set(lanes)) == 1 else self.lang.vector_literal(abi, lanes)
        raise located(f"constant {attr} is not a scalar or a vector", op)

    def _emit(self, line: str) -> None:
        self.parts.body.append("  " * self.indent + line)

    # -- kernel ------------------------------------------------------------

    def emit(self) -> tuple[str, KernelInterface]:
        func = self.func
        if len(func.body.blocks) != 1:
            raise located(f"kernel has {len(func.body.blocks)} blocks; only structured control flow (scf) is printed", func)
        size_attr = block_size(func)
        if not isinstance(size_attr, DenseArrayBase):
            raise located("kernel has no gpu.known_block_size (upstream: known_block_size), which gives its workgroup size", func)
        sizes = [int(s) for s in size_attr.get_values()]
        if not 1 <= len(sizes) <= 3 or any(s < 1 for s in sizes):
            raise located(f"gpu.known_block_size {sizes} must be 1 to 3 positive sizes", func)
        wx, wy, wz = (sizes + [1, 1])[:3]
        self.parts.workgroup_size = (wx, wy, wz)

        buffers = self._bind_arguments(func.body.block)
        self._emit_block(func.body.block)
        self.parts.builtins = [param for param, _, _ in self.lang.builtins.values() if param in self.builtins]
        interface = KernelInterface(
            name=self.kernel,
            module=self.parts.module_name,
            entry_point=self.kernel,
            workgroup_size=(wx, wy, wz),
            buffers=tuple(buffers),
            params=self.parts.params,
            workgroup_memory_bytes=self.workgroup_bytes,
            uses_f16=self.uses_f16,
            uses_subgroups=self.uses_subgroups,
        )
        self.lang.check_kernel(self.parts, interface, func)
        return self.lang.kernel_text(self.parts), interface

    def _bind_arguments(self, block: Block) -> list[BufferBinding]:
        """Step 1 of the module docstring: buffers, then one params struct."""
        func = self.func
        stored = {op.operands[1] for op in func.walk() if op.name in ("memref.store", "vector.store")}
        buffers: list[BufferBinding] = []
        scalars: list[tuple[int, BlockArgument, str]] = []
        ranges = self._binding_parts(block)
        for index, arg in enumerate(block.args):
            label = sanitize(arg.name_hint) if arg.name_hint else f"arg{index}"
            if isinstance(arg.type, MemRefType):
                space = arg.type.memory_space
                if not isinstance(space, NoneAttr):
                    raise located(f"kernel argument #{index} ({arg.type}) must be in global memory (no memory space)", func)
                elem, strides = self._memref_layout(arg.type, func, allow_dynamic=True)
                access: Access = "read_write" if arg in stored else "read"
                name = self._global_name(label)
                width = self.widths.get(arg, 1)
                self.parts.buffers.append(BufferDecl(name, elem if width == 1 else f"{elem}x{width}", access, len(buffers)))
                self.memrefs[arg] = _MemrefInfo(name, strides, width)
                shape = tuple(None if d < 0 else d for d in arg.type.get_shape())
                buffers.append(BufferBinding(len(buffers), label, index, access, elem, shape, ranges.get(index), width))
            else:
                scalars.append((index, arg, label))
        # Invocations talk through a buffer only if the kernel both writes and reads it;
        # then a barrier must also order device (storage) memory.
        loaded = {op.operands[0] for op in func.walk() if op.name in ("memref.load", "vector.load")}
        self.writes_storage = bool(stored & loaded & set(block.args))
        if not scalars:
            return buffers
        struct_name = self._global_name("Params")
        var_name = self._global_name("params")
        fields: list[ParamField] = []
        seen: set[str] = set()
        for k, (index, arg, label) in enumerate(scalars):
            abi = self._abi(arg.type, func)
            field_name = label if label not in self.lang.reserved and label not in seen and not label.startswith("__") else f"arg{index}"
            seen.add(field_name)
            field_type = "i32" if abi in ("i32", "bool") else "f32"
            fields.append(ParamField(field_name, index, field_type, 4 * k, str(arg.type)))
            self.exprs[arg] = self.lang.param_read(f"{var_name}.{field_name}", abi)
        size = -(-4 * len(fields) // PARAMS_ALIGN) * PARAMS_ALIGN
        self.parts.params = ParamsLayout(len(buffers), struct_name, tuple(fields), size)
        self.parts.params_var = var_name
        return buffers

    def _binding_parts(self, block: Block) -> dict[int, tuple[int, int]]:
        """Argument index -> (byte offset, byte size) from ``rusty.binding_parts`` (split-bindings' record of parts)."""
        attr = self.func.attributes.get(BINDING_PARTS_ATTR)
        if attr is None:
            return {}
        entries = attr.data if isinstance(attr, ArrayAttr) else None
        ranges: dict[int, tuple[int, int]] = {}
        for entry in entries or ():
            values = [int(v) for v in entry.get_values()] if isinstance(entry, DenseArrayBase) else []
            if len(values) != 4:
                break
            arg, _, offset, size = values
            t = block.args[arg].type if 0 <= arg < len(block.args) else None
            if not isinstance(t, MemRefType) or offset < 0 or size <= 0:
                break
            ranges[arg] = (offset, size)
        else:
            if entries is not None:
                return ranges
        raise located(
            f"{BINDING_PARTS_ATTR} must be [array<i64: ARG, OF, OFFSET, SIZE>, ...] naming memref arguments, got {attr}", self.func
        )

    # -- blocks and ops ----------------------------------------------------

    def _emit_block(self, block: Block) -> None:
        for op in block.ops:
            self._emit_op(op)

    def _emit_op(self, op: Operation) -> None:
        handler = _HANDLERS.get(op.name)
        if handler is not None:
            handler(self, op)
            return
        if op.name in self.lang.op_formats or op.name in ("arith.cmpi", "arith.cmpf") or op.name in self.lang.builtins:
            self._emit_expression_op(op)
            return
        raise located(f"the {self.lang.name} emitter cannot print this op", op)

    def _let(self, op: Operation, expr: str) -> None:
        result = op.results[0]
        type_ = self._type(result.type, op)
        name = self._local_name(result)
        self._emit(self.lang.let(name, type_, expr))
        self.exprs[result] = name

    def _emit_expression_op(self, op: Operation) -> None:
        if len(op.results) != 1:
            raise located("expected one result", op)
        lang = self.lang
        result_abi = self._abi(op.results[0].type, op)
        operand_abis = [self._abi(o.type, op) for o in op.operands]
        operands = [self._expr(o, op) for o in op.operands]
        fields: dict[str, str] = {"T": lang.spell(result_abi)}
        if op.name in lang.builtins:
            param, _, fmt = lang.builtins[op.name]
            self.builtins.add(param)
            dim = prop(op, "dimension", gpu.DimensionAttr).data.value if "dimension" in op.properties else ""
            fields["dim"] = dim
        elif op.name == "arith.cmpi":
            fmt = lang.cmpi_formats[prop(op, "predicate", IntegerAttr).value.data]
        elif op.name == "arith.cmpf":
            fmt = lang.cmpf_formats[prop(op, "predicate", IntegerAttr).value.data]
        else:
            entry = lang.op_formats[op.name]
            fmt = entry if isinstance(entry, str) else entry.get(operand_abis[0], entry["*"])
        if op.name in lang.f32_only and result_abi != "f32":
            raise located(f"{op.name} is printed for f32 only (extf to f32 first)", op)
        if op.name in lang.helpers:
            self.helpers.add(op.name)
        if op.name in lang.subgroup_ops:
            self.uses_subgroups = True
        if op.name == "rgpu.unpack_f16":
            fields["half"] = "x" if prop(op, "half", HalfAttr).data.value == "lo" else "y"
        if op.name == "rgpu.subgroup_shuffle_xor":
            fields["mask"] = str(prop(op, "mask", IntegerAttr).value.data)
        if op.name in _VECTOR_CASTS and split_abi(result_abi)[1] > 1:
            cast = lang.vector_cast(operands[0], result_abi)
            if cast is not None:
                self._let(op, cast)
                return
        for letter, expr, abi in zip("abc", operands, operand_abis):
            fields[letter] = expr
            if "{u" + letter + "}" in fmt:
                elem, lanes = split_abi(abi)
                if elem != "i32":
                    raise located(f"unsigned {op.name} on {lang.spell(abi)} is not supported", op)
                fields["u" + letter] = lang.unsigned_of(expr, lanes)
        self._let(op, fmt.format(**fields))

    def _block_size(self, op: Operation) -> None:
        dim = prop(op, "dimension", gpu.DimensionAttr).data.value
        self.exprs[op.results[0]] = self.lang.int_literal(self.parts.workgroup_size["xyz".index(dim)])

    def _skip_constant(self, op: Operation) -> None:
        self._constant(op)  # validate now; the literal is inlined at each use

    def _index(self, info: _MemrefInfo, indices: Sequence[SSAValue], op: Operation) -> str:
        if len(indices) != len(info.strides):
            raise located(f"expected {len(info.strides)} indices", op)
        terms = [self._expr(i, op) + ("" if s == 1 else f" * {s}") for i, s in zip(indices, info.strides, strict=True)]
        return " + ".join(terms) if terms else "0"

    def _memref(self, value: SSAValue, op: Operation) -> _MemrefInfo:
        if value not in self.memrefs:
            raise located("memref operand is not a kernel argument or memref.alloca", op)
        return self.memrefs[value]

    def _element(self, info: _MemrefInfo, indices: Sequence[SSAValue], op: Operation, vector: bool) -> str:
        """The array access of a scalar (or, with ``vector``, of a whole vector at an index the vectorizer
        made a multiple of the width) of a memref declared as scalars or as vectors of ``info.width``."""
        index = self._index(info, indices, op)
        if info.width == 1:
            return f"{info.name}[{index}]"
        shift = info.width.bit_length() - 1
        outer = f"{info.name}[{self.lang.shift_right(f'({index})', shift)}]"
        return outer if vector else f"{outer}[({index}) & {self.lang.int_literal(info.width - 1)}]"

    def _load(self, op: Operation) -> None:
        info = self._memref(op.operands[0], op)
        self._let(op, self._element(info, op.operands[1:], op, vector=op.name == "vector.load"))

    def _store(self, op: Operation) -> None:
        info = self._memref(op.operands[1], op)
        value = self._expr(op.operands[0], op)
        self._emit(f"{self._element(info, op.operands[2:], op, vector=op.name == 'vector.store')} = {value};")

    def _extract(self, op: Operation) -> None:
        """vector.extract of one lane (a static or dynamic position)."""
        static = [int(v) for v in prop(op, "static_position", DenseArrayBase).get_values()]
        dynamic = iter(op.operands[1:])
        if len(static) != 1:
            raise located("vector.extract of one lane of a 1-D vector only", op)
        pos = self._expr(next(dynamic), op) if static[0] < 0 else self.lang.int_literal(static[0])
        self._let(op, f"{self._expr(op.operands[0], op)}[{pos}]")

    def _insert(self, op: Operation) -> None:
        """vector.insert of one lane: a copy of the vector with that lane replaced."""
        static = [int(v) for v in prop(op, "static_position", DenseArrayBase).get_values()]
        if len(static) != 1:
            raise located("vector.insert of one lane of a 1-D vector only", op)
        result = op.results[0]
        name = self._local_name(result)
        self._emit(self.lang.var(name, self._type(result.type, op), self._expr(op.operands[1], op)))
        pos = self._expr(op.operands[2], op) if static[0] < 0 else self.lang.int_literal(static[0])
        self._emit(f"{name}[{pos}] = {self._expr(op.operands[0], op)};")
        self.exprs[result] = name

    def _reduction(self, op: Operation) -> None:
        """vector.reduction <add|mul|maxnumf|minnumf|maximumf|minimumf> (no accumulator), lane by lane."""
        kind = str(prop(op, "kind", CombiningKindAttr).data.value)
        if op.operands[1:]:
            raise located("vector.reduction with an accumulator is not printed", op)
        v = self._expr(op.operands[0], op)
        lanes = [f"{v}[{self.lang.int_literal(i)}]" for i in range(type_of(op.operands[0], VectorType).get_shape()[0])]
        infix = {"add": " + ", "mul": " * "}.get(kind)
        if infix is not None:
            self._let(op, "(" + infix.join(lanes) + ")")
            return
        fn = {"maxnumf": "max", "maximumf": "max", "minnumf": "min", "minimumf": "min"}.get(kind)
        if fn is None:
            raise located(f"vector.reduction <{kind}> is not printed", op)
        expr = lanes[0]
        for lane in lanes[1:]:
            expr = f"{fn}({expr}, {lane})"
        self._let(op, expr)

    def _alloca(self, op: Operation) -> None:
        t = op.results[0].type
        elem, strides = self._memref_layout(t, op, allow_dynamic=False)
        assert isinstance(t, MemRefType)
        count = int(np.prod(t.get_shape(), dtype=np.int64))
        width = self.widths.get(op.results[0], 1)
        if count % width:
            raise located(f"a memref of {count} elements accessed with vectors of {width} lanes", op)
        decl = elem if width == 1 else f"{elem}x{width}"
        space = t.memory_space
        if isinstance(space, IntegerAttr) and space.value.data == WORKGROUP_MEMORY_SPACE:
            name = self._global_name(op.results[0].name_hint or "shared")
            self.parts.workgroup_arrays.append(WorkgroupArray(name, decl, count // width))
            self.workgroup_bytes += count * ELEMENT_BYTES[elem]
        elif isinstance(space, NoneAttr):
            name = self._local_name(op.results[0])
            self._emit(self.lang.private_array(name, self.lang.spell(decl), count // width))
        else:
            raise located(f"memref.alloca in memory space {space} (expected none or {WORKGROUP_MEMORY_SPACE} = workgroup)", op)
        self.memrefs[op.results[0]] = _MemrefInfo(name, strides, width)

    def _declare_vars(self, values: Sequence[SSAValue], op: Operation, inits: Sequence[str] | None) -> list[str]:
        names: list[str] = []
        for k, value in enumerate(values):
            type_ = self._type(value.type, op)
            name = self._local_name(value)
            self._emit(self.lang.var(name, type_, None if inits is None else inits[k]))
            names.append(name)
        return names

    def _for(self, op: Operation) -> None:
        lb, ub, step, *inits = (self._expr(o, op) for o in op.operands)
        body = op.regions[0].block
        iv, *iter_args = body.args
        self._type(iv.type, op)
        # Loop-carried values are mutable locals; the results alias the same locals (they
        # are only assigned inside this loop, so after it they hold the final value).
        names = self._declare_vars(list(op.results), op, inits)
        for arg, result, name in zip(iter_args, op.results, names, strict=True):
            self.exprs[arg] = self.exprs[result] = name
        ivname = self._local_name(iv)
        self.exprs[iv] = ivname
        self._emit(self.lang.for_header(ivname, lb, ub, step))
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
            for tmp, v, result in zip(temps, values, parent.results, strict=True):
                self._emit(self.lang.temp(tmp, self._type(result.type, op), v))
            values = temps
        for target, v in zip(targets, values, strict=True):
            if target != v:
                self._emit(f"{target} = {v};")

    def _barrier(self, op: Operation) -> None:
        for line in self.lang.barrier(self.writes_storage):
            self._emit(line)

    def _return(self, op: Operation) -> None:
        if op.operands:
            raise located("a kernel returns no values", op)
        if op is not self.func.body.block.last_op:
            self._emit("return;")


_VECTOR_CASTS = frozenset({"arith.extf", "arith.truncf", "arith.sitofp", "arith.fptosi"})
"""Element-type conversions that a language may print lane by lane for vectors (``vector_cast``)."""

_HANDLERS: Mapping[str, Callable[[KernelEmitter, Operation], None]] = MappingProxyType(
    {
        "arith.constant": KernelEmitter._skip_constant,
        "gpu.barrier": KernelEmitter._barrier,
        "gpu.block_dim": KernelEmitter._block_size,
        "gpu.return": KernelEmitter._return,
        "memref.alloca": KernelEmitter._alloca,
        "memref.load": KernelEmitter._load,
        "memref.store": KernelEmitter._store,
        "vector.load": KernelEmitter._load,
        "vector.store": KernelEmitter._store,
        "vector.extract": KernelEmitter._extract,
        "vector.insert": KernelEmitter._insert,
        "vector.reduction": KernelEmitter._reduction,
        "scf.for": KernelEmitter._for,
        "scf.if": KernelEmitter._if,
        "scf.yield": KernelEmitter._yield,
    }
)


def emit_module(lang: CLikeLanguage, module: ModuleOp) -> Program:
    """Print every kernel of ``module`` in ``lang``: the source and one interface per kernel, in IR order."""
    taken: set[str] = {h for h, _ in lang.helpers.values()}
    chunks: list[str] = []
    interfaces: list[KernelInterface] = []
    helpers: set[str] = set()
    uses_f16 = False
    entry_points: dict[str, Operation] = {}
    for gpu_module in module.body.block.ops:
        if not isinstance(gpu_module, gpu.ModuleOp):
            continue  # host code is not ours to print
        for func in gpu_module.body.block.ops:
            if not isinstance(func, gpu.FuncOp):
                raise located(f"the {lang.name} emitter cannot print this op inside a gpu.module", func)
            if not is_kernel(func):
                raise located("only kernels are printed (mark a kernel with gpu.kernel, or inline device functions first)", func)
            name = func.sym_name.data
            if name in entry_points:
                raise located(f"two kernels are named @{name} ({lang.name} entry points must be unique)", func)
            entry_points[name] = func
            taken.add(name)
            kernel = KernelEmitter(lang, func, gpu_module.sym_name.data, taken)
            text, interface = kernel.emit()
            chunks.append(text)
            interfaces.append(interface)
            helpers |= kernel.helpers
            uses_f16 |= kernel.uses_f16
    helper_texts = [lang.helpers[h][1] for h in sorted(helpers)]
    return Program(lang.module_text(chunks, helper_texts, uses_f16), tuple(interfaces))
