"""GGUF (v2, v3) importer: metadata, tensor views into the memory map, tokenizer.

``read_gguf`` parses the header, the key/value metadata and the tensor infos with
``struct`` straight from one ``np.memmap`` of the file; ``load_gguf`` turns that into a
``LoadedModel``. Every tensor is a ``TensorView`` whose ``data`` is a zero-copy uint8
slice of the map, so no tensor byte is read until someone uses it.

Why not ``gguf.GGUFReader``: it builds a numpy object for every part of every field,
hundreds of thousands for a 49k-token vocabulary, which costs ~160 MB of RAM and ~3 s for
SmolLM2 (more than the 98 MB file). This reader keeps GGUFReader's semantics (same
value types, same alignment rules; ``tests/importers`` checks the two agree) and uses the
``gguf`` package's constants.

GGUF lists dimensions innermost first; ``TensorView.shape`` is reversed to the logical
row-major ``[out, in]`` order that Hugging Face uses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rusty_ir.errors import RustyError
from rusty_ir.weights import SCHEME_BY_GGML_TYPE, TensorView, WeightStore

from .config import ModelConfig, check_tensors

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

# GGUFValueType -> struct format
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GGUFTensorInfo:
    name: str
    dims: tuple[int, ...]
    """As stored: innermost (row length) first."""
    ggml_type: int
    offset: int
    """Absolute byte offset in the file."""

    @property
    def shape(self) -> tuple[int, ...]:
        """Logical row-major shape ([out, in])."""
        return tuple(reversed(self.dims))


@dataclass
class GGUFFile:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: dict[str, GGUFTensorInfo]
    data_offset: int
    alignment: int
    mm: np.ndarray
    """The whole file, memory-mapped read-only as uint8."""

    def type_name(self, ggml_type: int) -> str:
        from gguf import GGMLQuantizationType  # noqa: PLC0415

        try:
            return GGMLQuantizationType(ggml_type).name
        except ValueError:
            return f"type {ggml_type}"


class _Cursor:
    def __init__(self, buf: memoryview, path: Path) -> None:
        self.buf = buf
        self.size = len(buf)
        self.off = 0
        self.path = path
        self.where = "header"

    def need(self, n: int) -> None:
        if n < 0 or self.off + n > self.size:
            raise RustyError(
                f"{self.path}: truncated or corrupt GGUF file: {self.where} needs {n} bytes at offset {self.off}, "
                f"the file has {self.size}"
            )

    def scalar(self, vtype: int) -> Any:
        fmt = _SCALARS[vtype]
        n = struct.calcsize(fmt)
        self.need(n)
        (v,) = struct.unpack_from(fmt, self.buf, self.off)
        self.off += n
        return v

    def u32(self) -> int:
        return self.scalar(4)

    def u64(self) -> int:
        return self.scalar(10)

    def string(self) -> str:
        n = self.u64()
        self.need(n)
        s = bytes(self.buf[self.off : self.off + n]).decode("utf-8", errors="replace")
        self.off += n
        return s

    def value(self, vtype: int) -> Any:
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype = self.u32()
            count = self.u64()
            if etype == _STRING:
                out = []
                buf, off, size = self.buf, self.off, self.size
                unpack = struct.unpack_from
                for _ in range(count):
                    if off + 8 > size:
                        self.off = off
                        self.need(8)
                    (n,) = unpack("<Q", buf, off)
                    off += 8
                    if off + n > size:
                        self.off = off
                        self.need(n)
                    out.append(str(buf[off : off + n], "utf-8", "replace"))
                    off += n
                self.off = off
                return out
            if etype in _NUMPY:
                dt = np.dtype(_NUMPY[etype])
                self.need(count * dt.itemsize)
                arr = np.frombuffer(self.buf, dtype=dt, count=count, offset=self.off).copy()
                self.off += count * dt.itemsize
                return arr.tolist()
            if etype == _ARRAY:
                return [self.value(_ARRAY) for _ in range(count)]
            raise RustyError(f"{self.path}: {self.where}: unknown GGUF array element type {etype}")
        if vtype in _SCALARS:
            return self.scalar(vtype)
        raise RustyError(f"{self.path}: {self.where}: unknown GGUF value type {vtype}")


def read_gguf(path: str | Path) -> GGUFFile:
    """Parse a GGUF file's header, metadata and tensor infos; tensor data stays on disk."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise RustyError(f"{path}: cannot open: {e.strerror or e}") from None
    if size < 24:
        raise RustyError(f"{path}: truncated GGUF file ({size} bytes, smaller than a GGUF header)")
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    cur = _Cursor(memoryview(mm), path)
    magic = bytes(cur.buf[:4])
    if magic != GGUF_MAGIC:
        raise RustyError(f"{path}: not a GGUF file (magic {magic!r}, expected {GGUF_MAGIC!r})")
    cur.off = 4
    version = cur.u32()
    if version not in SUPPORTED_VERSIONS:
        hint = " (a big-endian file?)" if version & 0xFFFF == 0 else ""
        raise RustyError(f"{path}: unsupported GGUF version {version}{hint}; supported: 2, 3")
    n_tensors = cur.u64()
    n_kv = cur.u64()
    if n_tensors > size or n_kv > size:
        raise RustyError(f"{path}: corrupt GGUF header ({n_tensors} tensors, {n_kv} keys in a {size}-byte file)")
    meta: dict[str, Any] = {}
    for i in range(n_kv):
        cur.where = f"metadata entry #{i}"
        key = cur.string()
        cur.where = f"metadata key '{key}'"
        meta[key] = cur.value(cur.u32())
    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    for i in range(n_tensors):
        cur.where = f"tensor info #{i}"
        name = cur.string()
        cur.where = f"tensor info of '{name}'"
        n_dims = cur.u32()
        if n_dims > 8:
            raise RustyError(f"{path}: tensor '{name}' has {n_dims} dimensions (corrupt tensor info)")
        dims = tuple(cur.u64() for _ in range(n_dims))
        ggml_type = cur.u32()
        offset = cur.u64()
        infos.append((name, dims, ggml_type, offset))
    alignment = meta.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise RustyError(f"{path}: invalid general.alignment {alignment!r} (must be a power of two)")
    data_offset = -(-cur.off // alignment) * alignment
    tensors: dict[str, GGUFTensorInfo] = {}
    for name, dims, ggml_type, offset in infos:
        if name in tensors:
            raise RustyError(f"{path}: tensor '{name}' appears twice")
        tensors[name] = GGUFTensorInfo(name, dims, ggml_type, data_offset + offset)
    return GGUFFile(path, version, meta, tensors, data_offset, alignment, mm)


def tensor_view(f: GGUFFile, info: GGUFTensorInfo) -> TensorView:
    """A zero-copy view of one tensor; RustyError for unsupported types or data past the end."""
    sch = SCHEME_BY_GGML_TYPE.get(info.ggml_type)
    if sch is None:
        raise RustyError(
            f"{f.path}: tensor '{info.name}' has unsupported type {f.type_name(info.ggml_type)} "
            f"(supported: {', '.join(s.name.upper() for s in SCHEME_BY_GGML_TYPE.values())})"
        )
    shape = info.shape
    try:
        nbytes = sch.nbytes(shape)
    except ValueError as e:
        raise RustyError(f"{f.path}: tensor '{info.name}': {e}") from None
    end = info.offset + nbytes
    if end > f.mm.shape[0]:
        raise RustyError(
            f"{f.path}: truncated file: tensor '{info.name}' needs bytes {info.offset}..{end}, the file has {f.mm.shape[0]}"
        )
    return TensorView(info.name, shape, sch, f.mm[info.offset : end], source=str(f.path))


def _config_from_gguf(f: GGUFFile) -> tuple[ModelConfig, dict[str, str]]:
    meta = f.metadata
    arch = meta.get("general.architecture")
    if arch is None:
        raise RustyError(f"{f.path}: missing metadata key general.architecture")
    if arch not in ("llama", "qwen2"):
        raise RustyError(f"{f.path}: unknown architecture {arch!r} (key general.architecture; supported: llama, qwen2)")

    keys = {
        "n_layers": f"{arch}.block_count",
        "hidden": f"{arch}.embedding_length",
        "n_heads": f"{arch}.attention.head_count",
        "n_kv_heads": f"{arch}.attention.head_count_kv",
        "head_dim": f"{arch}.attention.key_length",
        "ffn_hidden": f"{arch}.feed_forward_length",
        "vocab": f"{arch}.vocab_size",
        "rms_eps": f"{arch}.attention.layer_norm_rms_epsilon",
        "context_length": f"{arch}.context_length",
        "rope_theta": f"{arch}.rope.freq_base",
        "rope_dim": f"{arch}.rope.dimension_count",
    }

    def get(field: str, default: Any = ...) -> Any:
        key = keys[field]
        if key in meta:
            return meta[key]
        if default is ...:
            raise RustyError(f"{f.path}: missing metadata key {key}")
        return default

    hidden = int(get("hidden"))
    n_heads = int(get("n_heads"))
    if n_heads <= 0 or hidden % n_heads and keys["head_dim"] not in meta:
        raise RustyError(f"{f.path}: {keys['n_heads']}={n_heads} does not divide {keys['hidden']}={hidden}")
    head_dim = int(get("head_dim", hidden // n_heads))
    if keys["head_dim"] not in meta:
        keys["head_dim"] = f"{keys['hidden']}/{keys['n_heads']}"
    vocab = get("vocab", None)
    if vocab is None:
        toks = meta.get("tokenizer.ggml.tokens")
        if toks is not None:
            vocab, keys["vocab"] = len(toks), "tokenizer.ggml.tokens (count)"
        elif "token_embd.weight" in f.tensors:
            vocab, keys["vocab"] = f.tensors["token_embd.weight"].shape[0], "token_embd.weight rows"
        else:
            raise RustyError(f"{f.path}: cannot tell the vocabulary size ({keys['vocab']} missing)")
    eos_ids = [meta.get(k) for k in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")]
    bos = meta.get("tokenizer.ggml.bos_token_id")
    if meta.get("tokenizer.ggml.model") == "llama":  # llama.cpp's SentencePiece defaults
        bos = 1 if bos is None else bos
        eos_ids[0] = 2 if eos_ids[0] is None else eos_ids[0]
    scaling = {k.split(".rope.scaling.", 1)[1]: v for k, v in meta.items() if k.startswith(f"{arch}.rope.scaling.")}
    if scaling.get("type") in (None, "none") and "rope_freqs.weight" not in f.tensors:
        scaling = {}
    if "rope_freqs.weight" in f.tensors:
        scaling["freq_factors_tensor"] = "rope_freqs.weight"
    try:
        cfg = ModelConfig(
            arch=arch,
            n_layers=int(get("n_layers")),
            hidden=hidden,
            n_heads=n_heads,
            n_kv_heads=int(get("n_kv_heads", n_heads)),
            head_dim=head_dim,
            ffn_hidden=int(get("ffn_hidden")),
            vocab=int(vocab),
            rope_theta=float(get("rope_theta", 10000.0)),
            rope_style="interleaved" if arch == "llama" else "half",
            rms_eps=float(get("rms_eps")),
            context_length=int(get("context_length", 2048)),
            tied_embeddings="output.weight" not in f.tensors,
            qkv_bias=arch == "qwen2",
            rope_dim=int(get("rope_dim", head_dim)),
            bos_token_id=None if bos is None else int(bos),
            eos_token_ids=tuple(dict.fromkeys(int(e) for e in eos_ids if e is not None)),
            rope_scaling=tuple(sorted(scaling.items())) or None,
            name=str(meta.get("general.name", "")),
        )
    except (TypeError, ValueError) as e:
        raise RustyError(f"{f.path}: bad model metadata: {e}") from None
    return cfg, keys


def load_gguf(path: str | Path):
    """Import a GGUF checkpoint: config, weight views (zero-copy), tokenizer, chat template."""
    from . import LoadedModel  # noqa: PLC0415
    from .tokenizer import tokenizer_from_gguf  # noqa: PLC0415

    f = read_gguf(path)
    cfg, keys = _config_from_gguf(f)
    views = {name: tensor_view(f, info) for name, info in f.tensors.items()}
    check_tensors(
        cfg,
        {name: v.shape for name, v in views.items()},
        source_of=lambda _name: str(f.path),
        key_of=keys,
        config_source=f"{f.path.name}'s metadata",
    )
    tok = tokenizer_from_gguf(f.metadata, str(f.path))
    weights = WeightStore(views, source=str(f.path))
    return LoadedModel(
        config=cfg,
        weights=weights,
        tokenizer=tok,
        chat_template=tok.chat_template,
        source=f.path,
        format="gguf",
        metadata=f.metadata,
    )
