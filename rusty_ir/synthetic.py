"""Synthetic checkpoints: random-weight GGUF files of real model shapes, for benchmarks.

    path = write_synthetic_gguf("llama3-8b", "q4_0", cache_dir() / "x.gguf")   # or
    path = synthetic_model_path("smollm2-135m", "q8_0")                         # cached

The files are ordinary GGUF ``llama`` checkpoints: they go through the same importer
(``rusty_ir.importers.load_model``) and compiler as a real one. Every matrix (embeddings
and output head included) is stored in the requested quantization (``q4_0``, ``q4_1``,
``q8_0`` or ``f16``); norms are f32 ones. Quantized blocks are made directly from random
bytes (random codes, one f16 scale per block chosen so that a matrix-vector product of an
RMS-normalised input has outputs of order one); nothing is quantized from floats, so even
Llama-3-8B (about 4.6 GB in Q4_0) is written at disk speed, one tensor in memory at a time.
The tokenizer is a byte-level BPE of the right vocabulary size: three control tokens, the 256
byte symbols, a few merges and ``<filler_N>`` tokens up to the vocabulary size; the chat template
is ChatML (SmolLM2's ``<|im_start|>``/``<|im_end|>``), so ``rusty serve`` and ``rusty chat`` run
on a synthetic file as on a real one.

Files are cached under ``--cache-dir`` (default ``~/.cache/rusty-ir/synthetic``, or
``$RUSTY_CACHE_DIR/synthetic``), named by shape, quantization, seed and format version.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rusty_ir.errors import RustyError

FORMAT_VERSION = 2
"""Bumped whenever the bytes written for a (shape, quant, seed) change: part of the cache name."""


@dataclass(frozen=True)
class Shape:
    """The hyper-parameters of a llama-architecture model."""

    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    ffn_hidden: int
    vocab: int
    tied_embeddings: bool
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5
    context_length: int = 2048
    name: str = ""

    @property
    def head_dim(self) -> int:
        return self.hidden // self.n_heads

    def parameters(self) -> int:
        d, kv = self.hidden, self.n_kv_heads * self.head_dim
        layer = 2 * d + d * d * 2 + 2 * d * kv + 3 * d * self.ffn_hidden
        return self.n_layers * layer + d + self.vocab * d * (1 if self.tied_embeddings else 2)


SHAPES: dict[str, Shape] = {
    "smollm2-135m": Shape(30, 576, 9, 3, 1536, 49152, True, rope_theta=100000.0, context_length=8192, name="SmolLM2-135M"),
    "tinyllama-1.1b": Shape(22, 2048, 32, 4, 5632, 32000, False, rope_theta=10000.0, context_length=2048, name="TinyLlama-1.1B"),
    "llama3-8b": Shape(32, 4096, 32, 8, 14336, 128256, False, rope_theta=500000.0, context_length=8192, name="Llama-3-8B"),
    "llama2-7b": Shape(32, 4096, 32, 32, 11008, 32000, False, rope_theta=10000.0, context_length=4096, name="Llama-2-7B"),
}
"""The public shapes (``rusty bench --synthetic``)."""

HIDDEN_SHAPES: dict[str, Shape] = {
    "test-tiny": Shape(2, 64, 4, 2, 128, 512, False, rope_theta=10000.0, context_length=256, name="test-tiny"),
    "test-tiny-tied": Shape(2, 64, 4, 2, 128, 512, True, rope_theta=100000.0, context_length=256, name="test-tiny-tied"),
    "test-tiny-3l": Shape(3, 64, 4, 2, 128, 512, False, rope_theta=10000.0, context_length=256, name="test-tiny-3l"),
    "test-tiny-4l": Shape(4, 64, 4, 2, 128, 512, False, rope_theta=10000.0, context_length=256, name="test-tiny-4l"),
    # KV rows of 64 values (2 kv heads of 32): what a q8_0 KV cache needs
    "test-tiny-kv64": Shape(2, 64, 2, 2, 128, 512, False, rope_theta=10000.0, context_length=256, name="test-tiny-kv64"),
}
"""Shapes for tests: accepted everywhere, not listed in ``--help``."""

QUANTS: tuple[str, ...] = ("q4_0", "q4_1", "q8_0", "f16")


def shape_of(name: str) -> Shape:
    """The shape called ``name``, or a RustyError listing the known ones."""
    shape = SHAPES.get(name) or HIDDEN_SHAPES.get(name)
    if shape is None:
        raise RustyError(f"unknown synthetic shape '{name}' (known: {', '.join(SHAPES)})")
    return shape


def check_quant(quant: str) -> str:
    if quant not in QUANTS:
        raise RustyError(f"unknown synthetic quantization '{quant}' (known: {', '.join(QUANTS)})")
    return quant


def default_cache_dir() -> Path:
    """``$RUSTY_CACHE_DIR/synthetic`` if set, else ``~/.cache/rusty-ir/synthetic``."""
    env = os.environ.get("RUSTY_CACHE_DIR")
    return (Path(env) if env else Path.home() / ".cache" / "rusty-ir") / "synthetic"


def cached_name(shape: str, quant: str, seed: int = 0) -> str:
    return f"{shape}.{quant}.seed{seed}.v{FORMAT_VERSION}.gguf"


def synthetic_model_path(shape: str, quant: str, seed: int = 0, cache_dir: str | Path | None = None, progress=None) -> tuple[Path, bool]:
    """The cached synthetic GGUF of ``shape``/``quant``/``seed``, written first if missing; (path, cache hit)."""
    shape_of(shape)
    check_quant(quant)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / cached_name(shape, quant, seed)
    if path.is_file():
        return path, True
    if progress is not None:
        progress(f"writing synthetic {shape} {quant} to {path}")
    return write_synthetic_gguf(shape, quant, path, seed), False


# --- tokenizer ---------------------------------------------------------------------------------

_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""ChatML, as SmolLM2 writes it (without its default system prompt)."""
_MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ w", "Ġw o", "r l", "Ġwo rl", "Ġworl d"]


def _byte_level_alphabet() -> list[str]:
    """The 256 symbols of GPT-2's byte-to-unicode map, in byte order."""
    printable = [c for lo, hi in ((33, 126), (161, 172), (174, 255)) for c in range(lo, hi + 1)]
    table = {b: b for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = 256 + n
            n += 1
    return [chr(table[b]) for b in range(256)]


def synthetic_vocab(vocab: int) -> tuple[list[str], list[str], list[int]]:
    """(tokens, merges, token types) of a byte-level BPE vocabulary of exactly ``vocab`` tokens."""
    tokens = _SPECIALS + _byte_level_alphabet()
    for m in _MERGES:
        tokens.append(m.replace(" ", ""))
    if vocab < len(tokens):
        raise RustyError(f"a synthetic vocabulary needs at least {len(tokens)} tokens, got {vocab}")
    tokens += [f"<filler_{i}>" for i in range(vocab - len(tokens))]
    types = [3] * len(_SPECIALS) + [1] * (len(tokens) - len(_SPECIALS))
    return tokens, list(_MERGES), types


# --- random blocks -----------------------------------------------------------------------------

# llama.cpp's block layouts (rusty_ir.weights): (block elements, block bytes, scale bytes)
_BLOCKS = {"q4_0": (32, 18), "q4_1": (32, 20), "q8_0": (32, 34)}
_GGML_TYPE = {"q4_0": 2, "q4_1": 3, "q8_0": 8, "f16": 1}
_CODE_STD = {"q4_0": math.sqrt((16**2 - 1) / 12), "q4_1": math.sqrt((16**2 - 1) / 12), "q8_0": math.sqrt((256**2 - 1) / 12)}
"""Standard deviation of a uniformly random code (after the zero point)."""


def _target_std(in_features: int) -> float:
    """Weights ~ 1/sqrt(in): a row times an RMS-normalised input is of order one."""
    return 1.0 / math.sqrt(in_features)


def random_matrix_bytes(rng: np.random.Generator, quant: str, rows: int, cols: int) -> np.ndarray:
    """A ``rows x cols`` matrix in ``quant`` as flat uint8 bytes (llama.cpp's layout), from random bytes."""
    if quant == "f16":
        # sign and mantissa random, exponent fixed: |w| uniform in [a, 2a), std ~ 1.53 a (no NaN/Inf possible)
        a = _target_std(cols) / 1.53
        exp = round(math.log2(a)) + 15
        bits = rng.integers(0, 1 << 16, size=rows * cols, dtype=np.uint16)
        bits &= np.uint16(0x83FF)
        bits |= np.uint16(exp << 10)
        return bits.view(np.uint8)
    block, block_bytes = _BLOCKS[quant]
    if cols % block:
        raise RustyError(f"{quant}: row length {cols} is not a multiple of {block}")
    nblocks = rows * cols // block
    data = rng.integers(0, 256, size=(nblocks, block_bytes), dtype=np.uint8)
    d = _target_std(cols) / _CODE_STD[quant]
    # per-block scales vary by up to +-25% around d (realistic spread, cheap to draw)
    jitter = 0.75 + data[:, 0].astype(np.float32) * (0.5 / 255.0)
    scales = (d * jitter).astype(np.float16)
    data[:, 0:2] = scales.view(np.uint8).reshape(nblocks, 2)
    if quant == "q4_1":  # value = d * q + m, codes 0..15: m = -7.5 d keeps the mean at zero
        data[:, 2:4] = (-7.5 * scales.astype(np.float32)).astype(np.float16).view(np.uint8).reshape(nblocks, 2)
    return data.reshape(-1)


# --- the file ----------------------------------------------------------------------------------


def _tensors(shape: Shape) -> Iterator[tuple[str, tuple[int, ...]]]:
    """(name, logical [out, in] shape) in llama.cpp's order."""
    d, kv, f = shape.hidden, shape.n_kv_heads * shape.head_dim, shape.ffn_hidden
    yield "token_embd.weight", (shape.vocab, d)
    for i in range(shape.n_layers):
        yield f"blk.{i}.attn_norm.weight", (d,)
        yield f"blk.{i}.attn_q.weight", (shape.n_heads * shape.head_dim, d)
        yield f"blk.{i}.attn_k.weight", (kv, d)
        yield f"blk.{i}.attn_v.weight", (kv, d)
        yield f"blk.{i}.attn_output.weight", (d, shape.n_heads * shape.head_dim)
        yield f"blk.{i}.ffn_norm.weight", (d,)
        yield f"blk.{i}.ffn_gate.weight", (f, d)
        yield f"blk.{i}.ffn_up.weight", (f, d)
        yield f"blk.{i}.ffn_down.weight", (d, f)
    yield "output_norm.weight", (d,)
    if not shape.tied_embeddings:
        yield "output.weight", (shape.vocab, d)


def write_synthetic_gguf(shape: str, quant: str, path: str | Path, seed: int = 0) -> Path:
    """Write a random-weight GGUF llama checkpoint of ``shape`` with every matrix in ``quant``.

    Written to a temporary file beside ``path`` and renamed into place, so an
    interrupted run never leaves a truncated file under the cached name.
    """
    import gguf

    spec = shape_of(shape)
    check_quant(quant)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        w = gguf.GGUFWriter(str(tmp), "llama")
        w.add_name(f"synthetic {spec.name or shape} {quant} seed {seed}")
        w.add_uint32("general.file_type", {"f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7}[quant])
        w.add_uint32("llama.block_count", spec.n_layers)
        w.add_uint32("llama.context_length", spec.context_length)
        w.add_uint32("llama.embedding_length", spec.hidden)
        w.add_uint32("llama.feed_forward_length", spec.ffn_hidden)
        w.add_uint32("llama.attention.head_count", spec.n_heads)
        w.add_uint32("llama.attention.head_count_kv", spec.n_kv_heads)
        w.add_uint32("llama.attention.key_length", spec.head_dim)
        w.add_uint32("llama.attention.value_length", spec.head_dim)
        w.add_uint32("llama.rope.dimension_count", spec.head_dim)
        w.add_float32("llama.rope.freq_base", spec.rope_theta)
        w.add_float32("llama.attention.layer_norm_rms_epsilon", spec.rms_eps)
        w.add_uint32("llama.vocab_size", spec.vocab)
        tokens, merges, types = synthetic_vocab(spec.vocab)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt2")
        w.add_token_list(tokens)
        w.add_token_merges(merges)
        w.add_token_types(types)
        w.add_uint32("tokenizer.ggml.bos_token_id", 0)
        w.add_uint32("tokenizer.ggml.eos_token_id", 0)
        w.add_bool("tokenizer.ggml.add_bos_token", False)
        w.add_chat_template(CHAT_TEMPLATE)

        raw_type = gguf.GGMLQuantizationType(_GGML_TYPE[quant])
        plan = list(_tensors(spec))
        for name, shp in plan:
            if len(shp) == 1:
                w.add_tensor_info(name, shp, np.dtype(np.float32), shp[0] * 4)
            elif quant == "f16":
                w.add_tensor_info(name, shp, np.dtype(np.float16), shp[0] * shp[1] * 2)
            else:
                block, block_bytes = _BLOCKS[quant]
                byte_shape = (shp[0], shp[1] // block * block_bytes)
                w.add_tensor_info(name, byte_shape, np.dtype(np.uint8), byte_shape[0] * byte_shape[1], raw_dtype=raw_type)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        rng = np.random.default_rng(seed)
        for _name, shp in plan:
            if len(shp) == 1:
                w.write_tensor_data(np.ones(shp, np.float32))
            else:
                w.write_tensor_data(random_matrix_bytes(rng, quant, *shp))
        w.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


__all__ = [
    "HIDDEN_SHAPES",
    "QUANTS",
    "SHAPES",
    "Shape",
    "default_cache_dir",
    "random_matrix_bytes",
    "shape_of",
    "synthetic_model_path",
    "write_synthetic_gguf",
]
