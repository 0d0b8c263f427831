"""Tiny Llama 3.2-style checkpoints (tied embeddings) with RoPE scaling, a Qwen2.5-style one with YaRN, and Hugging
Face's llama3 formula.

``rope_scaling_checkpoints`` writes, from one set of seeded random weights:

- ``llama3_folder``: a Hugging Face folder whose config.json has ``rope_scaling = {"rope_type": "llama3", ...}``;
- ``llama3_gguf``: the same model as a GGUF (q/k rows in llama.cpp's interleaved order), its factors in the
  ``rope_freqs.weight`` tensor as llama.cpp's converter writes them (computed here with ``hf_llama3_inv_freq``,
  not with rusty_ir's code);
- ``linear_folder`` / ``linear_gguf``: linear scaling by ``LINEAR_FACTOR`` (config.json ``rope_type: linear``;
  GGUF ``llama.rope.scaling.type = linear`` and ``llama.rope.scaling.factor``);
- ``yarn_folder`` / ``yarn_gguf``: a Qwen2.5-style model (qwen2, q/k/v biases) with YaRN as Qwen2.5's long-context
  instructions write it (config.json ``rope_scaling = {"type": "yarn", "factor": 4.0,
  "original_max_position_embeddings": 4096}``, betas at their defaults; the GGUF as llama.cpp's converter writes it:
  ``qwen2.rope.scaling.type = yarn``, ``.factor``, ``.original_context_length``). With head dim 16 and base 10000
  the correction range [2, 6] keeps pairs 0-2 at their frequency, puts 3-5 on the ramp and divides 6-7 by the factor.

The llama3 parameters put the tiny head's eight pairs in all three regimes (kept, blended, divided).
scripts/make_rope_scaling_references.py runs transformers on the three folders and commits its outputs as
tests/data/hf_rope_scaling.json (+ _logits.npz); each GGUF must give its folder's numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from importers.tiny import scaled_random_weights, tiny_config, write_tiny_gguf

LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
LINEAR_FACTOR = 4.0
ROPE_THETA = 10000.0
HEAD_DIM = 16
PROMPT_IDS = [5, 70, 80, 90, 100, 33, 44, 55, 66, 77, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240, 250]
"""Token ids of the prompt (no tokenizer in the comparison): long enough that every pair has turned."""
STEPS = 6
YARN = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}
SCALINGS = ("llama3", "linear", "yarn")


def hf_llama3_inv_freq(theta: float, dim: int, factor: float, low: float, high: float, original: float) -> np.ndarray:
    """Hugging Face's llama3 inverse frequencies (transformers ``_compute_llama3_parameters``), in numpy float32:
    wavelengths below original/high kept, above original/low divided by ``factor``, between them
    ``(1 - s) * f / factor + s * f`` with ``s = (original / wavelength - low) / (high - low)``."""
    inv = (1.0 / (np.float32(theta) ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))).astype(np.float32)
    wavelen = np.float32(2 * math.pi) / inv
    scaled = np.where(wavelen > original / low, inv / np.float32(factor), inv).astype(np.float32)
    s = ((original / wavelen - low) / (high - low)).astype(np.float32)
    smoothed = ((1 - s) * scaled / np.float32(factor) + s * scaled).astype(np.float32)
    medium = ~(wavelen < original / high) & ~(wavelen > original / low)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def config():
    return tiny_config(
        "llama", n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=HEAD_DIM, ffn_hidden=128,
        rope_theta=ROPE_THETA, tied_embeddings=True, context_length=256,
    )  # fmt: skip


def rope_scaling_checkpoints(folder: Path) -> dict[str, Path]:
    """Write the six checkpoints into ``folder``; name -> path."""
    from rusty_ir.importers import load_model
    from rusty_ir.importers.export import write_hf_folder

    folder.mkdir(parents=True, exist_ok=True)
    cfg = config()
    weights = scaled_random_weights(cfg, seed=404)
    f32 = {n: "f32" for n in weights}
    source = write_tiny_gguf(folder / "source.gguf", cfg, weights, types=f32)
    out: dict[str, Path] = {}
    for name, scaling in (("llama3", LLAMA3), ("linear", {"rope_type": "linear", "factor": LINEAR_FACTOR})):
        path = write_hf_folder(load_model(source), folder / f"{name}_folder", dtype="f32")
        hf = json.loads((path / "config.json").read_text(encoding="utf-8"))
        hf["rope_scaling"] = scaling
        (path / "config.json").write_text(json.dumps(hf, indent=1), encoding="utf-8")
        out[f"{name}_folder"] = path
    p = LLAMA3
    inv = hf_llama3_inv_freq(
        ROPE_THETA, HEAD_DIM, p["factor"], p["low_freq_factor"], p["high_freq_factor"], p["original_max_position_embeddings"]
    )
    base = (1.0 / (np.float32(ROPE_THETA) ** (np.arange(0, HEAD_DIM, 2, dtype=np.float32) / np.float32(HEAD_DIM)))).astype(np.float32)
    factors = (base / inv).astype(np.float32)
    out["llama3_gguf"] = write_tiny_gguf(folder / "llama3.gguf", cfg, weights, types=f32,
                                         extra_tensors={"rope_freqs.weight": (factors, None)})  # fmt: skip
    out["linear_gguf"] = write_tiny_gguf(
        folder / "linear.gguf", cfg, weights, types=f32,
        extra_kv={"llama.rope.scaling.type": ("string", "linear"), "llama.rope.scaling.factor": ("float32", LINEAR_FACTOR)},
    )  # fmt: skip

    cfg = tiny_config("qwen2", n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=HEAD_DIM, ffn_hidden=128, rope_theta=ROPE_THETA,
                      context_length=YARN["original_max_position_embeddings"])  # fmt: skip
    weights = scaled_random_weights(cfg, seed=909)
    source = write_tiny_gguf(folder / "qwen2_source.gguf", cfg, weights, types={n: "f32" for n in weights})
    path = write_hf_folder(load_model(source), folder / "yarn_folder", dtype="f32")
    hf = json.loads((path / "config.json").read_text(encoding="utf-8"))
    hf["rope_scaling"] = YARN
    (path / "config.json").write_text(json.dumps(hf, indent=1), encoding="utf-8")
    out["yarn_folder"] = path
    out["yarn_gguf"] = write_tiny_gguf(folder / "yarn.gguf", cfg, weights, types={n: "f32" for n in weights}, extra_kv={
        "qwen2.rope.scaling.type": ("string", "yarn"), "qwen2.rope.scaling.factor": ("float32", YARN["factor"]),
        "qwen2.rope.scaling.original_context_length": ("uint32", YARN["original_max_position_embeddings"])})  # fmt: skip
    return out
