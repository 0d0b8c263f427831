"""Weight storage shared by every layer: quantization schemes, tensor views and the weight store.

This module is the bottom of the dependency graph: the importers produce a
``WeightStore``, the reference interpreter and the passes read it, and the
runtime uploads its byte views to the GPU. It imports neither xDSL nor any
other part of rusty-ir, so a compiled artifact can run without the compiler.

Layouts (all little-endian, rows of ``shape[-1]`` elements, blocks never span
two rows):

- ``f32``/``f16``/``bf16``: plain arrays.
- GGUF block schemes (``q8_0``, ``q4_0``, ``q4_1``, ``q5_0``, ``q5_1``,
  ``iq4_nl``, and the K-quants ``q2_k``, ``q3_k``, ``q4_k``, ``q5_k``, ``q6_k``):
  exactly the bytes llama.cpp writes; each block holds ``block`` consecutive
  elements of a row in ``block_bytes`` bytes. A K-quant block is a super-block
  of 256 values in sub-blocks of 16 or 32 with their own scales (``K_QUANTS``).
- Group-wise schemes ``int4_gN`` / ``int8_gN`` (N = 32 or 128): each block of N
  elements is an f16 scale followed by the codes; int4 codes are unsigned
  nibbles with an implicit zero point of 8, two per byte as in Q4_0 (byte ``i``
  holds element ``i`` in its low nibble and element ``i + N/2`` in its high
  nibble); int8 codes are signed bytes. value = scale * (code - zero_point).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scheme:
    """How one element type is stored: ``block`` elements in ``block_bytes`` bytes."""

    name: str
    block: int
    block_bytes: int
    ggml_type: int | None = None
    """The GGML type id for GGUF schemes, None for rusty-ir's own group-wise schemes."""

    @property
    def quantized(self) -> bool:
        return self.name not in ("f32", "f16", "bf16")

    def row_bytes(self, row_length: int) -> int:
        """Bytes of one row of ``row_length`` elements; raises if blocks don't divide it."""
        if row_length % self.block:
            raise ValueError(f"{self.name}: row length {row_length} is not a multiple of the block size {self.block}")
        return row_length // self.block * self.block_bytes

    def nbytes(self, shape: tuple[int, ...]) -> int:
        """Bytes of a tensor of ``shape`` (exact: Python integers never wrap)."""
        return math.prod(shape[:-1]) * self.row_bytes(shape[-1])


def _ggml(name: str, type_id: int, block: int, block_bytes: int) -> Scheme:
    return Scheme(name, block, block_bytes, type_id)


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        _ggml("f32", 0, 1, 4),
        _ggml("f16", 1, 1, 2),
        _ggml("q4_0", 2, 32, 18),
        _ggml("q4_1", 3, 32, 20),
        _ggml("q5_0", 6, 32, 22),
        _ggml("q5_1", 7, 32, 24),
        _ggml("q8_0", 8, 32, 34),
        _ggml("q2_k", 10, 256, 84),
        _ggml("q3_k", 11, 256, 110),
        _ggml("q4_k", 12, 256, 144),
        _ggml("q5_k", 13, 256, 176),
        _ggml("q6_k", 14, 256, 210),
        _ggml("iq4_nl", 20, 32, 18),
        _ggml("bf16", 30, 1, 2),
        Scheme("int4_g32", 32, 2 + 16),
        Scheme("int4_g128", 128, 2 + 64),
        Scheme("int8_g32", 32, 2 + 32),
        Scheme("int8_g128", 128, 2 + 128),
    )
}
"""Every storage scheme rusty-ir knows, by name."""

K_QUANTS = ("q2_k", "q3_k", "q4_k", "q5_k", "q6_k")
"""GGUF's K-quants: super-blocks of 256 values whose sub-blocks (16 or 32 values) carry their own scales."""

READ_ONLY = (*K_QUANTS, "iq4_nl")
"""Schemes rusty-ir reads (reference backend and kernels) but does not produce (``quantize`` refuses them)."""

IQ4_NL_VALUES = (-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)
"""IQ4_NL's non-linear grid: a 4-bit code ``c`` stands for ``d * IQ4_NL_VALUES[c]`` (llama.cpp's ``kvalues_iq4nl``)."""

SCHEME_BY_GGML_TYPE: dict[int, Scheme] = {s.ggml_type: s for s in SCHEMES.values() if s.ggml_type is not None}


def scheme(name: str) -> Scheme:
    """The scheme called ``name``, or a ValueError that lists the known ones."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown storage scheme '{name}' (known: {', '.join(SCHEMES)})") from None


@dataclass(frozen=True)
class TensorView:
    """One stored tensor: its logical shape, its scheme and a zero-copy view of its bytes.

    ``data`` is a flat uint8 array, usually a slice of a ``np.memmap``; nothing
    is read from disk until someone touches it.
    """

    name: str
    shape: tuple[int, ...]
    scheme: Scheme
    data: np.ndarray
    source: str = ""
    """Where the bytes come from (a file path), for error messages."""

    def __post_init__(self) -> None:
        expected = self.scheme.nbytes(self.shape)
        if self.data.nbytes != expected:
            raise ValueError(
                f"{self.source or '<memory>'}: tensor '{self.name}' of shape {list(self.shape)} "
                f"in {self.scheme.name} needs {expected} bytes, found {self.data.nbytes}"
            )

    @property
    def nbytes(self) -> int:
        return self.data.nbytes

    def to_numpy(self) -> np.ndarray:
        """The tensor as float32 (dequantized or converted); this copies."""
        return dequantize(self.data, self.scheme, self.shape)


class WeightStore(Mapping[str, TensorView]):
    """A read-only mapping from weight names to tensor views, with the file it came from."""

    def __init__(self, tensors: Mapping[str, TensorView], source: str = "") -> None:
        self._tensors = dict(tensors)
        self.source = source

    def __getitem__(self, name: str) -> TensorView:
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(f"{self.source or 'weight store'}: no tensor named '{name}'") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self._tensors.values())


# --- the split layout: codes and scales apart, for 16-byte loads -----------------------------------

WEIGHT_PARTS = ("codes", "scales")
"""The two buffers of a weight in the split layout (``split_part``)."""


@dataclass(frozen=True)
class SplitLayout:
    """How a block scheme's blocks split into 16-byte-aligned codes and f16 scales.

    A block of the GGUF and group-wise schemes is ``halves`` f16 header values
    (the scale; Q4_1 also its minimum) followed by ``code_bytes`` bytes of codes.
    In the split layout a ``[rows, K]`` weight becomes two buffers: ``codes``,
    every block's code bytes in row-major block order (row ``n``'s codes are
    ``K / block * code_bytes`` contiguous bytes, each block's at a multiple of 16),
    and ``scales``, every block's ``halves`` f16 values in the same order. Codes
    keep their byte order within a block (Q4: byte ``i`` holds element ``i`` in
    its low nibble and ``i + block/2`` in its high one). Same total size.
    """

    halves: int
    code_bytes: int


def split_layout(sch: Scheme) -> SplitLayout | None:
    """The split layout of a block scheme whose codes are a multiple of 16 bytes; None otherwise
    (plain float schemes, Q5_0/Q5_1 (20 bytes of codes) and the K-quants keep their layout)."""
    if not sch.quantized or sch.name in K_QUANTS:
        return None
    halves = 2 if sch.name in ("q4_1", "q5_1") else 1
    code_bytes = sch.block_bytes - 2 * halves
    return SplitLayout(halves, code_bytes) if code_bytes % 16 == 0 else None


def split_part(view: TensorView, part: str) -> np.ndarray:
    """The bytes of one buffer (``codes`` or ``scales``) of ``view`` in the split layout (a copy)."""
    layout = split_layout(view.scheme)
    if layout is None:
        raise ValueError(f"tensor '{view.name}' in {view.scheme.name} has no split layout")
    blocks = np.ascontiguousarray(view.data).view(np.uint8).reshape(-1, view.scheme.block_bytes)
    if part == "codes":
        return np.ascontiguousarray(blocks[:, 2 * layout.halves :]).reshape(-1)
    if part == "scales":
        return np.ascontiguousarray(blocks[:, : 2 * layout.halves]).reshape(-1)
    raise ValueError(f"unknown weight part '{part}' (known: {', '.join(WEIGHT_PARTS)})")


def dequantize(data: np.ndarray, sch: Scheme, shape: tuple[int, ...]) -> np.ndarray:
    """Float32 values of ``data`` (flat uint8, stored in ``sch``), reshaped to ``shape``."""
    raw = np.ascontiguousarray(data).view(np.uint8)
    if sch.name == "f32":
        out = raw.view(np.float32)
    elif sch.name == "f16":
        out = raw.view(np.float16).astype(np.float32)
    elif sch.name == "bf16":
        out = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    elif sch.ggml_type is not None:
        from gguf.constants import GGMLQuantizationType  # here, not at the top: keeps gguf off the runtime's imports
        from gguf.quants import dequantize as gguf_dequantize

        rows = raw.reshape(-1, sch.row_bytes(shape[-1]))
        out = gguf_dequantize(rows, GGMLQuantizationType(sch.ggml_type))
    else:
        out = _dequantize_group(raw, sch)
    return np.asarray(out, dtype=np.float32).reshape(shape)


def _dequantize_group(raw: np.ndarray, sch: Scheme) -> np.ndarray:
    blocks = raw.reshape(-1, sch.block_bytes)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nblocks, 1)
    codes = blocks[:, 2:]
    if sch.name.startswith("int4"):
        # byte i holds element i (low nibble) and element i + block/2 (high nibble), as in Q4_0.
        q = np.concatenate([codes & 0x0F, codes >> 4], axis=1).astype(np.float32) - 8.0
    else:
        q = codes.view(np.int8).astype(np.float32)
    return (q * scale).reshape(-1)


HALF_FIELDS: dict[str, tuple[int, ...]] = {
    "q4_0": (0,), "q4_1": (0, 2), "q5_0": (0,), "q5_1": (0, 2), "q8_0": (0,), "iq4_nl": (0,),
    "q2_k": (80, 82), "q3_k": (108,), "q4_k": (0, 2), "q5_k": (0, 2), "q6_k": (208,),
}  # fmt: skip
"""Byte offsets of the f16 fields (scale ``d``, and ``m``/``dmin`` where there is one) in a block of each GGUF scheme."""


def random_blocks(sch: Scheme, shape: tuple[int, ...], rng: np.random.Generator, scale: float = 2**-7) -> np.ndarray:
    """Random valid bytes of a ``shape`` tensor in a GGUF block scheme: every code and sub-scale bit random, the f16
    fields (``HALF_FIELDS``) in ``[scale / 2, scale)``, so the values are finite. For synthetic weights of schemes
    that cannot be quantized to (``READ_ONLY``) and for tests of the decoders."""
    fields = HALF_FIELDS.get(sch.name)
    if fields is None:
        raise ValueError(f"random_blocks: {sch.name} is not a GGUF block scheme ({', '.join(HALF_FIELDS)})")
    blocks = rng.integers(0, 256, size=(sch.nbytes(shape) // sch.block_bytes, sch.block_bytes), dtype=np.uint8)
    for at in fields:
        halves = rng.uniform(scale / 2, scale, size=len(blocks)).astype(np.float16)
        blocks[:, at : at + 2] = halves.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(-1)


def quantize(values: np.ndarray, sch: Scheme) -> np.ndarray:
    """Encode float values (last axis = rows) in ``sch``; returns flat uint8 bytes."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    if sch.name == "f32":
        return values.reshape(-1).view(np.uint8)
    if sch.name == "f16":
        return values.astype(np.float16).reshape(-1).view(np.uint8)
    if sch.name == "bf16":
        bits = values.reshape(-1).view(np.uint32)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
        return rounded.astype(np.uint16).view(np.uint8)
    if sch.name in READ_ONLY:
        raise ValueError(f"quantizing to {sch.name} is not supported (only reading it); use q4_0, q4_1, q5_0, q5_1, q8_0 or int4/int8")
    if sch.ggml_type is not None:
        from gguf.constants import GGMLQuantizationType  # here, not at the top: keeps gguf off the runtime's imports
        from gguf.quants import quantize as gguf_quantize

        rows = values.reshape(-1, values.shape[-1])
        return np.ascontiguousarray(gguf_quantize(rows, GGMLQuantizationType(sch.ggml_type))).reshape(-1).view(np.uint8)
    return _quantize_group(values, sch)


def _quantize_group(values: np.ndarray, sch: Scheme) -> np.ndarray:
    groups = values.reshape(-1, sch.block)
    bits = 4 if sch.name.startswith("int4") else 8
    qmax = (1 << (bits - 1)) - 1  # 7 or 127
    amax = np.abs(groups).max(axis=1, keepdims=True)
    scale = (amax / qmax).astype(np.float16)
    inv = np.divide(1.0, scale.astype(np.float32), out=np.zeros_like(amax), where=scale != 0)
    q = np.clip(np.rint(groups * inv), -qmax - 1, qmax)
    if bits == 4:
        codes = (q + 8).astype(np.uint8)
        half = sch.block // 2
        packed = codes[:, :half] | (codes[:, half:] << 4)
    else:
        packed = q.astype(np.int8).view(np.uint8)
    out = np.concatenate([scale.view(np.uint8).reshape(-1, 2), packed], axis=1)
    return out.reshape(-1)


def expand_template(template: str, names: Iterable[str]) -> list[str]:
    """The stored names a weight name matches: itself, or for a ``blk.{}.x`` template every ``blk.N.x``."""
    if "{}" not in template:
        return [template]
    head, tail = template.split("{}", 1)
    return [n for n in names if n.startswith(head) and n.endswith(tail) and n[len(head) : len(n) - len(tail)].isdigit()]


class QuantizingStore(WeightStore):
    """A weight store that quantizes some float tensors of another store when they are read.

    ``plan`` maps stored tensor names to the scheme each is quantized to (the
    ``quantize-weights`` pass decides it; ``plan_from_templates`` expands its
    ``blk.{}.x`` templates). Reading a planned tensor converts that one tensor
    from the base store's view (usually a memory map) to float32, quantizes it
    and returns a view of the new bytes; nothing is cached, so host memory holds
    about one tensor of floats at a time while the runtime uploads the weights
    one by one. Other names pass through unchanged. ``conversions`` counts the
    tensors quantized so far (the tests check that reading one converts one).

    ``keep=True`` keeps each quantized view after its first read, for readers that
    read a tensor many times (the reference interpreter caches dequantized weights
    by view identity); host memory then also holds the quantized model.
    """

    def __init__(self, base: Mapping[str, TensorView], plan: Mapping[str, Scheme], *, keep: bool = False) -> None:
        source = getattr(base, "source", "")
        super().__init__(base, source)
        for name, sch in plan.items():
            view = base.get(name)
            if view is None:
                raise ValueError(f"{source or 'weight store'}: cannot quantize '{name}': no such tensor")
            check_quantizable(name, view.scheme, view.shape, sch)
        self.plan = dict(plan)
        self.conversions = 0
        self._kept: dict[str, TensorView] | None = {} if keep else None

    def __getitem__(self, name: str) -> TensorView:
        view = super().__getitem__(name)
        sch = self.plan.get(name)
        if sch is None:
            return view
        if self._kept is not None and name in self._kept:
            return self._kept[name]
        self.conversions += 1
        # One tensor of float32 lives here at a time; the quantized bytes replace it.
        out = TensorView(name, view.shape, sch, quantize(view.to_numpy(), sch), source=view.source)
        if self._kept is not None:
            self._kept[name] = out
        return out

    @property
    def nbytes(self) -> int:
        return sum(self.plan[n].nbytes(v.shape) if n in self.plan else v.nbytes for n, v in self._tensors.items())


QUANTIZE_TARGETS = ("q8_0", "q4_0", "int4_g32", "int4_g128")
"""The schemes float weights can be quantized to at compile time (``quantize-weights``, ``--quantize``)."""


def check_quantizable(name: str, source: Scheme, shape: tuple[int, ...], target: Scheme) -> None:
    """Raise ValueError, naming the weight, unless a ``source`` tensor of ``shape`` can be stored in ``target``."""
    if target.name not in QUANTIZE_TARGETS:
        raise ValueError(f"cannot quantize '{name}' to '{target.name}' (schemes: {', '.join(QUANTIZE_TARGETS)})")
    if source.quantized:
        raise ValueError(f"weight '{name}' is already quantized ({source.name}); only f32, f16 and bf16 weights can be quantized")
    if shape[-1] % target.block:
        raise ValueError(f"weight '{name}' has rows of {shape[-1]} elements, not a multiple of {target.name}'s block of {target.block}")


def plan_from_templates(templates: Mapping[str, str], store: Mapping[str, TensorView]) -> dict[str, Scheme]:
    """Expand ``{weight name or blk.{} template: scheme name}`` over the names of ``store``."""
    plan: dict[str, Scheme] = {}
    for template, sch_name in templates.items():
        names = expand_template(template, store)
        if not names:
            raise ValueError(f"{getattr(store, 'source', '') or 'weight store'}: no tensor matches '{template}'")
        for name in names:
            plan[name] = scheme(sch_name)
    return plan
