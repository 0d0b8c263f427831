"""weight-layout: bind quantized weights as 16-byte-aligned codes and f16 scales apart (the split layout)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FunctionType, MemRefType, ModuleOp, TensorType, f16, i32
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.dispatch import WeightOp
from rusty_ir.dialects.gpu.attrs import module_target
from rusty_ir.dialects.quant import DotBlockOp, LoadBlockOp, LoadCodesOp, LoadOp
from rusty_ir.dialects.quant.attrs import BlockQuantType
from rusty_ir.dialects.quant.storage import arg_attrs, buffer_scheme, set_arg_attrs, stored_tensor
from rusty_ir.dialects.tiled import KernelOp
from rusty_ir.weights import split_layout


def part_types(stored: TensorType[Attribute], f16_scales: bool) -> tuple[MemRefType, MemRefType]:
    """The memref types of a stored weight's codes (words) and scales (words, or f16 with ``f16_scales``), given
    the quantized tensor it stores (``storage.stored_tensor``)."""
    elem = stored.element_type
    assert isinstance(elem, BlockQuantType)
    layout = split_layout(elem.scheme)
    assert layout is not None
    rows = 1
    for d in stored.get_shape()[:-1]:
        rows *= d
    blocks = rows * stored.get_shape()[-1] // elem.scheme.block
    halves = blocks * layout.halves
    scales = MemRefType(f16, [halves]) if f16_scales else MemRefType(i32, [-(-halves // 2)])
    return MemRefType(i32, [blocks * layout.code_bytes // 4]), scales


def _splittable(value: SSAValue) -> bool:
    sch = buffer_scheme(value)
    return sch is not None and sch.quantized and split_layout(sch) is not None


def _reads_only_blocks(kernel: KernelOp, index: int) -> bool:
    """Whether the kernel's argument ``index`` is read only by quant loads in the blocks layout (and the grid ignores it)."""
    if kernel.grid.block.args[index].uses:
        return False
    return all(
        isinstance(u.operation, LoadOp | LoadBlockOp | DotBlockOp | LoadCodesOp) and u.operation.layout.data == "blocks"
        for u in kernel.body.block.args[index].uses
    )


class _Analysis:
    """Which weight values (``dispatch.weight`` results and function arguments they flow into) can be split:
    every use is a kernel reading it only through quant loads, or a call passing it to a splittable argument;
    an argument also needs every call to pass it a splittable value."""

    def __init__(self, module: ModuleOp) -> None:
        self.functions = {op.sym_name.data: op for op in module.walk() if isinstance(op, func.FuncOp)}
        self.calls = [op for op in module.walk() if isinstance(op, func.CallOp)]
        self.args: set[BlockArgument] = {a for f in self.functions.values() if f.body.blocks for a in f.body.block.args if _splittable(a)}
        changed = True
        while changed:  # shrink to a fixpoint: an argument stays only while all its uses and all its callers qualify
            changed = False
            for arg in list(self.args):
                if not self.qualifies(arg) or not all(self.source(v) for v in self.passed(arg)):
                    self.args.discard(arg)
                    changed = True
        self.weights = [w for w in module.walk() if isinstance(w, WeightOp) and w.part is None and _splittable(w.result)
                        and self.qualifies(w.result)]  # fmt: skip

    def callee_arg(self, call: func.CallOp, index: int) -> BlockArgument | None:
        fn = self.functions.get(call.callee.root_reference.data)
        return fn.body.block.args[index] if fn is not None and fn.body.blocks else None

    def passed(self, arg: BlockArgument) -> list[SSAValue]:
        """The values the module's calls pass to function argument ``arg``."""
        fn = arg.owner.parent_op()
        assert isinstance(fn, func.FuncOp)
        return [c.arguments[arg.index] for c in self.calls if c.callee.root_reference.data == fn.sym_name.data]

    def source(self, value: SSAValue) -> bool:
        """Whether ``value``, passed to a call, can be passed split: a splittable argument, or a whole stored
        weight all of whose uses qualify."""
        if isinstance(value, BlockArgument):
            return value in self.args
        owner = value.owner
        return isinstance(owner, WeightOp) and owner.part is None and _splittable(value) and self.qualifies(value)

    def qualifies(self, value: SSAValue) -> bool:
        uses = list(value.uses)
        if not uses:
            return False
        for use in uses:
            op = use.operation
            if isinstance(op, KernelOp):
                if not _reads_only_blocks(op, use.index):
                    return False
            elif isinstance(op, func.CallOp):
                if self.callee_arg(op, use.index) not in self.args:
                    return False
            else:
                return False
        return True


def _split_kernel_arg(kernel: KernelOp, index: int, parts: Sequence[SSAValue]) -> None:
    """Replace the kernel's operand ``index`` by ``parts``: block args in both regions, its quant loads switched."""
    types = [p.type for p in parts]
    for region in (kernel.grid, kernel.body):
        block = region.block
        old = block.args[index]
        new = [block.insert_arg(t, index + 1 + i) for i, t in enumerate(types)]
        for use in list(old.uses):
            load = use.operation
            assert isinstance(load, LoadOp | LoadBlockOp | DotBlockOp | LoadCodesOp)
            where = (load.scheme_name.data, load.weight_shape, "split")
            if isinstance(load, DotBlockOp):
                Rewriter.replace_op(load, DotBlockOp(new, load.row, load.col, list(load.acts), load.asum, *where))
            else:
                Rewriter.replace_op(load, type(load)(new, load.row, load.col, *where))
        block.erase_arg(old)
    grid, body = kernel.grid.block, kernel.body.block
    kernel.grid.detach_block(grid)
    kernel.body.detach_block(body)
    new_kernel = KernelOp(kernel.label.data, [*kernel.args[:index], *parts, *kernel.args[index + 1 :]], kernel.workgroup, grid, body)
    new_kernel.attributes.update(kernel.attributes)
    Rewriter.replace_op(kernel, new_kernel, [])


def _split_call_arg(call: func.CallOp, index: int, parts: Sequence[SSAValue]) -> None:
    operands = [*call.arguments[:index], *parts, *call.arguments[index + 1 :]]
    Rewriter.replace_op(call, func.CallOp(call.callee, operands, [r.type for r in call.results]))


def _redirect(value: SSAValue, parts: Sequence[SSAValue]) -> None:
    """Every use of ``value`` (kernel and call operands) now takes ``parts``."""
    while value.uses:
        use = next(iter(value.uses))
        op = use.operation
        if isinstance(op, KernelOp):
            _split_kernel_arg(op, use.index, parts)
        else:
            assert isinstance(op, func.CallOp)
            _split_call_arg(op, use.index, parts)


@dataclass(frozen=True)
class WeightLayoutPass(ModulePass):
    """Replaces every quantized weight that kernels read only through ``quant`` loads by its split layout.

    Matches: ``dispatch.weight`` ops of quantized tensors (bufferized: their
    words, ``stored`` naming the tensor; ``rusty_ir.dialects.quant.storage``) whose scheme has a
    split layout (Q4_0, Q4_1, Q8_0, int4/int8 groups: codes a multiple of 16
    bytes per block), and the function arguments they are passed to (the
    decoder layer's weights), when every use is a ``tiled.kernel`` operand
    read only by ``rquant.load`` / ``rquant.load_block`` / ``rquant.dot_block`` in the blocks layout or
    a call passing it on to such an argument. Produces: two ``dispatch.weight``
    parts, ``codes`` (words) and ``scales`` (f16 where the target has f16
    arithmetic, words otherwise), passed through the calls as two arguments,
    each kernel taking both in place of the weight and its loads switched to
    ``layout = "split"``: a block's codes are then 16 aligned bytes (one vector
    load) and its scale sits in a dense array. The runtime builds the parts
    from the stored bytes as it uploads them (``rusty_ir.weights.split_part``).
    Weights with any other use keep their layout. Pre-conditions: tiled level
    (after ``convert-dispatch-to-tiled``), a module target.

    Not a pattern: whether a weight splits depends on all its uses across calls (a module-wide fixpoint).
    """

    name = "weight-layout"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        f16_scales = module_target(op).f16
        analysis = _Analysis(op)
        # 1. the parts of every splittable value: new arguments after each split argument, part ops after each weight
        arg_parts: dict[BlockArgument, list[BlockArgument]] = {}
        functions = {a.block.parent_op() for a in analysis.args}
        attrs = {a: d for fn in functions if isinstance(fn, func.FuncOp) for a, d in arg_attrs(fn).items()}
        stored_of = {a: stored_tensor(a) for a in analysis.args}  # before arguments move
        for arg in sorted(analysis.args, key=lambda a: a.index, reverse=True):
            block: Block = arg.block
            stored_type = stored_of[arg]
            assert stored_type is not None  # _Analysis takes quantized buffers only
            types = part_types(stored_type, f16_scales)
            arg_parts[arg] = [block.insert_arg(t, arg.index + 1 + i) for i, t in enumerate(types)]
        weight_parts: dict[WeightOp, list[SSAValue]] = {}
        for weight in analysis.weights:
            stored = stored_tensor(weight.result)
            assert stored is not None
            codes_t, scales_t = part_types(stored, f16_scales)
            codes = WeightOp(weight.weight_name.data, codes_t, weight.layer, "codes", stored)
            scales = WeightOp(weight.weight_name.data, scales_t, weight.layer, "scales", stored)
            Rewriter.insert_op(codes, InsertPoint.after(weight))
            Rewriter.insert_op(scales, InsertPoint.after(codes))
            weight_parts[weight] = [codes.result, scales.result]
        # 2. every use takes the parts
        for arg, parts in arg_parts.items():
            _redirect(arg, parts)
        for weight, values in weight_parts.items():
            _redirect(weight.result, values)
            Rewriter.erase_op(weight)
        # 3. the split arguments go; function types follow their blocks
        touched: set[Operation] = set()
        for arg in arg_parts:
            fn = arg.block.parent_op()
            arg.block.erase_arg(arg)
            if fn is not None:
                touched.add(fn)
        for fn in touched:
            assert isinstance(fn, func.FuncOp)
            fn.function_type = FunctionType.from_lists([a.type for a in fn.body.block.args], list(fn.function_type.outputs.data))
            set_arg_attrs(fn, {a: d for a, d in attrs.items() if a.block is fn.body.block and a not in arg_parts})
