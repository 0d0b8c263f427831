"""The PyTorch side of `rusty bench --vs-torch`, checked against our reference interpreter.

PyTorch and transformers stay out of the project's dependencies and out of CI, so these checks
live here rather than in tests/. Run them where torch is installed (the GPU machine has it):

    python -m pytest scripts/check_bench_torch.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import json

import numpy as np
from test_bench import TINY, _private_compile_cache, cache, run_bench_cli  # noqa: F401 - fixtures and helpers of the bench tests

from rusty_ir.importers import load_model
from rusty_ir.synthetic import write_synthetic_gguf

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_dequantize_torch_matches_numpy(tmp_path: Path) -> None:
    from rusty_ir.bench import dequantize_torch

    for quant in ("q4_0", "q4_1", "q8_0", "f16"):
        model = load_model(write_synthetic_gguf("test-tiny", quant, tmp_path / f"{quant}.gguf"))
        for name in ("token_embd.weight", "blk.1.attn_k.weight", "blk.0.ffn_down.weight", "output_norm.weight"):
            view = model.weights[name]
            np.testing.assert_array_equal(dequantize_torch(view, "cpu").numpy(), view.to_numpy(), err_msg=f"{quant} {name}")


@pytest.mark.parametrize("shape", ["test-tiny", "test-tiny-tied"])
def test_torch_model_matches_the_reference_interpreter(shape: str, tmp_path: Path) -> None:
    """Untied and tied output heads, GGUF q/k rows permuted to HF's rope order."""
    from rusty_ir.bench import build_torch_model, torch_logits
    from rusty_ir.generate import ReferenceBackend
    from rusty_ir.importers.to_ir import build_module

    model = load_model(write_synthetic_gguf(shape, "q4_1", tmp_path / "m.gguf"))
    assert model.config.tied_embeddings == (shape == "test-tiny-tied")
    ids = [5, 9, 100, 200, 7, 300]
    ref = ReferenceBackend(build_module(model.config, model.weights, logits_entry=True), model.weights, 16, keep_logits=True)
    ref.prefill(np.array(ids, np.int32), 0)
    got = torch_logits(build_torch_model(model, "cpu"), ids)
    assert np.abs(got - ref.last_logits).max() < 1e-4 * np.abs(ref.last_logits).max()


def test_vs_torch(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811 - the imported fixture
    """The PyTorch model holds the same weights (q/k rows permuted to HF's rope order): its float32
    logits match ours; then it is timed in fp16."""
    code, out, err = run_bench_cli([*TINY, "--warmup", "0", "--vs-torch", "--json"], cache, capsys)
    assert code == 0, err
    r = json.loads(out)
    c, t = r["correctness"], r["torch"]
    assert c["reference"].startswith("pytorch float32") and c["passed"] and c["max_rel_err"] < 1e-4
    assert t["dtype"] == "float16" and t["attention"] == "eager" and t["prefill_tokens_per_s"] > 0
    assert r["ratio_prefill_vs_torch"] > 0
    assert len(t["generated_ids"]) == 5
