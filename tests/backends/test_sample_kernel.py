"""The ``sample`` strategy's kernel (passes/codegen/sampling.py) on the wgpu adapter, against ``sample_token``.

A tensor-level function holding one ``linalg_ext.sample`` goes through the default pipeline from
form-dispatches to the GPU level; its one kernel then runs on many logits, options and draws (and its row form,
a workgroup per row of a matrix, each row under its own words: sampled speculation's ``@verify_sample``). The
vocabularies do not divide the 256 threads (1000: the last threads' chunks are empty; 49152:
SmolLM2's). The token must be exactly the numpy reference's: the sums differ only in rounding order,
which could matter only for a draw within about 1e-6 of a boundary, and these fixed draws are not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from xdsl.parser import Parser

from rusty_ir.backends.wgsl import emit_program
from rusty_ir.pipeline import build_pipeline
from rusty_ir.registry import build_registry
from rusty_ir.sampling import MAX_PENALIZED, SAMPLING_WORDS, SamplingParams, pack, sample_token

PIPELINE = (
    "attach-target{target=webgpu},form-dispatches,tune-workgroups,rusty-bufferize,convert-dispatch-to-tiled,"
    "promote-to-workgroup-memory,reduction-to-subgroup,distribute-to-gpu-ids,vectorize,convert-tiled-to-gpu"
)
"""The default pipeline's stages that a lone tensor-level op needs (rusty_ir/stages.py)."""


def compiled(rows: str, vocab: int) -> Any:
    """The one kernel of ``linalg_ext.sample`` over ``[rows x] vocab`` logits (``rows``: "" for a vector, "?x" for a
    matrix of any row count) through PIPELINE, emitted as WGSL: the program."""
    out = "?" if rows else "1"
    registry = build_registry()
    module = Parser(
        registry.context(),
        f"func.func @sample(%l: tensor<{rows}{vocab}xf32>, %p: tensor<{rows}{SAMPLING_WORDS}xi32>) -> tensor<{out}xi32> {{\n"
        f"  %t = linalg_ext.sample %l, %p : tensor<{rows}{vocab}xf32>, tensor<{rows}{SAMPLING_WORDS}xi32> -> tensor<{out}xi32>\n"
        f"  func.return %t : tensor<{out}xi32>\n}}\n",
    ).parse_module()
    build_pipeline(registry, PIPELINE).apply(registry.context(), module)
    return emit_program(module)


class SampleKernel:
    """The compiled kernel for one vocabulary size, with its buffers: ``draw(logits, words) -> token``."""

    def __init__(self, device: Any, vocab: int) -> None:
        program = compiled("", vocab)
        (iface,) = program.kernels
        self.device = device
        self.logits, self.words, self.out = device.empty(4 * vocab), device.empty(4 * SAMPLING_WORDS), device.empty(4)
        by_arg = {0: self.logits, 1: self.words, 2: self.out}
        kernel = device.kernel(device.compile(program.source), iface)
        self.bound = kernel.bind([by_arg[b.arg_index] for b in iface.buffers])
        self.threads = int(np.prod(iface.workgroup_size))

    def draw(self, logits: np.ndarray, words: np.ndarray) -> int:
        self.device.write(self.logits, logits.astype(np.float32))
        self.device.write(self.words, words)
        self.device.run([(self.bound, (1, 1, 1))])
        return int(self.device.read(self.out, np.int32, 1)[0])


@pytest.fixture(scope="module")
def device() -> Any:
    from rusty_ir.backends.runtime import Device

    return Device()


@pytest.fixture(scope="module")
def small(device: Any) -> SampleKernel:
    return SampleKernel(device, 1000)


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


def test_matches_the_reference(small: SampleKernel) -> None:
    assert small.threads == 256
    rng = np.random.default_rng(0)
    for case, params in enumerate(OPTIONS):
        for trial in range(6):
            logits = (rng.standard_normal(1000) * (1 + 3 * (trial % 3))).astype(np.float32)
            top = np.argsort(-logits)[:8]
            ids = rng.choice(1000, 30, replace=False).tolist() + top[:3].tolist() + [0, 3, 4, 999]  # chunk edges: 4 per thread
            pairs = [(int(i), int(c)) for i, c in zip(dict.fromkeys(ids), rng.integers(1, 5, len(ids)))]
            words = pack(params, float(rng.random(dtype=np.float32)), pairs)
            assert small.draw(logits, words) == sample_token(logits, words), f"options {case}, trial {trial}"


def test_draws_follow_the_distribution(small: SampleKernel) -> None:
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


def test_edge_cases(small: SampleKernel) -> None:
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
    kernel = SampleKernel(device, 49152)
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal(49152) * 2).astype(np.float32)
    logits[rng.choice(49152, 20)] += 12  # a peaked head, as a model's logits
    for params in OPTIONS[1:6]:
        words = pack(params, float(rng.random(dtype=np.float32)), [(7, 2), (30000, 1)])
        assert kernel.draw(logits, words) == sample_token(logits, words)


def test_rows_each_under_their_own_words(device: Any) -> None:
    """``linalg_ext.sample`` of a matrix: a workgroup per row, row ``r`` drawn from ``logits[r]`` under ``words[r]``,
    every row a different option set of OPTIONS (greedy, top-k, top-p, min-p, penalties), for a dynamic row count."""
    vocab, rows = 1000, len(OPTIONS)
    program = compiled("?x", vocab)
    (iface,) = program.kernels
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((rows, vocab)) * 3).astype(np.float32)
    words = np.stack([pack(p, float(rng.random(dtype=np.float32)), [(int(i), 2) for i in np.argsort(-logits[r])[:2]])
                      for r, p in enumerate(OPTIONS)])  # fmt: skip
    buffers = {0: device.empty(logits.nbytes), 1: device.empty(words.nbytes), 2: device.empty(4 * rows)}
    device.write(buffers[0], logits)
    device.write(buffers[1], words)
    bound = device.kernel(device.compile(program.source), iface).bind([buffers[b.arg_index] for b in iface.buffers])
    device.run([(bound, (rows, 1, 1))])  # the row count is the grid's
    got = device.read(buffers[2], np.int32, rows).tolist()
    assert got == [sample_token(logits[r], words[r]) for r in range(rows)]
