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

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rusty_ir.errors import RustyError, printable
from rusty_ir.weights import SCHEME_BY_GGML_TYPE, TensorView, WeightStore

from .config import (
    ARCHS,
    MAX_SIZE,
    ConfigValueError,
    Fields,
    ModelConfig,
    check_tensors,
    split_fused,
    unsupported_architecture,
)

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_NAME_BYTES = 1024
"""Longest metadata key or tensor name accepted (llama.cpp allows 63-byte tensor names)."""
MAX_ARRAY_NESTING = 8

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
        from gguf import GGMLQuantizationType

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
                f"{self.path}: truncated or corrupt GGUF file: {self.where} needs {n} bytes at offset {self.off}, the file has {self.size}"
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

    def string(self, limit: int | None = None) -> str:
        """A length-prefixed UTF-8 string (invalid bytes become U+FFFD); RustyError past ``limit`` bytes."""
        n = self.u64()
        if limit is not None and n > limit:
            raise RustyError(f"{self.path}: corrupt GGUF file: {self.where} has a name of {n} bytes (at most {limit})")
        self.need(n)
        s = bytes(self.buf[self.off : self.off + n]).decode("utf-8", errors="replace")
        self.off += n
        return s

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            if depth >= MAX_ARRAY_NESTING:
                raise RustyError(f"{self.path}: corrupt GGUF file: {self.where} nests arrays more than {MAX_ARRAY_NESTING} deep")
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
                return [self.value(_ARRAY, depth + 1) for _ in range(count)]
            raise RustyError(f"{self.path}: {self.where}: unknown GGUF array element type {etype}")
        if vtype in _SCALARS:
            return self.scalar(vtype)
        raise RustyError(f"{self.path}: {self.where}: unknown GGUF value type {vtype}")


def read_gguf(path: str | Path) -> GGUFFile:
    """Parse a GGUF file's header, metadata and tensor infos; tensor data stays on disk.

    Everything is checked before it is used: lengths and counts against the file's size, keys and
    tensor names unique, and the tensor layout (``_check_layout``)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        mm = np.memmap(path, dtype=np.uint8, mode="r") if size >= 24 else None
    except (OSError, ValueError) as e:
        raise RustyError(f"{path}: cannot open: {getattr(e, 'strerror', None) or e}") from None
    if mm is None:
        raise RustyError(f"{path}: truncated GGUF file ({size} bytes, smaller than a GGUF header)")
    cur = _Cursor(mm.data, path)  # = memoryview(mm), which numpy types as a Buffer on Python 3.12+ only
    magic = bytes(cur.buf[:4])
    if magic != GGUF_MAGIC:
        raise RustyError(f"{path}: not a GGUF file (magic {printable(magic)}, expected {GGUF_MAGIC!r})")
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
        key = cur.string(MAX_NAME_BYTES)
        if key in meta:
            raise RustyError(f"{path}: corrupt GGUF file: metadata key '{printable(key)}' appears twice")
        cur.where = f"metadata key '{printable(key)}'"
        meta[key] = cur.value(cur.u32())
    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    for i in range(n_tensors):
        cur.where = f"tensor info #{i}"
        name = cur.string(MAX_NAME_BYTES)
        cur.where = f"tensor info of '{printable(name)}'"
        n_dims = cur.u32()
        if n_dims > 8:
            raise RustyError(f"{path}: tensor '{printable(name)}' has {n_dims} dimensions (corrupt tensor info)")
        dims = tuple(cur.u64() for _ in range(n_dims))
        ggml_type = cur.u32()
        offset = cur.u64()
        infos.append((name, dims, ggml_type, offset))
    alignment = meta.get("general.alignment", DEFAULT_ALIGNMENT)
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise RustyError(f"{path}: invalid general.alignment {printable(repr(alignment))} (must be a power of two)")
    data_offset = -(-cur.off // alignment) * alignment
    tensors: dict[str, GGUFTensorInfo] = {}
    for name, dims, ggml_type, offset in infos:
        if name in tensors:
            raise RustyError(f"{path}: tensor '{printable(name)}' appears twice")
        tensors[name] = GGUFTensorInfo(name, dims, ggml_type, data_offset + offset)
    f = GGUFFile(path, version, meta, tensors, data_offset, alignment, mm)
    _check_layout(f)
    return f


def _block_size(f: GGUFFile, info: GGUFTensorInfo) -> tuple[int, int]:
    """(elements, bytes) of one block of the tensor's GGML type; RustyError for a type id GGML does not have."""
    sch = SCHEME_BY_GGML_TYPE.get(info.ggml_type)
    if sch is not None:
        return sch.block, sch.block_bytes
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType  # only for types we do not run

    try:
        return GGML_QUANT_SIZES[GGMLQuantizationType(info.ggml_type)]
    except (ValueError, KeyError):
        raise RustyError(
            f"{f.path}: tensor '{printable(info.name)}' has unknown GGML type id {info.ggml_type} (corrupt tensor info)"
        ) from None


def tensor_nbytes(f: GGUFFile, info: GGUFTensorInfo) -> int:
    """Bytes of the tensor's data (exact integers: dims whose product overflows 64 bits stay huge and are caught
    by the layout check); RustyError when its rows are not whole blocks."""
    block, block_bytes = _block_size(f, info)
    row = info.dims[0] if info.dims else 1
    if row % block:
        raise RustyError(
            f"{f.path}: tensor '{printable(info.name)}': row length {row} is not a multiple of the "
            f"{f.type_name(info.ggml_type)} block size {block}"
        )
    return math.prod(info.dims[1:]) * (row // block) * block_bytes


def _check_layout(f: GGUFFile) -> None:
    """RustyError unless the tensors tile the data section as GGUF writers lay them out (llama.cpp requires the same):
    each starts at a multiple of the alignment, at the end of the one before rounded up to the alignment (no
    overlap, no gap: a tensor whose type or dims were changed no longer fits), and the data ends where the file
    does, within the last tensor's padding (a wrong ``general.alignment`` shifts the data section and leaves
    bytes over)."""
    size = f.mm.shape[0]
    spans: list[tuple[int, int, str]] = []
    for info in f.tensors.values():
        rel = info.offset - f.data_offset
        if rel % f.alignment:
            raise RustyError(
                f"{f.path}: tensor '{printable(info.name)}' starts at data offset {rel}, not a multiple of the alignment "
                f"{f.alignment} (corrupt tensor info or general.alignment)"
            )
        end = info.offset + tensor_nbytes(f, info)
        if end > size:
            raise RustyError(
                f"{f.path}: truncated or corrupt file: tensor '{printable(info.name)}' needs bytes {info.offset}..{end}, "
                f"the file has {size}"
            )
        spans.append((info.offset, end, info.name))
    spans.sort()
    expected, before = f.data_offset, None
    for start, end, name in spans:
        if start != expected:
            what = f"overlaps '{printable(before)}'" if start < expected else f"leaves {start - expected} bytes unused before it"
            raise RustyError(f"{f.path}: corrupt tensor table: tensor '{printable(name)}' at data offset "
                             f"{start - f.data_offset} {what} (a wrong offset, type or shape)")  # fmt: skip
        expected, before = -(-end // f.alignment) * f.alignment, name
    data_end = spans[-1][1] if spans else f.data_offset
    if size > max(expected, data_end):
        raise RustyError(
            f"{f.path}: corrupt GGUF file: {size - data_end} bytes follow the last tensor's data "
            f"(a wrong general.alignment={f.alignment} or tensor table)"
        )


def _file_type(f: GGUFFile) -> str:
    """`` (Q4_K_M)``: the quantization llama-quantize recorded in ``general.file_type``, or nothing."""
    value = f.metadata.get("general.file_type")
    if not isinstance(value, int) or isinstance(value, bool):
        return ""
    from gguf import LlamaFileType  # only for this message

    try:
        return f" ({LlamaFileType(value).name.removeprefix('MOSTLY_').removeprefix('ALL_')})"
    except ValueError:
        return f" (general.file_type {value})"


def tensor_view(f: GGUFFile, info: GGUFTensorInfo) -> TensorView:
    """A zero-copy view of one tensor (its extent was checked by ``read_gguf``); RustyError for unsupported types."""
    sch = SCHEME_BY_GGML_TYPE.get(info.ggml_type)
    if sch is None:
        raise RustyError(
            f"{f.path}: this file{_file_type(f)} stores tensor '{printable(info.name)}' as {f.type_name(info.ggml_type)}, "
            f"which rusty-ir cannot decode yet; supported tensor types are {', '.join(s.name.upper() for s in SCHEME_BY_GGML_TYPE.values())} "
            "(files such as Q4_K_M, Q5_K_M, Q3_K_M, Q2_K, Q6_K, Q8_0, IQ4_NL): re-quantize the original model to one of them "
            "with llama.cpp's llama-quantize, or pick that download instead"
        )
    return TensorView(info.name, info.shape, sch, f.mm[info.offset : info.offset + tensor_nbytes(f, info)], source=str(f.path))


def _config_from_gguf(f: GGUFFile) -> tuple[ModelConfig, dict[str, str]]:
    meta = f.metadata
    fields = Fields(meta, str(f.path))
    arch = fields.get("general.architecture", str)
    if arch not in ARCHS:
        raise RustyError(unsupported_architecture(str(f.path), "key general.architecture", arch))
    keys = _gguf_keys(arch)

    def get(field: str, kind: type = int, default: Any = ...) -> Any:
        return fields.get(keys[field], kind, default)

    hidden = get("hidden")
    n_heads = get("n_heads")
    if keys["head_dim"] not in meta:
        if n_heads <= 0 or hidden % n_heads:
            raise RustyError(f"{f.path}: {keys['n_heads']}={n_heads} does not divide {keys['hidden']}={hidden}")
        keys["head_dim"] = f"{keys['hidden']}/{keys['n_heads']}"
    head_dim = get("head_dim", int, hidden // n_heads if n_heads > 0 else 0)
    vocab = _gguf_vocab(f, get("vocab", int, None), keys)
    bos, eos_ids = _gguf_special_tokens(f, fields)
    scaling = _gguf_rope_scaling(f, arch)
    context_length = _gguf_yarn_context(scaling, get("context_length", int, 2048), keys, arch)
    window = fields.get(f"{arch}.attention.sliding_window", int, ARCHS[arch].gguf_window)  # llama.cpp's key (phi3, gemma2/3)
    n_layers = get("n_layers")
    sliding, local_theta = _sliding_layers(f, fields, arch, n_layers, window)
    if window is not None and (window >= context_length or (ARCHS[arch].sliding_pattern and not sliding)):
        window = None  # never reached, or no layer slides: full attention (a bad value is ModelConfig's error)
    caps = ARCHS[arch].gguf_softcaps  # llama.cpp caps gemma2's attention scores and logits, with defaults
    attn_cap = None if caps is None else fields.get(f"{arch}.attn_logit_softcapping", float, caps[0])
    final_cap = fields.get(f"{arch}.final_logit_softcapping", float, None if caps is None else caps[1])
    try:
        cfg = ModelConfig(
            arch=arch,
            n_layers=n_layers,
            hidden=hidden,
            n_heads=n_heads,
            n_kv_heads=get("n_kv_heads", int, n_heads),
            head_dim=head_dim,
            ffn_hidden=get("ffn_hidden"),
            vocab=vocab,
            rope_theta=get("rope_theta", float, 10000.0),
            rope_style=ARCHS[arch].gguf_rope_style,
            rms_eps=get("rms_eps", float),
            context_length=context_length,
            tied_embeddings="output.weight" not in f.tensors,
            qkv_bias=ARCHS[arch].qkv_bias,
            rope_dim=get("rope_dim", int, head_dim),
            bos_token_id=bos,
            eos_token_ids=tuple(dict.fromkeys(e for e in eos_ids if e is not None)),
            rope_scaling=tuple(sorted(scaling.items())) or None,
            name=str(meta.get("general.name", "")),
            sliding_window=window,
            sliding_layers=sliding,
            rope_local_theta=local_theta,
            query_pre_attn_scalar=float(hidden // n_heads) if n_layers in ARCHS[arch].gguf_wide_query_layers and n_heads > 0 else None,
            logit_softcap=final_cap if ARCHS[arch].logit_softcapping else None,
            attn_softcap=attn_cap,
        )
    except ConfigValueError as e:
        raise fields.config_error(e, {**keys, "bos_token_id": "tokenizer.ggml.bos_token_id", "eos_token_ids": "tokenizer.ggml.eos_token_id",
                                      "sliding_layers": f"{arch}.attention.sliding_window_pattern", "rope_local_theta": f"{arch}.rope.freq_base_swa",
                                      "logit_softcap": f"{arch}.final_logit_softcapping", "attn_softcap": f"{arch}.attn_logit_softcapping",
                                      "sliding_window": f"{arch}.attention.sliding_window"}) from None  # fmt: skip
    return cfg, keys


def _gguf_keys(arch: str) -> dict[str, str]:
    """The metadata key of each ModelConfig field of architecture ``arch``, as llama.cpp names them."""
    return {
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


def _gguf_vocab(f: GGUFFile, vocab: int | None, keys: dict[str, str]) -> int:
    """The vocabulary size: ``vocab`` (from ``<arch>.vocab_size``), else the tokenizer's token count, else the
    embedding's rows; ``keys["vocab"]`` then names where it came from."""
    if vocab is not None:
        return vocab
    toks = f.metadata.get("tokenizer.ggml.tokens")
    if isinstance(toks, list):
        vocab, keys["vocab"] = len(toks), "tokenizer.ggml.tokens (count)"
    elif "token_embd.weight" in f.tensors:
        vocab, keys["vocab"] = f.tensors["token_embd.weight"].shape[0], "token_embd.weight rows"
    else:
        raise RustyError(f"{f.path}: cannot tell the vocabulary size ({keys['vocab']} missing)")
    return vocab


def _gguf_special_tokens(f: GGUFFile, fields: Fields) -> tuple[int | None, list[int | None]]:
    """(the BOS id, the EOS, EOT and EOM ids), each None when missing; a SentencePiece (``llama``) tokenizer
    defaults BOS to 1 and EOS to 2, as llama.cpp does."""
    token_ids = [fields.get(f"tokenizer.ggml.{k}_token_id", int, None) for k in ("bos", "eos", "eot", "eom")]
    bos, eos_ids = token_ids[0], token_ids[1:]
    if f.metadata.get("tokenizer.ggml.model") == "llama":  # llama.cpp's SentencePiece defaults
        bos = 1 if bos is None else bos
        eos_ids[0] = 2 if eos_ids[0] is None else eos_ids[0]
    return bos, eos_ids


def _gguf_rope_scaling(f: GGUFFile, arch: str) -> dict[str, Any]:
    """The RoPE scaling parameters (``<arch>.rope.scaling.*`` with llama.cpp's legacy key and default type, and
    the ``rope_freqs.weight`` tensor), empty when none; LongRoPE's factor tensors are an error."""
    meta = f.metadata
    scaling = {k.split(".rope.scaling.", 1)[1]: v for k, v in meta.items() if k.startswith(f"{arch}.rope.scaling.")}
    legacy = meta.get(f"{arch}.rope.scale_linear")  # llama.cpp's older key for a linear factor
    if "factor" not in scaling and legacy is not None:
        scaling["factor"] = legacy
    if "type" not in scaling and scaling.get("factor") not in (None, 0, 0.0, 1, 1.0):
        scaling["type"] = "linear"  # llama.cpp's default type when a factor is given
    if scaling.get("type") in (None, "none") and "rope_freqs.weight" not in f.tensors:
        scaling = {}
    if "rope_freqs.weight" in f.tensors:
        scaling["freq_factors_tensor"] = "rope_freqs.weight"
    longrope = [t for t in ("rope_factors_long.weight", "rope_factors_short.weight") if t in f.tensors]
    if longrope:
        raise RustyError(
            f"{f.path}: tensor '{longrope[0]}' means LongRoPE scaling (Phi-3's long-context versions), which is not "
            "supported yet: it switches between short and long factor lists by sequence length. Use a version "
            "without it (such as Phi-3-mini-4k-instruct)"
        )
    return scaling


def _gguf_yarn_context(scaling: dict[str, Any], context_length: int, keys: dict[str, str], arch: str) -> int:
    """The context length: with YaRN scaling, the one it reaches (factor x original context, as from config.json,
    which ``keys["context_length"]`` then says) when that is longer; it sets the scaling's original context."""
    if scaling.get("type") == "yarn":  # the context yarn reaches, as from config.json
        factor, original = scaling.get("factor"), scaling.setdefault("original_context_length", context_length)
        if (
            isinstance(factor, int | float)
            and isinstance(original, int)
            and math.isfinite(factor)
            and context_length < factor * original <= MAX_SIZE
        ):
            keys["context_length"] = f"{arch}.rope.scaling.factor x {arch}.rope.scaling.original_context_length (yarn)"
            context_length = int(factor * original)
    return context_length


def _sliding_layers(f: GGUFFile, fields: Fields, arch: str, n_layers: Any, window: int | None) -> tuple[tuple[int, ...], float | None]:
    """(the sliding-window layers, their RoPE base or None) of an architecture that interleaves them with global ones,
    as llama.cpp reads them: with a window, ``<arch>.attention.sliding_window_pattern`` (every N-th layer global, or
    one boolean per layer) else the architecture's constant (Gemma 3: 6); the base ``<arch>.rope.freq_base_swa``
    else the architecture's (Gemma 3: 10000). No window: no sliding layers."""
    info = ARCHS[arch]
    if not info.sliding_pattern or window is None or type(n_layers) is not int or not 0 < n_layers <= MAX_SIZE:
        return (), None
    key = f"{arch}.attention.sliding_window_pattern"
    pattern = f.metadata.get(key, info.sliding_pattern)
    if isinstance(pattern, list):
        if len(pattern) != n_layers or any(type(b) is not bool for b in pattern):
            raise RustyError(f"{f.path}: {key} must be one boolean per layer ({n_layers}), got {printable(repr(pattern), 200)}")
        sliding = tuple(i for i, b in enumerate(pattern) if b)
    else:
        pattern = fields.get(key, int, info.sliding_pattern)
        if pattern < 1:
            raise RustyError(f"{f.path}: {key} = {pattern}: must be at least 1")
        sliding = tuple(i for i in range(n_layers) if (i + 1) % pattern)
    local = None if info.local_rope_theta is None else fields.get(f"{arch}.rope.freq_base_swa", float, info.local_rope_theta)
    return sliding, local


def load_gguf(path: str | Path):
    """Import a GGUF checkpoint: config, weight views (zero-copy), tokenizer, chat template."""
    from .loaded import LoadedModel
    from .rope import FREQS_TENSOR, gguf_freq_factors, put_factors
    from .tokenizer import tokenizer_from_gguf

    f = read_gguf(path)
    cfg, keys = _config_from_gguf(f)
    views = {name: tensor_view(f, info) for name, info in f.tensors.items()}
    factors, attention = gguf_freq_factors(
        dict(cfg.rope_scaling or ()), cfg.arch, views.get(FREQS_TENSOR), cfg.rope_theta, cfg.rope_dim, str(f.path)
    )
    if attention is not None:
        cfg = cfg.replace(rope_attention_factor=attention)
    put_factors(views, factors, str(f.path), cfg)
    split_fused(cfg, views, config_source=f"{f.path}'s metadata")
    check_tensors(
        cfg,
        {name: v.shape for name, v in views.items()},
        source_of=lambda _name: str(f.path),
        key_of=keys,
        config_source=f"{f.path}'s metadata",
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
