"""Layer streaming (``ModelRuntime(resident_layers=N)``) on the wgpu adapter (llvmpipe in CI).

A three-layer synthetic model (random weights: every layer's differ) run with one or two layers'
weights on the device, each layer's written into its slot before it runs, must give exactly the
tokens and logits of the fully resident runtime: prefill in several steps, decode (one step at a
time), and the logits entry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_runs import PROMPT, run, runtime, synthetic_model

from rusty_ir.backends.runtime.model import slot_of_layer
from rusty_ir.errors import RustyError
from rusty_ir.generate import generate

TOKENS = 10


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return synthetic_model("test-tiny-3l", tmp_path_factory.mktemp("stream"))


@pytest.fixture(scope="module")
def resident(model: Any) -> tuple[list[int], np.ndarray]:
    return run(runtime(model), model, TOKENS)


@pytest.mark.parametrize("n", [1, 2])
def test_streamed_layers_give_what_resident_layers_give(model: Any, resident: Any, n: int) -> None:
    rt = runtime(model, resident_layers=n)
    assert rt.num_layers == 3 and rt.resident_layers == n
    groups = rt._plans["decode"].groups
    assert groups is not None and [g[2] for g in groups] == [0, 1, 2], "one command buffer per layer"
    tokens, logits = run(rt, model, TOKENS)
    assert tokens == resident[0]
    np.testing.assert_array_equal(logits, resident[1])
    # a stream, one step at a time here, ends one token after its ``until`` says so, as the queued-ahead one does
    rt.reset()
    first = generate(rt, model.tokenizer, PROMPT, 1, stop_at_eos=False).generated_ids[0]
    seen: list[int] = []
    assert list(rt.decode_stream(first, len(PROMPT), 6, until=lambda t: seen.append(t) or len(seen) == 2)) == seen == tokens[1:4]
    # a second sequence: the slots hold the last layers of the first one and are written again
    rt.reset()
    second = generate(rt, model.tokenizer, PROMPT[20:], 4, stop_at_eos=False).generated_ids
    assert second == generate(runtime(model), model.tokenizer, PROMPT[20:], 4, stop_at_eos=False).generated_ids


def test_a_stale_slot_changes_the_tokens(model: Any, resident: Any) -> None:
    """The test model notices a slot that is not refreshed: writing layer 0's weights where layer 1's belong
    (one slot) changes the tokens and logits, so the tests above show that each layer gets its own weights."""
    rt = runtime(model, resident_layers=1)
    assert rt._stream is not None
    rt._stream.layers[1] = rt._stream.layers[0]
    tokens, logits = run(rt, model, TOKENS)
    assert tokens != resident[0]
    assert not np.allclose(logits, resident[1], rtol=1e-3, atol=1e-3)


def test_streaming_keeps_only_the_slots_on_the_device(model: Any) -> None:
    full = runtime(model).memory_report()["weights"]
    one, two = (runtime(model, resident_layers=n) for n in (1, 2))
    assert one._stream is not None and one._stream.held == [None], "nothing is uploaded before the first step"
    per_layer = one._stream.nbytes // 3
    assert per_layer > 0 and one._stream.nbytes == 3 * per_layer
    assert one.memory_report()["weights"] == full - 2 * per_layer
    assert two.memory_report()["weights"] == full - per_layer
    assert one.memory_report()["total"] < two.memory_report()["total"] < runtime(model).memory_report()["total"]


class _CountingQueue:
    """A device queue that counts, per buffer label, the writes that go through it."""

    def __init__(self, queue: Any) -> None:
        self.queue, self.writes = queue, Counter[str]()

    def write_buffer(self, buffer: Any, *args: Any) -> None:
        self.writes[buffer.label] += 1
        self.queue.write_buffer(buffer, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)


def test_the_first_layers_stay_and_the_rest_take_turns(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Three slots for four layers: layer 0 keeps slot 0; layers 1-3 take turns in slots 1 and 2, so layers
    1 and 3 share slot 1 (both written every step) and layer 2 stays in slot 2 (written once). The tokens
    are the resident runtime's."""
    model4 = synthetic_model("test-tiny-4l", tmp_path_factory.mktemp("stream4"))
    assert [slot_of_layer(layer, 3) for layer in range(4)] == [0, 1, 2, 1]
    assert [slot_of_layer(layer, 2) for layer in range(4)] == [0, 1, 0, 1]
    rt = runtime(model4, resident_layers=3)
    counting = rt._queue = _CountingQueue(rt._queue)
    tokens = generate(rt, model4.tokenizer, PROMPT[:5], 3, stop_at_eos=False).generated_ids  # 3 steps
    assert tokens == generate(runtime(model4), model4.tokenizer, PROMPT[:5], 3, stop_at_eos=False).generated_ids
    writes = {slot: sum(n for label, n in counting.writes.items() if label.startswith(f"slot{slot}:")) for slot in range(3)}
    per_layer = len(rt._stream.layers[0])  # weights (writes) of one layer
    assert writes == {0: per_layer, 1: 2 * 3 * per_layer, 2: per_layer}


@pytest.mark.parametrize("n", [3, 7])
def test_as_many_resident_layers_as_layers_is_fully_resident(model: Any, n: int) -> None:
    rt = runtime(model, resident_layers=n)
    assert rt.resident_layers is None and rt._stream is None and rt._plans["decode"].groups is None


@pytest.mark.parametrize("n", [0, -2, 1.5, True])
def test_invalid_resident_layers_are_refused(model: Any, n: Any) -> None:
    with pytest.raises(RustyError, match="resident_layers"):
        runtime(model, resident_layers=n)


def test_profiling_a_streamed_step_is_refused(model: Any) -> None:
    with pytest.raises(RustyError, match="layer streaming"):
        runtime(model, resident_layers=1).profile_step("decode", np.array([5], np.int32), 0)


def _rusty(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rusty_ir.tools.rusty", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_rusty_run_resident_layers(model: Any, tmp_path: Path) -> None:
    """``rusty run --resident-layers 1`` streams (the report says so, with fewer weight bytes) and generates
    what ``rusty run`` does; N < 1, or another backend, is refused before anything is loaded."""
    env = {**os.environ, "RUSTY_CACHE_DIR": str(tmp_path / "cache")}
    args = ("run", str(model.source), "--no-chat", "--prompt", "hello there", "--max-tokens", "5", "--ignore-eos",
            "--context-length", "64", "--json", "-q")  # fmt: skip
    full, one = (_rusty(*args, *extra, env=env) for extra in ((), ("--resident-layers", "1")))
    assert full.returncode == 0 and one.returncode == 0, full.stderr + one.stderr
    full_r, one_r = json.loads(full.stdout), json.loads(one.stdout)
    assert one_r["generated_ids"] == full_r["generated_ids"] and len(one_r["generated_ids"]) == 5
    assert (full_r["compile"]["resident_layers"], one_r["compile"]["resident_layers"]) == (None, 1)
    assert one_r["compile"]["memory"]["weights"] < full_r["compile"]["memory"]["weights"]
    for extra, message in ((("--resident-layers", "0"), "--resident-layers must be at least 1"),
                           (("--resident-layers", "1", "--backend", "reference"), "--resident-layers applies to the wgpu backend")):  # fmt: skip
        r = _rusty("run", str(model.source), *extra, env=env)
        assert r.returncode == 1 and "rusty: error:" in r.stderr and message in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resident-layers", "0"], "--resident-layers must be at least 1"),
        (["--resident-layers", "1", "--profile"], "--profile times a step as one command buffer"),
        (["--fusion", "--resident-layers", "1"], "--resident-layers does not apply to rusty bench --fusion"),
    ],
)
def test_rusty_bench_refuses_bad_resident_layers(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from rusty_ir.tools.rusty import main

    assert main(["bench", "--synthetic", "test-tiny", *args] if "--fusion" not in args else ["bench", *args]) == 1
    assert f"rusty: error: {message}" in capsys.readouterr().err
