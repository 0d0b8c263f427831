"""Candidate lowering configs for measured tuning: variations of the heuristic's config, within a target's limits.

``tune-workgroups{mode=measure}`` searches each region's configs one *axis* at a
time (coordinate descent): an axis takes the best config so far and returns the
configs that differ from it in one aspect, the config itself first. Every
search starts from ``default_config`` (``generic.py``), read afresh each time,
and only the fields of what it returns are varied, so a tile list that grows a
field keeps that field's heuristic value.

Axes per strategy:

1. elementwise, row: threads per workgroup (powers of two, 32 up to the limit);
2. contraction: (a) threads per workgroup x threads per output row (the split-K
   group; ``tile[0] = threads / group``), the group a power of two from a quarter
   to four times the heuristic's, at most the K-blocks of a row; then (b), for a
   contraction over tokens, tokens per workgroup (``tile[1]``: 1, 2, 4, 8);
3. attention: threads per workgroup (powers of two from head_dim up), the KV tile
   scaled with it as the heuristic scales it.

Configs the attribute's verifier refuses (rows not dividing threads) are left
out; ones beyond the device's workgroup memory are found when they are lowered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Operation
from xdsl.utils.exceptions import VerifyException

from rusty_ir.dialects.dispatch import LoweringConfigAttr
from rusty_ir.dialects.linalg_ext import AttentionOp
from rusty_ir.passes.tuning.generic import default_config
from rusty_ir.targets import TargetDescription

THREADS: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
"""Workgroup sizes tried (those within the target's ``max_invocations``)."""

PREFILL_TOKENS: tuple[int, ...] = (1, 2, 4, 8)
"""Tokens per contraction workgroup tried for contractions over tokens."""

BLOCK = 32
"""Values of K per thread the heuristic aims at (one quantization block)."""

Axis = Callable[[LoweringConfigAttr], list[LoweringConfigAttr]]
"""Configs that differ from the given one in one aspect, the given one first."""


def _pow2_ceil(n: int) -> int:
    return 1 << (max(n, 1) - 1).bit_length()


def make_config(strategy: str, workgroup: Sequence[int], tile: Sequence[int]) -> LoweringConfigAttr | None:
    """The config, or None where ``#dispatch.lowering_config``'s verifier refuses it."""
    try:
        return LoweringConfigAttr(strategy, workgroup, tile)
    except VerifyException:
        return None


def _unique(base: LoweringConfigAttr, configs: Sequence[LoweringConfigAttr | None]) -> list[LoweringConfigAttr]:
    out = [base]
    for c in configs:
        if c is not None and c not in out:
            out.append(c)
    return out


def _threads(target: TargetDescription, low: int = 1) -> list[int]:
    return [t for t in THREADS if low <= t <= target.max_invocations]


def _threads_axis(target: TargetDescription) -> Axis:
    def axis(config: LoweringConfigAttr) -> list[LoweringConfigAttr]:
        s, tile = config.strategy.data, config.tile_sizes
        return _unique(config, [make_config(s, [t, 1, 1], tile) for t in _threads(target)])

    return axis


def _contraction_threads_axis(root: Operation, target: TargetDescription) -> Axis:
    assert isinstance(root, linalg.GenericOp)
    k = root.inputs[0].type.get_shape()[-1]  # pyright: ignore[reportAttributeAccessIssue]
    max_group = _pow2_ceil(-(-k // BLOCK))  # more threads per row than K-blocks would idle

    def axis(config: LoweringConfigAttr) -> list[LoweringConfigAttr]:
        tile = config.tile_sizes
        group = max(1, config.threads // tile[0])
        groups = sorted({g for g in (group // 4, group // 2, group, group * 2, group * 4) if 1 <= g <= max_group})
        out: list[LoweringConfigAttr | None] = []
        for t in _threads(target, low=64):
            for g in groups:
                if g <= t:
                    out.append(make_config("contraction", [t, 1, 1], [t // g, *tile[1:]]))
        return _unique(config, out)

    return axis


def _contraction_tokens_axis() -> Axis:
    def axis(config: LoweringConfigAttr) -> list[LoweringConfigAttr]:
        tile = config.tile_sizes
        rest = tile[2:]  # fields after [rows, tokens] keep their value

        def with_tokens(n: int) -> list[int]:
            return [tile[0]] if len(tile) == 1 and n == 1 else [tile[0], n, *rest]  # [rows] means 1 token

        return _unique(config, [make_config("contraction", config.workgroup_size, with_tokens(n)) for n in PREFILL_TOKENS])

    return axis


def _attention_axis(root: Operation, target: TargetDescription) -> Axis:
    assert isinstance(root, AttentionOp)
    head_dim = root.head_dim.value.data

    def axis(config: LoweringConfigAttr) -> list[LoweringConfigAttr]:
        wg, tile = config.threads, config.tile_sizes
        out: list[LoweringConfigAttr | None] = []
        for t in _threads(target, low=_pow2_ceil(head_dim)):
            scaled = [max(1, tile[0] * t // wg), *tile[1:]] if tile else []
            out.append(make_config("attention", [t, 1, 1], scaled))
        return _unique(config, out)

    return axis


def search_axes(strategy: str, root: Operation, target: TargetDescription) -> list[Axis]:
    """The axes searched for a region of ``strategy`` built around ``root``, in order."""
    if strategy == "contraction":
        axes = [_contraction_threads_axis(root, target)]
        batched = len(root.results[0].type.get_shape()) > 1  # pyright: ignore[reportAttributeAccessIssue]
        if batched:
            axes.append(_contraction_tokens_axis())
        return axes
    if strategy == "attention":
        return [_attention_axis(root, target)]
    return [_threads_axis(target)]


def seed_config(strategy: str, root: Operation, target: TargetDescription) -> LoweringConfigAttr:
    """Where the search starts: the heuristic's config (``generic.default_config``)."""
    return default_config(strategy, root, target)


def all_candidates(strategy: str, root: Operation, target: TargetDescription) -> list[LoweringConfigAttr]:
    """Every config the search could time if each axis kept the seed: for documentation and tests."""
    seed = seed_config(strategy, root, target)
    out = [seed]
    for axis in search_axes(strategy, root, target):
        out += [c for c in axis(seed) if c not in out]
    return out
