"""Activation buffers (the model runtime's load step 2, ``model.py``): one device buffer per memory slot, as large as
the slot's largest alloc at the largest step, and one per input and output of each entry; and where a ``verify``
step's logits are among them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping

import wgpu

from rusty_ir.backends.runtime.device import Device
from rusty_ir.backends.runtime.expand import BufferKey, _eval, _Expansion, _nbytes, _show
from rusty_ir.errors import RustyError


def row_logits_buffer(x: _Expansion) -> tuple[BufferKey, int] | None:
    """Where a ``verify`` step's logits are: the ``[S, vocab]`` f32 operand of the launch that writes ``out`` (the
    row argmax reads them last, so they are intact when the step ends), and ``vocab``; None if it has none."""
    out = x.io["out"][0].key
    for launch in reversed(x.launches):
        if any(b.key == out for b in launch.buffers):
            for b in launch.buffers:
                if b.key != out and b.element_type == "f32" and len(b.shape) == 2 and b.shape[0] == "S" and isinstance(b.shape[1], int):
                    return b.key, b.shape[1]
            return None
    return None


def create_activation_buffers(device: Device, expansions: Iterable[_Expansion], points: Callable[[str], list[tuple[int, int]]],
                              buffers: MutableMapping[BufferKey, wgpu.GPUBuffer]) -> tuple[int, int, int]:  # fmt: skip
    """Make every slot's and every input's and output's buffer, into ``buffers``, each sized for the largest
    value it holds at an entry's ``points(entry)`` ((S, pos) pairs). The bytes of the slots, of the inputs and
    outputs, and the most any one entry's allocs would take as one buffer per value (no slot sharing)."""
    sizes: dict[BufferKey, int] = {}
    unshared_most = 0
    for x in expansions:
        at = points(x.entry)
        unshared = 0
        for slot, nbytes, where, guard in x.allocs:
            n = max((_eval(nbytes, s, p) for s, p in at if _eval(guard, s, p)), default=0)
            if not isinstance(n, int) or n < 0:
                raise RustyError(f"schedule: {x.entry}: {where}: buffer size {_show(nbytes)} is {n}")
            sizes[("slot", slot)] = max(sizes.get(("slot", slot), 0), n)
            unshared += n
        unshared_most = max(unshared_most, unshared)
        for role, (buf, _) in x.io.items():
            sizes[buf.key] = int(max(_eval(_nbytes(buf.element_type, buf.shape, role), s, p) for s, p in at))
    slot_bytes = io_bytes = 0
    for key, n in sorted(sizes.items(), key=str):
        buffers[key] = device.empty(n, label=":".join(map(str, key)))
        if key[0] == "slot":
            slot_bytes += max(4, -(-n // 4) * 4)
        else:
            io_bytes += max(4, -(-n // 4) * 4)
    return slot_bytes, io_bytes, unshared_most


__all__ = ["create_activation_buffers", "row_logits_buffer"]
