"""Sliding-window attention (Gemma 2's and Gemma 3's sliding layers, Mistral) and Gemma 2's attention-logit soft-capping against
transformers (issue 13), with a window shorter than the prompt and decode steps past it.

The tiny checkpoints are tests/importers/tiny_window.py's; tests/data/hf_windows.json (+ _logits.npz) holds
transformers' outputs on the folders (scripts/make_window_references.py), and the first-step logits of the same
models without window and cap (which must differ: the window matters on this prompt). Reference backend: first-step
logits within 1e-3 and the greedy ids from every file; wgpu (llvmpipe in CI): within 2e-2 and the greedy ids, Gemma 2
and Mistral (Gemma 3's sliding layers differ from Gemma 2's by their RoPE only, which test_architectures.py runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import oracle_checks
import pytest

from rusty_ir.importers import load_model
from rusty_ir.importers.to_ir import build_module

from .tiny_window import ATTN_CAP, PROMPT_IDS, WINDOW, window_checkpoints

DATA = Path(__file__).resolve().parents[1] / "data"
NEAR_TIE = 1e-3


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return window_checkpoints(tmp_path_factory.mktemp("windows"), DATA)


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return oracle_checks.hf_reference("hf_windows")


def test_the_window_matters(reference) -> None:
    report, logits = reference
    assert {a: r["model_class"] for a, r in report["architectures"].items()} == {
        "gemma2": "Gemma2ForCausalLM", "mistral": "MistralForCausalLM", "gemma3": "Gemma3ForCausalLM"}  # fmt: skip
    assert len(report["prompt_ids"]) > WINDOW
    for arch in ("gemma2", "mistral", "gemma3"):
        assert oracle_checks.max_rel_err(logits[f"{arch}_full_attention"], logits[arch]) > 0.1, arch


def test_ir(checkpoints) -> None:
    """Gemma 2: the sliding layer 0 and the global layer 1 are two functions (one call each), both soft-capped;
    Mistral: one function, every layer windowed, no cap; the context is the model's, not the window."""
    gemma = load_model(checkpoints["gemma2_gguf"]).config
    assert (gemma.attn_softcap, gemma.sliding_window, gemma.sliding_layers, gemma.context_length) == (ATTN_CAP, WINDOW, (0,), 64)
    text = str(build_module(gemma, load_model(checkpoints["gemma2_gguf"]).weights))
    assert "func.func @decoder_layer(" in text and "func.func @decoder_layer_1(" in text and "scf.for" not in text
    assert text.count(f"window = {WINDOW} : i64, softcap = {ATTN_CAP:e} : f32}}") == 1 and text.count("tfm.attention") == 2
    mistral = load_model(checkpoints["mistral_folder"])
    assert mistral.config.sliding_window == WINDOW and mistral.config.context_length == 64
    text = str(build_module(mistral.config, mistral.weights))
    assert (
        text.count(f"scale = 2.500000e-01 : f32, window = {WINDOW} : i64}}") == 1
        and "softcap" not in text
        and "@decoder_layer_1" not in text
    )


@pytest.mark.parametrize("name", ["gemma2_folder", "gemma2_gguf", "mistral_folder", "gemma3_gguf", "gemma3_folder"])
def test_matches_transformers(checkpoints, reference, name: str) -> None:
    report, logits = reference
    arch = name.split("_")[0]
    model = load_model(checkpoints[name])
    oracle_checks.check_reference_backend(model, PROMPT_IDS, report["steps"], report["architectures"][arch], logits[arch], name, NEAR_TIE)


@pytest.mark.parametrize("name", ["gemma2_gguf", "mistral_folder"])
def test_on_wgpu(checkpoints, reference, name: str) -> None:
    """Prefill through FlashAttention-2 (key tiles before the window skipped, the rest masked), decode through
    split-KV attention past the window, Gemma 2's soft-capped scores in both."""
    report, logits = reference
    arch = name.split("_")[0]
    oracle_checks.check_wgpu_backend(
        checkpoints[name], PROMPT_IDS, report["steps"], report["architectures"][arch], logits[arch], f"wgpu {arch}"
    )
