"""Tiny Qwen3 and Phi-3 checkpoints (issue 13's architectures), each as a GGUF and as a Hugging Face folder.

``architecture_checkpoints`` writes, from seeded random weights (so scripts/make_arch_references.py and the
tests build the same bytes):

- ``qwen3_gguf``: GGUF ``qwen3`` (q/k rows in the "half" order llama.cpp keeps for NEOX archs), with the per-head
  q/k norm weights ``blk.N.attn_q_norm.weight``/``attn_k_norm.weight``, tied embeddings, byte-level BPE;
  ``qwen3_folder``: the same model as a Hugging Face folder (``Qwen3ForCausalLM``, ``self_attn.q_norm``/``k_norm``);
- ``phi3_gguf``: GGUF ``phi3`` with llama.cpp's fused tensors (``blk.N.attn_qkv.weight`` = q, k, v rows;
  ``blk.N.ffn_up.weight`` = gate then up rows), untied output, the SentencePiece vocabulary of
  tests/data/spm_tiny.json; ``phi3_folder``: the same as a Hugging Face folder (``Phi3ForCausalLM``,
  ``qkv_proj``, ``gate_up_proj``).

- ``gemma3_gguf``: GGUF ``gemma3`` (head dim 256, q/k norms, post-norms, norm weights stored as 1 + w as llama.cpp's
  converter writes them, tied embeddings), layer 0 sliding (window ``GEMMA_WINDOW``, local RoPE base 10000) and layer 1
  global (base 1e6, linear RoPE scaling by 8 as Gemma 3 4B+ scale their global layers); the pattern is written as
  ``gemma3.attention.sliding_window_pattern = 2`` (llama.cpp's constant 6 would make both tiny layers slide);
  ``gemma3_folder``: the same as a Hugging Face folder (``Gemma3ForCausalLM``, ``gemma3_text``, norms stored as w);
- ``gemma2_folder``: a Hugging Face ``Gemma2ForCausalLM`` folder without attention soft-capping, with final-logit
  soft-capping, ``query_pre_attn_scalar`` unlike the head dim and alternating sliding/global layers;
  ``gemma2_gguf``: the same weights as a GGUF ``gemma2`` without soft-capping keys, which llama.cpp (and the importer)
  then caps with its defaults (50 and 30), so it is not the folder's model (tests/importers/tiny_window.py has a
  soft-capped Gemma 2 as both).

scripts/make_arch_references.py runs transformers on the folders and commits its outputs as
tests/data/hf_architectures.json (+ _logits.npz); each GGUF must give its folder's numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from importers.tiny import scaled_random_weights, spm_tokenizer_fields, tiny_config, write_tiny_gguf

PROMPT_IDS = [5, 70, 80, 90, 100, 33, 44, 55, 66, 77, 120, 130, 140, 150, 160, 170]
"""Token ids of the prompt (no tokenizer in the comparison; all below both vocabularies' sizes)."""
STEPS = 6
ARCHS = ("qwen3", "phi3", "gemma3", "gemma2")
GEMMA_WINDOW = 32
"""The tiny Gemmas' sliding window and context: the prompt and the generated ids (22 positions) fit in it, so the
sliding layers attend as the global ones."""
GEMMA2_CAP = 10.0
GEMMA2_QUERY_SCALAR = 16.0


def qwen3_config():
    return tiny_config(
        "qwen3", n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=32, ffn_hidden=128,
        rope_theta=1000000.0, rope_style="half", tied_embeddings=True, qkv_bias=False, context_length=256,
    )  # fmt: skip


def phi3_config(vocab: int):
    return tiny_config(
        "phi3", n_layers=2, hidden=64, n_heads=4, n_kv_heads=4, head_dim=16, ffn_hidden=96, vocab=vocab,
        rope_theta=10000.0, rope_style="half", tied_embeddings=False, qkv_bias=False, context_length=256,
        rms_eps=1e-5, bos_token_id=1,
    )  # fmt: skip


def gemma3_config(vocab: int):
    """As written into the GGUF (the window and pattern go in as extra keys). The context is the window, which is then
    never reached: both layers compile as one function (tests/importers/test_windows.py has windows that matter)."""
    return tiny_config(
        "gemma3", n_layers=2, hidden=64, n_heads=2, n_kv_heads=1, head_dim=256, ffn_hidden=128, vocab=vocab,
        rope_theta=1000000.0, rope_style="half", tied_embeddings=True, qkv_bias=False, context_length=GEMMA_WINDOW, bos_token_id=1,
    )  # fmt: skip


GEMMA3_KV = {
    "gemma3.attention.sliding_window": ("uint32", GEMMA_WINDOW),
    "gemma3.attention.sliding_window_pattern": ("uint32", 2),
    "gemma3.rope.scaling.type": ("string", "linear"),
    "gemma3.rope.scaling.factor": ("float32", 8.0),
}


def gemma2_config(vocab: int):
    return tiny_config(
        "gemma2", n_layers=2, hidden=64, n_heads=2, n_kv_heads=1, head_dim=32, ffn_hidden=128, vocab=vocab,
        rope_theta=10000.0, rope_style="half", tied_embeddings=True, qkv_bias=False, context_length=GEMMA_WINDOW,
        bos_token_id=1, sliding_window=GEMMA_WINDOW, sliding_layers=(0,), query_pre_attn_scalar=GEMMA2_QUERY_SCALAR,
        logit_softcap=GEMMA2_CAP,
    )  # fmt: skip


def _fuse_phi3(cfg, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """llama.cpp's phi3 layout: q, k, v rows in ``attn_qkv.weight``; gate then up rows in ``ffn_up.weight``."""
    out = dict(weights)
    for i in range(cfg.n_layers):
        q, k, v, gate, up = (out.pop(f"blk.{i}.{n}.weight") for n in ("attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up"))
        out[f"blk.{i}.attn_qkv.weight"] = np.concatenate([q, k, v])
        out[f"blk.{i}.ffn_up.weight"] = np.concatenate([gate, up])
    return out


def architecture_checkpoints(folder: Path, data_dir: Path) -> dict[str, Path]:
    """Write the four checkpoints into ``folder``; name -> path."""
    from rusty_ir.importers import load_model
    from rusty_ir.importers.export import write_hf_folder

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    cfg = qwen3_config()
    weights = scaled_random_weights(cfg, seed=505)
    out["qwen3_gguf"] = write_tiny_gguf(folder / "qwen3.gguf", cfg, weights, types={n: "f32" for n in weights})
    out["qwen3_folder"] = write_hf_folder(load_model(out["qwen3_gguf"]), folder / "qwen3_folder", dtype="f32")

    spm = spm_tokenizer_fields(data_dir)
    cfg = phi3_config(len(spm["tokens"]))
    weights = _fuse_phi3(cfg, scaled_random_weights(cfg, seed=606))
    out["phi3_gguf"] = write_tiny_gguf(folder / "phi3.gguf", cfg, weights, types={n: "f32" for n in weights}, tokenizer=spm)
    path = write_hf_folder(load_model(out["phi3_gguf"]), folder / "phi3_folder", dtype="f32")
    hf = json.loads((path / "config.json").read_text(encoding="utf-8"))
    hf["pad_token_id"] = None  # Phi3Config's default (32000) is past the tiny vocabulary
    (path / "config.json").write_text(json.dumps(hf, indent=1), encoding="utf-8")
    out["phi3_folder"] = path

    cfg = gemma3_config(len(spm["tokens"]))
    weights = _gemma_scaled(scaled_random_weights(cfg, seed=715), cfg)
    out["gemma3_gguf"] = write_tiny_gguf(folder / "gemma3.gguf", cfg, weights, types={n: "f32" for n in weights}, tokenizer=spm,
                                         extra_kv=GEMMA3_KV)  # fmt: skip
    gemma3 = load_model(out["gemma3_gguf"])
    out["gemma3_folder"] = write_hf_folder(gemma3, folder / "gemma3_folder", dtype="f32")

    cfg = gemma2_config(len(spm["tokens"]))
    weights = _gemma_scaled(scaled_random_weights(cfg, seed=808), cfg)
    out["gemma2_gguf"] = write_tiny_gguf(folder / "gemma2.gguf", cfg, weights, types={n: "f32" for n in weights}, tokenizer=spm,
                                         extra_kv={"gemma2.attention.sliding_window": ("uint32", GEMMA_WINDOW)})  # fmt: skip
    out["gemma2_folder"] = write_hf_folder(_in_memory(cfg, weights, gemma3), folder / "gemma2_folder", dtype="f32")
    return out


def _gemma_scaled(weights: dict[str, np.ndarray], cfg) -> dict[str, np.ndarray]:
    """The embeddings divided by sqrt(hidden), which Gemma multiplies them by: otherwise the scaled embedding outweighs
    the post-normed layer outputs and every step repeats the last token."""
    weights["token_embd.weight"] = (weights["token_embd.weight"] / np.float32(np.sqrt(cfg.hidden))).astype(np.float32)
    return weights


def _in_memory(cfg, weights: dict[str, np.ndarray], like):
    """A LoadedModel of ``weights`` (float32 arrays) with ``like``'s tokenizer (a gemma2 GGUF does not load)."""
    from rusty_ir.importers.loaded import LoadedModel
    from rusty_ir.weights import SCHEMES, TensorView, WeightStore

    views = {
        n: TensorView(n, w.shape, SCHEMES["f32"], np.ascontiguousarray(w, "<f4").view(np.uint8).reshape(-1)) for n, w in weights.items()
    }
    return LoadedModel(config=cfg, weights=WeightStore(views), tokenizer=like.tokenizer, chat_template=None, source=like.source)
