"""split-bindings: bind a read-only kernel argument larger than one storage binding may be as several parts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import gpu, memref, vector
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FunctionType,
    IndexType,
    MemRefType,
    ModuleOp,
    i64,
)
from xdsl.ir import Attribute, BlockArgument, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.gpu.upstream import is_kernel
from rusty_ir.errors import RustyError
from rusty_ir.narrow import type_of
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.targets import TARGETS

PARTS_ATTR = "rusty.binding_parts"
"""On a ``gpu.func`` kernel: one ``array<i64: ARG, OF, OFFSET, SIZE>`` per part argument.

``ARG`` is the part's position in the kernel's signature, ``OF`` the position (in the signature
before splitting) of the argument it is a part of, and ``OFFSET``/``SIZE`` the byte range of that
argument's buffer the part binds. Every launch passes the argument's buffer once per part, so the
host still holds one buffer; the emitters turn the range into ``BufferBinding.byte_range`` and the
runtime binds that range of the buffer."""


@dataclass(frozen=True)
class _Part:
    of: int
    offset: int
    size: int


@dataclass(frozen=True)
class SplitBindingsPass(ModulePass):
    """Splits every kernel argument whose static byte size exceeds one storage binding into parts.

    WebGPU binds at most ``maxStorageBufferBindingSize`` bytes (128 MiB guaranteed) per storage
    binding, though a buffer may be bigger: Llama-3-8B's Q4_0 embedding and output matrices are
    295 MB each. Matches: every memref argument of a ``gpu.func`` kernel with a static shape whose
    byte size is over ``max-bytes``. Produces: that argument replaced by k part arguments, each
    a contiguous range of whole rows (along dim 0; a 1-D word array's rows are its elements, whole
    vectors of them where it is read by ``vector.load``) of at most ``max-bytes`` bytes starting at a byte offset that is a multiple of ``alignment``;
    every ``memref.load`` or ``vector.load`` of it becomes an ``scf.if`` chain that picks the part holding the row
    and loads from it (row index rebased); ``rusty.binding_parts`` on the kernel records each
    part's byte range (see ``PARTS_ATTR``); every ``gpu.launch_func`` of the kernel passes the
    argument's buffer once per part. Arguments with a dynamic dimension are left alone; a module
    with nothing over the limit is left unchanged.

    Errors (``RustyError`` naming kernel, argument and limit): a store to, or any use other than
    ``memref.load``/``vector.load`` of, an argument that must be split (only read-only weights can be split), and
    a row so large (or so misaligned with ``alignment``) that no part of whole rows fits.
    Pre-conditions: gpu-level IR (after ``convert-tiled-to-gpu``).

    Example: ``rusty-opt gpu.mlir -p 'split-bindings{max-bytes=4096 alignment=256}'``

    Not a pattern: splitting an argument changes the kernel's signature, all its loads and every launch at once.
    """

    name = "split-bindings"

    target: str = "webgpu"
    """Target description whose ``max_binding_bytes`` and ``binding_offset_alignment`` are the defaults: webgpu, apple or nvidia."""

    max_bytes: int = 0
    """Bytes one binding may cover; 0 = the target's ``max_binding_bytes`` (128 MiB for every known target)."""

    alignment: int = 0
    """Byte multiple every part's offset must be (a positive multiple of 4); 0 = the target's ``binding_offset_alignment``."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.target not in TARGETS:
            raise RustyError(f"split-bindings: unknown target '{self.target}' (known: {', '.join(TARGETS)})")
        target = TARGETS[self.target]
        limit = self.max_bytes or target.max_binding_bytes
        align = self.alignment or target.binding_offset_alignment
        if limit < 0 or self.max_bytes < 0:
            raise RustyError(f"split-bindings: max-bytes must be positive, got {self.max_bytes}")
        if align < 0 or align % 4:
            raise RustyError(f"split-bindings: alignment must be a positive multiple of 4, got {align}")
        for kernel in [k for k in op.walk() if isinstance(k, gpu.FuncOp) and is_kernel(k)]:
            splits = _split_kernel(kernel, limit, align)
            if splits:
                _rewrite_launches(op, kernel, splits)


def _byte_size(t: MemRefType) -> tuple[int, int] | None:
    """(total bytes, bytes per row along dim 0) of a static memref argument; None if any dimension is dynamic."""
    shape = t.get_shape()
    if not shape or any(d < 0 for d in shape):
        return None
    width = 32 if isinstance(t.element_type, IndexType) else getattr(t.element_type, "bitwidth", None)  # index is i32 on the GPU
    if not isinstance(width, int) or width % 8:
        return None  # no byte size (i1, vectors): not a buffer the emitters print, nothing to split
    row = width // 8 * math.prod(shape[1:])
    return row * shape[0], row


def _vector_rows(arg: SSAValue) -> int:
    """Rows (dim-0 indices) one ``vector.load`` of ``arg`` spans: its width for a 1-D memref, else 1 (a vector runs
    along the last dimension, within a row)."""
    widths = [u.operation.result.type.get_shape()[0] for u in arg.uses if isinstance(u.operation, vector.LoadOp)]
    return max(widths) if widths and len(type_of(arg, MemRefType).get_shape()) == 1 else 1


def _rows_per_part(kernel: gpu.FuncOp, index: int, t: MemRefType, row: int, limit: int, align: int, vector_rows: int = 1) -> int:
    """The most rows a part may hold: at most ``limit`` bytes, a whole multiple of ``align`` bytes (so every offset is),
    and a multiple of ``vector_rows`` (an aligned vector load never straddles two parts)."""
    step = align // math.gcd(row, align)  # rows whose bytes are a multiple of align
    step = step * vector_rows // math.gcd(step, vector_rows)
    rows = limit // row // step * step
    if rows == 0:
        raise RustyError(
            f"split-bindings: kernel @{kernel.sym_name.data}: argument #{index} ({t}) cannot be split into parts of whole rows: "
            f"a row is {row} bytes, a part must start at a multiple of {align} bytes (so hold a multiple of {step * row} bytes) "
            f"and bind at most {limit} bytes",
            kernel,
        )
    return rows


def _existing_parts(kernel: gpu.FuncOp) -> dict[int, _Part]:
    attr = kernel.attributes.get(PARTS_ATTR)
    if attr is None:
        return {}
    out: dict[int, _Part] = {}
    if isinstance(attr, ArrayAttr):
        for entry in attr.data:
            if isinstance(entry, DenseArrayBase):
                values = [int(v) for v in entry.get_values()]
                if len(values) == 4:
                    out[values[0]] = _Part(values[1], values[2], values[3])
                    continue
            break
        else:
            return out
    raise RustyError(f"split-bindings: kernel @{kernel.sym_name.data}: malformed {PARTS_ATTR} {attr}", kernel)


def _split_kernel(kernel: gpu.FuncOp, limit: int, align: int) -> dict[int, int]:
    """Split the kernel's oversized arguments; {original argument index: number of parts}."""
    block = kernel.body.block
    name = kernel.sym_name.data
    plans: list[tuple[int, MemRefType, int, int, int]] = []  # (index, type, total bytes, row bytes, rows per part)
    for index, arg in enumerate(block.args):
        if not isinstance(arg.type, MemRefType):
            continue
        sizes = _byte_size(arg.type)
        if sizes is None or sizes[0] <= limit:
            continue
        total, row = sizes
        for use in arg.uses:
            user = use.operation
            if isinstance(user, memref.StoreOp):
                raise RustyError(
                    f"split-bindings: kernel @{name} stores to argument #{index} ({arg.type}, {total} bytes), which is over the "
                    f"{limit}-byte binding limit: only read-only arguments can be split into parts",
                    user,
                )
            if not isinstance(user, memref.LoadOp | vector.LoadOp):
                raise RustyError(
                    f"split-bindings: kernel @{name}: argument #{index} ({arg.type}, {total} bytes, over the {limit}-byte binding "
                    f"limit) is used by '{user.name}'; only memref.load and vector.load of a split argument are supported",
                    user,
                )
        plans.append((index, arg.type, total, row, _rows_per_part(kernel, index, arg.type, row, limit, align, _vector_rows(arg))))
    if not plans:
        return {}

    old_parts = _existing_parts(kernel)
    # per argument of the new signature: its part record (None for an argument that is not a part)
    records: list[_Part | None] = [old_parts.get(i) for i in range(len(block.args))]
    counts: dict[int, int] = {}
    for index, t, _total, row, rows in reversed(plans):  # right to left: earlier indices stay valid
        arg = block.args[index]
        shape = t.get_shape()
        base = records[index]
        starts = list(range(0, shape[0], rows))
        hint = arg.name_hint or f"arg{index}"
        parts: list[BlockArgument] = []
        new_records: list[_Part | None] = []
        for j, start in enumerate(starts):
            count = min(rows, shape[0] - start)
            part = block.insert_arg(MemRefType(t.element_type, [count, *shape[1:]]), index + 1 + j)
            part.name_hint = f"{hint}_p{j}"
            parts.append(part)
            of = base.of if base is not None else index
            offset = (base.offset if base is not None else 0) + start * row
            new_records.append(_Part(of, offset, count * row))
        for use in list(arg.uses):
            load = use.operation
            assert isinstance(load, memref.LoadOp | vector.LoadOp)  # checked above: a split argument is only loaded
            _rewrite_load(load, parts, starts, t)
        block.erase_arg(arg)
        records[index : index + 1] = new_records
        counts[index] = len(parts)
    kernel.function_type = FunctionType.from_lists([a.type for a in block.args], [])
    entries = [DenseArrayBase.from_list(i64, [i, r.of, r.offset, r.size]) for i, r in enumerate(records) if r is not None]
    kernel.attributes[PARTS_ATTR] = ArrayAttr(entries)
    return counts


def _rewrite_load(load: memref.LoadOp | vector.LoadOp, parts: Sequence[SSAValue], starts: Sequence[int], t: MemRefType) -> None:
    """Replace ``load`` of the split argument by an ``scf.if`` chain choosing the part that holds its row."""
    b = IRBuilder(InsertPoint.before(load))
    row, rest = load.indices[0], list(load.indices[1:])
    bounds = [row, *(b.index(s) for s in starts[1:])]  # bounds[0] is never read
    result_type: Attribute = load.results[0].type

    def part_load(builder: IRBuilder, j: int) -> SSAValue:
        index = row if j == 0 else builder.subi(row, bounds[j])
        if isinstance(load, vector.LoadOp):
            return builder.value(vector.LoadOp(parts[j], [index, *rest], load.result.type))
        return builder.value(memref.LoadOp.get(parts[j], [index, *rest]))

    def chain(builder: IRBuilder, j: int) -> SSAValue:
        if j == len(parts) - 1:
            return part_load(builder, j)
        cond = builder.cmpi("ult", row, bounds[j + 1])
        (value,) = builder.if_then(
            cond, lambda inner: [part_load(inner, j)], lambda inner: [chain(inner, j + 1)], result_types=[result_type]
        )
        return value

    value = chain(b, 0)
    Rewriter.replace_op(load, [], [value])


def _cluster_size(launch: gpu.LaunchFuncOp) -> list[SSAValue] | None:
    """A launch's cluster sizes: all three or none (gpu.launch_func)."""
    if launch.clusterSizeX is None:
        return None
    assert launch.clusterSizeY is not None and launch.clusterSizeZ is not None
    return [launch.clusterSizeX, launch.clusterSizeY, launch.clusterSizeZ]


def _rewrite_launches(module: ModuleOp, kernel: gpu.FuncOp, counts: dict[int, int]) -> None:
    """Every launch of ``kernel`` passes a split argument's buffer once per part."""
    parent = kernel.parent_op()
    if not isinstance(parent, gpu.ModuleOp):
        raise RustyError(f"split-bindings: kernel @{kernel.sym_name.data} is not inside a gpu.module", kernel)
    path = (parent.sym_name.data, kernel.sym_name.data)
    for launch in [o for o in module.walk() if isinstance(o, gpu.LaunchFuncOp)]:
        refs = launch.kernel
        if (refs.root_reference.data, *(r.data for r in refs.nested_references.data)) != path:
            continue
        operands: list[SSAValue] = []
        for i, v in enumerate(launch.kernelOperands):
            operands.extend([v] * counts.get(i, 1))
        new = gpu.LaunchFuncOp(
            launch.kernel,
            [launch.gridSizeX, launch.gridSizeY, launch.gridSizeZ],
            [launch.blockSizeX, launch.blockSizeY, launch.blockSizeZ],
            _cluster_size(launch),
            operands,
            async_launch=launch.asyncToken is not None,
            asyncDependencies=list(launch.asyncDependencies),
            dynamicSharedMemorySize=launch.dynamicSharedMemorySize,
        )
        new.attributes.update(launch.attributes)
        Rewriter.replace_op(launch, new)
