"""Mutations of checkpoints, chat templates and IR text, shared by the fuzz tests and ``scripts/fuzz_inputs.py``.

Each mutation returns the mutated input and a ``Mutation`` record: what was changed and whether the change can
be told apart from a genuine checkpoint (``detectable``). A detectable mutation (a tensor table or header
that contradicts the file, a NaN or out-of-range hyper-parameter, a value of the wrong type, sizes that
overflow) must end in a clean error or in exactly the original model's output; an undetectable one (a
flipped weight byte, a different but valid epsilon) may change the output, and must only fail cleanly.

GGUF files are edited structurally: ``GGUFLayout.parse`` records where every header field lies, so a
mutation can aim at a tensor's offset or a key's type, and ``GGUFLayout.write`` serializes a file with
changed metadata while keeping the tensor data (and its original padding) byte for byte.
"""

from __future__ import annotations

import json
import math
import random
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --- what a mutation did ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    kind: str
    """A short family name, e.g. ``gguf-tensor-offset``, ``hf-config-type``."""
    detail: str
    detectable: bool
    """True: the result must be a clean error or the original output (see the module docstring)."""


# --- GGUF structure -------------------------------------------------------------------------------

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
U32, I32, F32, BOOL, U64, F64 = 4, 5, 6, 7, 10, 12


@dataclass
class Field:
    """One integer field of a GGUF header: where it is, how wide, and what it means."""

    offset: int
    fmt: str
    role: str
    """``count`` (header counts, string lengths, array counts, n_dims), ``dim``, ``ggml-type`` (a tensor's type),
    ``type`` (a metadata value's or array element's type id), ``offset`` (a tensor's data offset) or ``value``
    (a scalar metadata value)."""
    label: str


@dataclass
class KV:
    key: str
    vtype: int
    payload: bytes
    """The value as serialized after its type id."""


@dataclass
class TensorInfo:
    name: str
    dims: list[int]
    ggml_type: int
    offset: int


@dataclass
class GGUFLayout:
    version: int
    kvs: list[KV]
    tensors: list[TensorInfo]
    data: bytes
    """Everything from the data section's start to the end of the file."""
    alignment: int
    fields: list[Field] = field(default_factory=list)
    data_offset: int = 0

    @classmethod
    def parse(cls, raw: bytes) -> GGUFLayout:
        """The structure of a well-formed GGUF file (one of the seeds), with every integer field located."""
        fields: list[Field] = []
        off = 8

        def take(fmt: str, role: str | None = None, label: str = "") -> Any:
            nonlocal off
            (v,) = struct.unpack_from(fmt, raw, off)
            if role is not None:
                fields.append(Field(off, fmt, role, label))
            off += struct.calcsize(fmt)
            return v

        def string(label: str) -> str:
            nonlocal off
            n = take("<Q", "count", f"length of {label}")
            s = raw[off : off + n].decode("utf-8")
            off += n
            return s

        def value(vtype: int, label: str) -> None:
            if vtype == STRING:
                string(label)
            elif vtype == ARRAY:
                etype = take("<I", "type", f"element type of {label}")
                count = take("<Q", "count", f"item count of {label}")
                for i in range(count):
                    value(etype, f"{label}[{i}]")
            else:
                take(_SCALAR[vtype], "value" if vtype != BOOL else None, label)

        version = struct.unpack_from("<I", raw, 4)[0]
        n_tensors = take("<Q", "count", "tensor count")
        n_kv = take("<Q", "count", "key count")
        kvs = []
        for _ in range(n_kv):
            key = string("a key")
            vtype = take("<I", "type", f"type of {key}")
            start = off
            value(vtype, key)
            kvs.append(KV(key, vtype, raw[start:off]))
        tensors = []
        for _ in range(n_tensors):
            name = string("a tensor name")
            n_dims = take("<I", "count", f"n_dims of {name}")
            dims = [take("<Q", "dim", f"dim {i} of {name}") for i in range(n_dims)]
            ggml_type = take("<I", "ggml-type", f"type of {name}")
            offset = take("<Q", "offset", f"offset of {name}")
            tensors.append(TensorInfo(name, dims, ggml_type, offset))
        alignment = next((struct.unpack("<I", kv.payload)[0] for kv in kvs if kv.key == "general.alignment"), 32)
        data_offset = -(-off // alignment) * alignment
        return cls(version, kvs, tensors, raw[data_offset:], alignment, fields, data_offset)

    def write(self, pad_to: int | None = None) -> bytes:
        """The file, with the data section starting at the end of the header padded to ``pad_to`` (default: the
        layout's alignment; a different value writes a file whose general.alignment does not match its padding)."""
        out = bytearray(b"GGUF" + struct.pack("<IQQ", self.version, len(self.tensors), len(self.kvs)))
        for kv in self.kvs:
            out += encode_string(kv.key) + struct.pack("<I", kv.vtype) + kv.payload
        for t in self.tensors:
            out += encode_string(t.name) + struct.pack("<I", len(t.dims)) + b"".join(struct.pack("<Q", d) for d in t.dims)
            out += struct.pack("<IQ", t.ggml_type, t.offset)
        pad = pad_to or self.alignment
        out += b"\0" * (-len(out) % pad)
        return bytes(out + self.data)

    def get(self, key: str) -> KV | None:
        return next((kv for kv in self.kvs if kv.key == key), None)

    def set(self, key: str, vtype: int, payload: bytes) -> None:
        kv = self.get(key)
        if kv is None:
            self.kvs.append(KV(key, vtype, payload))
        else:
            kv.vtype, kv.payload = vtype, payload


def encode_string(s: str | bytes) -> bytes:
    b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def encode(vtype: int, value: Any) -> bytes:
    """A metadata value's payload (what follows its type id)."""
    if vtype == STRING:
        return encode_string(value)
    if vtype == ARRAY:
        etype, items = value
        return struct.pack("<IQ", etype, len(items)) + b"".join(encode(etype, v) for v in items)
    return struct.pack(_SCALAR[vtype], value)


# --- GGUF mutations -------------------------------------------------------------------------------

BOUNDARY_INTS = (0, 1, 2, 3, 7, 31, 33, 255, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1)
HOSTILE_FLOATS = (math.nan, math.inf, -math.inf, -1.0, 0.0, -1e-6)

HYPER_INT_KEYS = ("block_count", "embedding_length", "feed_forward_length", "attention.head_count", "attention.head_count_kv",
                  "attention.key_length", "context_length", "rope.dimension_count", "vocab_size")  # fmt: skip
HYPER_FLOAT_KEYS = ("attention.layer_norm_rms_epsilon", "rope.freq_base")
TOKEN_ID_KEYS = ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id")


def _fit(value: int, fmt: str) -> int:
    bits = struct.calcsize(fmt) * 8
    return value % (1 << bits) - ((1 << bits) if fmt.islower() and value % (1 << bits) >= 1 << (bits - 1) else 0)


def _flip_bits(data: bytearray, lo: int, hi: int, rng: random.Random) -> str:
    spots = []
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(lo, hi)
        bit = rng.randrange(8)
        data[i] ^= 1 << bit
        spots.append(f"{i}.{bit}")
    return ",".join(spots)


def mutate_gguf(raw: bytes, rng: random.Random) -> tuple[bytes, Mutation]:
    """One random mutation of a well-formed GGUF file (a seed)."""
    layout = GGUFLayout.parse(raw)
    arch = next(kv.payload[8:].decode() for kv in layout.kvs if kv.key == "general.architecture")
    kind = rng.choice(GGUF_MUTATIONS)
    return kind(raw, layout, arch, rng)


def _struct_field(raw: bytes, layout: GGUFLayout, _arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    """A header, key, tensor-info or array field set to a boundary value: the structure contradicts the file."""
    fld = rng.choice([f for f in layout.fields if f.role != "value"])
    old = struct.unpack_from(fld.fmt, raw, fld.offset)[0]
    new = _fit(rng.choice((*BOUNDARY_INTS, old + 1, old - 1, old * 2, old // 2, rng.getrandbits(64))), fld.fmt)
    same_size = fld.role == "ggml-type" and new != old and _same_block(old, new)  # F16 <-> BF16: an equally valid model
    data = bytearray(raw)
    struct.pack_into(fld.fmt, data, fld.offset, new)
    return bytes(data), Mutation(f"gguf-{fld.role}", f"{fld.label}: {old} -> {new}", detectable=not same_size)


def _same_block(a: int, b: int) -> bool:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        return GGML_QUANT_SIZES[GGMLQuantizationType(a)] == GGML_QUANT_SIZES[GGMLQuantizationType(b)]
    except (ValueError, KeyError):
        return False


def _tensor_layout(raw: bytes, layout: GGUFLayout, _arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    """A tensor moved onto another, off its alignment, or past the end; or dims whose product overflows 64 bits."""
    t = rng.choice(layout.tensors)
    before = (t.offset, list(t.dims))
    how = rng.choice(("overlap", "misalign", "past-end", "overflow", "swap-dims"))
    if how == "overlap":
        t.offset = rng.choice(layout.tensors).offset
    elif how == "misalign":
        t.offset += rng.choice((1, 2, 16, layout.alignment, -layout.alignment)) if t.offset >= layout.alignment else 1
    elif how == "past-end":
        t.offset = len(layout.data) + rng.choice((0, layout.alignment, 2**40))
    elif how == "overflow":  # the product of the outer dims is 2^64: 0 in 64-bit arithmetic
        t.dims = [t.dims[0], 2**32, 2**32]
    else:
        t.dims = list(reversed(t.dims))
    return layout.write(), Mutation(f"gguf-layout-{how}", t.name, detectable=(t.offset, t.dims) != before)


def _hyper_value(raw: bytes, layout: GGUFLayout, arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    """A hyper-parameter NaN, infinite, zero, negative or huge (a count like 2^31 - 1 must not be work)."""
    if rng.random() < 0.5:
        key, vtype, value = f"{arch}.{rng.choice(HYPER_FLOAT_KEYS)}", rng.choice((F32, F64)), rng.choice(HOSTILE_FLOATS)
    else:
        key = f"{arch}.{rng.choice(HYPER_INT_KEYS)}" if rng.random() < 0.8 else rng.choice(TOKEN_ID_KEYS)
        value, vtype = rng.choice(((0, U32), (2**31 - 1, U32), (2**32 - 1, U32), (-1, I32), (2**62, U64), (10**6, U32)))
    layout.set(key, vtype, encode(vtype, value))
    valid = key in TOKEN_ID_KEYS and value == 0  # another token, not a broken file (the others are past the vocabulary)
    return layout.write(), Mutation("gguf-hyper-value", f"{key} = {value}", detectable=not valid)


def _hyper_type(raw: bytes, layout: GGUFLayout, arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    """A used key stored with the wrong type: a count as a string, float or array, a flag as a string..."""
    candidates = [kv for kv in layout.kvs if kv.key.startswith(f"{arch}.") or kv.key.startswith("tokenizer.ggml.")]
    kv = rng.choice(candidates)
    vtype, value = rng.choice(((STRING, "64"), (STRING, "no"), (F32, 64.0), (F32, 0.5), (BOOL, True), (I32, -3),
                               (ARRAY, (U32, [64, 64])), (ARRAY, (STRING, ["a"])), (U64, 2**64 - 1)))  # fmt: skip
    before = kv.vtype
    kv.vtype, kv.payload = vtype, encode(vtype, value)
    # the same type, or any number for a float key: another value, not a wrong type
    numeric = {0, 1, 2, 3, U32, I32, F32, U64, 11, F64}
    valid = vtype == before or before in (F32, F64) and vtype in numeric  # another value of an accepted type
    return layout.write(), Mutation("gguf-hyper-type", f"{kv.key}: type {before} -> {vtype} {value!r}", detectable=not valid)


def _alignment(raw: bytes, layout: GGUFLayout, _arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    """general.alignment that does not match how the data was padded, or is not a power of two."""
    vtype, value = rng.choice(((U32, 1), (U32, 2), (U32, 3), (U32, 0), (U32, 16), (U32, 64), (U32, 2**31), (U64, 32),
                               (STRING, "32"), (F32, 32.0), (BOOL, True), (I32, -32)))  # fmt: skip
    layout.set("general.alignment", vtype, encode(vtype, value))
    return layout.write(pad_to=layout.alignment), Mutation("gguf-alignment", f"{vtype}:{value!r}", detectable=True)


REQUIRED_KEYS = ("general.architecture", "block_count", "embedding_length", "attention.head_count", "feed_forward_length",
                 "attention.layer_norm_rms_epsilon", "tokenizer.ggml.model", "tokenizer.ggml.tokens")  # fmt: skip
"""Keys without a default: dropping one must be an error (dropping another may select its default: a different model)."""


def _drop_key(raw: bytes, layout: GGUFLayout, arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    kv = layout.kvs.pop(rng.randrange(len(layout.kvs)))
    required = kv.key in REQUIRED_KEYS or kv.key.removeprefix(f"{arch}.") in REQUIRED_KEYS
    return layout.write(), Mutation("gguf-drop-key", kv.key, detectable=required)


def _duplicate(raw: bytes, layout: GGUFLayout, _arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    """A key or tensor listed twice."""
    if rng.random() < 0.5:
        kv = rng.choice(layout.kvs)
        layout.kvs.append(KV(kv.key, kv.vtype, kv.payload))
        return layout.write(), Mutation("gguf-duplicate", kv.key, detectable=True)
    t = rng.choice(layout.tensors)
    layout.tensors.append(TensorInfo(t.name, list(t.dims), t.ggml_type, t.offset))
    return layout.write(), Mutation("gguf-duplicate", t.name, detectable=True)


def _truncate_or_append(raw: bytes, layout: GGUFLayout, _arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    if rng.random() < 0.6:
        n = rng.randrange(len(raw))
        return raw[:n], Mutation("gguf-truncate", f"at {n} of {len(raw)}", detectable=True)
    extra = bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 7, 32, 100, 4096))))
    return raw + extra, Mutation("gguf-append", f"{len(extra)} bytes", detectable=True)


def _flip_header(raw: bytes, layout: GGUFLayout, _arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    """Random bits of the header (keys, strings, the vocabulary): anything may change."""
    data = bytearray(raw)
    return bytes(data), Mutation("gguf-flip-header", _flip_bits(data, 0, layout.data_offset, rng), detectable=False)


def _flip_data(raw: bytes, layout: GGUFLayout, _arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    """Random bits of the tensor data: a different model (NaN weights included), not a broken file."""
    data = bytearray(raw)
    return bytes(data), Mutation("gguf-flip-data", _flip_bits(data, layout.data_offset, len(raw), rng), detectable=False)


def _vocab(raw: bytes, layout: GGUFLayout, _arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    """One token or merge string changed (escape sequences, invalid UTF-8, a lone byte): the issue's
    "Error while initializing BPE" came from one flipped byte in a vocabulary string."""
    kv = layout.get(rng.choice(("tokenizer.ggml.tokens", "tokenizer.ggml.merges")))
    if kv is None:
        kv = layout.get("tokenizer.ggml.tokens")
    assert kv is not None
    items = decode_string_array(kv.payload)
    i = rng.randrange(len(items))
    items[i] = rng.choice((b"\x1b[31mred\x1b[0m", b"\xff\xfe", items[i][:-1] + b"\x80", b"", b"a" * 5000, b"x y z"))
    kv.payload = encode_string_array(items)
    return layout.write(), Mutation("gguf-vocab", f"{kv.key}[{i}]", detectable=False)


def encode_string_array(items: list[bytes]) -> bytes:
    """The payload of an array of strings."""
    return struct.pack("<IQ", STRING, len(items)) + b"".join(encode_string(s) for s in items)


def decode_string_array(payload: bytes) -> list[bytes]:
    """The items of an array-of-strings payload, as bytes."""
    (count,) = struct.unpack_from("<Q", payload, 4)
    off, out = 12, []
    for _ in range(count):
        (n,) = struct.unpack_from("<Q", payload, off)
        out.append(payload[off + 8 : off + 8 + n])
        off += 8 + n
    return out


def _template(raw: bytes, layout: GGUFLayout, _arch: str, rng: random.Random) -> tuple[bytes, Mutation]:
    template = rng.choice(HOSTILE_TEMPLATES)
    layout.set("tokenizer.chat_template", STRING, encode(STRING, template))
    return layout.write(), Mutation("gguf-chat-template", template[:60], detectable=False)


GGUF_MUTATIONS = (_struct_field, _struct_field, _tensor_layout, _tensor_layout, _hyper_value, _hyper_type, _alignment,
                  _drop_key, _duplicate, _truncate_or_append, _flip_header, _flip_data, _vocab, _template)  # fmt: skip
"""The GGUF mutation families, weighted by repetition."""

HOSTILE_TEMPLATES = (
    "{{ 'a' * 3000000000 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{{ 1 + 'a' }}",
    "{{ 'a'|center(1000000000) }}",
    "{{ '%1000000000s' % 'a' }}",
    "{% set ns = namespace(x='a') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ raise_exception('no system role') }}",
    "{% for m in messages %}{{ m['content'] }}{% endfor %",
    "{{ messages[0]['content'] * 100000000 }}",
    "{{ (range(100000)|list * 40)|join(',') }}",
    "\x1b[2J{{ messages }}",
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n",
)
"""Chat templates that are too big, too slow, broken or trying to escape (the last one is fine)."""


# --- safetensors folders --------------------------------------------------------------------------

HF_INT_KEYS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
               "intermediate_size", "vocab_size", "max_position_embeddings", "bos_token_id", "eos_token_id")  # fmt: skip
HF_FLOAT_KEYS = ("rms_norm_eps", "rope_theta")
REQUIRED_HF_KEYS = ("model_type", "num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size")
BAD_JSON_VALUES = (math.nan, math.inf, -math.inf, -1, 0, 1e12, 10**12, 2**63, 1.5, "64", True, None, [1], {"a": 1}, "")


def mutate_hf_folder(folder: Path, rng: random.Random) -> Mutation:
    """One random mutation of a Hugging Face folder (a seed copy), in place."""
    return rng.choice(HF_MUTATIONS)(folder, rng)


def _config_value(folder: Path, rng: random.Random) -> Mutation:
    """A hyper-parameter of config.json NaN, negative, huge, of the wrong type, or missing."""
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    key = rng.choice((*HF_INT_KEYS, *HF_FLOAT_KEYS, "tie_word_embeddings", "rope_scaling", "model_type", "partial_rotary_factor",
                      "rope_parameters", "attention_bias"))  # fmt: skip
    if key == "tie_word_embeddings":
        value = rng.choice(("no", "false", 0, 1, None, [], "yes"))
    elif key in ("rope_scaling", "rope_parameters"):
        value = rng.choice(("linear", [2.0], 3, {"rope_type": "linear", "factor": 2.0}, {"rope_theta": "big"}, {"type": None}))
    elif key == "model_type":
        value = rng.choice(("gpt_neox", 7, None, "\x1b[31mllama"))
    else:
        value = rng.choice(BAD_JSON_VALUES)
    removed = rng.random() < 0.1
    if removed:
        cfg.pop(key, None)
    else:
        cfg[key] = value
    path.write_text(json.dumps(cfg))  # NaN and Infinity as Python's json writes them
    # a valid value, or a key left to its default, is a different model, not a broken file
    valid_change = (
        (removed or value is None)
        and key not in REQUIRED_HF_KEYS  # null is read as absent
        or key in ("bos_token_id", "eos_token_id")
        or key in HF_FLOAT_KEYS
        and type(value) in (int, float)
        and math.isfinite(value)
        and value > 0
    )
    return Mutation("hf-config", f"{key} {'removed' if removed else '= ' + repr(value)}", detectable=not valid_change)


def _config_text(folder: Path, rng: random.Random) -> Mutation:
    """config.json cut short or with a byte flipped: JSON that does not parse, or parses to other values."""
    path = folder / "config.json"
    data = bytearray(path.read_bytes())
    if rng.random() < 0.5:
        path.write_bytes(bytes(data[: rng.randrange(len(data))]))
        return Mutation("hf-config-text", "truncated", detectable=True)
    detail = _flip_bits(data, 0, len(data), rng)
    path.write_bytes(bytes(data))
    return Mutation("hf-config-text", detail, detectable=False)


def _safetensors_header(folder: Path, rng: random.Random) -> Mutation:
    """The header length, a tensor's offsets, shape or dtype changed: the header contradicts the data."""
    path = folder / "model.safetensors"
    raw = path.read_bytes()
    (n,) = struct.unpack_from("<Q", raw)
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    names = [k for k in header if k != "__metadata__"]
    name = rng.choice(names)
    how = rng.choice(("length", "offsets", "shape", "dtype", "overlap", "json-flip"))
    detectable = True
    if how == "length":
        new_n = max(0, n + rng.choice((-1, 1, -8, 8, 2**40)))
        path.write_bytes(struct.pack("<Q", new_n) + raw[8:])
        return Mutation("st-header-length", f"{n} -> {new_n}", detectable=True)
    info = header[name]
    if how == "offsets":
        b, e = info["data_offsets"]
        info["data_offsets"] = rng.choice(([b + 1, e + 1], [b, e - 1], [e, b], [b - 1, e], [0, e - b], [b, 2**63]))
    elif how == "shape":
        old = info["shape"]
        info["shape"] = rng.choice((list(reversed(old)), [*old, 1], [0], [-1, 4], [2**32, 2**32], ["4"]))
        detectable = info["shape"] != old
    elif how == "dtype":
        old = info["dtype"]
        info["dtype"] = rng.choice(("F16", "BF16", "F32", "I32", "Q4", 7))
        detectable = info["dtype"] != old and {old, info["dtype"]} != {"F16", "BF16"}  # equally valid files
    elif how == "overlap":
        old = info["data_offsets"]
        info["data_offsets"] = list(header[rng.choice(names)]["data_offsets"])
        detectable = info["data_offsets"] != old
    text = json.dumps(header).encode()
    if how == "json-flip":
        flipped = bytearray(text)
        _flip_bits(flipped, 0, len(flipped), rng)
        text = bytes(flipped)
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return Mutation(f"st-header-{how}", name, detectable=detectable)


def _safetensors_data(folder: Path, rng: random.Random) -> Mutation:
    path = folder / "model.safetensors"
    raw = bytearray(path.read_bytes())
    (n,) = struct.unpack_from("<Q", raw)
    if rng.random() < 0.3:
        cut = rng.randrange(len(raw))
        path.write_bytes(bytes(raw[:cut]))
        return Mutation("st-truncate", f"at {cut}", detectable=True)
    detail = _flip_bits(raw, 8 + n, len(raw), rng)
    path.write_bytes(bytes(raw))
    return Mutation("st-flip-data", detail, detectable=False)


def _tokenizer_files(folder: Path, rng: random.Random) -> Mutation:
    """tokenizer.json or tokenizer_config.json broken, or a hostile chat template."""
    how = rng.choice(("tokenizer-flip", "tokenizer-truncate", "template", "config-type"))
    if how == "template":
        (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": rng.choice(HOSTILE_TEMPLATES)}))
    elif how == "config-type":
        (folder / "tokenizer_config.json").write_text(json.dumps(rng.choice(([1, 2], "x", {"chat_template": [1, {"name": 3}]},
                                                                              {"chat_template": 7}, {"eos_token": 5}))))  # fmt: skip
    else:
        path = folder / "tokenizer.json"
        data = bytearray(path.read_bytes())
        if how == "tokenizer-truncate":
            data = data[: rng.randrange(len(data))]
        else:
            _flip_bits(data, 0, len(data), rng)
        path.write_bytes(bytes(data))
    return Mutation(f"hf-{how}", "", detectable=False)


HF_MUTATIONS = (_config_value, _config_value, _config_text, _safetensors_header, _safetensors_header, _safetensors_data,
                _tokenizer_files)  # fmt: skip


# --- IR text --------------------------------------------------------------------------------------

_SSA = re.compile(r"%[\w.$-]+")
_NUMBER = re.compile(r"(?<![\w%@#!.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")
_DIMS = re.compile(r"(?<=<)(?:[\d?]+x)+")


def mutate_ir(text: str, rng: random.Random) -> tuple[str, Mutation]:
    """One random textual mutation of an IR file: lines dropped, duplicated or swapped, numbers and dims set to
    0, -1, huge or '?', SSA names exchanged (use before definition), bytes inserted, the text cut, deep nesting."""
    lines = text.splitlines(keepends=True)
    kind = rng.choice(("drop-line", "dup-line", "swap-lines", "number", "dims", "ssa", "insert", "truncate", "nest", "type"))
    if kind == "drop-line" and lines:
        i = rng.randrange(len(lines))
        del lines[i]
        out = "".join(lines)
    elif kind == "dup-line" and lines:
        i = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines)), lines[i])
        out = "".join(lines)
    elif kind == "swap-lines" and len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        out = "".join(lines)
    elif kind == "number":
        out = _replace_one(text, _NUMBER, rng, lambda _m: rng.choice(("0", "-1", "1", "4294967296", "99999999999999999999", "0.0",
                                                                      "nan", "-0", "2147483648", "3")))  # fmt: skip
    elif kind == "dims":
        out = _replace_one(text, _DIMS, rng, lambda m: rng.choice(("?x", "0x", "?x?x", "1x", "4294967296x", "")) + m.group(0)[2:])
    elif kind == "ssa":
        names = sorted(set(_SSA.findall(text)))
        out = _replace_one(text, _SSA, rng, lambda _m: rng.choice(names)) if names else text
    elif kind == "insert":
        at = rng.randrange(len(text) + 1)
        junk = rng.choice(
            ("{", "}", "(", ")", "\x00", "\x1b[31m", "\udcff", "%", "@", "<", ">", ":", "\n", "// -----\n", "^bb0:", '"', "\\")
        )
        out = text[:at] + junk + text[at:]
    elif kind == "truncate":
        out = text[: rng.randrange(len(text) + 1)]
    elif kind == "nest":
        depth = rng.choice((20, 50, 200, 2000))
        nest = "scf.execute_region {\n" * depth + "scf.yield\n" + "}\nscf.yield\n" * (depth - 1) + "}\n"
        out = text.replace("func.return", nest + "func.return", 1)
    else:
        out = _replace_one(text, re.compile(r"\b(f32|f16|i32|index|i64)\b"), rng,
                           lambda _m: rng.choice(("f16", "i1", "i64", "bf16", "f64", "index", "!rquant.q4_0", "complex<f32>")))  # fmt: skip
    return out, Mutation(f"ir-{kind}", "", detectable=False)


def _replace_one(text: str, pattern: re.Pattern[str], rng: random.Random, new: Any) -> str:
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    return text[: m.start()] + new(m) + text[m.end() :]
