"""Comparing generated ids and logits with reference outputs (the oracle, Hugging Face)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent / "data"


def hf_reference(stem: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``tests/data/STEM.json`` (what transformers generated: ids, top-two gaps, versions) and the logits of
    ``STEM_logits.npz`` by name, as ``scripts/make_*_references.py`` write them."""
    report = json.loads((DATA / f"{stem}.json").read_text(encoding="utf-8"))
    with np.load(DATA / f"{stem}_logits.npz") as z:
        return report, {k: z[k] for k in z.files}


def max_rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - want).max() / np.abs(want).max())


def compare_greedy(got: list[int], want: list[int], steps: list[dict[str, Any]], what: str, near_tie: float) -> int:
    """Assert ``got`` equals ``want`` up to the first near-tie mismatch; return how many ids were compared."""
    assert len(got) == len(want), f"{what}: generated {len(got)} ids, the reference has {len(want)}"
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if a == b:
            continue
        gap = steps[i]["top1_minus_top2"]
        assert gap < near_tie, (
            f"{what}: step {i} generated {a}, the reference {b} (its top-two gap {gap:.4g} is not a near-tie); ids so far agreed: {got[:i]}"
        )
        warnings.warn(
            f"{what}: step {i} differs at a near-tie (reference gap {gap:.3g} < {near_tie}); stopped comparing there",
            stacklevel=2,
        )
        return i
    return len(want)


def check_reference_backend(model: Any, prompt_ids: list[int], steps: int, want: dict[str, Any], first_logits: np.ndarray,
                            what: str, near_tie: float) -> None:  # fmt: skip
    """A loaded tiny checkpoint on the reference backend against a transformers reference: greedy ids after
    ``prompt_ids`` (``want``: generated_ids, greedy_steps) and first-step logits within 1e-3 relative."""
    from rusty_ir.generate import ReferenceBackend, generate
    from rusty_ir.importers.to_ir import build_module

    backend = ReferenceBackend(build_module(model.config, model.weights, logits_entry=True), model.weights, 64, keep_logits=True)
    result = generate(backend, model.tokenizer, list(prompt_ids), steps, stop_at_eos=False)
    err = max_rel_err(backend.last_logits, first_logits)
    assert err < 1e-3, f"{what}: first-step logits off by {err:.3g}"
    compare_greedy(result.generated_ids, want["generated_ids"], want["greedy_steps"], what, near_tie)


def check_wgpu_backend(path: Any, prompt_ids: list[int], steps: int, want: dict[str, Any], first_logits: np.ndarray, what: str) -> None:
    """The checkpoint at ``path`` compiled for wgpu (llvmpipe in CI): its first-step logits within 2e-2 relative of
    ``first_logits``, and ``steps`` greedy ids as ``want`` records them (``generated_ids``; near ties allowed where
    its ``greedy_steps`` gaps are under 0.05, ``compare_greedy``)."""
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.generate import generate
    from rusty_ir.importers import load_model

    model = load_model(path)
    result = compile_model(model, CompileOptions(logits_entry=True), use_cache=False)
    runtime = ModelRuntime(result.artifact.schedule, result.artifact.wgsl, model.weights, 64)
    err = max_rel_err(runtime.prefill_logits(np.array(prompt_ids, np.int32)), first_logits)
    assert err < 2e-2, f"{what}: first-step logits off by {err:.3g}"
    got = generate(runtime, model.tokenizer, list(prompt_ids), steps, stop_at_eos=False).generated_ids
    compare_greedy(got, want["generated_ids"], want["greedy_steps"], what, 0.05)
