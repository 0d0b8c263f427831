"""Helpers that write tiny random-weight checkpoints (GGUF and Hugging Face folders)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
import regex  # test extra: evaluates llama.cpp's pre-tokenizer patterns

from rusty_ir.errors import RustyError
from rusty_ir.importers import load_model
from rusty_ir.importers.config import ModelConfig, expected_tensors
from rusty_ir.weights import SCHEMES, quantize

# A small byte-level BPE vocabulary: the 256 byte symbols, a few merges, three control tokens.
_BYTES = [chr(c) for lo, hi in (("!", "~"), ("¡", "¬"), ("®", "ÿ")) for c in range(ord(lo), ord(hi) + 1)]


def byte_level_alphabet() -> list[str]:
    """The 256 symbols of GPT-2's byte-to-unicode map, in byte order."""
    bs = [ord(c) for c in _BYTES]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs, strict=True))
    return [chr(table[b]) for b in range(256)]


def split_isolated(rx: str, text: str) -> list[str]:
    """``text`` split where the pattern ``rx`` matches, the matches kept as pieces of their own (the tokenizers
    library's ``Split(..., behavior="isolated")``, as llama.cpp runs a pre-tokenizer's regexes)."""
    out, last = [], 0
    for m in regex.finditer(rx, text):
        if m.start() > last:
            out.append(text[last : m.start()])
        if m.end() > m.start():
            out.append(m.group())
        last = m.end()
    if last < len(text):
        out.append(text[last:])
    return out


def tiny_bpe_vocab() -> tuple[list[str], list[str], list[int]]:
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ w", "Ġw o", "r l", "Ġwo rl", "Ġworl d", "1 2"]
    tokens = specials + byte_level_alphabet()
    for m in merges:
        a, b = m.split(" ")
        tokens.append(a + b)
    types = [3] * len(specials) + [1] * (len(tokens) - len(specials))
    return tokens, merges, types


def tiny_config(arch: str = "qwen2", **kw) -> ModelConfig:
    base = dict(
        arch=arch,
        n_layers=2,
        hidden=64,
        n_heads=4,
        n_kv_heads=2,
        head_dim=16,
        ffn_hidden=96,
        vocab=len(tiny_bpe_vocab()[0]),
        rope_theta=1000000.0,
        rope_style="half" if arch == "qwen2" else "interleaved",
        rms_eps=1e-6,
        context_length=256,
        tied_embeddings=arch == "qwen2",
        qkv_bias=arch == "qwen2",
        bos_token_id=0,
        eos_token_ids=(2,),
    )
    base.update(kw)
    return ModelConfig(**base)


def random_weights(cfg: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(spec.shape).astype(np.float32) * 0.1 for name, spec in expected_tensors(cfg).items()}


def write_tiny_gguf(
    path: Path,
    cfg: ModelConfig,
    weights: dict[str, np.ndarray],
    *,
    types: dict[str, str] | None = None,
    tokenizer: dict | None = None,
    skip_keys: tuple[str, ...] = (),
    extra_tensors: dict[str, tuple[np.ndarray, object]] | None = None,
    extra_kv: dict[str, tuple[str, object]] | None = None,
) -> Path:
    """A GGUF with ``weights`` stored in ``types[name]`` (default: q8_0 for matrices whose rows
    allow it, f32 otherwise) and a byte-level BPE (or given) tokenizer."""
    types = types or {}
    w = gguf.GGUFWriter(str(path), cfg.arch)
    arch = cfg.arch
    kv = {
        f"{arch}.block_count": ("uint32", cfg.n_layers),
        f"{arch}.context_length": ("uint32", cfg.context_length),
        f"{arch}.embedding_length": ("uint32", cfg.hidden),
        f"{arch}.feed_forward_length": ("uint32", cfg.ffn_hidden),
        f"{arch}.attention.head_count": ("uint32", cfg.n_heads),
        f"{arch}.attention.head_count_kv": ("uint32", cfg.n_kv_heads),
        f"{arch}.rope.freq_base": ("float32", cfg.rope_theta),
        f"{arch}.attention.layer_norm_rms_epsilon": ("float32", cfg.rms_eps),
        f"{arch}.attention.key_length": ("uint32", cfg.head_dim),
    }
    kv.update(extra_kv or {})  # e.g. {"llama.rope.scaling.type": ("string", "linear")}
    for key, (kind, val) in kv.items():
        if key not in skip_keys:
            getattr(w, f"add_{kind}")(key, val)
    tok = tokenizer
    if tok is None:
        tokens, merges, ttypes = tiny_bpe_vocab()
        tok = {
            "model": "gpt2",
            "pre": "qwen2",
            "tokens": tokens,
            "merges": merges,
            "token_type": ttypes,
            "bos_token_id": 0,
            "eos_token_id": 2,
            "add_bos_token": False,
            "chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        }
    w.add_tokenizer_model(tok["model"])
    if "pre" in tok:
        w.add_tokenizer_pre(tok["pre"])
    w.add_token_list(tok["tokens"])
    if "merges" in tok:
        w.add_token_merges(tok["merges"])
    if "scores" in tok:
        w.add_token_scores(tok["scores"])
    w.add_token_types(tok["token_type"])
    for k in ("bos_token_id", "eos_token_id"):
        if k in tok:
            w.add_uint32(f"tokenizer.ggml.{k}", tok[k])
    if "unknown_token_id" in tok:
        w.add_uint32("tokenizer.ggml.unknown_token_id", tok["unknown_token_id"])
    if "add_bos_token" in tok:
        w.add_bool("tokenizer.ggml.add_bos_token", tok["add_bos_token"])
    if "chat_template" in tok:
        w.add_chat_template(tok["chat_template"])
    all_tensors = {name: (arr, None) for name, arr in weights.items()}
    all_tensors.update(extra_tensors or {})
    for name, (arr, raw_type) in all_tensors.items():
        if raw_type is not None:  # already-encoded bytes with a given ggml type
            w.add_tensor(name, arr, raw_shape=None, raw_dtype=raw_type)
            continue
        sch_name = types.get(name) or ("q8_0" if arr.ndim == 2 and arr.shape[-1] % 32 == 0 else "f32")
        sch = SCHEMES[sch_name]
        if sch_name == "f32":
            w.add_tensor(name, arr.astype(np.float32))
        elif sch_name == "f16":
            w.add_tensor(name, arr.astype(np.float16))
        else:
            data = quantize(arr, sch).reshape(arr.shape[0], -1)
            w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=gguf.GGMLQuantizationType(sch.ggml_type))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# --- tiny checkpoints checked against Hugging Face transformers --------------------------------
# scripts/make_hf_references.py runs transformers on these and commits its outputs under
# tests/data/hf_*; tests/test_reference_model.py runs the reference interpreter on the same
# files. Both build them here, so the bytes are the same (seeded, deterministic).

HF_REFERENCE_PROMPT = "the world 12 hello the world"
HF_REFERENCE_STEPS = 8


def scaled_random_weights(cfg: ModelConfig, seed: int) -> dict[str, np.ndarray]:
    """Random weights with a realistic scale (logits of order 1-10, so greedy choices are not near-ties):
    matrices ~ N(0, 4/in), norms ~ 1 + N(0, 0.1), biases ~ N(0, 0.25), embeddings ~ N(0, 0.25)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, spec in expected_tensors(cfg).items():
        if name.endswith("norm.weight"):
            w = 1.0 + 0.1 * rng.standard_normal(spec.shape)
        elif name.endswith(".bias"):
            w = 0.5 * rng.standard_normal(spec.shape)
        elif name in ("token_embd.weight", "output.weight"):
            w = 0.5 * rng.standard_normal(spec.shape)
        else:
            w = 2.0 * rng.standard_normal(spec.shape) / np.sqrt(spec.shape[-1])
        out[name] = w.astype(np.float32)
    return out


def spm_tokenizer_fields(data_dir: Path) -> dict:
    """The GGUF tokenizer fields of the tiny SentencePiece vocabulary in tests/data/spm_tiny.json."""
    import json

    d = json.loads((data_dir / "spm_tiny.json").read_text(encoding="utf-8"))
    return {
        "model": "llama",
        "tokens": d["tokens"],
        "scores": d["scores"],
        "token_type": d["token_types"],
        "bos_token_id": d["bos_token_id"],
        "eos_token_id": d["eos_token_id"],
        "unknown_token_id": d["unknown_token_id"],
        "add_bos_token": True,
    }


def hf_reference_checkpoints(folder: Path, data_dir: Path) -> dict[str, Path]:
    """Write the three tiny checkpoints into ``folder``; name -> path (GGUF file or HF folder).

    - ``qwen2_bias``: GGUF qwen2 with q/k/v biases, Q8_0 matrices, tied embeddings ("half" rope);
    - ``llama_spm``: GGUF llama with a SentencePiece vocabulary, F16 matrices, untied output,
      q/k rows in llama.cpp's interleaved order;
    - ``llama_bf16_folder``: a Hugging Face folder (safetensors, BF16 everywhere, byte-level BPE).
    """
    from rusty_ir.importers import load_model
    from rusty_ir.importers.export import write_hf_folder

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    cfg = tiny_config("qwen2", n_heads=4, n_kv_heads=2, head_dim=16, hidden=64, ffn_hidden=128)
    out["qwen2_bias"] = write_tiny_gguf(folder / "qwen2_bias.gguf", cfg, scaled_random_weights(cfg, seed=101))

    spm = spm_tokenizer_fields(data_dir)
    cfg = tiny_config("llama", vocab=len(spm["tokens"]), tied_embeddings=False, bos_token_id=1, ffn_hidden=128)
    weights = scaled_random_weights(cfg, seed=202)
    types = {n: "f16" for n, w in weights.items() if w.ndim == 2}
    out["llama_spm"] = write_tiny_gguf(folder / "llama_spm.gguf", cfg, weights, types=types, tokenizer=spm)

    cfg = tiny_config("llama", n_layers=3, n_heads=8, n_kv_heads=2, head_dim=8, ffn_hidden=160, rope_theta=10000.0)
    source = write_tiny_gguf(
        folder / "llama_f32_source.gguf", cfg, scaled_random_weights(cfg, seed=303), types={n: "f32" for n in expected_tensors(cfg)}
    )
    out["llama_bf16_folder"] = write_hf_folder(load_model(source), folder / "llama_bf16", dtype="bf16", norm_dtype="bf16")
    return out


def edit_config(folder: Path, **changes: Any) -> Path:
    """Rewrite ``folder/config.json``: each key set to its value, or removed where the value is None."""
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return folder


def load_error(path: Path, *fragments: str) -> str:
    """The message of the RustyError ``load_model(path)`` raises, checked to hold every fragment."""
    with pytest.raises(RustyError) as e:
        load_model(path)
    msg = str(e.value)
    for f in fragments:
        assert f in msg, msg
    return msg
