"""The ``sample`` strategy's kernels (passes/codegen/sampling.py) on the wgpu adapter, against ``sample_token``.

A tensor-level function holding one ``linalg_ext.sample`` goes through the default pipeline from
form-dispatches to the GPU level, under both schedules: one workgroup per row (``split = 0``) and a
workgroup per chunk of the row, a kernel per pass (``split`` > 0). Its host function runs through the
runtime's schedule executor (the split's scratch buffers, its ``SPLIT_KERNELS`` launches) on many
logits, options and draws, and in its row form (sampled speculation's ``@verify_sample``) each row
under its own words. The vocabularies do not divide the chunks or the 256 threads (1000: the last
threads' chunks are empty; 49152: SmolLM2's, split by the tuning's default). The token must be exactly
the numpy reference's: the sums differ only in rounding order, which could matter only for a draw within
about 1e-6 of a boundary, and these fixed draws are not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from xdsl.parser import Parser

from rusty_ir.backends.runtime.schedule import load_schedule
from rusty_ir.backends.schedule import emit_schedule
from rusty_ir.backends.wgsl import emit_program
from rusty_ir.bench.fusion_program import _Program
from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.passes.codegen.split_sampling import SPLIT_KERNELS, SPLIT_STEPS, sample_split
from rusty_ir.pipeline import build_pipeline
from rusty_ir.registry import build_registry
from rusty_ir.sampling import MAX_PENALIZED, SAMPLING_WORDS, SamplingParams, pack, sample_token

FORM = "attach-target{target=webgpu},form-dispatches"
LOWER = (
    "tune-workgroups,rusty-bufferize,convert-dispatch-to-tiled,promote-to-workgroup-memory,reduction-to-subgroup,"
    "distribute-to-gpu-ids,vectorize,plan-memory,convert-tiled-to-gpu"
)
"""The default pipeline's stages that a lone tensor-level op needs (rusty_ir/stages.py), with room between the two
to choose the region's config."""


class SampleKernels:
    """``linalg_ext.sample`` over ``[rows x] vocab`` logits (``rows``: None for a vector) compiled under ``split`` (None:
    the tuning's choice), on the device: ``draw(logits, words) -> tokens``."""

    def __init__(self, device: Any, vocab: int, rows: int | None = None, split: int | None = None) -> None:
        dims, out = ("?x", "?") if rows else ("", "1")
        registry = build_registry()
        module = Parser(
            registry.context(),
            f"func.func @sample(%l: tensor<{dims}{vocab}xf32>, %p: tensor<{dims}{SAMPLING_WORDS}xi32>) -> tensor<{out}xi32> {{\n"
            f"  %t = linalg_ext.sample %l, %p : tensor<{dims}{vocab}xf32>, tensor<{dims}{SAMPLING_WORDS}xi32> -> tensor<{out}xi32>\n"
            f"  func.return %t : tensor<{out}xi32>\n}}\n",
        ).parse_module()
        build_pipeline(registry, FORM).apply(registry.context(), module)
        if split is not None:
            for region in module.walk():
                if isinstance(region, RegionOp):
                    region.config = LoweringConfigAttr("sample", [256, 1, 1], split=split)
        build_pipeline(registry, LOWER).apply(registry.context(), module)
        self.kernels = len(emit_program(module).kernels)
        self.rows = rows or 1
        shape = (rows, vocab) if rows else (vocab,)
        inputs = {"l": np.zeros(shape, np.float32), "p": np.zeros((*shape[:-1], SAMPLING_WORDS), np.int32)}
        self.device = device
        self.program = _Program.load(device, emit_program(module).source, load_schedule(emit_schedule(module)), inputs, {},
                                     (self.rows,), function="sample")  # fmt: skip
        self.dispatches = len(self.program.dispatches)

    def draw_rows(self, logits: np.ndarray, words: np.ndarray) -> list[int]:
        buffers = self.program.buffers
        self.device.write(buffers[("arg", "l")], np.ascontiguousarray(logits, np.float32))
        self.device.write(buffers[("arg", "p")], np.ascontiguousarray(words, np.int32))
        self.device.run([(d.bound, d.grid) for d in self.program.dispatches])
        return self.program.read_output((self.rows,), np.int32).tolist()

    def draw(self, logits: np.ndarray, words: np.ndarray) -> int:
        return self.draw_rows(logits, words)[0]


@pytest.fixture(scope="module")
def device() -> Any:
    from rusty_ir.backends.runtime import Device

    return Device()


SCHEDULES = {"one workgroup": 0, "split": 256}
"""The schedules the small vocabulary runs under: ``split = 256`` cuts its 1000 logits into 4 chunks (the last of 232)."""


@pytest.fixture(scope="module", params=list(SCHEDULES))
def small(device: Any, request: pytest.FixtureRequest) -> SampleKernels:
    kernels = SampleKernels(device, 1000, split=SCHEDULES[request.param])
    assert (kernels.kernels, kernels.dispatches) == ((len(SPLIT_STEPS), SPLIT_KERNELS) if SCHEDULES[request.param] else (1, 1))
    return kernels


OPTIONS = [
    SamplingParams(),
    SamplingParams(temperature=1.0),
    SamplingParams(temperature=0.6, top_k=40),
    SamplingParams(temperature=1.2, top_p=0.9),
    SamplingParams(temperature=1.0, min_p=0.1),
    SamplingParams(temperature=0.8, top_k=50, top_p=0.95, min_p=0.02),
    SamplingParams(temperature=1.0, top_k=1),
    SamplingParams(temperature=0.7, top_k=999),
    SamplingParams(temperature=1.0, repetition_penalty=1.5, presence_penalty=0.5, frequency_penalty=0.3),
    SamplingParams(repetition_penalty=3.0),  # greedy over penalized logits
]


def test_matches_the_reference(small: SampleKernels) -> None:
    rng = np.random.default_rng(0)
    for case, params in enumerate(OPTIONS):
        for trial in range(6):
            logits = (rng.standard_normal(1000) * (1 + 3 * (trial % 3))).astype(np.float32)
            top = np.argsort(-logits)[:8]
            ids = rng.choice(1000, 30, replace=False).tolist() + top[:3].tolist() + [0, 3, 4, 999]  # chunk edges: 4 per thread
            pairs = [(int(i), int(c)) for i, c in zip(dict.fromkeys(ids), rng.integers(1, 5, len(ids)))]
            words = pack(params, float(rng.random(dtype=np.float32)), pairs)
            assert small.draw(logits, words) == sample_token(logits, words), f"options {case}, trial {trial}"


def test_draws_follow_the_distribution(small: SampleKernels) -> None:
    """u sweeping [0, 1) evenly lands on each kept token in proportion to its probability."""
    logits = np.full(1000, -30.0, np.float32)
    logits[[3, 250, 251, 777, 998]] = [1.0, 2.0, 0.5, 2.0, 1.5]
    params = SamplingParams(temperature=1.0, top_k=4)  # 251 (0.5) is out; ties at 2.0 both in
    grid = 100
    counts = np.zeros(1000)
    for j in range(grid):
        counts[small.draw(logits, pack(params, (j + 0.5) / grid))] += 1
    kept = [3, 250, 777, 998]
    p = np.exp(logits[kept] - 2.0)
    np.testing.assert_allclose(counts[kept] / grid, p / p.sum(), atol=1.01 / grid)
    assert counts.sum() == counts[kept].sum()


def test_edge_cases(small: SampleKernels) -> None:
    flat = np.zeros(1000, np.float32)
    assert small.draw(flat, pack(SamplingParams(), 0.7)) == 0  # greedy: the first of equals
    assert small.draw(flat, pack(SamplingParams(temperature=1.0), 0.5)) == 500  # uniform: u picks the id
    assert small.draw(flat, pack(SamplingParams(temperature=1.0, top_k=10), 0.99)) == sample_token(
        flat, pack(SamplingParams(temperature=1.0, top_k=10), 0.99)
    )
    masked = np.full(1000, -np.inf, np.float32)
    masked[640] = 0.0
    assert small.draw(masked, pack(SamplingParams(temperature=2.0, top_p=0.5), 0.9)) == 640
    many = [(i, 1) for i in range(0, 1000, 1000 // MAX_PENALIZED + 1)][:MAX_PENALIZED]
    words = pack(SamplingParams(temperature=0.9, frequency_penalty=2.0), 0.3, many)
    logits = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    assert small.draw(logits, words) == sample_token(logits, words)


def test_smollm2_vocabulary(device: Any) -> None:
    """SmolLM2's 49152 logits: the tuning splits them (24 chunks of 2048)."""
    kernel = SampleKernels(device, 49152)
    assert kernel.dispatches == SPLIT_KERNELS
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal(49152) * 2).astype(np.float32)
    logits[rng.choice(49152, 20)] += 12  # a peaked head, as a model's logits
    for params in [*OPTIONS[:6], OPTIONS[8]]:
        words = pack(params, float(rng.random(dtype=np.float32)), [(7, 2), (30000, 1), (49151, 3)])
        assert kernel.draw(logits, words) == sample_token(logits, words), params


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_rows_each_under_their_own_words(device: Any, schedule: str) -> None:
    """``linalg_ext.sample`` of a matrix: row ``r`` drawn from ``logits[r]`` under ``words[r]``, every row a
    different option set of OPTIONS (greedy, top-k, top-p, min-p, penalties), for a dynamic row count."""
    vocab, rows = 1000, len(OPTIONS)
    kernels = SampleKernels(device, vocab, rows, SCHEDULES[schedule])
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((rows, vocab)) * 3).astype(np.float32)
    words = np.stack([pack(p, float(rng.random(dtype=np.float32)), [(int(i), 2) for i in np.argsort(-logits[r])[:2]])
                      for r, p in enumerate(OPTIONS)])  # fmt: skip
    assert kernels.draw_rows(logits, words) == [sample_token(logits[r], words[r]) for r in range(rows)]


@pytest.mark.parametrize("vocab", [1000, 2048, 2049, 49152, 128256, 262144, 1_000_000])
def test_the_tunings_split_fits_its_kernels(vocab: int) -> None:
    """``sample_split``: one workgroup a row up to 256 x 8 logits; past that a split that the kernels take (a multiple
    of the 256 invocations, at least 2 and at most 256 chunks: the combine gives each chunk an invocation)."""
    split = sample_split(vocab, 256)
    if vocab <= 256 * 8:
        assert split == 0
    else:
        assert split % 256 == 0 and 2 <= -(-vocab // split) <= 256
