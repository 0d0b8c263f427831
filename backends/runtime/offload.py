"""KV-cache offload to host memory: a device budget for the paged KV cache, the oldest blocks past it on the host.

``ModelRuntime(..., kv_device_budget=BYTES)`` (``rusty run --kv-device-budget``). When the KV cache the context
needs fits the budget, nothing changes (``kv_cache.KvCaches``). Otherwise ``OffloadedKvCaches`` takes its place:

- **Device.** Per cache and part (K, V) one *shared pool* buffer that every layer binds, of
  ``P = L*R + Hmax`` blocks: ``R`` *resident* blocks per layer (layer ``l``'s at ``l*R .. l*R+R-1``) holding
  the sequence's newest ``R`` logical blocks, and ``Hmax = max_blocks - R`` *staging* blocks (``L*R ..``)
  shared by all layers. ``R`` is the largest that the budget pays for: ``2 * P * block_bytes`` plus the tables.
- **Host.** Logical blocks ``0 .. H-1`` (the oldest; always a prefix) live in one host buffer per cache and
  part, layer ``l``'s block ``j`` at ``l*Hmax + j``. When the sequence needs a block and the ``R`` resident
  ones are taken, the oldest resident block of every layer moves there (once per block, at a block boundary).
  Where a buffer lives follows its usage, not a request: on an H200 (large BAR, driver 580) 8 GiB of
  ``MAP_WRITE | COPY_SRC`` buffers took 8 GiB of device memory and fed copies at 399 GB/s, while ``MAP_READ``
  ones took 0.02 GiB and fed copies at 49 GB/s, the PCIe rate (BENCHMARKS.md, "where wgpu puts a buffer").
  WebGPU allows ``COPY_SRC`` beside ``MAP_READ`` only with wgpu's native ``mappable-primary-buffers``
  feature, which ``Device`` requests where the adapter offers it: the host buffers are then ``MAP_READ |
  COPY_SRC | COPY_DST`` (host memory), and a block moves there by a GPU copy. Without the feature they are
  ``MAP_WRITE | COPY_SRC`` buffers filled through a read-back buffer, which a large-BAR GPU may place in its
  own memory (no memory saved there; output identical either way).
- **Per layer.** The block table is shared by all layers in the schedule, so the runtime keeps one table
  per layer (``tables``: logical block ``j`` is ``L*R + j`` below ``H``, else ``l*R + column``) and, in the
  step's command buffer, just before the first dispatch that binds layer ``l``'s cache, copies layer ``l``'s
  table into the bound one and its ``H`` host blocks into the staging blocks (``encode_layer``). The
  attention kernels are unchanged: they read every position through the table, the new rows are written
  into resident blocks (a step's blocks are always resident: the budget must hold them, ``R`` is at least
  the blocks one step touches). Commands of one command buffer run in order, so layer ``l + 1``'s staging
  copy waits for layer ``l``'s attention.

Nothing is recomputed or lost: host blocks are copied back bit for bit. Cost per step: every host-resident
byte crosses the bus once (``H * block_bytes * 2 * L`` per cache: for Llama-3-8B's f32 cache, 4 KiB per
position per layer and part, so 256 KiB per host-resident position per token), plus one table copy per
layer; the device holds ``L*R + Hmax`` blocks per part instead of ``L * max_blocks``. Why this design: it
needs no kernel change (the alternative, attention over host blocks in a second pass merged with the
online-softmax rule, needs a new kernel and a merge step) and no extra submit per layer (the copies are in
the step's one command buffer, read straight from host memory by the GPU's copy engine, with no CPU copy per
token, unlike ``queue.write_buffer``, which copies through wgpu's staging memory). Its limit: the shared
staging holds one layer's host blocks, so the device always keeps ``Hmax`` blocks per part, and the shared
pool is one binding (at most ``max-storage-buffer-binding-size``). Steps run one at a time while offloading
(a decode step is not submitted before the last one was read), since a step's blocks must be resident
before it is encoded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import wgpu

from rusty_ir.backends.runtime.device import Device
from rusty_ir.backends.runtime.expand import BufferKey
from rusty_ir.backends.runtime.kv_cache import KvCaches, row_bytes
from rusty_ir.backends.runtime.schedule import KvCache
from rusty_ir.errors import RustyError

HOST_FEATURE = "mappable-primary-buffers"
"""wgpu's native feature that allows ``HOST_USAGE`` (``Device`` requests it where offered)."""
HOST_USAGE = wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
"""Host blocks' buffers: ``MAP_READ`` puts them in host memory; the GPU copies into and out of them."""

DEFAULT_BUDGET_FRACTION = 0.5
"""Without a budget: this share of the adapter's memory, less the weights, where the memory is known."""
_default_budget: int | None = None
_D = TypeVar("_D")


def set_default_budget(nbytes: int | None) -> None:
    """The budget of runtimes made without one from now on (``rusty bench --kv-device-budget``); None: the adapter's."""
    global _default_budget
    _default_budget = nbytes


def adapter_memory(device: Device) -> int | None:
    """Bytes of memory the adapter computes in, where it can be known: wgpu does not say. A CPU adapter (llvmpipe)
    uses host memory (the machine's RAM); an AMD GPU's VRAM is in sysfs; None otherwise."""
    if str(device.info.get("adapter_type", "")).upper() == "CPU":
        try:
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    sizes = []
    for path in Path("/sys/class/drm").glob("card*/device/mem_info_vram_total"):
        try:
            sizes.append(int(path.read_text().strip()))
        except (OSError, ValueError):
            pass
    return max(sizes) if sizes else None


def default_budget(device: Device, weight_bytes: int) -> int | None:
    """The KV device budget when none is given: ``set_default_budget``'s, else ``DEFAULT_BUDGET_FRACTION`` of
    ``adapter_memory`` less the weights; None (no limit) when the memory is unknown."""
    if _default_budget is not None:
        return _default_budget
    memory = adapter_memory(device)
    return None if memory is None else max(0, int(memory * DEFAULT_BUDGET_FRACTION) - weight_bytes)


def full_bytes(caches: Sequence[KvCache], context_length: int) -> int:
    """Device bytes of the caches when the whole context is on the device (paged pools at their largest, tables)."""
    total = 0
    for c in caches:
        rows = -(-context_length // c.block_size) * c.block_size if c.block_size else context_length
        total += 2 * c.num_layers * rows * row_bytes(c) + (4 * -(-context_length // c.block_size) if c.block_size else 0)
    return total


def _costs(caches: Sequence[KvCache], context_length: int) -> tuple[int, int]:
    """Device bytes of offloaded paged caches: (those that do not depend on R: the staging blocks and the tables,
    those per resident column: a block of every layer but one)."""
    fixed = sum(2 * row_bytes(c) * c.block_size * -(-context_length // c.block_size) + 4 * -(-context_length // c.block_size) * (c.num_layers + 1)
                for c in caches)  # fmt: skip
    return fixed, sum(2 * row_bytes(c) * c.block_size * (c.num_layers - 1) for c in caches)


def resident_blocks(caches: Sequence[KvCache], context_length: int, budget: int) -> int:
    """R: blocks per layer that stay on the device when offloading paged ``caches`` under ``budget`` bytes."""
    fixed, per_column = _costs(caches, context_length)
    return min((budget - fixed) // max(per_column, 1), min(-(-context_length // c.block_size) for c in caches))


def largest_step(caches: Sequence[KvCache], context_length: int, budget: int) -> int:
    """The most tokens a step may take for its blocks to stay resident under ``budget`` (0 if none fit)."""
    resident = resident_blocks(caches, context_length, budget)
    return max(0, min((resident - 1) * c.block_size for c in caches))


def device_budget(device: Device, budget: int | None, weight_bytes: int) -> int | None:
    """The KV cache's device budget in bytes (None: no limit): ``budget``, checked, or ``default_budget``'s."""
    if budget is None:
        return default_budget(device, weight_bytes)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise RustyError(f"kv_device_budget must be a positive number of bytes, got {budget!r}")
    return budget


def make_caches(
    device: Device,
    caches: Sequence[KvCache],
    context_length: int,
    budget: int | None,
    max_prefill: int,
    *,
    prefill_fixed: bool,
    max_verify: int,
    streaming: bool,
) -> tuple[KvCaches | OffloadedKvCaches, int]:
    """A schedule's KV caches for ``context_length`` positions and the tokens of a prefill step from now on.
    ``KvCaches`` (``max_prefill`` unchanged) when the whole context fits ``budget`` bytes (None: no limit); else
    ``OffloadedKvCaches``, and unless ``prefill_fixed`` (the caller chose ``max_prefill``) prefill steps small enough
    for their blocks to stay on the device. ``max_verify``: tokens of a verify step (1 without one); ``streaming``:
    layer streaming is on, which offload cannot be combined with yet."""
    if budget is None or full_bytes(caches, context_length) <= budget:
        return KvCaches(device, caches, context_length, max_prefill), max_prefill
    if streaming:
        raise RustyError("KV-cache offload (--kv-device-budget) and layer streaming (--resident-layers) cannot be combined yet")
    if not prefill_fixed and all(c.block_size for c in caches):  # smaller prefill steps, to fit
        fits = largest_step(caches, context_length, budget)
        if 1 <= fits < max_prefill:
            max_prefill = fits
    return OffloadedKvCaches(device, caches, context_length, budget, max(max_prefill, max_verify)), max_prefill


def memory_report(caches: KvCaches | OffloadedKvCaches, budget: int | None) -> dict[str, int | None]:
    """``ModelRuntime.kv_memory_report``: the KV cache's memory now, under ``budget`` (None: no limit)."""
    if isinstance(caches, OffloadedKvCaches):
        on_host = min((p.host * p.block for p in caches.pools.values()), default=0)
        return {"device_bytes": caches.nbytes, "host_bytes": caches.host_nbytes, "device_budget": budget,
                "positions_on_host": on_host, "host_bytes_per_step": caches.bytes_moved_per_step()}  # fmt: skip
    return {"device_bytes": caches.nbytes, "host_bytes": 0, "device_budget": budget, "positions_on_host": 0, "host_bytes_per_step": 0}


def memory_figures(kv: dict[str, int | None], nbytes: dict[str, int], max_prefill: int) -> dict[str, Any]:
    """``ModelRuntime.memory_figures``: per use, the device and host bytes, from the KV cache's ``memory_report`` and the
    runtime's other device bytes by use (``weights``, ``slots``, ``io``, ``params``)."""
    activations = nbytes["slots"] + nbytes["io"] + nbytes["params"]
    return {
        "weights": {"device_bytes": nbytes["weights"], "host_bytes": 0},
        "kv_cache": kv,
        "activations": {"device_bytes": activations, "host_bytes": 0, "max_prefill": max_prefill},
        "device_total_bytes": nbytes["weights"] + activations + int(kv["device_bytes"] or 0),
    }


class _Pool:
    """One offloaded cache: its resident columns, host prefix, shared pool and host buffers, per-layer tables."""

    def __init__(self, cache: KvCache, context_length: int, resident: int) -> None:
        self.cache = cache
        self.block = cache.block_size
        self.layers = cache.num_layers
        self.block_bytes = self.block * row_bytes(cache)
        self.max_blocks = -(-context_length // self.block)
        self.resident = resident
        """R: blocks each layer keeps on the device."""
        self.staging = self.max_blocks - resident
        """Hmax: staging blocks (the most blocks that can be on the host)."""
        self.blocks = self.layers * resident + self.staging
        self.free = list(range(resident - 1, -1, -1))
        self.columns: list[int] = []
        """The resident column of each logical block ``host ..`` of the sequence."""
        self.host = 0
        """H: logical blocks ``0 .. H-1`` are on the host."""
        self.host_buffers: dict[str, wgpu.GPUBuffer] = {}

    @property
    def length(self) -> int:
        return self.host + len(self.columns)

    def tables(self) -> np.ndarray:
        """Every layer's block table, ``[layers, max_blocks]`` (entries past the sequence are 0, never read)."""
        t = np.zeros((self.layers, self.max_blocks), np.int32)
        t[:, : self.host] = self.layers * self.resident + np.arange(self.host, dtype=np.int32)
        cols = np.asarray(self.columns, np.int32)
        t[:, self.host : self.length] = np.arange(self.layers, dtype=np.int32)[:, None] * self.resident + cols[None, :]
        return t


class OffloadedKvCaches:
    """The paged KV caches of a schedule under a device budget (module docstring); ``KvCaches``' interface, plus
    ``rewind``, ``encode_layer`` and ``host_nbytes``. Buffers never change after load (no plan rebuilds)."""

    def __init__(self, device: Device, caches: Sequence[KvCache], context_length: int, budget: int, max_step: int) -> None:
        self.device = device
        self.context_length = context_length
        self.caches = tuple(caches)
        self.budget = budget
        if any(not c.block_size for c in self.caches):
            raise RustyError(f"the KV cache needs {full_bytes(self.caches, context_length)} bytes for {context_length} positions, "
                             f"more than --kv-device-budget {budget}; offloading it needs a paged cache (--kv-block-size > 0)")  # fmt: skip
        if sum(c.num_layers - 1 for c in self.caches) == 0:
            raise RustyError("a one-layer model's KV cache cannot be offloaded (the staging blocks would be the whole cache): "
                             "give a larger --kv-device-budget or a smaller --context-length")  # fmt: skip
        fixed, per_column = _costs(self.caches, context_length)
        step_blocks = max(-(-max_step // c.block_size) + 1 for c in self.caches)
        resident = resident_blocks(self.caches, context_length, budget)
        if resident < step_blocks:
            need = fixed + per_column * step_blocks
            raise RustyError(f"the GPU cannot hold this model with --context-length {context_length}: a KV budget of {budget} bytes "
                             f"(--kv-device-budget, by default half the adapter's memory less the weights) cannot hold one step's KV "
                             f"blocks on the device: it needs at least {need} bytes ({step_blocks} resident blocks per layer for a "
                             f"{max_step}-token step, plus the staging blocks of {context_length} positions); give a smaller "
                             "--context-length or a larger --kv-device-budget")  # fmt: skip
        self.pools = {c.name: _Pool(c, context_length, resident) for c in self.caches}
        self.buffers: dict[BufferKey, wgpu.GPUBuffer] = {}
        self._device_parts: dict[tuple[str, str], wgpu.GPUBuffer] = {}
        self._tables: dict[str, wgpu.GPUBuffer] = {}
        limit = device.limits.get("max-storage-buffer-binding-size", 1 << 27)
        for name, pool in self.pools.items():
            nbytes = pool.blocks * pool.block_bytes
            if nbytes > limit:
                raise RustyError(f"the offloaded KV cache's shared pool is {nbytes} bytes, past this adapter's "
                                 f"max-storage-buffer-binding-size {limit}: give a smaller --kv-device-budget or --context-length")  # fmt: skip
            for part in ("k", "v"):
                buf = device.empty(nbytes, label=f"{name}.{part}.shared")
                self._device_parts[(name, part)] = buf
                for layer in range(pool.layers):
                    self.buffers[("cache", name, layer, part)] = buf
            self.buffers[("block_table", name)] = device.empty(4 * pool.max_blocks, label=f"{name}.block_table")
            self._tables[name] = device.empty(4 * pool.max_blocks * pool.layers, label=f"{name}.tables")

    # -- sizes ------------------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        """Device bytes: the shared pools, the bound block tables and the per-layer tables."""
        return sum(b.size for b in {id(b): b for b in [*self.buffers.values(), *self._tables.values()]}.values())

    @property
    def host_nbytes(self) -> int:
        """Host bytes of the host buffers made so far (each is made at the first eviction, for ``Hmax`` blocks)."""
        return sum(b.size for p in self.pools.values() for b in p.host_buffers.values())

    def report(self) -> dict[str, dict[str, int]]:
        """Per cache: ``KvCaches.report``'s fields, and the blocks on the host and resident per layer."""
        return {name: {"block_size": p.block, "blocks_used": p.length, "blocks_allocated": p.blocks, "blocks_max": p.max_blocks,
                       "blocks_on_host": p.host, "resident_blocks_per_layer": p.resident}
                for name, p in self.pools.items()}  # fmt: skip

    # -- the sequence -------------------------------------------------------------------------

    def rewind(self, pos: int) -> None:
        """A step writes positions from ``pos`` on: forget the rows past it, and bring the block holding ``pos`` back
        to the device if it is on the host and partly written (its earlier rows are kept)."""
        self.truncate(pos)
        for name, pool in self.pools.items():
            if pos % pool.block and pool.host == pool.length > 0:
                self._promote(name, pool)
        self._write_tables()

    def reserve(self, end: int) -> bool:
        """Blocks for positions ``0 .. end - 1``: new ones resident, the oldest resident ones moved to the host to make
        room. Always False (buffers never change)."""
        for name, pool in self.pools.items():
            need = -(-end // pool.block) - pool.length
            if need <= 0:
                continue
            short = need - len(pool.free)
            if short > 0:
                self._evict(name, pool, short)
            pool.columns += [pool.free.pop() for _ in range(need)]
        self._write_tables()
        return False

    def truncate(self, end: int) -> None:
        """Keep positions ``0 .. end - 1``: later resident blocks go back to the free columns, later host blocks are dropped."""
        for pool in self.pools.values():
            keep = -(-max(end, 0) // pool.block)
            if keep < pool.length:
                drop = pool.length - keep
                gone = pool.columns[max(0, len(pool.columns) - drop) :]
                del pool.columns[max(0, len(pool.columns) - drop) :]
                pool.free += reversed(gone)
                pool.host = min(pool.host, keep)
        self._write_tables()

    def reset(self) -> None:
        self.truncate(0)

    def _write_tables(self) -> None:
        for name, pool in self.pools.items():
            self.device.device.queue.write_buffer(self._tables[name], 0, pool.tables())

    @property
    def _host_memory(self) -> bool:
        """Whether host buffers can be ``MAP_READ`` ones, which wgpu keeps in host memory (module docstring)."""
        return HOST_FEATURE in self.device.features

    def _host_buffer(self, name: str, pool: _Pool, part: str) -> wgpu.GPUBuffer:
        if part not in pool.host_buffers:
            usage = HOST_USAGE if self._host_memory else wgpu.BufferUsage.MAP_WRITE | wgpu.BufferUsage.COPY_SRC
            pool.host_buffers[part] = self.device.device.create_buffer(
                size=pool.layers * pool.staging * pool.block_bytes, usage=usage, label=f"{name}.{part}.host"
            )
        return pool.host_buffers[part]

    def _evict(self, name: str, pool: _Pool, count: int) -> None:
        """Move the ``count`` oldest resident blocks of every layer to the host (logical blocks ``H .. H+count-1``)."""
        if count > len(pool.columns) or pool.host + count > pool.staging:
            raise RustyError(f"KV cache '{name}': cannot move {count} blocks to the host")  # guarded by the budget check
        bb, L, R = pool.block_bytes, pool.layers, pool.resident
        cols = pool.columns[:count]
        if self._host_memory:  # straight into the host buffer, by the GPU
            encoder = self.device.device.create_command_encoder()
            for part in ("k", "v"):
                for layer in range(L):
                    for i, c in enumerate(cols):
                        encoder.copy_buffer_to_buffer(self._device_parts[(name, part)], (layer * R + c) * bb,
                                                      self._host_buffer(name, pool, part), (layer * pool.staging + pool.host + i) * bb, bb)  # fmt: skip
            self.device.device.queue.submit([encoder.finish()])
        else:
            self._evict_through_readback(name, pool, cols)
        del pool.columns[:count]
        pool.free += reversed(cols)
        pool.host += count

    def _evict_through_readback(self, name: str, pool: _Pool, cols: list[int]) -> None:
        """``_evict``'s copy where host buffers are ``MAP_WRITE`` ones: device -> read-back buffer -> mapped host buffer."""
        bb, L, R, count = pool.block_bytes, pool.layers, pool.resident, len(cols)
        size = bb * count
        readback = self.device.device.create_buffer(size=2 * L * size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
        encoder = self.device.device.create_command_encoder()
        for p, part in enumerate(("k", "v")):
            for layer in range(L):
                for i, c in enumerate(cols):
                    encoder.copy_buffer_to_buffer(
                        self._device_parts[(name, part)], (layer * R + c) * bb, readback, (p * L + layer) * size + i * bb, bb
                    )
        self.device.device.queue.submit([encoder.finish()])
        readback.map_sync(wgpu.MapMode.READ)
        data = readback.read_mapped()
        for p, part in enumerate(("k", "v")):
            host = self._host_buffer(name, pool, part)
            host.map_sync(wgpu.MapMode.WRITE)
            for layer in range(L):
                host.write_mapped(data[(p * L + layer) * size : (p * L + layer + 1) * size], (layer * pool.staging + pool.host) * bb)
            host.unmap()
        readback.unmap()
        readback.destroy()

    def _promote(self, name: str, pool: _Pool) -> None:
        """Bring the newest host block (``H - 1``) of every layer back into a free resident column."""
        j, bb, R = pool.host - 1, pool.block_bytes, pool.resident
        if not pool.free:
            self._evict(name, pool, 1)  # cannot happen: a rewound sequence has every resident block past ``j`` dropped
        c = pool.free.pop()
        encoder = self.device.device.create_command_encoder()
        for part in ("k", "v"):
            for layer in range(pool.layers):
                encoder.copy_buffer_to_buffer(self._host_buffer(name, pool, part), (layer * pool.staging + j) * bb,
                                              self._device_parts[(name, part)], (layer * R + c) * bb, bb)  # fmt: skip
        self.device.device.queue.submit([encoder.finish()])
        pool.host = j
        pool.columns.insert(0, c)

    # -- in a step -----------------------------------------------------------------------------

    def encode_layer(self, encoder: wgpu.GPUCommandEncoder, layer: int) -> None:
        """Before layer ``layer``'s first dispatch that binds its cache: its table into the bound block table, its host
        blocks into the staging blocks (between compute passes of the step's command buffer)."""
        for name, pool in self.pools.items():
            if layer >= pool.layers or pool.length == 0:
                continue
            table_bytes = 4 * pool.max_blocks
            encoder.copy_buffer_to_buffer(self._tables[name], layer * table_bytes, self.buffers[("block_table", name)], 0, 4 * pool.length)
            if pool.host:
                bb = pool.block_bytes
                for part in ("k", "v"):
                    encoder.copy_buffer_to_buffer(pool.host_buffers[part], layer * pool.staging * bb, self._device_parts[(name, part)],
                                                  pool.layers * pool.resident * bb, pool.host * bb)  # fmt: skip

    def encode_step(
        self,
        encoder: wgpu.GPUCommandEncoder,
        dispatches: Sequence[_D],
        switches: Sequence[tuple[int, int]],
        encode: Callable[[wgpu.GPUCommandEncoder, Sequence[_D]], None],
    ) -> None:
        """Encode a step's ``dispatches`` with ``encode``, each layer's table and host blocks put in place just before
        its first cache dispatch (``encode_layer`` at each of ``switches``: ``layer_switches``)."""
        start = 0
        for at, layer in switches:
            encode(encoder, dispatches[start:at])
            self.encode_layer(encoder, layer)
            start = at
        encode(encoder, dispatches[start:])

    def bytes_moved_per_step(self) -> int:
        """Bytes the next step copies from the host (staging) and between tables."""
        return sum(p.layers * (2 * p.host * p.block_bytes + 4 * p.length) for p in self.pools.values())


def layer_switches(launch_keys: Sequence[Sequence[BufferKey]]) -> list[tuple[int, int]]:
    """(dispatch index, layer) where an entry's dispatches start using layer ``layer``'s KV cache: before it, that
    layer's table and host blocks are put in place (``encode_layer``). ``launch_keys``: each launch's buffer keys."""
    switches: list[tuple[int, int]] = []
    current = None
    for i, keys in enumerate(launch_keys):
        layers = {int(k[2]) for k in keys if k[0] == "cache"}
        if len(layers) > 1:
            raise RustyError(f"a dispatch binds the KV cache of layers {sorted(layers)}; KV-cache offload needs one layer per dispatch")
        if layers and (layer := layers.pop()) != current:
            switches.append((i, layer))
            current = layer
    return switches


__all__ = [
    "OffloadedKvCaches",
    "adapter_memory",
    "default_budget",
    "device_budget",
    "full_bytes",
    "largest_step",
    "layer_switches",
    "make_caches",
    "memory_figures",
    "memory_report",
    "resident_blocks",
    "set_default_budget",
]
