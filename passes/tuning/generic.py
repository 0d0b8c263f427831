"""Default heuristics for workgroup and tile sizes, for any GPU (within the target's limits)."""

from __future__ import annotations

from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Operation

from rusty_ir.dialects.dispatch import LoweringConfigAttr
from rusty_ir.dialects.linalg_ext import AttentionOp
from rusty_ir.targets import TargetDescription


PREFILL_TOKENS = 4
"""Tokens a contraction workgroup handles in a prefill step on GPU targets (reusing each decoded weight block);
more than one makes kernels larger: worth it on GPUs, not on CPU adapters such as llvmpipe."""


def _pow2_floor(n: int) -> int:
    return 1 << (max(n, 1).bit_length() - 1)


def _pow2_ceil(n: int) -> int:
    return 1 << (max(n, 1) - 1).bit_length()


def default_config(strategy: str, root: Operation, target: TargetDescription) -> LoweringConfigAttr:
    """A lowering config that is correct everywhere and reasonable on most GPUs.

    - elementwise and row: ``min(256, max_invocations)`` threads;
    - contraction: 256 threads split into ``rows`` groups, each reducing one
      output row; a group gets about one quantization block (32 values) of K per
      thread, so short rows use small groups and more rows per workgroup; a
      contraction over tokens takes ``PREFILL_TOKENS`` per workgroup on GPUs with subgroups;
    - attention: as many threads as the target allows, up to 1024 (more if
      head_dim is larger), split into groups of head_dim threads, and a KV
      tile of as many positions as threads. A decode step has one workgroup
      per head, so its latency is a per-thread walk over ``positions /
      groups`` positions: on an H100, 1024 threads made SmolLM2's decode
      attention 25% faster than 256 (prefill attention 0-10% slower).
    """
    threads = min(256, target.max_invocations)
    if strategy == "contraction":
        assert isinstance(root, linalg.GenericOp)
        k = root.inputs[0].type.get_shape()[-1]  # pyright: ignore[reportAttributeAccessIssue]
        per_row = max(1, min(threads, target.subgroup_size, _pow2_floor(k // 32)))
        batched = len(root.results[0].type.get_shape()) > 1  # pyright: ignore[reportAttributeAccessIssue]
        tile = [threads // per_row, PREFILL_TOKENS] if batched and target.subgroup_size else [threads // per_row]
        return LoweringConfigAttr("contraction", [threads, 1, 1], tile)
    if strategy == "attention":
        assert isinstance(root, AttentionOp)
        hd = root.head_dim.value.data
        wg = max(_pow2_floor(min(1024, target.max_invocations)), _pow2_ceil(hd))
        return LoweringConfigAttr("attention", [wg, 1, 1], [wg])
    return LoweringConfigAttr(strategy, [threads, 1, 1])


