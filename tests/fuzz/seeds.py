"""The unmutated checkpoints the fuzzers start from: tiny real models, written by ``tests/importers/tiny.py``."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def make_seeds(work: Path) -> dict[str, Path]:
    """Write the seeds into ``work``; name -> path: GGUF files (``*.gguf``) and Hugging Face folders.

    - ``qwen2-q8_0.gguf``: byte-level BPE with a chat template, Q8_0 matrices, q/k/v biases, tied embeddings;
    - ``llama-spm-f16.gguf``: a SentencePiece vocabulary (with a chat template), F16 matrices, an output matrix;
    - ``llama-q4_0.gguf``: three layers, Q4_0 matrices, an explicit ``general.alignment`` (so mutations can change it);
    - ``qwen2-f32-folder`` and ``llama-bf16-folder``: the first and last as Hugging Face folders.
    """
    from importers.tiny import scaled_random_weights, spm_tokenizer_fields, tiny_config, write_tiny_gguf

    from rusty_ir.importers import load_model
    from rusty_ir.importers.export import write_hf_folder

    from .mutators import U32, GGUFLayout, encode

    work.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, Path] = {}
    cfg = tiny_config("qwen2")
    seeds["qwen2-q8_0.gguf"] = write_tiny_gguf(work / "qwen2-q8_0.gguf", cfg, scaled_random_weights(cfg, 1))
    spm = spm_tokenizer_fields(DATA)
    spm["chat_template"] = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}<|assistant|>"
    cfg = tiny_config("llama", vocab=len(spm["tokens"]), tied_embeddings=False, bos_token_id=1)
    weights = scaled_random_weights(cfg, 2)
    seeds["llama-spm-f16.gguf"] = write_tiny_gguf(work / "llama-spm-f16.gguf", cfg, weights,
                                                  types={n: "f16" for n, w in weights.items() if w.ndim == 2}, tokenizer=spm)  # fmt: skip
    cfg = tiny_config("llama", n_layers=3)
    weights = scaled_random_weights(cfg, 3)
    path = write_tiny_gguf(work / "llama-q4_0.gguf", cfg, weights, types={n: "q4_0" for n, w in weights.items() if w.ndim == 2})
    layout = GGUFLayout.parse(path.read_bytes())
    layout.set("general.alignment", U32, encode(U32, 32))
    path.write_bytes(layout.write())
    seeds["llama-q4_0.gguf"] = path
    seeds["qwen2-f32-folder"] = write_hf_folder(load_model(seeds["qwen2-q8_0.gguf"]), work / "qwen2-f32-folder", dtype="f32")
    seeds["llama-bf16-folder"] = write_hf_folder(load_model(path), work / "llama-bf16-folder", dtype="bf16", norm_dtype="bf16")
    return seeds
