"""KV-cache offload to host memory (backends/runtime/offload.py): with a device budget that leaves most of the
cache on the host, a tiny model on llvmpipe generates exactly what the all-on-device run does, and its last
step's logits are bit-identical (attention still sees every position); speculative verify steps, rewinds into
host blocks and bad budgets too."""

from __future__ import annotations

import numpy as np
import pytest
import wgpu
from tiny_compiled import tiny_model, tiny_runtime

from rusty_ir.api import parse_bytes
from rusty_ir.backends.runtime.offload import HOST_FEATURE, HOST_USAGE
from rusty_ir.errors import RustyError
from rusty_ir.generate import Session
from rusty_ir.speculative import SpeculativeOptions, Speculator
from rusty_ir.tools import rusty

CONTEXT, STEP = 96, 8
PROMPT = [5 + (i * 7) % 50 for i in range(70)]
NEW = 20
BUDGET = 35104
"""Bytes: 10 resident blocks of 4 positions per layer (a 33-token verify step's), the shared staging and the tables;
the 89 positions of a run take 23 blocks, 13 of them on the host."""


def _run(rt, spec: Speculator | None = None) -> tuple[list[int], np.ndarray]:
    model = tiny_model()
    ids = Session(rt, model.tokenizer).generate(PROMPT, NEW, stop_at_eos=False, speculative=spec).generated_ids
    end = len(PROMPT) + NEW - 1
    logits = rt.verify_logits(np.asarray(ids[-1:], np.int32), end)  # one more step, reading all 89 earlier positions
    return ids, logits


@pytest.fixture(scope="module")
def on_device() -> tuple[list[int], np.ndarray]:
    rt = tiny_runtime(CONTEXT, max_prefill=STEP)
    assert not rt.offloading
    return _run(rt)


def test_offloaded_run_is_the_on_device_run(on_device: tuple[list[int], np.ndarray]) -> None:
    rt = tiny_runtime(CONTEXT, max_prefill=STEP, kv_device_budget=BUDGET)
    assert rt.offloading
    ids, logits = _run(rt)
    assert ids == on_device[0]
    np.testing.assert_array_equal(logits, on_device[1])
    mem = rt.kv_memory_report()
    assert mem["device_bytes"] <= BUDGET < rt.memory_report()["kv_cache"] + 1 + mem["host_bytes"]
    assert mem["positions_on_host"] >= (len(PROMPT) + NEW) // 2, mem  # at least half the cache on the host
    assert mem["host_bytes"] > 0 and mem["host_bytes_per_step"] > 0
    kv = rt.kv_cache_report()["kv"]
    assert kv["blocks_on_host"] + kv["resident_blocks_per_layer"] >= kv["blocks_used"], kv

    # speculative verify steps (rows written, then truncated) and a rewind into a host block, as a chat's next turn
    rt.reset()
    spec_ids, _ = _run(rt, Speculator(SpeculativeOptions("lookup", 4)))
    assert spec_ids == on_device[0]
    session = Session(rt, tiny_model().tokenizer)
    session.generate(PROMPT, NEW, stop_at_eos=False)
    again = session.generate([*PROMPT[:10], 77, 78], 6, stop_at_eos=False)  # shares 10 positions: block 2 comes back
    fresh = tiny_runtime(CONTEXT, max_prefill=STEP)
    assert again.cached_tokens == 10
    assert (
        again.generated_ids == Session(fresh, tiny_model().tokenizer).generate([*PROMPT[:10], 77, 78], 6, stop_at_eos=False).generated_ids
    )


def test_host_blocks_in_host_memory_or_through_readback(on_device: tuple[list[int], np.ndarray]) -> None:
    """Host blocks live in ``MAP_READ`` buffers (host memory) where the device has ``mappable-primary-buffers``
    (llvmpipe has it; BENCHMARKS.md: ``MAP_WRITE`` buffers stayed in an H200's memory), filled by GPU copies;
    without the feature, in ``MAP_WRITE`` buffers through a read-back buffer. Both give the on-device run."""
    rt = tiny_runtime(CONTEXT, max_prefill=STEP, kv_device_budget=BUDGET)
    assert HOST_FEATURE in rt.device.features
    assert _run(rt)[0] == on_device[0]
    host = [b for pool in rt._caches.pools.values() for b in pool.host_buffers.values()]
    assert host and all(b.usage == HOST_USAGE for b in host)

    rt = tiny_runtime(CONTEXT, max_prefill=STEP, kv_device_budget=BUDGET)
    rt.device.features = rt.device.features - {HOST_FEATURE}
    ids, logits = _run(rt)
    assert ids == on_device[0]
    np.testing.assert_array_equal(logits, on_device[1])
    host = [b for pool in rt._caches.pools.values() for b in pool.host_buffers.values()]
    assert host and all(b.usage & wgpu.BufferUsage.MAP_WRITE for b in host)


def test_bad_budgets_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RustyError, match="cannot hold one step's KV blocks on the device: it needs at least 35104 bytes"):
        tiny_runtime(CONTEXT, max_prefill=STEP, kv_device_budget=BUDGET - 1)
    assert parse_bytes("2G") == 2 << 30 and parse_bytes("512MiB") == 512 << 20 and parse_bytes("1000") == 1000
    for bad in ("-5", "0", "lots", "1.5X", ""):
        with pytest.raises(RustyError, match="--kv-device-budget must be a"):
            parse_bytes(bad)
    assert rusty.main(["run", "--backend", "reference", "--kv-device-budget=-1G", "--prompt", "hi"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("rusty: error: --kv-device-budget must be a positive number of bytes") and "\n" not in err, err
