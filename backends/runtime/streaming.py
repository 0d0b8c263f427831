"""Layer streaming (``ModelRuntime(resident_layers=N)``, for models larger than device memory): the slots that hold N
layers' weights, which layer goes in which slot, what a step writes into them, and the runs of dispatches that bind
one layer each. The per-step writes are ``ModelRuntime._submit_streamed``'s.

The scheme: the weights whose ``Weight`` step has a layer (``blk.{}.*``, recorded per resolved name during expansion)
are not uploaded at load. N slots are made, each one buffer per layer-indexed weight template (every layer's must have
one shape). The first N - 2 layers keep a slot of their own (written by the first step, then never again); the other
layers take turns in the last two slots (``slot_of_layer``; with N <= 2 layer ``l`` uses slot ``l % N``), so a step
uploads only the layers that do not fit. ``("weight", name)`` maps to the slot's buffer, so the bind groups are still
built once. Other weights (embedding, output, final norm) stay resident. Each plan's dispatches are grouped by the
layer whose streamed weights they bind (dispatches binding none stay in the group they sit in), and a step submits one
command buffer per group: before a group, its layer's weights are written into its slot with ``queue.write_buffer``
from the memory map (the queue orders that write after the previous group, which the GPU runs meanwhile; with N >= 2
the slot being written is not the one being read). Writes wait until the group ``STREAM_AHEAD`` back has run, so at
most that many layers wait in wgpu's staging memory; streamed weights keep their mapped pages (read every step).
Decode runs one step at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import wgpu

from rusty_ir.backends.runtime.device import Device, as_bytes_view
from rusty_ir.backends.runtime.expand import BufferKey
from rusty_ir.backends.runtime.upload import WeightBytes
from rusty_ir.errors import RustyError


@dataclass
class _Stream:
    """Layer streaming (``ModelRuntime(resident_layers=N)``): N slots of one layer's weights each."""

    slot: dict[int, int]
    """Layer -> its slot (``slot_of_layer``)."""
    layers: dict[int, list[tuple[wgpu.GPUBuffer, memoryview, bytes, int]]]
    """Layer -> (its slot's buffer, the whole words of the weight's bytes, the last partial word
    zero-padded or b"", its offset) of each of its weights."""
    names: dict[str, int]
    """Resolved name of each streamed weight -> its layer."""
    held: list[int | None]
    """The layer each slot holds (written, or queued to be written, on the queue timeline)."""
    fences: list[wgpu.GPUBuffer]
    """Small mappable buffers cleared by each group's command buffer (a ring): mapping one waits for that group."""
    nbytes: int
    """Bytes of every streamed layer's weights (host memory; the device holds one slot's worth per slot)."""


def slot_of_layer(layer: int, slots: int) -> int:
    """Layer streaming's slot for ``layer``: layers ``0 .. slots - 3`` have one each (they stay on the
    device), the rest alternate between the last two (one is written while the other is read)."""
    pinned = max(0, slots - 2)
    if layer < pinned:
        return layer
    return pinned + (layer - pinned) % min(slots, 2)


STREAM_AHEAD = 2
"""With layer streaming, a layer's weights are written once the group ``STREAM_AHEAD`` groups back has run:
the GPU still has the previous group to run (the upload overlaps it) and at most this many layers' writes
wait in wgpu's staging memory (unthrottled, the host would stage a whole step's weights at once)."""


def make_stream(device: Device, streamed: Mapping[str, tuple[str, int]], views: Mapping[str, WeightBytes], n: int,
                buffers: dict[BufferKey, wgpu.GPUBuffer]) -> tuple[_Stream, int]:  # fmt: skip
    """The slots of layer streaming (one buffer per weight template each) and what to write into them;
    ``buffers`` maps each streamed weight to its layer's slot, so the bind groups bind slots; also the slots' bytes.
    ``n`` slots (``resident_layers``). Nothing is uploaded here: the first step writes what it runs."""
    by_layer: dict[int, dict[str, str]] = {}  # layer -> template -> resolved name
    for name, (template, layer) in streamed.items():
        by_layer.setdefault(layer, {})[template] = name
    templates = sorted({t for t, _ in streamed.values()})
    kinds: dict[str, tuple[str, tuple[int, ...], int]] = {}
    for layer, names in sorted(by_layer.items()):
        missing = sorted(set(templates) - set(names))
        if missing:
            raise RustyError(f"layer streaming needs every layer to bind the same weights; layer {layer} has no {', '.join(missing)}")
        for t, name in sorted(names.items()):
            v = views[name]
            kind = (v.scheme.name, tuple(v.shape), v.nbytes)
            first = kinds.setdefault(t, kind)
            if kind != first:
                raise RustyError(
                    f"layer streaming needs every layer's weights to have one shape: '{name}' is {kind[0]}{list(kind[1])}, "
                    f"an earlier layer's '{t}' is {first[0]}{list(first[1])}"
                )
    slots = [{t: device.empty(kinds[t][2], label=f"slot{i}:{t}") for t in templates} for i in range(n)]
    layers: dict[int, list[tuple[wgpu.GPUBuffer, memoryview, bytes, int]]] = {}
    slot = {layer: slot_of_layer(layer, n) for layer in by_layer}
    for layer, names in sorted(by_layer.items()):
        writes = layers[layer] = []
        for t, name in sorted(names.items()):
            buf = slots[slot[layer]][t]
            buffers[("weight", name)] = buf
            data = as_bytes_view(views[name].data)  # a view of the memory map: no copy
            aligned = data.nbytes // 4 * 4
            tail = bytes(data[aligned:]).ljust(-(-(data.nbytes - aligned) // 4) * 4, b"\0")  # WebGPU writes whole words
            writes.append((buf, data[:aligned], tail, aligned))
    slot_bytes = n * sum(k[2] for k in kinds.values())
    fences = [
        device.device.create_buffer(size=4, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST, label=f"stream.fence{i}")
        for i in range(STREAM_AHEAD + 1)
    ]
    stream = _Stream(slot, layers, {name: layer for name, (_, layer) in streamed.items()}, [None] * n, fences,
                     sum(views[name].nbytes for name in streamed))  # fmt: skip
    return stream, slot_bytes


def _layer_groups(layer_of: Sequence[int | None]) -> list[tuple[int, int, int | None]]:
    """Runs of dispatches, (start, end, layer): a new run starts at each dispatch binding a streamed layer other
    than the run's; dispatches binding none stay in the run they sit in (those before the first layer: the first)."""
    groups: list[tuple[int, int, int | None]] = []
    start, current = 0, None
    for i, layer in enumerate(layer_of):
        if layer is None or layer == current:
            continue
        if current is not None:
            groups.append((start, i, current))
            start = i
        current = layer
    groups.append((start, len(layer_of), current))
    return groups
