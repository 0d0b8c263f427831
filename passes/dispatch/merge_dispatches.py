"""merge-dispatches: fewer kernels per decoder layer by merging dispatch regions that can share one kernel."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, scf, tensor
from xdsl.dialects.builtin import Float16Type, Float32Type, IntegerAttr, MemRefType, ModuleOp
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.dispatch import RegionOp, YieldOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.dialects.linalg_ext import CacheAppendOp
from rusty_ir.passes.dispatch.analysis import Kind, activation_source, kind, region_contractions


def _kinds(region: RegionOp) -> set[Kind | None]:
    return {kind(op) for op in region_ops(region)}


def _pairs_only(region: RegionOp) -> bool:
    """Whether every gather in the region reads the last dim at the element's own index or its xor-1 partner
    (RoPE in GGUF's interleaved order), which a contraction's epilogue holds; rotate-half RoPE reads
    ``d +- head_dim / 2``, which it does not."""
    for generic in (op for op in region_ops(region) if isinstance(op, linalg.GenericOp)):
        own = {inner.result: inner.dim.value.data for inner in generic.body.block.ops if isinstance(inner, linalg.IndexOp)}
        for extract in (op for op in generic.body.block.ops if isinstance(op, tensor.ExtractOp)):
            last = extract.indices[-1]
            if last in own:
                continue
            owner = last.owner
            if not (isinstance(owner, arith.XOrIOp) and any(
                    v in own and isinstance(c.owner, arith.ConstantOp) and isinstance(c.owner.value, IntegerAttr) and c.owner.value.value.data == 1
                    for v, c in ((owner.lhs, owner.rhs), (owner.rhs, owner.lhs)))):  # fmt: skip
                return False
    return True


def _is_append_region(region: RegionOp) -> bool:
    """Elementwise producers and one cache append into an f32 or f16 cache (a q8_0 row is quantized in groups
    of 64 values by one invocation, which a contraction's epilogue does not have), gathering only pairs."""
    appends = [op for op in region_ops(region) if isinstance(op, CacheAppendOp)]
    if len(appends) != 1 or not _kinds(region) <= {Kind.CACHE_APPEND, Kind.ELEMENTWISE, Kind.INIT, None}:
        return False
    cache = appends[0].k_cache.type
    return isinstance(cache, MemRefType) and isinstance(cache.element_type, Float32Type | Float16Type) and _pairs_only(region)


def _depends(later: RegionOp, earlier: RegionOp) -> bool:
    return any(isinstance(a.owner, Operation) and a.owner is earlier for a in later.args)


def merge_regions(first: RegionOp, second: RegionOp, label: str) -> RegionOp:
    """One region doing ``first`` then ``second``, at ``second``'s place. ``second``'s operands that are results of
    ``first`` become the values ``first`` yields; results of ``first`` used only by ``second`` are no longer outputs."""
    first_yield = first.block.last_op
    assert isinstance(first_yield, YieldOp)
    args: list[SSAValue] = list(first.args)
    block = Block(arg_types=[a.type for a in args])
    mapping: dict[SSAValue, SSAValue] = dict(zip(first.block.args, block.args))
    for op in region_ops(first):
        clone = op.clone(value_mapper=mapping)
        block.add_op(clone)
        mapping.update(zip(op.results, clone.results))
    inner_of_first: dict[SSAValue, SSAValue] = {r: mapping.get(v, v) for r, v in zip(first.outputs, first_yield.values)}
    second_mapping: dict[SSAValue, SSAValue] = {}
    for arg, operand in zip(second.block.args, second.args):
        if operand in inner_of_first:
            second_mapping[arg] = inner_of_first[operand]
        elif operand in args:
            second_mapping[arg] = block.args[args.index(operand)]
        else:
            args.append(operand)
            second_mapping[arg] = block.insert_arg(operand.type, len(block.args))
    for op in region_ops(second):
        clone = op.clone(value_mapper=second_mapping)
        block.add_op(clone)
        second_mapping.update(zip(op.results, clone.results))
    second_yield = second.block.last_op
    assert isinstance(second_yield, YieldOp)
    kept = [r for r in first.outputs if any(u.operation is not second for u in r.uses)]
    yields = [inner_of_first[r] for r in kept] + [second_mapping.get(v, v) for v in second_yield.values]
    block.add_op(YieldOp(yields))
    merged = RegionOp(label, args, [v.type for v in yields], block, first.config)
    Rewriter.insert_op(merged, InsertPoint.before(second))
    for old, new in zip([*kept, *second.outputs], merged.outputs):
        old.replace_all_uses_with(new)
    Rewriter.erase_op(second)
    Rewriter.erase_op(first)
    return merged


def _merge_block(block: Block) -> None:
    """Merge, in one host block: (1) each cache-append region into the contraction region that computes its keys
    and values; (2) consecutive contraction regions reading the same activation (the q and the k, v projections)."""
    changed = True
    while changed:
        changed = False
        regions = [op for op in block.ops if isinstance(op, RegionOp)]
        for append in (r for r in regions if _is_append_region(r)):
            producers = {a.owner for a in append.args if isinstance(a.owner, RegionOp)}
            if len(producers) == 1:
                (producer,) = producers
                if len(region_contractions(producer)) == 1:
                    merge_regions(producer, append, producer.label.data)
                    changed = True
                    break
        if changed:
            continue
        for first, second in zip(regions, regions[1:]):
            x = activation_source(first)
            if x is None or x != activation_source(second) or _depends(second, first) or _depends(first, second):
                continue
            between: list[Operation] = []
            op = first.next_op
            while op is not None and op is not second:
                between.append(op)
                op = op.next_op
            # the merged region takes the second's place: nothing in between may read the first's results
            if any(isinstance(u.operation, Operation) and block.find_ancestor_op_in_block(u.operation) in between
                   for r in first.outputs for u in r.uses):  # fmt: skip
                continue
            merge_regions(first, second, f"{first.label.data}_{second.label.data}")
            changed = True
            break


@dataclass(frozen=True)
class MergeDispatchesPass(ModulePass):
    """Merges dispatch regions that one kernel can run, so a decoder layer launches fewer kernels.

    Matches, within each host block (function bodies, loop bodies):

    1. a region that only appends keys and values to an f32 or f16 KV cache
       (with their elementwise producers, RoPE) and whose inputs all come from
       one contraction region: it joins that region, whose kernel writes the
       cache rows in its epilogue (the keys and values no longer go through a
       buffer);
    2. two consecutive contraction regions that read the same activation and
       not each other's results (the query projection and the key/value
       projections): one region with two contractions, whose kernel gives each
       its own range of workgroups.

    Produces: merged ``dispatch.region`` ops (configs are set later by
    ``tune-workgroups``). A Llama decoder layer goes from 7 regions to 5.
    Pre-conditions: dispatch-level IR (after ``form-dispatches``), before tuning.

    Not a pattern: each merge weighs a pair of regions against the rest of their block (who reads what, in order).
    """

    name = "merge-dispatches"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        blocks = [b for o in op.walk() if isinstance(o, func.FuncOp | scf.ForOp) for r in o.regions for b in r.blocks]
        for block in blocks:
            _merge_block(block)
