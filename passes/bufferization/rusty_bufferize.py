"""rusty-bufferize: host tensors become buffers, results become destinations (docs/compiler.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import cast

from xdsl.context import Context
from xdsl.dialects import arith, bufferization, func, memref, scf, tensor
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, FunctionType, IntegerAttr, MemRefType, ModuleOp, TensorType, UnitAttr
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.dispatch.ops import STEP_CONFIGS, CacheOp, KvCacheOp, RegionOp, WeightOp, YieldOp
from rusty_ir.dialects.quant import ToTensorOp
from rusty_ir.dialects.quant.storage import buffer_type, is_quantized, stored_arg_attr
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import IRBuilder


def memref_of(ty: Attribute) -> Attribute:
    """The buffer type of a host tensor type: same shape and element type, identity layout; for a quantized
    tensor the words of its bytes, ``memref<Wxi32>`` (``rusty_ir.dialects.quant.storage``)."""
    return buffer_type(ty)


def _stored_attrs(fn: func.FuncOp, types: Sequence[Attribute]) -> None:
    """Mark each argument of ``fn`` whose tensor type ``types`` gives is quantized with ``rquant.stored``."""
    old = fn.arg_attrs.data if fn.arg_attrs is not None else ()
    dicts = [old[i] if i < len(old) else DictionaryAttr({}) for i in range(len(types))]
    dicts = [stored_arg_attr(t, d) if is_quantized(t) else d for t, d in zip(types, dicts)]
    fn.arg_attrs = ArrayAttr(dicts) if any(d.data for d in dicts) else None


def _has_tensor(op: Operation) -> bool:
    """Whether ``op`` or anything nested in it has a tensor operand or result."""
    return any(isinstance(t, TensorType) for o in op.walk() for t in (*o.operand_types, *o.result_types))


def _is_tensor(value: SSAValue) -> bool:
    return isinstance(value.type, TensorType)


def _ancestor_in(op: Operation, block: Block) -> Operation | None:
    """The ancestor of ``op`` (or ``op`` itself) whose parent block is ``block``."""
    current: Operation | None = op
    while current is not None and current.parent_block() is not block:
        current = current.parent_op()
    return current


@dataclass
class _Destinations:
    """Where the tensor results of one host block go: out-params of the function or the loop's out buffers.

    ``by_position`` maps an operand position of the block's terminator
    (``func.return`` or ``scf.yield``) to the buffer that position is written
    into; ``claimed`` records positions already given to a producer, so a value
    returned twice gets only the first (the terminator then reports the copy
    it would need).
    """

    terminator: Operation | None
    by_position: dict[int, SSAValue] = field(default_factory=dict)
    claimed: set[int] = field(default_factory=set)

    def take(self, value: SSAValue) -> SSAValue | None:
        if self.terminator is None:
            return None
        positions = sorted(
            u.index for u in value.uses if u.operation is self.terminator and u.index in self.by_position and u.index not in self.claimed
        )
        if not positions:
            return None
        self.claimed.add(positions[0])
        return self.by_position[positions[0]]


class _RegionSizes:
    """Host values for the dynamic sizes of a region's results, traced through its body.

    A result's size is found by following the yielded value to where its shape
    comes from: a destination-style op's ``outs``, ``tensor.empty`` sizes,
    ``tensor.dim``/``tensor.cast``, an op whose operand has the same type, and
    finally a block argument: the size is then ``memref.dim`` of the region's
    operand (the activation the result came from) or the operand itself.
    """

    def __init__(self, region: RegionOp, builder: IRBuilder) -> None:
        self.region = region
        self.b = builder
        self._dims: dict[tuple[SSAValue, int], SSAValue] = {}

    def host_dim(self, buffer: SSAValue, k: int) -> SSAValue:
        key = (buffer, k)
        if key not in self._dims:
            self._dims[key] = self.b.value(memref.DimOp(buffer, self.b.index(k)))
        return self._dims[key]

    def sizes(self, value: SSAValue) -> list[SSAValue]:
        ty = value.type
        assert isinstance(ty, TensorType)
        return [self.dim(value, k) for k, d in enumerate(ty.get_shape()) if d < 0]

    def dim(self, value: SSAValue, k: int) -> SSAValue:
        ty = value.type
        assert isinstance(ty, TensorType | MemRefType)
        static = ty.get_shape()[k]
        if static >= 0:
            return self.b.index(static)
        if isinstance(value, BlockArgument) and value.block is self.region.block:
            return self.host_dim(self.region.args[value.index], k)
        op = value.owner
        assert isinstance(op, Operation)
        if isinstance(op, tensor.EmptyOp):
            dynamic_before = sum(1 for d in ty.get_shape()[:k] if d < 0)
            return self.scalar(op.dynamic_sizes[dynamic_before])
        if isinstance(op, linalg.GenericOp | linalg.FillOp):
            return self.dim(op.outputs[op.results.index(value)], k)
        if isinstance(op, tensor.CastOp):
            return self.dim(op.source, k)
        same = [o for o in op.operands if o.type == ty]
        if same:  # elementwise-like ops keep the shape of an operand of their own type
            return self.dim(same[0], k)
        raise RustyError(
            f"rusty-bufferize: cannot tell dimension {k} of a result of region \"{self.region.label.data}\" from '{op.name}'",
            self.region,
        )

    def scalar(self, value: SSAValue) -> SSAValue:
        """An index value of the body as a host value."""
        if isinstance(value, BlockArgument) and value.block is self.region.block:
            return self.region.args[value.index]
        op = value.owner
        if isinstance(op, arith.ConstantOp):
            return self.b.value(op.clone())
        if isinstance(op, tensor.DimOp) and isinstance(op.index.owner, arith.ConstantOp) and isinstance(op.index.owner.value, IntegerAttr):
            return self.dim(op.source, int(op.index.owner.value.value.data))
        raise RustyError(
            f'rusty-bufferize: a size in region "{self.region.label.data}" is computed by '
            f"'{op.name if isinstance(op, Operation) else value}', which the host cannot evaluate",
            self.region,
        )


class _FunctionBufferizer:
    """Bufferizes one host function (see the pass docstring for the rules)."""

    def __init__(self, f: func.FuncOp) -> None:
        self.f = f

    # --- the function ---------------------------------------------------------------------------
    def run(self) -> None:
        f = self.f
        block = f.body.block
        old_type = f.function_type
        # 1. Arguments: tensors become memrefs of the same shape; quantized ones words, marked with what they store.
        _stored_attrs(f, [*old_type.inputs.data, *(t for t in old_type.outputs.data if isinstance(t, TensorType))])
        for arg in list(block.args):
            if _is_tensor(arg):
                Rewriter.replace_value_with_new_type(arg, memref_of(arg.type))
        # 2. Tensor results become trailing out-params; returned values are written into them.
        ret = block.last_op
        if not isinstance(ret, func.ReturnOp):
            raise RustyError("rusty-bufferize: a host function must end with func.return", f)
        dests = _Destinations(ret)
        for i, ty in enumerate(old_type.outputs.data):
            if isinstance(ty, TensorType):
                out = block.insert_arg(memref_of(ty), len(block.args))
                out.name_hint = "out"
                dests.by_position[i] = out
        self.convert_block(block, dests)
        f.function_type = FunctionType.from_lists(
            [a.type for a in block.args], [t for t in old_type.outputs.data if not isinstance(t, TensorType)]
        )

    def convert_block(self, block: Block, dests: _Destinations) -> None:
        for op in list(block.ops):
            self.convert_op(op, dests)

    # --- ops ------------------------------------------------------------------------------------
    def convert_op(self, op: Operation, dests: _Destinations) -> None:
        if isinstance(op, WeightOp):
            if is_quantized(op.result.type):
                op.stored = op.result.type
            Rewriter.replace_value_with_new_type(op.result, memref_of(op.result.type))
        elif isinstance(op, tensor.DimOp):
            Rewriter.replace_op(op, memref.DimOp(op.source, op.index))
        elif isinstance(op, tensor.CastOp):
            dest = memref_of(op.dest.type)
            assert isinstance(dest, MemRefType)
            Rewriter.replace_op(op, memref.CastOp.get(op.source, dest))
        elif isinstance(op, RegionOp):
            self.convert_region(op, dests)
        elif isinstance(op, func.CallOp):
            self.convert_call(op, dests)
        elif isinstance(op, scf.ForOp) and any(_is_tensor(r) for r in op.res):
            self.convert_loop(op)
        elif isinstance(op, func.ReturnOp):
            self.convert_return(op, dests)
        elif isinstance(op, scf.YieldOp):
            return  # rebuilt by convert_loop, which knows the buffer pairs
        elif isinstance(op, scf.ForOp):
            self.convert_block(op.body.block, _Destinations(None))
        elif isinstance(op, CacheOp | KvCacheOp) or not _has_tensor(op):
            return
        else:
            raise RustyError(f"rusty-bufferize: unexpected host op '{op.name}' with tensor operands or results", op)

    def destination(self, value: SSAValue, dests: _Destinations, sizes: Callable[[], Sequence[SSAValue]], b: IRBuilder) -> SSAValue:
        """The buffer ``value`` is written into: a returned/yielded position's buffer or a new alloc of ``sizes()``."""
        taken = dests.take(value)
        if taken is not None:
            return taken
        return b.value(memref.AllocOp(list(sizes()), [], memref_of(value.type)))

    def convert_region(self, region: RegionOp, dests: _Destinations) -> None:
        b = IRBuilder(InsertPoint.before(region))
        body = region.block
        # Sizes are traced through the body before the body changes.
        reifier = _RegionSizes(region, b)
        outs: list[SSAValue] = []
        for result in region.outputs:
            if not _is_tensor(result):
                raise RustyError(f'rusty-bufferize: region "{region.label.data}" has a non-tensor result', region)
            yielded = cast(YieldOp, body.last_op).values[result.index]
            outs.append(self.destination(result, dests, partial(reifier.sizes, yielded), b))
        # Inside: tensor arguments are read through to_tensor; yielded values written to the out buffers.
        inner = IRBuilder(InsertPoint.at_start(body))
        for arg, operand in zip(list(body.args), region.args):
            if _is_tensor(arg) and isinstance(operand.type, MemRefType):
                stored = arg.type
                buffer = Rewriter.replace_value_with_new_type(arg, operand.type)
                read = ToTensorOp(buffer, stored) if is_quantized(stored) else bufferization.ToTensorOp(buffer)
                inner.insert(read)
                buffer.replace_uses_with_if(read.tensor, lambda use: use.operation is not read)  # noqa: B023 - used at once
            elif _is_tensor(arg) or _is_tensor(operand):
                raise RustyError(f"rusty-bufferize: region operand #{arg.index} has type {operand.type}", region)
        yield_op = body.last_op
        assert isinstance(yield_op, YieldOp)
        at_yield = IRBuilder(InsertPoint.before(yield_op))
        for value, out in zip(yield_op.values, outs):
            out_arg = body.insert_arg(out.type, len(body.args))
            out_arg.name_hint = "out"
            at_yield.insert(
                bufferization.MaterializeInDestinationOp(
                    operands=[value, out_arg], result_types=[[]], properties={"writable": UnitAttr(), "restrict": UnitAttr()}
                )
            )
        Rewriter.replace_op(yield_op, YieldOp())
        new = RegionOp(
            region.label.data, [*region.args, *outs], [], Rewriter.move_region_contents_to_new_regions(region.body), region.config
        )
        for name in STEP_CONFIGS:
            if name in region.properties:
                new.properties[name] = region.properties[name]
        new.attributes.update(region.attributes)
        Rewriter.insert_op(new, InsertPoint.before(region))
        for result, out in zip(region.outputs, outs):
            result.replace_all_uses_with(out)
        Rewriter.erase_op(region)

    def convert_call(self, call: func.CallOp, dests: _Destinations) -> None:
        b = IRBuilder(InsertPoint.before(call))
        outs: list[SSAValue] = []
        for result in call.res:
            if not _is_tensor(result):
                continue
            ty = memref_of(result.type)
            assert isinstance(ty, MemRefType)
            # The callee keeps its dynamic sizes from an argument of the same type (the activation).
            outs.append(self.destination(result, dests, partial(self._call_sizes, call, ty, b), b))
        kept = [r for r in call.res if not _is_tensor(r)]
        new = func.CallOp(call.callee, [*call.arguments, *outs], [r.type for r in kept])
        Rewriter.insert_op(new, InsertPoint.before(call))
        tensor_results = [r for r in call.res if _is_tensor(r)]
        for old, out in zip(tensor_results, outs):
            old.replace_all_uses_with(out)
        for old, res in zip(kept, new.res):
            old.replace_all_uses_with(res)
        Rewriter.erase_op(call)

    @staticmethod
    def _call_sizes(call: func.CallOp, ty: MemRefType, b: IRBuilder) -> list[SSAValue]:
        """Dynamic sizes of a call result: those of the call's argument of the same type (the activation)."""
        dynamic = [k for k, d in enumerate(ty.get_shape()) if d < 0]
        if not dynamic:
            return []
        like = next((a for a in call.arguments if a.type == ty), None)
        if like is None:
            raise RustyError(f"rusty-bufferize: cannot size the {ty} result of this call (no argument of that type)", call)
        return [b.value(memref.DimOp(like, b.index(k))) for k in dynamic]

    def convert_loop(self, loop: scf.ForOp) -> None:
        """A loop-carried tensor becomes (in, out) buffers that swap every iteration."""
        b = IRBuilder(InsertPoint.before(loop))
        body = loop.body.block
        carried = [i for i, r in enumerate(loop.res) if _is_tensor(r)]
        inits: list[SSAValue] = []
        pairs: dict[int, tuple[SSAValue, BlockArgument]] = {}
        yield_dests = _Destinations(body.last_op)
        # Insert the out arguments from the last carried position down, so earlier positions keep their index.
        spares: dict[int, SSAValue] = {}
        for i in carried:
            init = loop.iter_args[i]
            self._check_loop_init(loop, init)
            ty = init.type
            assert isinstance(ty, MemRefType)
            sizes = [b.value(memref.DimOp(init, b.index(k))) for k, d in enumerate(ty.get_shape()) if d < 0]
            spares[i] = b.value(memref.AllocOp(sizes, [], ty))
            spares[i].name_hint = "spare"
        for i in reversed(carried):
            ty = spares[i].type
            in_arg = Rewriter.replace_value_with_new_type(body.args[1 + i], ty)
            out_arg = body.insert_arg(ty, 2 + i)
            out_arg.name_hint = f"{in_arg.name_hint or 'carried'}_out"
            pairs[i] = (in_arg, out_arg)
            yield_dests.by_position[i] = out_arg
        for i, init in enumerate(loop.iter_args):
            inits.append(init)
            if i in pairs:
                inits.append(spares[i])
        self.convert_block(body, yield_dests)
        # The loop's yield: (out, in) when the body wrote out, (in, out) when it passes in through.
        old_yield = body.last_op
        assert isinstance(old_yield, scf.YieldOp)
        values: list[SSAValue] = []
        for i, v in enumerate(old_yield.arguments):
            if i not in pairs:
                values.append(v)
                continue
            in_arg, out_arg = pairs[i]
            if v is out_arg:
                values += [out_arg, in_arg]
            elif v is in_arg:
                values += [in_arg, out_arg]
            else:
                raise RustyError(
                    f"rusty-bufferize: loop-carried value #{i} is not computed in the loop's out buffer; it would need a copy",
                    old_yield,
                )
        Rewriter.replace_op(old_yield, scf.YieldOp(*values))
        new = scf.ForOp(loop.lb, loop.ub, loop.step, inits, Rewriter.move_region_contents_to_new_regions(loop.body))
        Rewriter.insert_op(new, InsertPoint.before(loop))
        position = 0
        for i, old in enumerate(loop.res):
            old.replace_all_uses_with(new.res[position])
            position += 2 if i in pairs else 1
        Rewriter.erase_op(loop)

    @staticmethod
    def _check_loop_init(loop: scf.ForOp, init: SSAValue) -> None:
        """The loop writes its init buffer in place: it must be a fresh buffer nothing reads after the loop."""
        if not isinstance(init.owner, memref.AllocOp):
            raise RustyError(
                "rusty-bufferize: a loop-carried tensor must start from a value computed in this function "
                "(the loop overwrites its buffer); a copy would be needed",
                loop,
            )
        block = loop.parent_block()
        assert block is not None
        for use in init.uses:
            user = _ancestor_in(use.operation, block)
            if user is not None and user is not loop and block.get_operation_index(user) > block.get_operation_index(loop):
                raise RustyError(
                    "rusty-bufferize: the loop overwrites its initial value's buffer, which is read after the loop",
                    loop,
                )

    def convert_return(self, op: func.ReturnOp, dests: _Destinations) -> None:
        """``func.return`` drops the values written into out-params."""
        for i, value in enumerate(op.operands):
            if i in dests.by_position and value is not dests.by_position[i]:
                raise RustyError(
                    f"rusty-bufferize: operand #{i} of '{op.name}' is not computed in its destination buffer; it would need a copy",
                    op,
                )
            if i not in dests.by_position and isinstance(value.type, TensorType | MemRefType):
                raise RustyError(f"rusty-bufferize: operand #{i} of '{op.name}' is a buffer that is not a result", op)
        kept = [v for i, v in enumerate(op.operands) if i not in dests.by_position]
        Rewriter.replace_op(op, func.ReturnOp(*kept))


@dataclass(frozen=True)
class RustyBufferizePass(ModulePass):
    """Turns every host-level tensor into a memref, in destination-passing style.

    Matches: every ``func.func`` of the module with a body (host functions of
    ``scf.for``, ``func.call``, ``func.return``, ``arith`` index ops,
    ``tensor.dim``/``tensor.cast``, ``dispatch.weight``/``dispatch.cache`` and
    ``dispatch.region`` with tensor operands and results).

    Produces (docs/compiler.md, "Host IR after bufferization")::

        func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
          %y = dispatch.region "add"(%x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {...}
          %z = dispatch.region "mul"(%y) : (tensor<?x8xf32>) -> tensor<?x8xf32> {...}
          func.return %z : tensor<?x8xf32>
        }
        // becomes
        func.func @f(%x: memref<?x8xf32>, %out: memref<?x8xf32>) {
          %c0 = arith.constant 0 : index
          %d = memref.dim %x, %c0 : memref<?x8xf32>
          %y = memref.alloc(%d) : memref<?x8xf32>
          dispatch.region "add"(%x, %y) : (memref<?x8xf32>, memref<?x8xf32>) -> () {
          ^bb0(%a: memref<?x8xf32>, %o: memref<?x8xf32>):
            %t = bufferization.to_tensor %a : memref<?x8xf32> to tensor<?x8xf32>
            ...                                       // the body's tensor ops, untouched
            bufferization.materialize_in_destination %s in restrict writable %o : (tensor<?x8xf32>, memref<?x8xf32>) -> ()
            dispatch.yield
          }
          dispatch.region "mul"(%y, %out) ... // written straight into the out-param
          func.return
        }

    - tensor arguments become memrefs; tensor results trailing memref
      out-params (callers pass a buffer); ``func.return`` keeps only non-tensor values;
    - each region result gets a buffer passed as an extra trailing operand: the
      out-param (or the loop's out buffer) when the result is returned (or
      yielded) directly, else a ``memref.alloc`` placed before the region whose
      dynamic sizes are ``memref.dim`` of the operand the result's shape comes
      from (traced through the body: ``outs``, ``tensor.empty``, ``tensor.dim``);
    - a ``func.call``'s tensor results are passed as out-params the same way
      (an alloc is sized like the call argument of the same type);
    - an ``scf.for`` loop-carried tensor becomes two buffers
      ``iter_args(%in = %init, %out = %spare)`` (``%spare`` a new alloc) whose
      body writes ``%out`` and yields ``%out, %in``; the loop's value is the first;
    - ``dispatch.weight`` results become memrefs, ``tensor.dim``/``tensor.cast``
      become ``memref.dim``/``memref.cast``;
    - a quantized tensor (``tensor<576x576x!rquant.q4_1>``) becomes the words of its
      bytes, ``memref<51840xi32>`` (upstream memrefs take only builtin element
      types), with the tensor it stores as the ``stored`` of its
      ``dispatch.weight`` or the ``rquant.stored`` attribute of its function
      argument; a region reads it with ``rquant.to_tensor`` instead of
      ``bufferization.to_tensor`` (``rusty_ir.dialects.quant.storage``).

    No copy is ever inserted: a value that would need one (returned twice, a
    function argument returned or carried by a loop, a loop result returned, a
    loop's initial buffer read after the loop) is a ``RustyError`` naming the op,
    as is any other host op with tensor operands or results.

    Pre-conditions: ``form-dispatches`` has run (every tensor computation is in
    a ``dispatch.region``); host tensors have identity layouts.
    Post-conditions: no host op has a tensor operand or result; tensors only
    exist inside region bodies, between ``bufferization.to_tensor`` and
    ``bufferization.materialize_in_destination``; regions have no results.

    Not a pattern: a function is bufferized as a whole (signature, out-params, loops and callers change together).
    """

    name = "rusty-bufferize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for f in list(op.ops):
            if not isinstance(f, func.FuncOp):
                continue
            if f.is_declaration:
                ins, outs = f.function_type.inputs.data, f.function_type.outputs.data
                _stored_attrs(f, [*ins, *(t for t in outs if isinstance(t, TensorType))])
                f.function_type = FunctionType.from_lists(
                    [memref_of(t) for t in ins] + [memref_of(t) for t in outs if isinstance(t, TensorType)],
                    [t for t in outs if not isinstance(t, TensorType)],
                )
                continue
            _FunctionBufferizer(f).run()


__all__ = ["RustyBufferizePass", "memref_of"]
