"""scripts/make_draft_pair.py: a target (f16) and a draft (q4_0) made from one quantized GGUF checkpoint, the pair
whose ``--draft`` acceptance on real text BENCHMARKS.md reports; on a tiny Llama."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from importers.tiny import random_weights, tiny_config, write_tiny_gguf

from rusty_ir.importers import load_model
from rusty_ir.speculative import check_same_vocabulary

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_draft_pair.py"


def make_pair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_the_pair_is_the_checkpoint_at_two_precisions(tmp_path: Path) -> None:
    cfg = tiny_config("llama")
    source = load_model(write_tiny_gguf(tmp_path / "m.gguf", cfg, random_weights(cfg, seed=3)))  # q8_0 matrices
    done = make_pair(str(tmp_path / "m.gguf"), "--out", str(tmp_path / "pair"))
    assert done.returncode == 0, done.stderr
    target, draft = load_model(tmp_path / "pair" / "target.gguf"), load_model(tmp_path / "pair" / "draft.gguf")
    check_same_vocabulary(target, draft)
    assert target.config == source.config and draft.config == source.config
    matrices = [name for name in source.weights if source.weights[name].scheme.name == "q8_0"]
    assert matrices and set(target.weights) == set(source.weights) == set(draft.weights)
    for name in source.weights:
        want, mine, theirs = (m.weights[name] for m in (source, target, draft))
        if name not in matrices:  # norms: copied
            assert mine.scheme.name == theirs.scheme.name == want.scheme.name and np.array_equal(mine.to_numpy(), want.to_numpy())
            continue
        assert (mine.scheme.name, theirs.scheme.name) == ("f16", "q4_0")
        values = mine.to_numpy()
        assert np.allclose(values, want.to_numpy(), rtol=1e-3, atol=1e-6)  # the source's values, rounded to f16
        error = np.abs(theirs.to_numpy() - values).max() / np.abs(values).max()
        assert 0 < error < 0.15  # a 4-bit copy of the target: close, not equal


def test_a_checkpoint_without_quantized_matrices_is_refused(tmp_path: Path) -> None:
    cfg = tiny_config("llama")
    weights = random_weights(cfg, seed=3)
    path = write_tiny_gguf(tmp_path / "f.gguf", cfg, weights, types=dict.fromkeys(weights, "f32"))
    done = make_pair(str(path), "--out", str(tmp_path / "pair"))
    assert done.returncode != 0 and "no quantized matrices" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "pair").exists()
