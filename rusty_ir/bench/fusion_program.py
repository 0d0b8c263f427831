"""A fusion-bench variant compiled and on the device (``rusty_ir.bench.fusion``, steps 2 to 4): the case's IR
through the default stages, its host schedule's function walked by the runtime's schedule executor
(``rusty_ir.backends.runtime.execute``, as the tuner's is) into bound dispatches with the bytes each moves, and
the timing of a run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rusty_ir.backends.runtime.execute import ELEMENT_BYTES, Buffer, ConcreteHost, Executor
from rusty_ir.backends.runtime.schedule import Alloc, Launch, Weight
from rusty_ir.bench.report import _bytes
from rusty_ir.errors import RustyError
from rusty_ir.probes import spin_up
from rusty_ir.weights import SCHEMES

if TYPE_CHECKING:
    import wgpu

    from rusty_ir.backends.runtime.device import BoundKernel, Device, Kernel
    from rusty_ir.backends.runtime.schedule import Schedule

ValueKey = tuple[str, str | int]
"""Which device buffer a host value is: ``("arg", name)``, ``("weight", name)`` or ``("slot", n)``."""

QUERIES_PER_SET = 4096
"""WebGPU's limit on the queries of one query set (two per timed pass)."""


def compile_variant(ir: str, fused: bool, target: str) -> tuple[str, Schedule, float]:
    """The case's IR through the default stages (``form-dispatches{fuse=false}`` when not ``fused``):
    (WGSL source, ``Schedule``, compile seconds)."""
    from xdsl.parser import Parser

    from rusty_ir.backends.runtime.schedule import load_schedule
    from rusty_ir.backends.schedule import emit_schedule
    from rusty_ir.backends.wgsl import emit_program
    from rusty_ir.ir import verify
    from rusty_ir.pipeline import DEFAULT_STAGES, build_pipeline
    from rusty_ir.registry import build_registry

    start = time.perf_counter()
    registry = build_registry()
    ctx = registry.context()
    module = Parser(ctx, ir).parse_module()
    verify(module, stage="input")
    specs = [spec.replace("TARGET", target) for _, spec in DEFAULT_STAGES]
    if not fused:
        if "form-dispatches" not in specs:
            raise RustyError("the default pipeline has no 'form-dispatches' stage to run unfused")
        specs[specs.index("form-dispatches")] = "form-dispatches{fuse=false}"
    for (stage, _), spec in zip(DEFAULT_STAGES, specs, strict=True):
        build_pipeline(registry, spec).apply(ctx, module)
        verify(module, stage=f"stage '{stage}'")
    program = emit_program(module)
    schedule = load_schedule(emit_schedule(module))
    return program.source, schedule, time.perf_counter() - start


@dataclass
class _Value:
    """A buffer value of the host function: which device buffer, and the bytes the value spans."""

    key: ValueKey
    nbytes: int


@dataclass
class _Dispatch:
    kernel: str
    bound: BoundKernel
    grid: tuple[int, int, int]
    read_bytes: int
    written_bytes: int


class _Host(ConcreteHost):
    """The fusion bench's side of the schedule executor (``rusty_ir.backends.runtime.execute``): buffers are
    ``_Value`` (a buffer key and the bytes it spans); allocs of one ``rusty.slot`` share a device buffer, as in
    ``ModelRuntime``; weights come from the case's arrays."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = weights
        self.sizes: dict[ValueKey, int] = {}
        self.data: dict[ValueKey, np.ndarray] = {}
        self.launches: list[tuple[Launch, list[_Value], list[int | float]]] = []

    def alloc(self, step: Alloc, shape: tuple[int, ...], where: str) -> _Value:
        value = _Value(("slot", step.slot), int(np.prod(shape)) * ELEMENT_BYTES[step.element_type])
        self.sizes[value.key] = max(self.sizes.get(value.key, 0), value.nbytes)
        return value

    def weight(self, step: Weight, layer: int | None, where: str) -> _Value:
        if step.name not in self.weights:
            raise RustyError(f"{where}: the schedule binds weight '{step.name}', which the case does not have")
        array = np.ascontiguousarray(self.weights[step.name])
        expected = SCHEMES[step.scheme].nbytes(tuple(step.shape))
        if array.nbytes != expected:
            raise RustyError(f"{where}: weight '{step.name}' has {array.nbytes} bytes, the schedule expects {expected}")
        value = _Value(("weight", step.name), array.nbytes)
        self.data[value.key] = array
        self.sizes[value.key] = value.nbytes
        return value

    def launch(self, step: Launch, buffers: list[_Value], grid: tuple[int, ...], scalars: list[int | float], where: str) -> None:
        self.launches.append((step, buffers, [*grid, *scalars]))


@dataclass
class _Program:
    """A compiled variant on the device: buffers made, kernels bound, ready to encode.

    Runs a schedule function (any steps but KV caches), walked once by the schedule executor for the
    case's sizes. Allocs of one ``rusty.slot`` share a device buffer, as in ``ModelRuntime``.
    """

    device: Device
    dispatches: list[_Dispatch] = field(default_factory=list)
    buffers: dict[ValueKey, wgpu.GPUBuffer] = field(default_factory=dict)
    outputs: list[_Value] = field(default_factory=list)

    @classmethod
    def load(cls, device: Device, wgsl: str, schedule: Schedule, inputs: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray],
             out_shape: tuple[int, ...], function: str = "bench") -> _Program:  # fmt: skip
        fn = schedule.functions.get(function)
        if fn is None:
            raise RustyError(f"the compiled schedule has no function '{function}'")
        prog = cls(device)
        host = _Host(weights)
        values: list[Buffer] = []
        args = list(fn.args)
        if [a.name for a in args[: len(inputs)]] != list(inputs):
            raise RustyError(f"function '{function}' takes {[a.name for a in args]}; expected {list(inputs)} first, then outputs")
        for arg in args:
            if arg.kind != "buffer":
                raise RustyError(f"function '{function}': scalar argument '{arg.name}' is not supported here")
            if arg.name in inputs:
                array = np.ascontiguousarray(inputs[arg.name])
                value = _Value(("arg", arg.name), array.nbytes)
                host.data[value.key] = array
                shape = array.shape
            else:
                shape = out_shape
                value = _Value(("arg", arg.name), int(np.prod(shape)) * ELEMENT_BYTES[arg.element_type or "f32"])
                prog.outputs.append(value)
            values.append(Buffer(value, tuple(shape)))
            host.sizes[value.key] = value.nbytes
        Executor(host, schedule.functions).call(fn, values, function)
        prog._make_buffers(host)
        prog._bind(wgsl, schedule, host.launches)
        return prog

    def _make_buffers(self, host: _Host) -> None:
        """One device buffer per value key (an argument, a weight, a ``rusty.slot`` shared by its allocs), checked
        against the device's limits first."""
        device = self.device
        limit = int(device.limits.get("max-storage-buffer-binding-size", 128 << 20))
        max_buffer = int(device.limits.get("max-buffer-size", 256 << 20))
        for key, n in host.sizes.items():
            what = f"{key[0]} '{key[1]}'"
            if n > limit:
                raise RustyError(f"{what} needs {n} bytes ({_bytes(n)}) in one binding; this device binds at most {limit} "
                                 f"({_bytes(limit)}, max-storage-buffer-binding-size): choose smaller sizes")  # fmt: skip
            if n > max_buffer:
                raise RustyError(f"{what} needs a buffer of {n} bytes; this device allows {max_buffer} (max-buffer-size)")
        for key, n in host.sizes.items():
            label = ":".join(map(str, key))
            self.buffers[key] = device.buffer(host.data[key], label=label) if key in host.data else device.empty(n, label=label)

    def _bind(self, wgsl: str, schedule: Schedule, launches: Sequence[tuple[Launch, list[_Value], list[int | float]]]) -> None:
        """The launches as bound dispatches, with the bytes each reads and writes."""
        device = self.device
        shader = device.compile(wgsl, label="bench-fusion")
        kernels: dict[str, Kernel] = {}
        max_groups = int(device.limits.get("max-compute-workgroups-per-dimension", 65535))
        for step, values, numbers in launches:
            iface = schedule.kernels[step.kernel]
            if step.kernel not in kernels:
                kernels[step.kernel] = device.kernel(shader, iface)
            grid = (int(numbers[0]), int(numbers[1]), int(numbers[2]))  # the launch's grid: ints (_Host.launch)
            if any(not 0 <= g <= max_groups for g in grid):
                raise RustyError(f"kernel '{step.kernel}': grid {grid} exceeds {max_groups} workgroups per dimension")
            params = None
            if iface.params is not None:
                params = {f.name: v for f, v in zip(iface.params.fields, numbers[3:], strict=True)}
            bound = kernels[step.kernel].bind([self.buffers[v.key] for v in values], params)
            read = sum(v.nbytes for v, b in zip(values, iface.buffers, strict=True) if b.access == "read")
            written = sum(v.nbytes for v, b in zip(values, iface.buffers, strict=True) if b.access != "read")
            self.dispatches.append(_Dispatch(step.kernel, bound, grid, read, written))

    def encode(
        self, encoder: wgpu.GPUCommandEncoder, timestamps: tuple[wgpu.GPUQuerySet, int] | None = None, only: int | None = None
    ) -> None:
        """One compute pass with every dispatch (or only dispatch ``only``), timestamps at its start and end."""
        kwargs: dict[str, object] = {}
        if timestamps is not None:
            query_set, index = timestamps
            kwargs["timestamp_writes"] = {"query_set": query_set, "beginning_of_pass_write_index": index,
                                          "end_of_pass_write_index": index + 1}  # fmt: skip
        compute = encoder.begin_compute_pass(**kwargs)
        for i, d in enumerate(self.dispatches):
            if only is not None and i != only:
                continue
            compute.set_pipeline(d.bound.kernel.pipeline)
            compute.set_bind_group(0, d.bound.bind_group)
            compute.dispatch_workgroups(*d.grid)
        compute.end()

    def read_output(self, shape: tuple[int, ...], dtype: npt.DTypeLike = np.float32) -> np.ndarray:
        return self.device.read(self.buffers[self.outputs[0].key], dtype, int(np.prod(shape))).reshape(shape)

    def release(self) -> None:
        for buf in self.buffers.values():
            buf.destroy()
        self.buffers.clear()


def _wait(device: Device, buffer: wgpu.GPUBuffer) -> None:
    """Block until the submitted work is done: map a 4-byte copy of ``buffer``."""
    import wgpu

    dev = device.device
    staging = dev.create_buffer(size=4, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
    encoder = dev.create_command_encoder()
    encoder.copy_buffer_to_buffer(buffer, 0, staging, 0, 4)
    dev.queue.submit([encoder.finish()])
    staging.map_sync(wgpu.MapMode.READ)
    staging.unmap()
    staging.destroy()


def time_program(prog: _Program, repeats: int, warmup: int, timestamps: bool) -> dict[str, Any]:
    """Median seconds of a whole run of the variant, the runs, and per-dispatch medians (``rusty_ir.bench.fusion``'s
    docstring, step 3)."""
    import wgpu

    dev = prog.device.device
    sync_buffer = prog.buffers[prog.outputs[0].key]
    spin_up(prog.device)  # after compiling, the GPU is idle and at a low clock
    for _ in range(warmup):
        encoder = dev.create_command_encoder()
        prog.encode(encoder)
        dev.queue.submit([encoder.finish()])
        _wait(prog.device, sync_buffer)
    if not timestamps:
        runs = []
        for _ in range(repeats):
            encoder = dev.create_command_encoder()
            prog.encode(encoder)
            start = time.perf_counter()
            dev.queue.submit([encoder.finish()])
            _wait(prog.device, sync_buffer)
            runs.append(time.perf_counter() - start)
        return {"seconds": statistics.median(runs), "seconds_runs": runs, "per_dispatch_seconds": None, "note": ""}

    def stamped(passes: list[int | None]) -> tuple[np.ndarray, float]:
        """GPU seconds of each pass (None: every dispatch, i: dispatch i alone), all in one submit; and its wall time."""
        encoder = dev.create_command_encoder()
        chunks = []
        for first in range(0, len(passes), QUERIES_PER_SET // 2):
            chunk = passes[first : first + QUERIES_PER_SET // 2]
            query_set = dev.create_query_set(type=wgpu.QueryType.timestamp, count=2 * len(chunk))
            resolve = dev.create_buffer(size=16 * len(chunk), usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
            for j, only in enumerate(chunk):
                prog.encode(encoder, (query_set, 2 * j), only)
            encoder.resolve_query_set(query_set, 0, 2 * len(chunk), resolve, 0)
            chunks.append((query_set, resolve))
        start = time.perf_counter()
        dev.queue.submit([encoder.finish()])
        stamps = np.concatenate([np.frombuffer(dev.queue.read_buffer(resolve), np.uint64) for _, resolve in chunks])
        wall = time.perf_counter() - start
        for query_set, resolve in chunks:
            resolve.destroy()
            query_set.destroy()
        return (stamps[1::2].astype(np.int64) - stamps[0::2].astype(np.int64)).clip(min=0) * 1e-9, wall

    stamps, wall = stamped([None] * repeats)
    note = ""
    if stamps.sum() > 1.05 * wall:
        note = "GPU times exceed the wall time of their submit: this device's timestamp period is not 1 ns; times are off by it"
    count = len(prog.dispatches)
    per = None
    if count > 1:
        each, _ = stamped([i for _ in range(repeats) for i in range(count)])
        per = [float(np.median(each[i::count])) for i in range(count)]
    else:
        per = [float(np.median(stamps))]
    return {"seconds": float(np.median(stamps)), "seconds_runs": stamps.tolist(), "per_dispatch_seconds": per, "note": note}
