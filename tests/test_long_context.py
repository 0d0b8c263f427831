"""Long prompts on a tiny model (llvmpipe): a prompt run as many small prefill steps (``max_prefill``: chunked
prefill, the step's activation budget) gives what one step gives, also with the KV cache mostly on the host;
split-KV attention whose partitions grow with the context gives what fixed partitions give; and ``rusty run
--json`` reports the memory figures (weights, KV cache and activations, device and host bytes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_compiled import BLOCK, tiny_artifact, tiny_checkpoint, tiny_model, tiny_runtime

from rusty_ir.backends.runtime.model import MAX_VERIFY_TOKENS, ModelRuntime
from rusty_ir.driver import CompileOptions, compile_model
from rusty_ir.generate import Session
from rusty_ir.tools import rusty

CONTEXT = 192
PROMPT = [3 + (i * 11) % 200 for i in range(160)]


def _generate(**kwargs: object) -> tuple[list[int], np.ndarray, dict]:
    rt = tiny_runtime(CONTEXT, **kwargs)
    ids = Session(rt, tiny_model().tokenizer).generate(PROMPT, 8, stop_at_eos=False).generated_ids
    logits = rt.verify_logits(np.asarray(ids[-1:], np.int32), len(PROMPT) + 7)
    return ids, logits, {**rt.memory_figures(), "slots": rt.memory_report()["slots"]}


def test_chunked_prefill_is_one_step() -> None:
    one, one_logits, one_mem = _generate(max_prefill=len(PROMPT))
    chunked, logits, mem = _generate(max_prefill=8)  # 20 steps
    assert chunked == one
    np.testing.assert_allclose(logits, one_logits, rtol=1e-5, atol=1e-5 * float(np.abs(one_logits).max()))
    # the activation slots are sized for the largest step: the 33-row verify step here, not a 160-token prefill
    assert mem["slots"] == tiny_runtime(CONTEXT, max_prefill=MAX_VERIFY_TOKENS).memory_report()["slots"] < one_mem["slots"]
    offloaded, off_logits, off_mem = _generate(max_prefill=8, kv_device_budget=60000)
    assert offloaded == chunked
    np.testing.assert_array_equal(off_logits, logits)
    kv = off_mem["kv_cache"]
    assert kv["positions_on_host"] >= len(PROMPT) // 2 and kv["host_bytes"] > 0 and kv["device_bytes"] <= 60000, kv


def test_growing_split_kv_partitions_are_fixed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny model compiled with ``SPLIT_KV_PARTITIONS`` lowered to 2: past 64 positions its decode and
    verification steps' attention takes 2 partitions of a growing multiple of 32 positions (3 and more at the
    shared artifact's fixed 32), the scratch buffer sized by the runtime at a step's first and last positions.
    Same tokens and logits as the shared artifact, also with most of the KV cache on the host."""
    from rusty_ir.passes.codegen import attention

    want, want_logits, _ = _generate()
    monkeypatch.setattr(attention, "SPLIT_KV_PARTITIONS", 2)
    options = CompileOptions(verify_entry=True, kv_block_size=BLOCK)
    artifact = compile_model(tiny_model(), options, use_cache=False).artifact
    for budget in (None, 60000):  # all on the device; most of the cache on the host
        rt = ModelRuntime(artifact.schedule, artifact.wgsl, tiny_model().weights, CONTEXT, kv_device_budget=budget)
        ids = Session(rt, tiny_model().tokenizer).generate(PROMPT, 8, stop_at_eos=False).generated_ids
        assert ids == want
        logits = rt.verify_logits(np.asarray(ids[-1:], np.int32), len(PROMPT) + 7)
        np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-5 * float(np.abs(want_logits).max()))


def test_rusty_run_json_reports_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compiled = tmp_path / "compiled"
    compiled.mkdir()
    for name, text in tiny_artifact().files().items():
        (compiled / name).write_text(text)
    model = tiny_checkpoint(tmp_path / "tiny.gguf")
    argv = ["run", str(model), "--compiled", str(compiled), "--no-chat", "--prompt", "the world " * 40, "--max-tokens", "4",
            "--ignore-eos", "--context-length", str(CONTEXT), "--json", "-q"]  # fmt: skip
    assert rusty.main([*argv, "--kv-device-budget", "60000"]) == 0
    memory = json.loads(capsys.readouterr().out)["memory"]
    assert set(memory) == {"weights", "kv_cache", "activations", "device_total_bytes"}
    kv, act = memory["kv_cache"], memory["activations"]
    assert kv["device_budget"] == 60000 and kv["host_bytes"] > 0 and kv["positions_on_host"] > 0, kv
    assert act["device_bytes"] > 0 and act["host_bytes"] == 0
    assert memory["device_total_bytes"] == memory["weights"]["device_bytes"] + kv["device_bytes"] + act["device_bytes"]
