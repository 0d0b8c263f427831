"""The search space of measured tuning (``rusty_ir.tuning``, step 4 of its docstring): the axes along which a
region's heuristic config is varied, by strategy, each axis a function from a config to its variants."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from xdsl.utils.exceptions import VerifyException

from rusty_ir.dialects.dispatch import LoweringConfigAttr
from rusty_ir.passes.codegen.flash_attention import flash_threads
from rusty_ir.passes.tuning.generic import FLASH_TILES, gemm_tiles
from rusty_ir.targets import TargetDescription

Axis = Callable[[LoweringConfigAttr], list[LoweringConfigAttr]]
"""Configs that differ from the given one in one aspect, the given one first."""

THREADS: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
"""Workgroup sizes tried for elementwise and row regions (those within the target's ``max_invocations``)."""


def _config(base: LoweringConfigAttr, **changes: Any) -> LoweringConfigAttr | None:
    """``base`` with fields changed, or None where the attribute's verifier refuses it."""
    fields = {**base.config.__dict__, **changes}
    strategy, workgroup = fields.pop("strategy"), fields.pop("workgroup")
    try:
        return LoweringConfigAttr(strategy, list(workgroup), **{k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
    except (VerifyException, ValueError, TypeError):
        return None


def _unique(base: LoweringConfigAttr, configs: Sequence[LoweringConfigAttr | None], target: TargetDescription) -> list[LoweringConfigAttr]:
    out = [base]
    for c in configs:
        if c is not None and c not in out and c.config.threads <= target.max_invocations:
            out.append(c)
    return out


def search_axes(config: LoweringConfigAttr, target: TargetDescription, weights: int = 1) -> list[Axis]:
    """The axes searched from the heuristic's ``config``, in order (by its strategy); ``weights``: the most
    weights one contraction of the region multiplies (gemm tiles share their columns among them)."""
    strategy = config.config.strategy

    def threads(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
        return _unique(c, [_config(c, workgroup=(t, 1, 1)) for t in THREADS], target)

    if strategy == "gemv":

        def rows(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:  # rows per invocation x row groups per workgroup
            cfg = c.config
            tokens, _ = cfg.workgroup_tile
            out = [_config(c, workgroup=(g * cfg.split, 1, 1), workgroup_tile=(tokens, g * r), thread_tile=(r,))
                   for r in (1, 2, 4, 8) for g in (1, 2, 4, 8)]  # fmt: skip
            return _unique(c, out, target)

        def unroll(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            return _unique(c, [_config(c, reduction_tile=u) for u in (1, 2, 4)], target)

        def math(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            return _unique(c, [_config(c, math=m) for m in (("f32", "dp4a") if target.int_dot else ("f32",))], target)

        return [rows, unroll, math]
    if strategy == "gemm":

        def tiles(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            out = [_config(c, workgroup=((bm // tm) * (bn // tn), 1, 1), workgroup_tile=(bm, bn), thread_tile=(tm, tn), reduction_tile=bk)
                   for bm, bn, tm, tn in gemm_tiles(weights) for bk in (32, 64)]  # fmt: skip
            return _unique(c, out, target)

        def depth(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            return _unique(c, [_config(c, pipeline_depth=d) for d in (1, 2)], target)

        return [tiles, depth]
    if strategy == "attention":

        def attention(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            cfg = c.config
            if cfg.workgroup_tile:  # FlashAttention over blocks of query rows
                out = [
                    _config(c, workgroup=(flash_threads(bq, bk), 1, 1), workgroup_tile=(bq,), reduction_tile=bk) for bq, bk in FLASH_TILES
                ]
            else:  # one workgroup per (head, query row), split-KV when split
                out = [_config(c, workgroup=(t, 1, 1), reduction_tile=min(t, cfg.reduction_tile or t), split=sp)
                       for t in (64, 128, 256, 512, 1024) for sp in ((32, 64, 128) if cfg.split else (0,))]  # fmt: skip
            return _unique(c, out, target)

        return [attention]
    if strategy in ("elementwise", "row"):
        return [threads]
    return []  # sample: one workgroup, nothing to search
