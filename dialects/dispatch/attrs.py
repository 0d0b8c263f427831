"""``#dispatch.lowering_config``: the schedule of one dispatch region, chosen by tuning.

IREE's habit: tuning annotates, lowering reads. ``tune-workgroups`` (or a
person editing the IR) writes this attribute on a ``dispatch.region``;
``convert-dispatch-to-tiled`` builds exactly the loop nest it describes and
never chooses sizes itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from xdsl.ir import Data
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from rusty_ir.ir import parse_keyword_fields

STRATEGIES = ("elementwise", "row", "gemv", "gemm", "attention", "sample")
"""How a region is mapped onto workgroups (passes/codegen/ holds one schedule builder per strategy)."""

MATH = ("f32", "f16", "dp4a")
"""Arithmetic of a contraction's multiply-adds: f32; packed f16 (accumulated in f32 per reduction step; gemm);
or ``dp4a`` (gemv, gemm): activations quantized to int8 per weight block, multiplied with the weight codes by
packed 8-bit dot products, accumulated in i32 per block."""


@dataclass(frozen=True)
class LoweringConfig:
    """The fields of ``#dispatch.lowering_config``; what each means depends on the strategy.

    ``elementwise``: ``workgroup`` invocations each compute one element (or
    ``vector_width`` consecutive ones) of the iteration space.

    ``row``: one workgroup per row; its invocations stride along the row.

    ``gemv`` (contractions over a few tokens, decode): ``workgroup_tile = [T, N]``:
    tokens and output rows per workgroup; ``thread_tile = [R]``: rows each
    invocation accumulates; ``split``: invocations that share one group of R
    rows, each taking every ``split``-th weight block of K (their partial sums
    meet in a cross-invocation reduction: one subgroup when ``split`` is the
    target's subgroup size); ``reduction_tile``: weight blocks an invocation
    loads before it multiplies (loads in flight). Invocations per workgroup =
    ``N / R * split``. ``math = dp4a`` (needs the target's ``int_dot``):
    the workgroup first quantizes the activation blocks into workgroup memory
    as int8 with one scale each (``x ~ d * a``, relative error about 0.5%, as
    llama.cpp's Q8_1); each weight block is then ``rquant.dot_block`` against
    them, four codes per instruction. ``prequantize = 1`` (with ``math =
    dp4a``): a first kernel quantizes the step's activations once (fused
    producers and the prologue's row scale applied; a workgroup per token and
    run of blocks) into a host buffer that every workgroup of the gemv reads,
    instead of each workgroup quantizing all of them. Then the T tokens of a
    workgroup share each weight block: it is read and unpacked once
    (``rquant.load_codes``) and multiplied with every token's int8 words, so
    a workgroup of few rows and a wide ``split`` serves a whole verification
    step at about one read of the weights.

    ``gemm`` (contractions over many tokens, prefill): ``workgroup_tile = [M, N]``:
    tokens and output rows per workgroup; ``thread_tile = [TM, TN]``: the
    register tile of each invocation (multiples of 4; rows and columns in
    groups of 4 that are ``M / (TM/4)`` and ``N / (TN/4)`` apart);
    ``reduction_tile``: K per step (a multiple of the weight's block), each
    step's activation and weight tiles promoted to workgroup memory
    (weights dequantized once there); ``pipeline_depth`` 2 issues the next
    step's global loads before this step's multiply-adds; ``math`` f16 keeps
    the tiles in f16 and multiplies in packed f16 (``math = f16`` needs the
    target's f16); ``math = dp4a`` (the target's ``int_dot``) keeps them as
    8-bit codes: activation blocks quantized to int8 where they are promoted,
    weight blocks' codes as stored, 8-bit dot products summed in i32 per
    block (``passes/codegen/gemm.py``); ``vector_width``: lanes of the tile
    reads.

    ``attention``: one workgroup per (head, query row); ``reduction_tile``: KV
    positions per step of the online softmax (``workgroup / reduction_tile``
    invocations share one position's dot product); ``split``: positions per
    workgroup for split-KV (0 = none; a second kernel merges the partitions).
    With ``workgroup_tile = [Bq]``: one workgroup per (head, block of Bq query
    rows), FlashAttention-2 with Q, K and V tiles in workgroup memory
    (``reduction_tile`` keys per step; ``workgroup = (Bq / 2) * (Bk / 2)``).

    ``sample``: one workgroup per row draws the next token from the logits
    (passes/codegen/sampling.py); ``split``: logits per workgroup (a multiple
    of the invocations), the passes then spread over a workgroup per chunk of
    the row, a launch per pass (0 = one workgroup per row;
    passes/codegen/split_sampling.py).
    """

    strategy: str
    workgroup: tuple[int, int, int]
    workgroup_tile: tuple[int, ...] = ()
    thread_tile: tuple[int, ...] = ()
    reduction_tile: int = 0
    split: int = 0
    vector_width: int = 1
    pipeline_depth: int = 1
    math: str = "f32"
    prequantize: int = 0

    @property
    def threads(self) -> int:
        x, y, z = self.workgroup
        return x * y * z

    def problem(self) -> str | None:
        """Why this config is invalid, or None."""
        s, tile, tt = self.strategy, self.workgroup_tile, self.thread_tile
        if s not in STRATEGIES:
            return f"unknown strategy '{s}' (expected one of {', '.join(STRATEGIES)})"
        if len(self.workgroup) != 3 or min(self.workgroup) <= 0:
            return "workgroup must be three positive sizes [x, y, z]"
        if any(t <= 0 for t in (*tile, *tt)) or self.reduction_tile < 0 or self.split < 0:
            return "tile sizes must be positive"
        if self.vector_width not in (1, 2, 4):
            return f"vector_width must be 1, 2 or 4, got {self.vector_width}"
        if self.pipeline_depth not in (1, 2):
            return f"pipeline_depth must be 1 or 2, got {self.pipeline_depth}"
        if self.pipeline_depth == 2 and s != "gemm":
            return f"pipeline_depth = 2 is a gemm schedule's (a {s} does not pipeline its loads)"
        if self.math not in MATH:
            return f"math must be one of {', '.join(MATH)}, got '{self.math}'"
        if self.math == "dp4a" and s not in ("gemv", "gemm"):
            return f"math = dp4a is a gemv or gemm schedule, not {s}"
        if self.prequantize not in (0, 1):
            return f"prequantize must be 0 or 1, got {self.prequantize}"
        if self.prequantize and (s != "gemv" or self.math != "dp4a"):
            return "prequantize = 1 is a gemv schedule with math = dp4a"
        if s == "gemv":
            if len(tile) != 2 or len(tt) != 1 or self.split < 1 or tile[1] % tt[0]:
                return "gemv needs workgroup_tile = [tokens, rows], thread_tile = [rows per invocation] dividing rows, split >= 1"
            if tile[1] // tt[0] * self.split != self.threads:
                return f"gemv: workgroup_tile rows / thread_tile * split = {tile[1] // tt[0] * self.split} must equal the {self.threads} invocations"
        if s == "gemm":
            if len(tile) != 2 or len(tt) != 2 or any(t % 4 for t in tt) or tile[0] % tt[0] or tile[1] % tt[1]:
                return "gemm needs workgroup_tile = [M, N] and thread_tile = [TM, TN] (multiples of 4 dividing M and N)"
            if (tile[0] // tt[0]) * (tile[1] // tt[1]) != self.threads:
                return f"gemm: (M / TM) * (N / TN) = {(tile[0] // tt[0]) * (tile[1] // tt[1])} must equal the {self.threads} invocations"
            if self.reduction_tile < 1:
                return "gemm needs reduction_tile (K per step)"
        if s == "sample" and self.split % self.threads:
            return f"sample: split (logits per workgroup) must be a multiple of the {self.threads} invocations"
        if s == "attention" and (self.reduction_tile < 1 or (self.split and self.split % self.reduction_tile)):
            return "attention needs reduction_tile (KV positions per step) and a split that is a multiple of it"
        return None


_DEFAULTS = {f.name: f.default for f in fields(LoweringConfig) if f.name not in ("strategy", "workgroup")}
_FIELDS = tuple(f.name for f in fields(LoweringConfig) if f.name != "strategy")


@irdl_attr_definition
class LoweringConfigAttr(Data[LoweringConfig]):
    """How to lower one dispatch region: its strategy and named tile sizes (``LoweringConfig``).

    Fields at their default are not printed. Lists print as ``[a, b]``,
    ``math`` as a bare word.

    Example: ``#dispatch.lowering_config<gemm, workgroup = [256, 1, 1], workgroup_tile = [64, 128],
    thread_tile = [4, 8], reduction_tile = 32, vector_width = 4, pipeline_depth = 2, math = f16>``
    """

    name = "dispatch.lowering_config"

    def __init__(self, strategy: str | LoweringConfig, workgroup: Sequence[int] = (1, 1, 1), **kwargs: Any) -> None:
        config = strategy if isinstance(strategy, LoweringConfig) else _make(strategy, workgroup, kwargs)
        super().__init__(config)

    # -- convenience accessors ------------------------------------------------------------------

    @property
    def config(self) -> LoweringConfig:
        return self.data

    @property
    def strategy(self) -> str:
        return self.data.strategy

    @property
    def workgroup_size(self) -> tuple[int, int, int]:
        return self.data.workgroup

    @property
    def threads(self) -> int:
        return self.data.threads

    def replace(self, **changes: Any) -> LoweringConfigAttr:
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
        return LoweringConfigAttr(replace(self.data, **fields))

    def verify(self) -> None:
        problem = self.data.problem()
        if problem is not None:
            raise VerifyException(problem)

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> LoweringConfig:
        with parser.in_angle_brackets():
            strategy = parser.parse_identifier("expected a strategy")

            def value(key: str) -> Any:
                if key in ("workgroup", "workgroup_tile", "thread_tile"):
                    return tuple(parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parser.parse_integer))
                if key == "math":
                    return parser.parse_identifier("expected f32 or f16")
                return parser.parse_integer(allow_boolean=False)

            values = parse_keyword_fields(parser, "lowering_config", _FIELDS, value)
        if "workgroup" not in values:
            parser.raise_error("lowering_config needs workgroup = [x, y, z]")
        config = _make(strategy, values.pop("workgroup"), values)
        # checked here too, so that a bad config is a located parse error rather than a crash
        problem = config.problem()
        if problem is not None:
            parser.raise_error(problem)
        return config

    def print_parameter(self, printer: Printer) -> None:
        c = self.data
        parts = [c.strategy, "workgroup = [" + ", ".join(map(str, c.workgroup)) + "]"]
        for name in _FIELDS[1:]:
            value = getattr(c, name)
            if value == _DEFAULTS[name]:
                continue
            parts.append(f"{name} = " + ("[" + ", ".join(map(str, value)) + "]" if isinstance(value, tuple) else str(value)))
        printer.print_string("<" + ", ".join(parts) + ">")


def _make(strategy: str, workgroup: Sequence[int], kwargs: dict[str, Any]) -> LoweringConfig:
    clean: dict[str, Any] = {k: tuple(v) if isinstance(v, list | tuple) else v for k, v in kwargs.items()}
    return LoweringConfig(strategy, tuple(workgroup), **clean)  # type: ignore[arg-type]  # a workgroup of another length is LoweringConfig's own error
