"""The binding interface of one emitted kernel: what the runtime binds and how it packs params.

The WGSL emitter produces one ``KernelInterface`` per ``gpu.func`` kernel; the
runtime reads it to build bind group layouts and to pack scalar arguments into
the kernel's uniform params buffer. Plain frozen dataclasses, standard library
only (no xDSL, no wgpu), so a compiled artifact can be loaded and run without
the compiler. ``to_dict``/``from_dict`` give a JSON-ready form for artifacts.

The contract (docs/backends.md):

1. Each memref argument of the kernel, in argument order, is a storage buffer
   ``@group(0) @binding(i)``, i = 0, 1, ... counted over memref arguments only.
2. All scalar arguments, in argument order, are fields of one uniform struct
   bound at ``@binding(len(buffers))``. Every field is 4 bytes (``i32`` for
   index/i32/i1, ``f32`` for f32 and f16 scalars), so field k sits at byte
   offset 4*k; the struct's byte size is rounded up to 16.
3. A buffer with a ``byte_range`` ``(offset, size)`` is a *part* of a launch operand
   (``split-bindings`` split an argument bigger than one binding may be): the launch
   passes that operand once per part, and the runtime binds only bytes
   ``offset .. offset + size`` of it (``size`` rounded up to 4 where the buffer allows),
   so the kernel's ``array`` starts at the part's first row. Without a range the
   whole buffer is bound.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Access = Literal["read", "read_write"]

# struct format character per params field type (little-endian, 4 bytes each)
_PACK_FORMAT: dict[str, str] = {"i32": "i", "u32": "I", "f32": "f"}

PARAMS_ALIGN = 16
"""Byte multiple the params struct's size is rounded up to (WGSL uniform buffers)."""


class DeviceBuffer(Protocol):
    """What the kernel ABI reads of a device buffer (a ``wgpu.GPUBuffer``): its size in bytes."""

    @property
    def size(self) -> int: ...


@dataclass(frozen=True)
class BufferBinding:
    """One storage buffer: a memref argument of the kernel."""

    binding: int
    """The ``@binding`` number in ``@group(0)``."""
    name: str
    """The kernel argument's name (its SSA name in the IR, or ``argN``)."""
    arg_index: int
    """Position of the argument in the ``gpu.func`` signature."""
    access: Access
    """``read`` unless the kernel stores to it."""
    element_type: str
    """The memref's element type: ``f32``, ``f16`` or ``i32``."""
    shape: tuple[int | None, ...]
    """The memref's shape; None for the (outermost) dynamic dimension."""
    byte_range: tuple[int, int] | None = None
    """(byte offset, byte size) of the launch operand this binding covers, for a part made by
    ``split-bindings`` (contract item 3); None binds the whole buffer."""
    vector_width: int = 1
    """Elements per array element of the kernel's declaration (4: ``array<vec4<f32>>``, read with 16-byte
    loads); the binding's byte size is then used in whole vectors."""

    def resource(self, buffer: DeviceBuffer) -> dict[str, object]:
        """The WebGPU buffer-binding resource of ``buffer`` for this binding: its byte range, or all of it."""
        if self.byte_range is None:
            return {"buffer": buffer, "offset": 0, "size": buffer.size}
        offset, size = self.byte_range
        return {"buffer": buffer, "offset": offset, "size": min(-(-size // 4) * 4, buffer.size - offset)}


@dataclass(frozen=True)
class ParamField:
    """One scalar argument, as a field of the uniform params struct."""

    name: str
    arg_index: int
    type: str
    """The field's WGSL type, ``i32`` or ``f32`` (4 bytes)."""
    offset: int
    """Byte offset in the struct."""
    ir_type: str
    """The argument's IR type (``index``, ``i32``, ``i1``, ``f32``, ``f16``)."""


@dataclass(frozen=True)
class ParamsLayout:
    """The uniform struct holding every scalar argument of a kernel."""

    binding: int
    struct_name: str
    fields: tuple[ParamField, ...]
    size: int
    """Byte size of the uniform buffer (a multiple of ``PARAMS_ALIGN``)."""

    def pack(self, values: Mapping[str, float | int | bool] | Sequence[float | int | bool]) -> bytes:
        """The uniform buffer's bytes for these scalar values (by field name, or in field order)."""
        if isinstance(values, Mapping):
            missing = [f.name for f in self.fields if f.name not in values]
            extra = sorted(set(values) - {f.name for f in self.fields})
            if missing or extra:
                raise ValueError(f"params of {self.struct_name}: missing {missing}, unknown {extra}")
            ordered = [values[f.name] for f in self.fields]
        else:
            ordered = list(values)
            if len(ordered) != len(self.fields):
                raise ValueError(f"params of {self.struct_name}: expected {len(self.fields)} values, got {len(ordered)}")
        out = bytearray(self.size)
        for f, v in zip(self.fields, ordered, strict=True):
            struct.pack_into("<" + _PACK_FORMAT[f.type], out, f.offset, float(v) if f.type == "f32" else int(v))
        return bytes(out)


@dataclass(frozen=True)
class KernelInterface:
    """Everything the runtime needs to launch one emitted kernel."""

    name: str
    """The ``gpu.func`` symbol."""
    module: str
    """The enclosing ``gpu.module`` symbol."""
    entry_point: str
    """The WGSL ``@compute`` function's name."""
    workgroup_size: tuple[int, int, int]
    buffers: tuple[BufferBinding, ...]
    params: ParamsLayout | None
    """None when the kernel has no scalar arguments."""
    workgroup_memory_bytes: int = 0
    """Bytes of ``var<workgroup>`` memory (check against the device limit)."""
    uses_f16: bool = False
    """Needs the ``shader-f16`` feature."""
    uses_subgroups: bool = False
    """Needs the ``subgroup`` feature."""
    extra: Mapping[str, Any] = field(default_factory=dict[str, Any])
    """Free-form metadata for later layers (not used by the device layer)."""

    @property
    def binding_count(self) -> int:
        return len(self.buffers) + (1 if self.params is not None else 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``from_dict`` inverts it)."""
        return {
            "name": self.name,
            "module": self.module,
            "entry_point": self.entry_point,
            "workgroup_size": list(self.workgroup_size),
            "buffers": [_buffer_dict(b) for b in self.buffers],
            "params": None
            if self.params is None
            else {
                "binding": self.params.binding,
                "struct_name": self.params.struct_name,
                "size": self.params.size,
                "fields": [dict(f.__dict__) for f in self.params.fields],
            },
            "workgroup_memory_bytes": self.workgroup_memory_bytes,
            "uses_f16": self.uses_f16,
            "uses_subgroups": self.uses_subgroups,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KernelInterface:
        p = d["params"]
        params = None
        if p is not None:
            params = ParamsLayout(p["binding"], p["struct_name"], tuple(ParamField(**f) for f in p["fields"]), p["size"])
        return cls(
            name=d["name"],
            module=d["module"],
            entry_point=d["entry_point"],
            workgroup_size=tuple(d["workgroup_size"]),
            buffers=tuple(
                BufferBinding(
                    **{**b, "shape": tuple(b["shape"]), "byte_range": None if b.get("byte_range") is None else tuple(b["byte_range"])}
                )
                for b in d["buffers"]
            ),
            params=params,
            workgroup_memory_bytes=d.get("workgroup_memory_bytes", 0),
            uses_f16=d.get("uses_f16", False),
            uses_subgroups=d.get("uses_subgroups", False),
            extra=dict(d.get("extra", {})),
        )


def _buffer_dict(b: BufferBinding) -> dict[str, Any]:
    """A buffer's JSON form; ``byte_range`` only when set, so unsplit interfaces keep their old form."""
    d: dict[str, Any] = {**b.__dict__, "shape": list(b.shape)}
    if b.vector_width == 1:
        del d["vector_width"]
    if b.byte_range is None:
        del d["byte_range"]
    else:
        d["byte_range"] = list(b.byte_range)
    return d
