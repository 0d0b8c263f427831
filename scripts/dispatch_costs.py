"""What a dependent dispatch, a compute pass, a command buffer, a ``queue.write_buffer`` and a synchronous read-back
cost the GPU, without a model: one WGSL kernel whose every invocation reads and writes its own word of a buffer
that the next dispatch reads (so each dispatch waits for the one before, as a model's do), repeated 64 times in
each arrangement below; µs an iteration, medians of 5 (the GPU drained before and after each).

    python scripts/dispatch_costs.py --iters 4000   # a kernel of about 0.4 ms on an H100
    python scripts/dispatch_costs.py --iters 1      # a kernel of no work: the fixed costs alone

The H100's figures are in BENCHMARKS.md (issue 15, sixth session).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import wgpu

from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.device import MappedReader

INVOCATIONS = 132 * 8 * 256
"""Enough workgroups of 256 to fill an H100's 132 multiprocessors eight times over."""
COUNT = 64
"""Iterations timed per run."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iters", type=int, default=4000, help="multiply-adds per invocation (default 4000)")
    p.add_argument("--rounds", type=int, default=2, help="times every arrangement is timed (default 2)")
    a = p.parse_args()
    dev = Device()
    d, q = dev.device, dev.device.queue
    source = f"""
@group(0) @binding(0) var<storage, read_write> acc: array<f32>;
@group(0) @binding(1) var<storage, read> p: array<u32>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
  var x = acc[gid.x] + f32(p[0]);
  for (var i = 0u; i < {a.iters}u; i++) {{ x = x * 0.999 + 0.5; }}
  acc[gid.x] = x;
}}"""
    usage = wgpu.BufferUsage
    acc = d.create_buffer(size=4 * INVOCATIONS, usage=usage.STORAGE | usage.COPY_SRC)
    params = d.create_buffer(size=256, usage=usage.STORAGE | usage.COPY_DST)
    staging = d.create_buffer(size=256, usage=usage.MAP_READ | usage.COPY_DST)
    upload = d.create_buffer(size=256, usage=usage.MAP_WRITE | usage.COPY_SRC)
    pipeline = d.create_compute_pipeline(layout="auto", compute={"module": d.create_shader_module(code=source), "entry_point": "main"})
    group = d.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
        {"binding": 0, "resource": {"buffer": acc}}, {"binding": 1, "resource": {"buffer": params}}])  # fmt: skip
    reader = MappedReader(d)
    reader.spin = dev.info.get("adapter_type") != "CPU"
    zeros = np.zeros(4, np.uint32)

    def commands(dispatches: int = 1, passes: int = 1, copy_in: bool = False, read_back: bool = False) -> wgpu.GPUCommandBuffer:
        encoder = d.create_command_encoder()
        if copy_in:
            encoder.copy_buffer_to_buffer(upload, 0, params, 0, 16)
        for _ in range(passes):
            compute = encoder.begin_compute_pass()
            compute.set_pipeline(pipeline)
            compute.set_bind_group(0, group)
            for _ in range(dispatches):
                compute.dispatch_workgroups(INVOCATIONS // 256)
            compute.end()
        if read_back:
            encoder.copy_buffer_to_buffer(acc, 0, staging, 0, 16)
        return encoder.finish()

    def drain() -> None:
        reader.read(staging, 16, reader.submit(commands(dispatches=0, read_back=True)))

    def sync(cb: wgpu.GPUCommandBuffer, write: bool = False, mapped: bool = False) -> None:
        if write:
            q.write_buffer(params, 0, zeros)
        if mapped:
            upload.map_sync(wgpu.MapMode.WRITE)
            upload.write_mapped(zeros.tobytes(), 0)
            upload.unmap()
        reader.read(staging, 16, reader.submit(cb))

    def each_submitted(write: bool) -> Callable[[int], None]:
        def run(n: int) -> None:
            for cb in [commands() for _ in range(n)]:
                if write:
                    q.write_buffer(params, 0, zeros)
                q.submit([cb])

        return run

    def synchronous(ahead: bool, write: bool = False, mapped: bool = False) -> Callable[[int], None]:
        def run(n: int) -> None:
            if ahead:
                for cb in [commands(read_back=True, copy_in=mapped) for _ in range(n)]:
                    sync(cb, write, mapped)
            else:
                for _ in range(n):
                    sync(commands(read_back=True), write)

        return run

    cases: dict[str, Callable[[int], None]] = {
        "dispatches in one pass": lambda n: q.submit([commands(dispatches=n)]),
        "one pass each, one command buffer": lambda n: q.submit([commands(passes=n)]),
        "one command buffer each, one submission": lambda n: q.submit([commands() for _ in range(n)]),
        "one submission each": each_submitted(False),
        "queue.write_buffer, then a submission each": each_submitted(True),
        "synchronous: encode, submit, read back": synchronous(False),
        "synchronous, finished ahead": synchronous(True),
        "synchronous, finished ahead, after a queue.write_buffer": synchronous(True, write=True),
        "synchronous, finished ahead, inputs copied from a mapped buffer": synchronous(True, mapped=True),
    }

    def timed(run: Callable[[int], None], n: int, repeats: int) -> float:
        out = []
        for _ in range(repeats):
            drain()
            t = time.perf_counter()
            run(n)
            drain()
            out.append((time.perf_counter() - t) / n * 1e6)
        return statistics.median(out)

    for run in cases.values():
        timed(run, 4, 1)  # warm-up
    print(f"{dev.info.get('device', '?')}, {a.iters} multiply-adds an invocation: µs an iteration, medians of 5 runs of {COUNT}")
    for _ in range(a.rounds):
        for name, run in cases.items():
            print(f"| {name} | {timed(run, COUNT, 5):.1f} |", flush=True)


if __name__ == "__main__":
    main()
