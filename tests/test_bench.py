"""``rusty bench`` and the synthetic checkpoints it runs (rusty_ir/bench/, rusty_ir/synthetic.py).

Runs on whatever adapter wgpu finds (llvmpipe in CI), on the hidden 'test-tiny' shape
(2 layers, hidden 64), so the whole file takes seconds. The real shapes are only written
and imported here (SmolLM2-135M: 72 MiB in Q4_0); their speed is measured on the GPU machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rusty_ir.errors import RustyError
from rusty_ir.importers import load_model
from rusty_ir.synthetic import SHAPES, random_matrix_bytes, shape_of, synthetic_model_path, write_synthetic_gguf
from rusty_ir.tools.rusty import main
from rusty_ir.weights import SCHEMES, dequantize

TINY = ["--synthetic", "test-tiny", "--quant", "q4_0", "--prompt-tokens", "8", "--decode-tokens", "4", "--repeats", "1"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


@pytest.fixture(autouse=True)
def _private_compile_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUSTY_CACHE_DIR", str(cache / "compiled"))


def run_bench_cli(args: list[str], cache: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["bench", *args, "--cache-dir", str(cache / "synthetic")])
    out, err = capsys.readouterr()
    return code, out, err


# --- synthetic checkpoints ----------------------------------------------------------------------


def test_synthetic_smollm2_imports_with_its_config(tmp_path: Path) -> None:
    path = write_synthetic_gguf("smollm2-135m", "q4_0", tmp_path / "smollm2.gguf")
    model = load_model(path)
    cfg = model.config
    assert (cfg.arch, cfg.n_layers, cfg.hidden, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim) == ("llama", 30, 576, 9, 3, 64)
    assert (cfg.ffn_hidden, cfg.vocab, cfg.tied_embeddings, cfg.rope_style) == (1536, 49152, True, "interleaved")
    assert cfg.rope_theta == 100000.0
    assert "output.weight" not in model.weights
    for name, view in model.weights.items():
        assert view.scheme.name == ("f32" if len(view.shape) == 1 else "q4_0"), name
    assert sum(int(np.prod(v.shape)) for v in model.weights.values()) == shape_of("smollm2-135m").parameters()
    assert len(model.tokenizer.encode("hello the world")) > 0
    assert model.tokenizer.decode(model.tokenizer.encode("the world")) == "the world"
    # activations stay sane: a row times a unit vector is of order one
    w = model.weights["blk.3.ffn_gate.weight"].to_numpy()
    assert 0.7 < float(w.std()) * np.sqrt(w.shape[1]) < 1.4


def test_real_shapes() -> None:
    assert abs(shape_of("tinyllama-1.1b").parameters() / 1e9 - 1.10) < 0.01
    assert abs(shape_of("llama3-8b").parameters() / 1e9 - 8.03) < 0.01
    assert shape_of("llama3-8b").rope_theta == 500000.0 and not shape_of("llama3-8b").tied_embeddings
    assert set(SHAPES) == {"smollm2-135m", "tinyllama-1.1b", "llama3-8b", "llama2-7b"}
    assert abs(shape_of("llama2-7b").parameters() / 1e9 - 6.74) < 0.01 and shape_of("llama2-7b").n_kv_heads == 32
    with pytest.raises(RustyError, match="unknown synthetic shape 'nope'.*llama3-8b"):
        shape_of("nope")


@pytest.mark.parametrize("quant", ["q4_0", "q4_1", "q8_0", "f16"])
def test_random_blocks_decode_to_sane_weights(quant: str) -> None:
    rng = np.random.default_rng(1)
    rows, cols = 64, 1024
    data = random_matrix_bytes(rng, quant, rows, cols)
    w = dequantize(data, SCHEMES[quant], (rows, cols))
    assert np.isfinite(w).all()
    assert 0.6 < float(w.std()) * np.sqrt(cols) < 1.5, quant
    assert abs(float(w.mean())) < 0.15 * float(w.std()), quant  # q4_0's codes -8..7 lean by half a step


@pytest.mark.parametrize("quant", ["q4_1", "q8_0", "f16"])
def test_every_matrix_takes_the_quantization(quant: str, tmp_path: Path) -> None:
    model = load_model(write_synthetic_gguf("test-tiny", quant, tmp_path / "t.gguf"))
    assert {v.scheme.name for n, v in model.weights.items() if len(v.shape) == 2} == {quant}
    assert "output.weight" in model.weights and model.weights["output.weight"].scheme.name == quant


def test_synthetic_files_are_cached(tmp_path: Path) -> None:
    first, hit = synthetic_model_path("test-tiny", "q8_0", seed=3, cache_dir=tmp_path)
    assert not hit and first.is_file() and first.parent == tmp_path
    again, hit = synthetic_model_path("test-tiny", "q8_0", seed=3, cache_dir=tmp_path)
    assert hit and again == first
    other, hit = synthetic_model_path("test-tiny", "q8_0", seed=4, cache_dir=tmp_path)
    assert not hit and other != first
    assert not list(tmp_path.glob(".*tmp"))  # written atomically


# --- the benchmark ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_report(cache: Path) -> dict[str, Any]:
    import os

    old = os.environ.get("RUSTY_CACHE_DIR")
    os.environ["RUSTY_CACHE_DIR"] = str(cache / "compiled")
    try:
        from rusty_ir.bench import BenchOptions, run_bench

        return run_bench(BenchOptions(synthetic="test-tiny", quant="q4_0", prompt_tokens=8, decode_tokens=4, repeats=1,
                                      profile=True, cache_dir=str(cache / "synthetic")))  # fmt: skip
    finally:
        if old is None:
            os.environ.pop("RUSTY_CACHE_DIR", None)
        else:
            os.environ["RUSTY_CACHE_DIR"] = old


def test_bench_cli_json_end_to_end(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_bench_cli([*TINY, "--json"], cache, capsys)
    assert code == 0, err
    r = json.loads(out)
    for key in (
        "command", "date", "commit", "device", "model", "settings", "compile", "prefill_tokens_per_s", "decode_tokens_per_s",
        "dispatches_per_token", "dispatches_per_prefill_step", "weight_bytes_per_token", "copy_bandwidth_bytes_per_s",
        "roofline_share", "decode_host_seconds_per_step", "memory", "memory_planning", "host_peak_rss_bytes", "correctness", "profile", "torch",
    ):  # fmt: skip
        assert key in r, key
    assert r["command"].startswith("rusty bench --synthetic test-tiny --quant q4_0 --prompt-tokens 8 --decode-tokens 4")
    assert r["prefill_tokens_per_s"] > 0 and r["decode_tokens_per_s"] > 0
    assert r["settings"] == {"prompt_tokens": 8, "decode_tokens": 4, "repeats": 1, "warmup": 1, "context_length": 12,
                             "batch": 1, "seed": 0, "resident_layers": None, "kv_cache": "f32", "kv_block_size": 16}  # fmt: skip
    assert r["model"]["synthetic"] == "test-tiny" and r["model"]["quant"] == "q4_0" and r["model"]["n_layers"] == 2
    assert r["device"]["name"] and "driver" in r["device"]
    assert r["dispatches_per_token"] > 0
    assert r["copy_bandwidth_bytes_per_s"] > 0 and r["read_bandwidth"]["bytes_per_s"] > 0
    ceiling = max(r["copy_bandwidth_bytes_per_s"], r["read_bandwidth"]["bytes_per_s"])
    assert r["roofline_share"] == pytest.approx(r["weight_bytes_per_token"] * r["decode_tokens_per_s"] / ceiling)
    c = r["correctness"]
    assert c["reference"].startswith("reference interpreter") and c["passed"] is True and c["max_rel_err"] < 2e-2
    assert len(r["generated_ids"]) == 5
    assert r["profile"] is None and r["torch"] is None


def test_weight_bytes_per_token(tiny_report: dict[str, Any]) -> None:
    """Untied embeddings: the decode step reads every weight in full except the embedding table (one row)."""
    model = load_model(tiny_report["model"]["source"])
    embd = model.weights["token_embd.weight"]
    want = model.weights.nbytes - embd.nbytes + embd.scheme.row_bytes(embd.shape[-1])
    assert tiny_report["weight_bytes_per_token"] == want


def test_profile_sums_every_dispatch(tiny_report: dict[str, Any]) -> None:
    p = tiny_report["profile"]
    assert p is not None
    assert p["decode"] is not None, "the adapter has no timestamp-query feature (llvmpipe and current GPUs do)"
    for entry, dispatches in (("decode", tiny_report["dispatches_per_token"]), ("prefill", tiny_report["dispatches_per_prefill_step"])):
        table = p[entry]
        assert table["dispatches"] == dispatches == sum(k["dispatches"] for k in table["kernels"])
        assert table["gpu_seconds"] > 0 and sum(k["share"] for k in table["kernels"]) == pytest.approx(1.0)
        assert table["gpu_seconds"] <= 1.05 * table["wall_seconds"] and "note" not in table  # timestamps are ns here
        assert all(k["kernel"] and k["seconds"] >= 0 for k in table["kernels"])


def test_bench_table(tiny_report: dict[str, Any]) -> None:
    from rusty_ir.bench import format_report

    text = format_report(tiny_report)
    for needle in ("prefill tokens/s", "decode tokens/s", "dispatches per token", "weight bytes per token",
                   "copy bandwidth", "read bandwidth", "roofline share", "correctness:", "ok"):  # fmt: skip
        assert needle in text, needle
    if tiny_report["profile"]["decode"] is not None:
        assert "GPU time per kernel, one decode step" in text


def test_guard_fails_loudly(cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from rusty_ir.backends.runtime.model import ModelRuntime

    real = ModelRuntime.prefill_logits
    monkeypatch.setattr(ModelRuntime, "prefill_logits", lambda self, *a, **k: real(self, *a, **k) * 1.1)
    code, out, err = run_bench_cli([*TINY, "--warmup", "0", "--json"], cache, capsys)
    assert code == 1
    assert "correctness guard FAILED" in err and "not to be trusted" in err
    assert json.loads(out)["correctness"]["passed"] is False  # the report is still printed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--synthetic", "gpt5"], "unknown synthetic shape 'gpt5'"),
        (["--synthetic", "test-tiny", "--quant", "q5_k"], "unknown synthetic quantization 'q5_k'"),
        (["model.gguf", "--synthetic", "test-tiny"], "give either MODEL or --synthetic SHAPE, not both"),
        (["--quant", "q4_0"], "--quant applies to --synthetic models only"),
        (["--synthetic", "test-tiny", "--prompt-tokens", "0"], "--prompt-tokens must be at least 1"),
        (["--synthetic", "test-tiny", "--repeats", "0"], "--repeats must be at least 1"),
        (["--synthetic", "test-tiny", "--warmup", "-1"], "--warmup must be at least 0"),
        (
            ["--synthetic", "test-tiny", "--prompt-tokens", "8", "--decode-tokens", "4", "--context-length", "10"],
            "--context-length 10 is too small",
        ),
    ],
)
def test_bad_arguments(args: list[str], message: str, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_bench_cli(args, cache, capsys)
    assert code == 1 and out == ""
    assert f"rusty: error: {message}" in err
