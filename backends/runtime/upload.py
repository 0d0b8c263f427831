"""Weight upload (the model runtime's load step 2, ``model.py``): every weight the expansions bind goes to the
device once, straight from its (memory-mapped) bytes, checked against what the device can hold and bind; a
split-layout part (``name#codes``) is a copy of its bytes. Layer-streamed weights are left to ``streaming.py``."""

from __future__ import annotations

import ctypes
import mmap
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import wgpu

from rusty_ir.backends.runtime.device import Device, Kernel
from rusty_ir.backends.runtime.expand import PART_SEPARATOR, BufferKey, _Expansion
from rusty_ir.errors import RustyError
from rusty_ir.weights import Scheme, TensorView, split_part

WeightBinding = tuple[str, tuple[int, int] | None]
"""How a kernel binds a weight: (kernel, byte range of a split-bindings part, or None for the whole buffer)."""


@dataclass(frozen=True)
class _Part:
    """One buffer of a weight's split layout, as the upload code reads a ``TensorView``."""

    name: str
    scheme: Scheme
    shape: tuple[int, ...]
    data: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


WeightBytes = TensorView | _Part
"""A weight's bytes as uploaded or streamed: the stored tensor's view, or a copy of one part of it."""


def upload_weights(device: Device, weights: Mapping[str, TensorView], expansions: Iterable[_Expansion], kernels: Mapping[str, Kernel],
                   streamed: Mapping[str, tuple[str, int]], buffers: dict[BufferKey, wgpu.GPUBuffer],
                   on_upload: Callable[[int], None] | None) -> tuple[int, dict[str, WeightBytes]]:  # fmt: skip
    """Upload every weight the expansions bind into ``buffers`` (``("weight", name)``), except the ``streamed`` ones
    (name -> (template, layer)), which get slots (``streaming.make_stream``) and are written per step. The bytes
    uploaded, and the streamed weights' views. ``on_upload(nbytes)`` is told of each weight uploaded."""
    limit = device.limits.get("max-storage-buffer-binding-size")
    expansions = list(expansions)
    uploaded = 0
    bound = _weight_ranges(expansions, kernels)  # per weight: (kernel, byte range or None) of each binding
    views: dict[str, WeightBytes] = {}
    for x in expansions:
        for name, step in x.weights.items():
            if ("weight", name) in buffers or name in views:
                continue
            stored = name.split(PART_SEPARATOR)[0]
            try:
                tensor = weights[stored]
            except KeyError:
                raise RustyError(f"the schedule binds weight '{stored}' (from '{step.name}'), which the weights do not have") from None
            if tensor.scheme.name != step.scheme or tuple(tensor.shape) != tuple(step.shape):
                raise RustyError(
                    f"weight '{stored}' is {tensor.scheme.name}{list(tensor.shape)} in the weights "
                    f"but {step.scheme}{list(step.shape)} in the schedule"
                )
            view: WeightBytes = tensor
            if step.part is not None:  # one buffer of the split layout: a copy of those bytes
                view = _Part(name, tensor.scheme, tuple(tensor.shape), split_part(tensor, step.part))
            check_weight_ranges(device, name, view.nbytes, bound.get(name, ()), limit)
            if name in streamed:
                views[name] = view  # its pages stay mapped: read every step (a split part: held in memory)
                continue
            buffers[("weight", name)] = device.buffer(view.data, label=name)
            if step.part is None:
                release_mapped_pages(view.data)  # uploaded: the model is not held twice where GPU memory is host memory
            uploaded += view.nbytes
            if on_upload is not None:
                on_upload(view.nbytes)
    return uploaded, views


def check_weight_ranges(device: Device, name: str, nbytes: int, ranges: Iterable[WeightBinding], limit: int | None) -> None:
    """Refuse a weight the device cannot hold, or that some kernel binds (whole or a part) beyond what one binding may be."""
    max_buffer = device.limits.get("max-buffer-size")
    if max_buffer is not None and nbytes > max_buffer:
        raise RustyError(f"weight '{name}' has {nbytes} bytes; the device's buffers hold at most {max_buffer} (max-buffer-size)")
    align = device.limits.get("min-storage-buffer-offset-alignment", 256)
    for kernel, byte_range in sorted(ranges, key=str):
        offset, size = (0, nbytes) if byte_range is None else byte_range
        what = "binds all of it" if byte_range is None else f"binds bytes {offset}..{offset + size} of it"
        if limit is not None and size > limit:
            hint = "; compile with a smaller split-bindings max-bytes" if byte_range is None else ""
            raise RustyError(
                f"weight '{name}' has {nbytes} bytes and kernel '{kernel}' {what}; the device binds at most {limit} "
                f"(max-storage-buffer-binding-size){hint}"
            )
        if offset % align or offset + size > nbytes:
            raise RustyError(
                f"weight '{name}' has {nbytes} bytes and kernel '{kernel}' {what}: a part must lie inside it and start at a "
                f"multiple of {align} bytes (min-storage-buffer-offset-alignment)"
            )


def _weight_ranges(expansions: Iterable[_Expansion], kernels: Mapping[str, Kernel]) -> dict[str, set[WeightBinding]]:
    """Each weight's bindings."""
    out: dict[str, set[WeightBinding]] = {}
    for x in expansions:
        for launch in x.launches:
            for b, binding in zip(launch.buffers, kernels[launch.kernel].interface.buffers, strict=False):
                if b.key[0] == "weight":
                    out.setdefault(str(b.key[1]), set()).add((launch.kernel, binding.byte_range))
    return out


def release_mapped_pages(data: np.ndarray) -> bool:
    """Drop the resident pages of a tensor read from a memory-mapped file (``np.memmap``) once its
    bytes are on the device; touching it again re-reads them from the file. Other arrays are left
    alone (their memory is the only copy). True when pages were released."""
    if getattr(data, "_mmap", None) is None or data.nbytes == 0 or sys.platform not in ("linux", "darwin"):
        return False
    page = mmap.PAGESIZE
    start = data.ctypes.data // page * page
    end = -(-(data.ctypes.data + data.nbytes) // page) * page
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return libc.madvise(start, end - start, 4) == 0  # MADV_DONTNEED (4 on Linux and macOS)
