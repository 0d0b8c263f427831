"""Running candidates on the device (``rusty_ir.tuning``, step 4 of its docstring): random arguments uploaded (and
copied, so that a timed run on a discrete GPU reads them from memory, not the L2), the lowered host function walked by
the schedule executor into bound launches, and those timed (GPU timestamps, else wall clock), poisoned and read back."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn, TypeAlias

import numpy as np

from rusty_ir.backends.runtime.execute import Buffer, ConcreteHost, Executor
from rusty_ir.backends.runtime.schedule import Alloc, Launch, Step, Weight
from rusty_ir.errors import RustyError
from rusty_ir.probes import spin_up
from rusty_ir.tuning.region import FUNCTION, BufferArg, Lowered, StepArgs

if TYPE_CHECKING:
    import wgpu

    from rusty_ir.backends.runtime.device import BoundKernel, Device, Kernel

ROTATE_BYTES = 256 << 20
"""On discrete GPUs, each timed run reads at least this many bytes of argument copies (L2 caches are 50-100 MiB)."""

MAX_COPIES = 32
"""At most this many copies of a region's arguments."""

IDLE_SECONDS = 0.1
"""A timing that starts this long after the previous one ended (a candidate was compiled in between) first
spins the GPU up for ``SPIN_UP_SECONDS``: an idle GPU drops its clock."""
SPIN_UP_SECONDS = 0.25

DeviceArg: TypeAlias = "wgpu.GPUBuffer | int"
"""An argument on the device: a buffer for a ``BufferArg``, the number itself for a scalar."""
BoundLaunch: TypeAlias = "tuple[BoundKernel, tuple[int, int, int]]"
"""A kernel bound to its buffers, and its grid."""


def random_array(arg: BufferArg, rng: np.random.Generator) -> np.ndarray:
    """Random contents for a buffer: normal floats, zero token ids, and for quantized or
    bf16 data bytes below 0x3c (every f16 scale then finite and below 1)."""
    n = int(np.prod(arg.shape, dtype=np.int64))
    if arg.element_type == "f32":
        return rng.standard_normal(n, dtype=np.float32)
    if arg.element_type == "f16":
        return rng.standard_normal(n, dtype=np.float32).astype(np.float16)
    if arg.element_type == "i32":
        return np.zeros(n, np.int32)  # token ids: 0 is valid for every table
    return rng.integers(0, 0x3C, size=arg.nbytes, dtype=np.uint8)


class _TunerHost(ConcreteHost):
    """The tuner's side of the schedule executor: an alloc is a fresh device buffer, a launch a bound kernel and its
    grid; an outlined region has no weights or caches."""

    def __init__(self, device: Device, pipelines: Mapping[str, Kernel]) -> None:
        self.device = device
        self.pipelines = pipelines
        self.out: list[BoundLaunch] = []

    def alloc(self, step: Alloc, shape: tuple[int, ...], where: str) -> wgpu.GPUBuffer:
        return self.device.empty(BufferArg(step.element_type, shape).nbytes)

    def weight(self, step: Weight, layer: int | None, where: str) -> NoReturn:
        self.unsupported(step, where)

    def launch(self, step: Launch, buffers: list[wgpu.GPUBuffer], grid: tuple[int, ...], scalars: list[int | float], where: str) -> None:
        kernel = self.pipelines[step.kernel]
        bound = kernel.bind(buffers, scalars if kernel.interface.params is not None else None)
        x, y, z = grid
        self.out.append((bound, (x, y, z)))

    def unsupported(self, step: Step, where: str) -> NoReturn:
        raise RustyError(f"@{FUNCTION}: unexpected host step '{step.OP}' in an outlined region ({where})")


class DeviceRunner:
    """Builds, binds and times lowered candidates on one ``rusty_ir.backends.runtime.Device``."""

    def __init__(self, device: Device, repeats: int = 5, warmup: int = 1) -> None:
        self.device = device
        self.repeats = repeats
        self.warmup = warmup
        self.timestamps = "timestamp-query" in device.features
        self.cpu = str(device.info.get("adapter_type", "")).lower() == "cpu"
        self.measurements = 0
        """Candidate timings taken (one per candidate and step)."""
        self._last_timed = -math.inf

    def build(self, lowered: Lowered) -> dict[str, Kernel]:
        """Pipelines of every kernel; a RustyError when the device refuses one (limits, WGSL)."""
        shader = self.device.compile(lowered.source, label=FUNCTION)
        return {name: self.device.kernel(shader, iface) for name, iface in lowered.kernels.items()}

    def upload(self, args: StepArgs, rng: np.random.Generator, copies: int = 1) -> list[list[DeviceArg]]:
        """``copies`` sets of device arguments (buffers with random contents; scalars as they are)."""
        first = [self.device.buffer(random_array(a, rng)) if isinstance(a, BufferArg) else a for a in args]
        sets = [first]
        if copies > 1:
            encoder = self.device.device.create_command_encoder()
            for _ in range(copies - 1):
                copy: list[DeviceArg] = []
                for a, value in zip(args, first, strict=True):
                    if isinstance(a, BufferArg):
                        new = self.device.empty(a.nbytes)  # as large as the first copy: both sized from a.nbytes
                        encoder.copy_buffer_to_buffer(value, 0, new, 0, new.size)
                        copy.append(new)
                    else:
                        copy.append(value)
                sets.append(copy)
            self.device.device.queue.submit([encoder.finish()])
        return sets

    def copies_for(self, args: StepArgs) -> int:
        """Argument copies a timed run cycles through (1 on CPU adapters, where there is no L2 to defeat)."""
        if self.cpu:
            return 1
        nbytes = sum(a.nbytes for a in args if isinstance(a, BufferArg))
        return max(1, min(MAX_COPIES, math.ceil(ROTATE_BYTES / max(nbytes, 1))))

    def dispatches(
        self, lowered: Lowered, pipelines: Mapping[str, Kernel], values: Sequence[DeviceArg], shapes: StepArgs
    ) -> list[BoundLaunch]:
        """The bound launches of the host function for one set of arguments (the schedule executor,
        ``rusty_ir.backends.runtime.execute``, walks it; allocs get fresh device buffers)."""
        fn = lowered.function
        args = [Buffer(v, s.shape) if isinstance(s, BufferArg) else v for v, s in zip(values, shapes, strict=True)]
        host = _TunerHost(self.device, pipelines)
        Executor(host).call(fn, args, f"@{FUNCTION}")
        return host.out

    def time(self, runs: Sequence[Sequence[BoundLaunch]], cutoff: float = math.inf) -> float:
        """Median seconds of one set of dispatches (``runs``: one list per argument copy, cycled in one pass).

        A run slower than ``cutoff`` ends the measurement early (a clear loser need not be timed ``repeats`` times).
        """
        dev = self.device.device
        import wgpu  # here: the native library loads when a candidate is timed, not when the tuner is imported

        if time.perf_counter() - self._last_timed > IDLE_SECONDS:  # compiling left the GPU idle: its clock dropped
            spin_up(self.device, SPIN_UP_SECONDS)
        samples: list[float] = []
        for r in range(self.warmup + self.repeats):
            encoder = dev.create_command_encoder()
            query_set = resolve = None
            if self.timestamps:
                query_set = dev.create_query_set(type=wgpu.QueryType.timestamp, count=2)
                compute = encoder.begin_compute_pass(
                    timestamp_writes={"query_set": query_set, "beginning_of_pass_write_index": 0, "end_of_pass_write_index": 1}
                )
            else:
                compute = encoder.begin_compute_pass()
            for dispatches in runs:
                for bound, (gx, gy, gz) in dispatches:
                    compute.set_pipeline(bound.kernel.pipeline)
                    compute.set_bind_group(0, bound.bind_group)
                    compute.dispatch_workgroups(gx, gy, gz)
            compute.end()
            if query_set is not None:
                resolve = dev.create_buffer(size=16, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
                encoder.resolve_query_set(query_set, 0, 2, resolve, 0)
            start = time.perf_counter()
            dev.queue.submit([encoder.finish()])
            if resolve is not None:
                t0, t1 = np.frombuffer(dev.queue.read_buffer(resolve), np.uint64)
                seconds = max(int(t1) - int(t0), 0) * 1e-9  # the period is taken as 1 ns; ranking does not depend on it
            else:
                dev.queue.on_submitted_work_done_sync()
                seconds = time.perf_counter() - start
            if r >= self.warmup:
                samples.append(seconds / len(runs))
                if samples[-1] > cutoff:
                    break
        self.measurements += 1
        self._last_timed = time.perf_counter()
        return float(statistics.median(samples))

    def poison(self, values: Sequence[DeviceArg], shapes: StepArgs, indices: Sequence[int]) -> None:
        """Fill the buffers at ``indices`` with 0xFF bytes (NaN as f32, -1 as i32)."""
        for i in indices:
            arg = shapes[i]
            assert isinstance(arg, BufferArg)
            self.device.write(values[i], np.full(arg.nbytes, 0xFF, np.uint8))

    def read(self, values: Sequence[DeviceArg], shapes: StepArgs, indices: Sequence[int]) -> list[np.ndarray]:
        """The buffers at ``indices``, read back (f32, f16 and i32 as such; other element types as bytes)."""
        out = []
        for i in indices:
            arg = shapes[i]
            assert isinstance(arg, BufferArg)
            dtype = {"f32": np.float32, "f16": np.float16, "i32": np.int32}.get(arg.element_type, np.uint8)
            count = int(np.prod(arg.shape, dtype=np.int64)) if dtype is not np.uint8 else arg.nbytes
            out.append(self.device.read(values[i], dtype, count))
        return out

    def execute(self, lowered: Lowered, args: Sequence[np.ndarray | int], shapes: StepArgs) -> list[np.ndarray | int]:
        """Run the candidate once on the given arguments; every buffer argument read back (outputs included)."""
        pipelines = self.build(lowered)
        values = [self.device.buffer(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a for a in args]
        self.device.run(self.dispatches(lowered, pipelines, values, shapes))
        return [
            self.device.read(v, a.dtype, a.size).reshape(a.shape) if isinstance(a, np.ndarray) else a
            for a, v in zip(args, values, strict=True)
        ]
