"""Per-step plans (the model runtime's load step 3, ``model.py``): an entry's launches as dispatches whose grids,
guards and scalars are indices into one table of interned expressions of ``S`` and ``pos``, the scalars packed
into one uniform buffer, the bind groups built once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import wgpu

from rusty_ir.backends.runtime.device import BoundKernel, Device, Kernel, PassEncoder
from rusty_ir.backends.runtime.expand import BufferKey, Sym, _eval, _Expansion, _show
from rusty_ir.backends.runtime.schedule import OPERATORS, Number
from rusty_ir.backends.runtime.streaming import _layer_groups, _Stream
from rusty_ir.errors import RustyError

Values: TypeAlias = list[Any]
"""Every interned expression of a plan at one step: ints (sizes, grids, positions) and floats (f32 scalars).
``Any`` on purpose: a dispatch's grid indexes int values only (``_lay_out`` refuses a float grid at load), which
the per-step loop relies on without a conversion per dispatch."""

Dispatch: TypeAlias = tuple[wgpu.GPUComputePipeline, wgpu.GPUBindGroup, int, int, int, int | None]
"""(pipeline, bind group, value index of grid x, y, z, value index of the guard or None)."""

SUBMIT_FIRST = 16
"""Dispatches in the first command buffer of a step the host waits for and encodes then (``_step``: prefill,
verification, a decode step outside ``decode_stream``, unless recorded ahead), each later one holding twice as many
as the one before (``chunk_size``): the GPU starts on the first ones while the host encodes the rest. In one
command buffer, a 5-token verification step of llama3-8b (195 dispatches, about 8 µs of Python each then) waited
1.5 ms for its encoding before its 5 ms of GPU work began. The buffers grow because each costs the GPU about 15 µs
and its compute pass 20 µs more (an H100, ``scripts/dispatch_costs.py``), while the host encodes a dispatch (3-4
µs) faster than the GPU runs one (about 13 µs in a Llama-3-8B decode step): 16, 32, 64, then the rest, where
command buffers of 32 made seven (BENCHMARKS.md, issue 15)."""


def chunk_size(chunk: int) -> int:
    """Dispatches in the ``chunk``-th command buffer (from 0) of a step submitted as it is encoded."""
    return SUBMIT_FIRST << chunk


def encode(encoder: wgpu.GPUCommandEncoder, dispatches: Sequence[Dispatch], values: Values,
           device: wgpu.GPUDevice | None = None) -> wgpu.GPUCommandEncoder:  # fmt: skip
    """One compute pass of the ``dispatches`` whose guards hold, at these expression values; the encoder holding
    the last of them is returned. With ``device`` (a step the host waits for), command buffers of ``chunk_size``
    dispatches, each but the last submitted as soon as it is encoded, so that the GPU runs the first dispatches
    while the host encodes the next; the caller adds its copies to the returned one and submits it."""
    compute = PassEncoder(encoder.begin_compute_pass())
    last, count, chunk = None, 0, 0
    for pipeline, group, gx, gy, gz, guard in dispatches:
        if guard is not None and not values[guard]:
            continue
        if device is not None and count == chunk_size(chunk):
            compute.end()
            device.queue.submit([encoder.finish()])
            encoder = device.create_command_encoder()
            compute, last, count, chunk = PassEncoder(encoder.begin_compute_pass()), None, 0, chunk + 1
        compute.dispatch(pipeline, group, values[gx], values[gy], values[gz], pipeline is last)
        last, count = pipeline, count + 1
    compute.end()
    return encoder


def write_params(queue: wgpu.GPUQueue, plan: _Plan, values: Values) -> None:
    """Upload the kernels' scalar arguments of a step of ``plan`` at these values, unless the buffer holds them
    already (``params_at``: the step size and position of the last upload)."""
    if plan.params_buffer is None or plan.params_at == (values[0], values[1]):
        return
    v = np.array(values)
    words, int_dst, int_src, float_dst, float_src = plan.params_words, plan.int_dst, plan.int_src, plan.float_dst, plan.float_src
    assert words is not None and int_dst is not None and int_src is not None  # set with params_buffer
    words[int_dst] = v[int_src]
    if float_dst is not None and float_src is not None:
        words.view(np.float32)[float_dst] = v[float_src]
    queue.write_buffer(plan.params_buffer, 0, words)
    plan.params_at = (values[0], values[1])


def active(plan: _Plan, values: Values) -> list[tuple[int, Dispatch]]:
    """(index, dispatch) of the dispatches of ``plan`` a step with these values runs (their guards hold)."""
    return [(i, d) for i, d in enumerate(plan.dispatches) if d[5] is None or values[d[5]]]


class _Table:
    """Interned expressions of one entry: values[0] = S, values[1] = pos, then constants and results."""

    def __init__(self) -> None:
        self.base: list[int | float] = [0, 0]
        self.code: list[tuple[int, Callable[[Number, Number], Number], int, int]] = []
        """(result index, operator, operand indices) in evaluation order."""
        self.index: dict[tuple[type, Sym], int] = {(str, "S"): 0, (str, "pos"): 1}

    def intern(self, s: Sym) -> int:
        key = (type(s), s)  # keeps 1 and 1.0 apart
        if key in self.index:
            return self.index[key]
        if isinstance(s, tuple):
            a, b = self.intern(s[1]), self.intern(s[2])
            i = len(self.base)
            self.base.append(0)
            self.code.append((i, OPERATORS[s[0]], a, b))
        else:
            assert not isinstance(s, str), s  # "S" and "pos" are interned from the start; expansions have no other symbol
            i = len(self.base)
            self.base.append(s)
        self.index[key] = i
        return i

    def depending_on(self, index: int) -> set[int]:
        """The value indices whose expressions read value ``index`` (1: the position), itself included."""
        found = {index}
        for i, _, a, b in self.code:  # in evaluation order: operands come first
            if a in found or b in found:
                found.add(i)
        return found


@dataclass
class _Plan:
    """What one entry does per step, all built at load time."""

    entry: str
    table: _Table
    dispatches: list[Dispatch]
    bound: list[BoundKernel]
    tokens: wgpu.GPUBuffer
    out: wgpu.GPUBuffer
    staging: wgpu.GPUBuffer
    max_tokens: int
    params_buffer: wgpu.GPUBuffer | None = None
    params_words: np.ndarray | None = None
    int_dst: np.ndarray | None = None
    int_src: np.ndarray | None = None
    float_dst: np.ndarray | None = None
    float_src: np.ndarray | None = None
    result: bytes | bytearray = b""
    """The bytes of ``out`` read back by the last step (none before the first)."""
    spare_staging: wgpu.GPUBuffer | None = None
    """A second read-back buffer, so one step can be read while the next is in flight."""
    groups: list[tuple[int, int, int | None]] | None = None
    """With layer streaming: the dispatches as (start, end, layer) runs, each its own command buffer,
    run after ``layer``'s weights are written to its slot; None when every layer is resident."""
    sampling: wgpu.GPUBuffer | None = None
    """The packed sampling words' buffer of a sampling entry (written before each step); None for others."""
    shape: tuple[int, ...] = ()
    """The value indices of every dispatch's grid and guard: a step's commands depend on those values only."""
    params_at: tuple[Any, Any] | None = None
    """(S, pos) of the scalar arguments in ``params_buffer`` (``write_params``); None before the first."""
    position_free: bool = False
    """Whether none of ``shape`` depends on the position: a step's commands are the same at every position of
    its size (``ahead.py`` keeps them, finished, until a step of that size comes)."""


@dataclass
class _Dispatches:
    """An entry's launches checked and laid out, before their bind groups exist (``make_plan``)."""

    dispatches: list[tuple[wgpu.GPUComputePipeline, None, int, int, int, int | None]]
    """The dispatches without their bind groups (``_bind`` adds them)."""
    pending: list[tuple[Kernel, list[wgpu.GPUBuffer], tuple[BufferKey, ...], int | None]]
    """Per dispatch: (kernel, its buffers, their keys, its params' byte offset or None)."""
    int_fields: list[tuple[int, int]]
    """(params word, value index) of every i32 scalar; float_fields: of every f32 one."""
    float_fields: list[tuple[int, int]]
    params_bytes: int
    layer_of: list[int | None]
    """With layer streaming: the layer whose streamed weights each dispatch binds."""


def make_plan(x: _Expansion, device: Device, kernels: Mapping[str, Kernel], buffers: Mapping[BufferKey, wgpu.GPUBuffer],
              stream: _Stream | None, points: Sequence[tuple[int, int]], max_tokens: int) -> tuple[_Plan, int]:  # fmt: skip
    """The plan of one entry's expansion ``x`` over the current ``buffers`` (checked at the (S, pos) ``points``), and
    the bytes of its params buffer."""
    dev = device
    table = _Table()
    laid = _lay_out(x, dev, kernels, buffers, stream, points, table)
    total = laid.params_bytes
    params_buffer = None
    if total:
        params_buffer = dev.device.create_buffer(
            size=total, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST, label=f"{x.entry}.params"
        )
    dispatches, bound = _bind(dev, laid, params_buffer)
    out = buffers[x.io["out"][0].key]
    staging = dev.device.create_buffer(size=out.size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST, label=f"{x.entry}.out")
    plan = _Plan(
        x.entry, table, dispatches, bound,
        tokens=buffers[x.io["tokens"][0].key], out=out, staging=staging,
        max_tokens=max_tokens, params_buffer=params_buffer,
    )  # fmt: skip
    plan.shape = tuple(sorted({i for d in dispatches for i in d[2:] if i is not None}))
    plan.position_free = not set(plan.shape) & table.depending_on(1)
    if stream is not None:
        plan.groups = _layer_groups(laid.layer_of)
    if "sampling" in x.io:
        plan.sampling = buffers[x.io["sampling"][0].key]
    if params_buffer is not None:
        plan.params_words = np.zeros(total // 4, np.int32)
        plan.int_dst = np.array([d for d, _ in laid.int_fields], np.intp)
        plan.int_src = np.array([s for _, s in laid.int_fields], np.intp)
        if laid.float_fields:
            plan.float_dst = np.array([d for d, _ in laid.float_fields], np.intp)
            plan.float_src = np.array([s for _, s in laid.float_fields], np.intp)
    return plan, total


def _lay_out(x: _Expansion, dev: Device, kernels: Mapping[str, Kernel], buffers: Mapping[BufferKey, wgpu.GPUBuffer],
             stream: _Stream | None, points: Sequence[tuple[int, int]], table: _Table) -> _Dispatches:  # fmt: skip
    """Check every launch against its kernel and the device, intern its grid, guard and scalars in ``table``,
    and give each distinct tuple of scalars its slice of the params buffer."""
    max_groups = dev.limits.get("max-compute-workgroups-per-dimension", 65535)
    align = max(16, dev.limits.get("min-uniform-buffer-offset-alignment", 256))
    params: dict[
        tuple[tuple[tuple[str, int], ...], int, tuple[int, ...]], int
    ] = {}  # (field types/offsets, size, value indices) -> byte offset
    out = _Dispatches([], [], [], [], 0, [])
    for launch in x.launches:
        kernel = kernels[launch.kernel]
        iface = kernel.interface
        if len(launch.buffers) != len(iface.buffers):
            raise RustyError(
                f"schedule: {launch.where}: kernel '{iface.name}' takes {len(iface.buffers)} buffers, got {len(launch.buffers)}"
            )
        fields = iface.params.fields if iface.params is not None else ()
        if len(launch.scalars) != len(fields):
            raise RustyError(f"schedule: {launch.where}: kernel '{iface.name}' takes {len(fields)} scalars, got {len(launch.scalars)}")
        keys = tuple(b.key for b in launch.buffers)
        if stream is not None:
            layers = {stream.names[k[1]] for k in keys if k[0] == "weight" and k[1] in stream.names}
            if len(layers) > 1:
                raise RustyError(f"schedule: {launch.where}: kernel '{iface.name}' binds weights of layers {sorted(layers)}; "
                                 "layer streaming (resident_layers) needs one layer per dispatch")  # fmt: skip
            out.layer_of.append(layers.pop() if layers else None)
        for key in keys:  # WebGPU forbids a writable binding aliasing another in one dispatch
            if keys.count(key) > 1 and any(iface.buffers[j].access == "read_write" for j, k in enumerate(keys) if k == key):
                raise RustyError(f"schedule: {launch.where}: kernel '{iface.name}' binds {':'.join(map(str, key))} twice and writes it")
        for axis, g in enumerate(launch.grid):
            if isinstance(g, float) or any(not 0 <= _eval(g, s, p) <= max_groups for s, p in points):
                raise RustyError(
                    f"schedule: {launch.where}: grid {'xyz'[axis]} = {_show(g)} leaves 0..{max_groups} (max-compute-workgroups-per-dimension)"
                )
        offset = None
        if iface.params is not None:
            packing = tuple((f.type, f.offset) for f in iface.params.fields)
            pkey = (packing, iface.params.size, tuple(table.intern(s) for s in launch.scalars))
            if pkey not in params:
                params[pkey] = out.params_bytes
                for f, src in zip(iface.params.fields, pkey[2], strict=True):
                    (out.int_fields if f.type == "i32" else out.float_fields).append(((out.params_bytes + f.offset) // 4, src))
                out.params_bytes += -(-iface.params.size // align) * align
            offset = params[pkey]
        out.pending.append((kernel, [buffers[k] for k in keys], keys, offset))
        grid = tuple(table.intern(g) for g in launch.grid)
        guard = None if launch.guard == 1 else table.intern(launch.guard)
        out.dispatches.append((kernel.pipeline, None, *grid, guard))
    return out


def _bind(dev: Device, laid: _Dispatches, params_buffer: wgpu.GPUBuffer | None) -> tuple[list[Dispatch], list[BoundKernel]]:
    """The dispatches with their bind groups (one per distinct kernel, buffers and params offset), and the bound kernels."""
    groups: dict[tuple[str, tuple[BufferKey, ...], int | None], BoundKernel] = {}
    dispatches: list[Dispatch] = []
    bound: list[BoundKernel] = []
    for i, (kernel, buffers, keys, offset) in enumerate(laid.pending):
        gkey = (kernel.interface.name, keys, offset)
        if gkey not in groups:
            entries: list[dict[str, object]] = [
                {"binding": b.binding, "resource": b.resource(buf)} for b, buf in zip(kernel.interface.buffers, buffers, strict=True)
            ]
            if kernel.interface.params is not None:
                p = kernel.interface.params
                entries.append({"binding": p.binding, "resource": {"buffer": params_buffer, "offset": offset, "size": p.size}})
            group = dev.device.create_bind_group(layout=kernel.layout, entries=entries, label=kernel.interface.name)
            groups[gkey] = BoundKernel(kernel, group, params_buffer)
        bound.append(groups[gkey])
        pipeline, _, gx, gy, gz, guard = laid.dispatches[i]
        dispatches.append((pipeline, groups[gkey].bind_group, gx, gy, gz, guard))
    return dispatches, bound
