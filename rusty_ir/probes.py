"""Probes of a wgpu device's limits, timed on the device itself: copy and read bandwidth, the multiply-add
peak a WGSL kernel reaches, and ``spin_up``, which brings an idle GPU's clock up before anything is timed.
Used by ``rusty bench`` (rusty_ir/bench/), its fusion cases (bench/fusion*.py) and measured tuning
(rusty_ir/tuning/); they need a ``rusty_ir.backends.runtime.Device`` and nothing else of the project.

And the host's side: ``rss_bytes`` and ``peak_rss_bytes``, this process's memory (``rusty run --json``,
``rusty compile --json``, ``rusty bench``)."""

from __future__ import annotations

import sys
import time
from typing import Any

CPU_COPY_BYTES = 64 << 20
"""Bytes a bandwidth probe moves per copy on a CPU adapter (a software driver: seconds, not minutes)."""
GPU_COPY_BYTES = 1 << 30
"""Bytes a bandwidth probe moves per copy on a GPU, at most the device's limits."""


def _on_cpu(device: Any) -> bool:
    """Whether the adapter is a CPU (a software driver such as llvmpipe)."""
    return str(device.info.get("adapter_type", "")).lower() == "cpu"


def _bench_bytes(device: Any, nbytes: int | None, limit: str) -> int:
    """The buffer size of a bandwidth measurement: the default for the adapter kind, within ``limit``."""
    if nbytes is None:
        nbytes = CPU_COPY_BYTES if _on_cpu(device) else GPU_COPY_BYTES
    return max(256, min(nbytes, int(device.limits.get(limit, nbytes))) // 256 * 256)


def _best_wall_seconds(device: Any, encode: Any, last: Any, n: int, trials: int) -> float:
    """Best of ``trials`` wall times of one submit holding ``encode(encoder, n)``, after one warm-up of
    ``n = 1``; the submit is waited for by mapping 4 bytes copied from ``last`` at the end."""
    import wgpu

    dev = device.device
    staging = dev.create_buffer(size=4, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)

    def run(count: int) -> float:
        encoder = dev.create_command_encoder()
        encode(encoder, count)
        encoder.copy_buffer_to_buffer(last, 0, staging, 0, 4)  # mapping it waits for all the work
        start = time.perf_counter()
        dev.queue.submit([encoder.finish()])
        staging.map_sync(wgpu.MapMode.READ)
        elapsed = time.perf_counter() - start
        staging.unmap()
        return elapsed

    try:
        run(1)
        return min(run(n) for _ in range(trials))
    finally:
        staging.destroy()


def measure_copy_bandwidth(device: Any, nbytes: int | None = None, copies: int = 8, trials: int = 3) -> dict[str, Any]:
    """Read + write bytes per second of buffer-to-buffer copies: ``copies`` copies of ``nbytes`` per
    submit, wall time to completion, best of ``trials`` (after one warm-up copy)."""
    nbytes = _bench_bytes(device, nbytes, "max-buffer-size")
    src = device.empty(nbytes, label="bench.copy.src")
    dst = device.empty(nbytes, label="bench.copy.dst")

    def encode(encoder: Any, n: int) -> None:
        for _ in range(n):
            encoder.copy_buffer_to_buffer(src, 0, dst, 0, nbytes)

    try:
        best = _best_wall_seconds(device, encode, dst, copies, trials)
    finally:
        src.destroy()
        dst.destroy()
    return {"bytes_per_s": 2 * nbytes * copies / best, "buffer_bytes": nbytes, "copies": copies, "seconds": best,
            "method": f"copy_buffer_to_buffer, read + write bytes / wall time to completion, best of {trials}"}  # fmt: skip


_READ_KERNEL = """
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> sink: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var acc = vec4<u32>(0u);
  for (var i = gid.x; i < arrayLength(&src); i += groups.x * 256u) { acc ^= src[i]; }
  if (all(acc == vec4<u32>(gid.x))) { sink[0] = acc.x; }  // keeps the loads; practically never stores
}
"""


def measure_read_bandwidth(device: Any, nbytes: int | None = None, reads: int = 8, trials: int = 3) -> dict[str, Any]:
    """Bytes per second a compute kernel reads from one buffer (16-byte loads, a grid-stride loop):
    ``reads`` dispatches over ``nbytes`` per submit, wall time to completion, best of ``trials``.
    This is the ceiling for weight streaming, which only reads (the copy measures read + write)."""
    nbytes = _bench_bytes(device, nbytes, "max-storage-buffer-binding-size")
    dev = device.device
    src = device.empty(nbytes, label="bench.read.src")
    sink = device.empty(16, label="bench.read.sink")
    pipeline = dev.create_compute_pipeline(
        layout="auto", compute={"module": device.compile(_READ_KERNEL, label="bench.read"), "entry_point": "main"}
    )
    group = dev.create_bind_group(layout=pipeline.get_bind_group_layout(0),
                                  entries=[{"binding": 0, "resource": {"buffer": src}}, {"binding": 1, "resource": {"buffer": sink}}])  # fmt: skip
    workgroups = min(4096, -(-nbytes // (16 * 256)))

    def encode(encoder: Any, n: int) -> None:
        compute = encoder.begin_compute_pass()
        compute.set_pipeline(pipeline)
        compute.set_bind_group(0, group)
        for _ in range(n):
            compute.dispatch_workgroups(workgroups)
        compute.end()

    try:
        best = _best_wall_seconds(device, encode, sink, reads, trials)
    finally:
        src.destroy()
        sink.destroy()
    return {"bytes_per_s": nbytes * reads / best, "buffer_bytes": nbytes, "reads": reads, "seconds": best,
            "method": f"compute kernel, 16-byte loads, read bytes / wall time to completion, best of {trials}"}  # fmt: skip


_FMA_CHAINS = 8
"""Independent vec4 fma chains per invocation of the peak kernel (enough to hide the fma latency)."""
_FMA_UNROLL = 8
"""Chain steps per loop iteration: one step per iteration spends a quarter of the issue slots on the
loop (44 of 61 TFLOP/s in f32 on an H200, docs/notes/kernel-lab.md run 4); eight leave it negligible."""
_FMA_DISPATCHES = 16
"""Dispatches per timed submit (about 20 ms on an H200): an idle GPU runs at a low clock (345 MHz of
1,980 on the H200), so a short burst measures the clock ramp, not the arithmetic."""


def _fma_kernel(elem: str, iterations: int) -> str:
    chains = "\n".join(f"  var a{i} = vec4<{elem}>(seed + {elem}({i + 1}));" for i in range(_FMA_CHAINS))
    steps = "\n".join(f"    a{i} = fma(a{i}, m, c);" for _ in range(_FMA_UNROLL) for i in range(_FMA_CHAINS))
    total = " + ".join(f"a{i}" for i in range(_FMA_CHAINS))
    return f"""{"enable f16;" if elem == "f16" else ""}
@group(0) @binding(0) var<storage, read_write> sink: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
  let seed = {elem}(gid.x & 7u) * {elem}(0.125);
  let m = vec4<{elem}>({elem}(0.5));
  let c = vec4<{elem}>({elem}(0.25));
{chains}
  for (var i = 0u; i < {iterations}u; i += 1u) {{
{steps}
  }}
  let t = {total};
  if (f32(t.x + t.y + t.z + t.w) == -1.0) {{ sink[0] = f32(t.x); }}  // keeps the fmas; never stores
}}
"""


class _FmaWork:
    """The peak kernel's pipeline, encoded ``n`` dispatches of ``workgroups`` at a time."""

    def __init__(self, device: Any, elem: str, iterations: int, workgroups: int) -> None:
        dev = device.device
        self.device, self.workgroups = device, workgroups
        self.sink = device.empty(16, label="bench.fma.sink")
        module = device.compile(_fma_kernel(elem, iterations), label=f"bench.fma.{elem}")
        self.pipeline = dev.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"})
        self.group = dev.create_bind_group(layout=self.pipeline.get_bind_group_layout(0),
                                           entries=[{"binding": 0, "resource": {"buffer": self.sink}}])  # fmt: skip

    def encode(self, encoder: Any, n: int) -> None:
        compute = encoder.begin_compute_pass()
        compute.set_pipeline(self.pipeline)
        compute.set_bind_group(0, self.group)
        for _ in range(n):
            compute.dispatch_workgroups(self.workgroups)
        compute.end()

    def seconds(self, n: int, trials: int) -> float:
        return _best_wall_seconds(self.device, self.encode, self.sink, n, trials)

    def release(self) -> None:
        self.sink.destroy()


SPIN_UP_SECONDS = 1.0
"""GPU work run before anything is timed: an idle H200 sits at 345 MHz of its 1,980 and needs a few hundred ms
of load to clock up (a GEMM timed in 20 ms bursts after compiling ran 5.6x slower than the same kernel timed
later: BENCHMARKS.md, issue 12)."""


def spin_up(device: Any, seconds: float = SPIN_UP_SECONDS) -> None:
    """Keep the GPU busy with multiply-adds for ``seconds`` of wall time, so that what is timed next runs at the
    clock a busy GPU keeps (nothing on a CPU adapter, whose clock does not wait for load)."""
    if _on_cpu(device):
        return
    work = _FmaWork(device, "f32", 512, 1024)
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            work.seconds(_FMA_DISPATCHES, 1)
    finally:
        work.release()


def measure_fma_peak(device: Any, elem: str = "f32", trials: int = 3) -> dict[str, Any]:
    """Floating-point operations per second of a compute kernel that only multiply-adds: ``_FMA_CHAINS``
    independent ``vec4<elem>`` fma chains per invocation, ``_FMA_UNROLL`` steps per loop iteration (``elem``
    f32, or f16 where the adapter has ``shader-f16``), a fma counted as 2 operations, best of ``trials`` wall
    times of ``_FMA_DISPATCHES`` dispatches, after ``spin_up``. The ceiling a contraction's arithmetic can
    reach through WGSL on this adapter."""
    iterations, workgroups, dispatches = (8, 64, 2) if _on_cpu(device) else (512, 1024, _FMA_DISPATCHES)  # a CPU: enough to time
    work = _FmaWork(device, elem, iterations, workgroups)
    try:
        spin_up(device)
        best = work.seconds(dispatches, trials)
    finally:
        work.release()
    flops = dispatches * workgroups * 256 * iterations * _FMA_UNROLL * _FMA_CHAINS * 4 * 2
    return {"flops_per_s": flops / best, "elem": elem, "seconds": best,
            "method": f"{_FMA_CHAINS} vec4<{elem}> fma chains per invocation, {dispatches} dispatches of {workgroups} x 256 "
                      f"invocations x {iterations * _FMA_UNROLL} steps, wall time to completion, best of {trials} after "
                      f"{SPIN_UP_SECONDS:g} s of spin-up"}  # fmt: skip


def rss_bytes() -> int | None:
    """This process's resident set size now (Linux; None elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def peak_rss_bytes() -> int:
    """This process's peak resident set size (Linux and macOS report it in different units)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


__all__ = [
    "SPIN_UP_SECONDS",
    "measure_copy_bandwidth",
    "measure_fma_peak",
    "measure_read_bandwidth",
    "peak_rss_bytes",
    "rss_bytes",
    "spin_up",
]
