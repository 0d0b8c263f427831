"""Real checkpoints compiled through every IR level and run on the wgpu adapter, against Hugging Face.

On a machine without a GPU the adapter is Mesa's software Vulkan driver (llvmpipe), as in CI.
The kernels compute in float32 from the quantized blocks, so they agree with the oracle far
better than its f16 tolerance; still, a greedy mismatch is accepted at a step whose reference
top-two gap is below ``NEAR_TIE`` (the issue's 0.05), where rounding order may flip it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import oracle_checks
import pytest
from importers.tiny import hf_reference_checkpoints

from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.driver import CompileOptions, compile_model
from rusty_ir.generate import Session, generate
from rusty_ir.importers import load_model

DATA = Path(__file__).resolve().parent / "data"
WGPU_TOKENS = 16
"""Greedy tokens compared per oracle prompt on wgpu (llvmpipe decodes SmolLM2 at about 4 tokens/s); the
reference backend compares all 32 (test_reference_model.py), and every prompt's first-step logits are
compared here too."""
NEAR_TIE = 0.05
LOGITS_REL_TOL = 2e-2


def compile_and_load(model: Any, context_length: int) -> tuple[ModelRuntime, Any]:
    result = compile_model(model, CompileOptions(logits_entry=True), use_cache=False)
    runtime = ModelRuntime(result.artifact.schedule, result.artifact.wgsl, model.weights, context_length)
    return runtime, result


@pytest.fixture(scope="module")
def smollm2_gpu(smollm2: Any) -> tuple[Any, ModelRuntime]:
    runtime, _ = compile_and_load(smollm2, 256)
    return smollm2, runtime


def test_smollm2_on_wgpu_matches_oracle(smollm2_gpu: tuple[Any, ModelRuntime], oracle: dict, oracle_logits: dict) -> None:
    model, runtime = smollm2_gpu
    compared = {}
    for p in oracle["prompts"]:
        ids = model.tokenizer.encode_chat(p["messages"]) if p.get("messages") else model.tokenizer.encode(p["prompt_text"])
        assert ids == p["input_ids"], p["name"]
        err = oracle_checks.max_rel_err(runtime.prefill_logits(np.array(ids, np.int32)), oracle_logits[p["name"]])
        assert err < LOGITS_REL_TOL, f"wgpu {p['name']}: first-step logits off by {err:.3g}"
        n = min(WGPU_TOKENS, len(p["generated_ids"]))
        result = Session(runtime, model.tokenizer).generate(ids, n, stop_at_eos=False)
        compared[p["name"]] = oracle_checks.compare_greedy(
            result.generated_ids, p["generated_ids"][:n], p["greedy_steps"], f"wgpu {p['name']}", NEAR_TIE
        )
    print(f"\nwgpu: greedy ids compared per prompt: {compared}")


def test_smollm2_dispatch_budget(smollm2_gpu: tuple[Any, ModelRuntime]) -> None:
    """A decoder layer takes at most 8 dispatches in decode; the model at most 8 x layers + 4."""
    model, runtime = smollm2_gpu
    layers = model.config.n_layers
    per_token = runtime.dispatches_per_step("decode")
    assert per_token <= 8 * layers + 4, per_token
    # the entries outside the layer loop take a few dispatches; the rest is per layer
    assert (per_token - 3) % layers == 0 and (per_token - 3) // layers <= 8, per_token


def test_tiny_checkpoints_on_wgpu(tmp_path: Path) -> None:
    """Biases (qwen2), f16 weights and an interleaved-rope SentencePiece GGUF, bf16 safetensors."""
    report, hf_logits = oracle_checks.hf_reference("hf_reference")
    for name, path in hf_reference_checkpoints(tmp_path, DATA).items():
        ref = report["checkpoints"][name]
        model = load_model(path)
        runtime, _ = compile_and_load(model, 64)
        ids = model.tokenizer.encode(report["prompt_text"])
        err = oracle_checks.max_rel_err(runtime.prefill_logits(np.array(ids, np.int32)), hf_logits[name])
        assert err < LOGITS_REL_TOL, f"wgpu {name}: first-step logits off by {err:.3g}"
        result = generate(runtime, model.tokenizer, ids, report["steps"], stop_at_eos=False)
        oracle_checks.compare_greedy(result.generated_ids, ref["generated_ids"], ref["greedy_steps"], name, NEAR_TIE)


def test_context_length_is_enforced(smollm2_gpu: tuple[Any, ModelRuntime]) -> None:
    from rusty_ir.errors import RustyError

    _, runtime = smollm2_gpu
    with pytest.raises(RustyError, match="context length"):
        runtime.decode(1, runtime.context_length)
    with pytest.raises(RustyError, match="context length"):
        runtime.prefill(np.ones(10, np.int32), runtime.context_length - 5)


@pytest.mark.parametrize("per_submission", [True, False], ids=["queued-ahead", "wgpu-py-reads"])
def test_decode_stream_runs_ahead_and_matches_decode(smollm2_gpu: tuple[Any, ModelRuntime], per_submission: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """decode_stream encodes each step while the one before runs (its input token copied on the GPU) and, where the
    reader waits for one submission (wgpu-native's C calls: this wgpu), queues it behind that one; the tokens are
    decode's. ``wgpu-py-reads``: the fallback for another wgpu-py, whose reads wait for the whole queue. A caller
    can stop it (``until``) without wasting a step."""
    model, runtime = smollm2_gpu
    assert runtime._reader.per_submission, "wgpu-native's map and submit calls were not found: MappedReader needs updating"
    monkeypatch.setattr(runtime._reader, "per_submission", per_submission)
    prompt = np.array(model.tokenizer.encode("The capital of France is"), np.int32)
    first = runtime.prefill(prompt, 0)
    stepwise, token = [], first
    for i in range(6):
        token = runtime.decode(token, len(prompt) + i)
        stepwise.append(token)
    assert runtime.prefill(prompt, 0) == first
    assert list(runtime.decode_stream(first, len(prompt), 6)) == stepwise
    # closing early, then continuing step by step from where it stopped, gives the same tokens
    runtime.prefill(prompt, 0)
    steps = runtime.decode_stream(first, len(prompt), 6)
    head = [next(steps), next(steps)]
    steps.close()
    token = head[-1]
    for i in range(2, 6):
        token = runtime.decode(token, len(prompt) + i)
        head.append(token)
    assert head == stepwise
    # ``until`` sees every token as it is read; the stream ends one token after it says so (the step queued already)
    runtime.prefill(prompt, 0)
    seen: list[int] = []
    stopped = list(runtime.decode_stream(first, len(prompt), 6, until=lambda t: seen.append(t) or len(seen) == 2))
    assert stopped == seen == stepwise[:3]
    runtime.prefill(prompt, 0)
    assert list(runtime.decode_stream(first, len(prompt), 2, until=lambda t: True)) == stepwise[:2]
    # ``hold``: the steps after the 2nd and 4th tokens wait for them (submitted after the read); the same tokens, and
    # a stream that ``until`` ends at a held token ends with it
    runtime.prefill(prompt, 0)
    asked: list[int] = []
    held = list(runtime.decode_stream(first, len(prompt), 6, hold=lambda: asked.append(len(asked)) or len(asked) in (2, 4)))
    assert held == stepwise and len(asked) == 5
    runtime.prefill(prompt, 0)
    seen.clear()
    asked.clear()
    hold = lambda: asked.append(len(asked)) or len(asked) == 3  # noqa: E731
    assert list(runtime.decode_stream(first, len(prompt), 6, until=lambda t: seen.append(t) or len(seen) >= 3, hold=hold)) == stepwise[:3]
