"""Tiny checkpoints whose attention window is shorter than the prompt, and Gemma 2 with attention-logit soft-capping
(issue 13): sliding-window attention and soft-capping in the IR, the interpreters and every attention kernel.

``window_checkpoints`` writes, from seeded random weights (so scripts/make_window_references.py and the tests build
the same bytes):

- ``gemma2_folder``: a Hugging Face ``Gemma2ForCausalLM`` folder with ``attn_logit_softcapping`` (``ATTN_CAP``, small
  enough that it bites on these scores), ``final_logit_softcapping``, layer 0 sliding over ``WINDOW`` positions and
  layer 1 global; ``gemma2_gguf``: the same model as a GGUF ``gemma2`` (``gemma2.attn_logit_softcapping``,
  ``gemma2.final_logit_softcapping``, ``gemma2.attention.sliding_window``; llama.cpp's every-other-layer pattern);
- ``mistral_folder``: a Hugging Face ``MistralForCausalLM`` folder with ``sliding_window = WINDOW`` on every layer;
- ``gemma3_gguf``: tiny_arch.py's Gemma 3 (head dim 256, q/k norms, layer 0 sliding with its own RoPE base, layer 1
  global with linear RoPE scaling) with a window of ``WINDOW`` and a context of 64; ``gemma3_folder``: the same as a
  Hugging Face folder.

The prompt (16 ids) is longer than the window and the decode steps go further past it, so both the prefill
(FlashAttention-2 on wgpu) and the one-token (split-KV) kernels attend over a window that excludes positions.

scripts/make_window_references.py runs transformers on the folders and commits its outputs as
tests/data/hf_windows.json (+ _logits.npz).
"""

from __future__ import annotations

from pathlib import Path

from importers.tiny import scaled_random_weights, spm_tokenizer_fields, tiny_config, write_tiny_gguf
from importers.tiny_arch import GEMMA3_KV, PROMPT_IDS, _gemma_scaled, _in_memory, gemma3_config

__all__ = ["ARCHS", "ATTN_CAP", "PROMPT_IDS", "STEPS", "WINDOW", "window_checkpoints"]

STEPS = 6
WINDOW = 6
"""Shorter than the 16-id prompt: each query sees its last 6 positions in the sliding layers."""
ATTN_CAP = 2.0
FINAL_CAP = 10.0
ARCHS = ("gemma2", "mistral", "gemma3")


def gemma2_config(vocab: int):
    return tiny_config(
        "gemma2", n_layers=2, hidden=64, n_heads=2, n_kv_heads=1, head_dim=32, ffn_hidden=128, vocab=vocab,
        rope_theta=10000.0, rope_style="half", tied_embeddings=True, qkv_bias=False, context_length=64,
        bos_token_id=1, sliding_window=WINDOW, sliding_layers=(0,), query_pre_attn_scalar=32.0,
        logit_softcap=FINAL_CAP, attn_softcap=ATTN_CAP,
    )  # fmt: skip


def mistral_config():
    return tiny_config("llama", n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=16, ffn_hidden=96, context_length=64,
                       rope_theta=10000.0, sliding_window=WINDOW)  # fmt: skip


GEMMA2_KV = {
    "gemma2.attention.sliding_window": ("uint32", WINDOW),
    "gemma2.attn_logit_softcapping": ("float32", ATTN_CAP),
    "gemma2.final_logit_softcapping": ("float32", FINAL_CAP),
}


def window_checkpoints(folder: Path, data_dir: Path) -> dict[str, Path]:
    """Write the five checkpoints into ``folder``; name -> path."""
    from rusty_ir.importers import load_model
    from rusty_ir.importers.export import write_hf_folder

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    spm = spm_tokenizer_fields(data_dir)
    cfg = gemma2_config(len(spm["tokens"]))
    weights = _gemma_scaled(scaled_random_weights(cfg, seed=909), cfg)
    out["gemma2_gguf"] = write_tiny_gguf(folder / "gemma2.gguf", cfg, weights, types={n: "f32" for n in weights}, tokenizer=spm,
                                         extra_kv=GEMMA2_KV)  # fmt: skip
    out["gemma2_folder"] = write_hf_folder(_in_memory(cfg, weights, load_model(out["gemma2_gguf"])), folder / "gemma2_folder", dtype="f32")

    cfg = mistral_config()
    weights = scaled_random_weights(cfg, seed=1010)
    gguf_path = write_tiny_gguf(folder / "mistral_base.gguf", cfg, weights, types={n: "f32" for n in weights})
    base = load_model(gguf_path)  # a llama GGUF has no window key: the folder gets it
    model = _in_memory(cfg, {n: base.weights[n].to_numpy() for n in weights}, base)
    out["mistral_folder"] = write_hf_folder(model, folder / "mistral_folder", dtype="f32")

    cfg = gemma3_config(len(spm["tokens"])).replace(context_length=64)
    weights = _gemma_scaled(scaled_random_weights(cfg, seed=1111), cfg)
    kv = GEMMA3_KV | {"gemma3.attention.sliding_window": ("uint32", WINDOW)}
    out["gemma3_gguf"] = write_tiny_gguf(
        folder / "gemma3.gguf", cfg, weights, types={n: "f32" for n in weights}, tokenizer=spm, extra_kv=kv
    )
    out["gemma3_folder"] = write_hf_folder(load_model(out["gemma3_gguf"]), folder / "gemma3_folder", dtype="f32")
    return out
