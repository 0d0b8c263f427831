"""The KV cache on the device: contiguous buffers, or paged pools with a block table. No xDSL.

A schedule's ``dispatch.kv_cache`` (``KvCache``) is either

- **contiguous** (``block_size`` 0): each layer's K and V buffers have a row for every position of
  the context, made when the model is loaded; or
- **paged** (``block_size`` B, the default of ``convert-transformer-to-tensor``), as in vLLM's
  PagedAttention: each layer's K and V buffers are *pools* of physical blocks of B rows, and one
  block table per cache (an ``i32`` buffer, entry ``b`` = the physical block holding positions
  ``b*B .. b*B+B-1`` in every layer) says where the sequence's positions live. Blocks are handed
  out as the sequence grows (``reserve``) and returned when it ends (``reset``); the kernels
  read and write through the table. Nothing is sized for the context up front: the pools start
  with room for ``initial_tokens`` positions and double (up to the context) when they run out.
  Growing makes new pool buffers and copies the old blocks over on the GPU, so the caller must
  rebuild the bind groups that hold the old buffers; ``reserve`` says when.

Blocks are a stack: a new sequence takes the blocks the last one returned, most recent first, so
after ``reset`` a sequence's table is not the identity (the tests rely on that to show that
reading through the table works).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import wgpu

from rusty_ir.backends.runtime.device import Device
from rusty_ir.backends.runtime.expand import BufferKey
from rusty_ir.backends.runtime.schedule import KvCache
from rusty_ir.errors import RustyError


def row_bytes(cache: KvCache) -> int:
    """Bytes of one position's K (or V) row: f32 4, f16 2, q8_0 17/16 bytes a value (codes, then f16 scales)."""
    return {"f32": 4 * cache.row_width, "f16": 2 * cache.row_width, "q8_0": cache.row_width * 17 // 16}[cache.element_type]


class _Pool:
    """One paged cache: its block allocator and block table."""

    def __init__(self, cache: KvCache, context_length: int, initial_tokens: int) -> None:
        self.cache = cache
        self.block = cache.block_size
        self.max_blocks = -(-context_length // self.block)
        self.capacity = min(self.max_blocks, max(1, -(-initial_tokens // self.block)))
        self.free = list(range(self.capacity - 1, -1, -1))  # a stack: pop() hands out 0, 1, 2, ...
        self.sequence: list[int] = []
        """Physical block of each logical block of the sequence."""

    def blocks_for(self, end: int) -> int:
        return -(-end // self.block)


class KvCaches:
    """Every KV cache of a schedule on one device: its buffers by runtime key, and the paged ones' blocks.

    Buffer keys are the runtime's: ``("cache", name, layer, "k" | "v")`` and ``("block_table", name)``.
    """

    def __init__(self, device: Device, caches: Sequence[KvCache], context_length: int, initial_tokens: int) -> None:
        self.device = device
        self.context_length = context_length
        self.caches = tuple(caches)
        self.buffers: dict[BufferKey, wgpu.GPUBuffer] = {}
        self.pools = {c.name: _Pool(c, context_length, initial_tokens) for c in self.caches if c.block_size}
        for cache in self.caches:
            if cache.element_type not in ("f32", "f16", "q8_0"):
                raise RustyError(f"KV cache '{cache.name}' holds {cache.element_type}; the runtime supports f32, f16 and q8_0")
            if cache.element_type == "f16" and "shader-f16" not in device.features:
                raise RustyError(
                    f"KV cache '{cache.name}' holds f16, which this adapter's kernels cannot use (no 'shader-f16' feature); "
                    "compile with --kv-cache f32"
                )
            pool = self.pools.get(cache.name)
            rows = context_length if pool is None else pool.capacity * pool.block
            self._allocate(cache, rows)
            if pool is not None:
                self.buffers[("block_table", cache.name)] = device.empty(4 * pool.max_blocks, label=f"{cache.name}.block_table")

    def _allocate(self, cache: KvCache, rows: int) -> None:
        nbytes = rows * row_bytes(cache)
        for layer in range(cache.num_layers):
            for part in ("k", "v"):
                self.buffers[("cache", cache.name, layer, part)] = self.device.empty(nbytes, label=f"{cache.name}.{layer}.{part}")

    @property
    def nbytes(self) -> int:
        """Device bytes of the caches: K and V buffers (or pools) and block tables."""
        return sum(b.size for b in self.buffers.values())

    def reserve(self, end: int) -> bool:
        """Hand out blocks so that positions ``0 .. end - 1`` of the sequence have rows in every paged cache.

        Returns True when a pool grew: its K and V buffers are new (the old blocks copied over), so bind
        groups holding the old ones must be rebuilt.
        """
        grew = False
        for name, pool in self.pools.items():
            need = pool.blocks_for(end) - len(pool.sequence)
            if need <= 0:
                continue
            if need > len(pool.free):
                self._grow(pool, need - len(pool.free))
                grew = True
            first = len(pool.sequence)
            pool.sequence += [pool.free.pop() for _ in range(need)]
            table = np.asarray(pool.sequence[first:], np.int32)
            self.device.device.queue.write_buffer(self.buffers[("block_table", name)], 4 * first, table)
        return grew

    def _grow(self, pool: _Pool, short: int) -> None:
        """Double the pool (at least by ``short`` blocks, at most to the context), copying its blocks over."""
        capacity = min(pool.max_blocks, max(2 * pool.capacity, pool.capacity + short))
        if capacity - pool.capacity < short:  # cannot happen when ``end`` is within the context
            raise RustyError(f"KV cache '{pool.cache.name}' needs more than its {pool.max_blocks} blocks")
        cache = pool.cache
        old = {k: b for k, b in self.buffers.items() if k[0] == "cache" and k[1] == cache.name}
        self._allocate(cache, capacity * pool.block)
        encoder = self.device.device.create_command_encoder()
        for key, buf in old.items():
            encoder.copy_buffer_to_buffer(buf, 0, self.buffers[key], 0, buf.size)
        self.device.device.queue.submit([encoder.finish()])
        pool.free[:0] = range(capacity - 1, pool.capacity - 1, -1)  # under the free ones: used last
        pool.capacity = capacity

    def truncate(self, end: int) -> None:
        """Shorten the sequence to positions ``0 .. end - 1``: the blocks past them go back to the pools (on top, so
        the next ``reserve`` takes them again; the table's entries past the sequence are never read)."""
        for pool in self.pools.values():
            keep = pool.blocks_for(max(end, 0))
            if keep < len(pool.sequence):
                pool.free += reversed(pool.sequence[keep:])
                del pool.sequence[keep:]

    def reset(self) -> None:
        """End the sequence: its blocks go back to the pools (the most recent on top)."""
        for pool in self.pools.values():
            pool.free += pool.sequence
            pool.sequence = []

    def report(self) -> dict[str, dict[str, int]]:
        """Per paged cache: block size, blocks the sequence holds, blocks allocated, blocks the context needs."""
        return {
            name: {"block_size": p.block, "blocks_used": len(p.sequence), "blocks_allocated": p.capacity, "blocks_max": p.max_blocks}
            for name, p in self.pools.items()
        }


__all__ = ["KvCaches", "row_bytes"]
