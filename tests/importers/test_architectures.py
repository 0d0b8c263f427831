"""Qwen3 (per-head q/k RMSNorm before RoPE, no q/k/v biases), Phi-3 (fused qkv and gate-up tensors), Gemma 3 and
Gemma 2 against transformers (issue 13; what is Gemma's own is checked in test_gemma.py).

The tiny checkpoints (tests/importers/tiny_arch.py) are built here from seeded weights, as a GGUF and as a
Hugging Face folder each (Gemma 2: the folder; its GGUF here has no soft-capping keys, so llama.cpp's defaults cap it
and it is another model, checked in test_gemma.py; test_windows.py compares a soft-capped Gemma 2 GGUF with
transformers); tests/data/hf_architectures.json (+ _logits.npz)
holds transformers' outputs on the folders (scripts/make_arch_references.py). Reference backend: first-step logits
within 1e-3 and the greedy ids, from every file; wgpu (llvmpipe in CI): one file of each architecture, within 2e-2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import oracle_checks
import pytest

from rusty_ir.errors import RustyError
from rusty_ir.importers import load_model
from rusty_ir.importers.to_ir import build_module

from .tiny_arch import PROMPT_IDS

DATA = Path(__file__).resolve().parents[1] / "data"
NEAR_TIE = 1e-3


@pytest.fixture(scope="module")
def checkpoints(arch_checkpoints) -> dict[str, Path]:
    return arch_checkpoints


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return oracle_checks.hf_reference("hf_architectures")


def test_references_ran_the_architectures(reference) -> None:
    report, logits = reference
    assert {a: r["model_class"] for a, r in report["architectures"].items()} == {
        "qwen3": "Qwen3ForCausalLM", "phi3": "Phi3ForCausalLM", "gemma3": "Gemma3ForCausalLM", "gemma2": "Gemma2ForCausalLM"}  # fmt: skip
    assert set(logits) == {"qwen3", "phi3", "gemma3", "gemma2"}


@pytest.mark.parametrize(
    "name", ["qwen3_gguf", "qwen3_folder", "phi3_gguf", "phi3_folder", "gemma3_gguf", "gemma3_folder", "gemma2_folder"]
)
def test_matches_transformers(checkpoints, reference, name: str) -> None:
    report, logits = reference
    arch = name.split("_")[0]
    model = load_model(checkpoints[name])
    assert model.config.arch == arch and not model.config.qkv_bias
    oracle_checks.check_reference_backend(model, PROMPT_IDS, report["steps"], report["architectures"][arch], logits[arch], name, NEAR_TIE)


@pytest.mark.parametrize("name", ["qwen3_gguf", "phi3_gguf", "gemma3_gguf", "gemma2_folder"])
def test_on_wgpu(checkpoints, reference, name: str) -> None:
    """Gemma 3's head dim of 256 included; its per-layer RoPE divisors, post-norms and GeGLU, Gemma 2's query scale
    and final-logit soft-capping in the kernels."""
    report, logits = reference
    arch = name.split("_")[0]
    oracle_checks.check_wgpu_backend(
        checkpoints[name], PROMPT_IDS, report["steps"], report["architectures"][arch], logits[arch], f"wgpu {arch}"
    )


def test_qwen3_ir_norms_each_head_before_rope(checkpoints) -> None:
    model = load_model(checkpoints["qwen3_folder"])
    text = str(build_module(model.config, model.weights))
    assert text.count("head_dim = 32 : i64} : tensor<?x128xf32>, tensor<32xf32>") == 1  # q: 4 heads of 32
    assert text.count("head_dim = 32 : i64} : tensor<?x64xf32>, tensor<32xf32>") == 1  # k: 2 kv heads
    assert '"blk.{}.attn_q_norm.weight"' in text and "tfm.linear" in text and "attn_q.bias" not in text


def test_phi3_fused_tensors_are_split_without_copies(checkpoints) -> None:
    model = load_model(checkpoints["phi3_gguf"])
    w = model.weights
    assert "blk.0.attn_qkv.weight" not in w and "blk.0.ffn_gate_up.weight" not in w
    assert w["blk.0.attn_q.weight"].shape == (64, 64) and w["blk.0.ffn_gate.weight"].shape == (96, 64)
    q, k = w["blk.0.attn_q.weight"].data, w["blk.0.attn_k.weight"].data
    assert not np.shares_memory(q, k) and isinstance(k.base, np.ndarray)  # disjoint views of the file's map
    folder = load_model(checkpoints["phi3_folder"]).weights
    for n in ("attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up"):
        np.testing.assert_array_equal(folder[f"blk.1.{n}.weight"].to_numpy(), w[f"blk.1.{n}.weight"].to_numpy())


def _phi3_folder_with(src: Path, dst: Path, **changes: Any) -> Path:
    import shutil

    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text(encoding="utf-8"))
    cfg.update(changes)
    (dst / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return dst


def test_phi3_longrope_is_refused(checkpoints, tmp_path: Path) -> None:
    folder = _phi3_folder_with(checkpoints["phi3_folder"], tmp_path / "long", rope_scaling={"type": "longrope", "short_factor": [1.0] * 8,
                               "long_factor": [2.0] * 8}, original_max_position_embeddings=128)  # fmt: skip
    with pytest.raises(RustyError, match=r"'longrope' is not supported yet \(LongRoPE"):
        load_model(folder)


def test_phi3_fused_tensor_of_the_wrong_size(checkpoints, tmp_path: Path) -> None:
    folder = _phi3_folder_with(checkpoints["phi3_folder"], tmp_path / "wide", intermediate_size=128)
    with pytest.raises(RustyError, match=r"fused tensor 'model.layers.\d.mlp.gate_up_proj.weight' has shape \[192, 64\], but .*config.json "
                                         r"implies its rows are \[128, 64\] \(ffn_gate.weight\) \+ \[128, 64\] \(ffn_up.weight\)"):  # fmt: skip
        load_model(folder)


def test_qwen3_missing_head_norm(checkpoints, tmp_path: Path) -> None:
    """A Qwen3 folder without a layer's k norm: the missing tensor by its Hugging Face name and shape."""
    import shutil

    from rusty_ir.importers.export import write_safetensors
    from rusty_ir.importers.safetensors import gguf_to_hf_name

    dst = tmp_path / "no_norm"
    shutil.copytree(checkpoints["qwen3_folder"], dst)
    src = load_model(checkpoints["qwen3_folder"]).weights
    tensors = {gguf_to_hf_name(n): ("F32", v.shape, lambda v=v: v.to_numpy()) for n, v in src.items() if n != "blk.1.attn_k_norm.weight"}
    write_safetensors(dst / "model.safetensors", tensors)
    with pytest.raises(RustyError, match=r"missing tensor 'model.layers.1.self_attn.k_norm.weight' \(expected shape \[32\]"):
        load_model(dst)


def test_phi3_gguf_longrope_is_refused(tmp_path: Path) -> None:
    """A phi3 GGUF carrying LongRoPE's factor tensors (Phi-3 128k): refused naming the tensor, never run unscaled."""
    from .tiny import scaled_random_weights, spm_tokenizer_fields, write_tiny_gguf
    from .tiny_arch import _fuse_phi3, phi3_config

    spm = spm_tokenizer_fields(DATA)
    cfg = phi3_config(len(spm["tokens"]))
    weights = _fuse_phi3(cfg, scaled_random_weights(cfg, seed=1))
    long = np.ones(cfg.head_dim // 2, np.float32)
    path = write_tiny_gguf(tmp_path / "long.gguf", cfg, weights, tokenizer=spm,
                           extra_tensors={"rope_factors_long.weight": (long, None), "rope_factors_short.weight": (long, None)})  # fmt: skip
    with pytest.raises(RustyError, match=r"tensor 'rope_factors_long.weight' means LongRoPE scaling .* not supported yet"):
        load_model(path)


def test_phi3_gguf_sliding_window(tmp_path: Path) -> None:
    """llama.cpp writes Phi-3-mini-4k's window (2047) as phi3.attention.sliding_window: every layer attends over it, as
    from config.json."""
    from .tiny import scaled_random_weights, spm_tokenizer_fields, write_tiny_gguf
    from .tiny_arch import _fuse_phi3, phi3_config

    spm = spm_tokenizer_fields(DATA)
    cfg = phi3_config(len(spm["tokens"]))
    weights = _fuse_phi3(cfg, scaled_random_weights(cfg, seed=1))
    path = write_tiny_gguf(tmp_path / "swa.gguf", cfg, weights, tokenizer=spm, extra_kv={"phi3.attention.sliding_window": ("uint32", 100)})
    model = load_model(path)
    assert model.config.context_length == 256 and model.config.sliding_window == 100 and model.config.layer_window(1) == 100
