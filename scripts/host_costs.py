"""The host's cost a dispatch of a step: recording the compute pass, the command buffer's ``finish`` and its
``submit``, for a model's decode and verification steps, on any adapter (llvmpipe included).

Each sample records a step's dispatches (the runtime's own ``plan.encode``, pipelines and bind groups) with grids of
zero workgroups, so the device does no work and the host's share is all that is timed; every command buffer is
submitted, because one dropped unsubmitted is not freed by wgpu 0.32 (BENCHMARKS.md, issue 15): a loop of dropped
buffers keeps faulting in fresh pages, which made ``finish`` look twice as slow as it is. Medians of ``--repeats``
samples, µs a dispatch.

    python scripts/host_costs.py                       # the bundled SmolLM2-135M-Instruct
    python scripts/host_costs.py --shape llama3-8b     # a synthetic model of that shape
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import wgpu

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rusty_ir.backends.runtime.plan import active as plan_active
from rusty_ir.backends.runtime.plan import encode


def per_dispatch(rt, entry: str, tokens: int, pos: int, repeats: int) -> tuple[int, float, float, float]:
    """(dispatches, record, finish, submit µs a dispatch) of one ``entry`` step of ``tokens`` tokens at ``pos``."""
    plan = rt._plans[entry]
    values = list(rt._values(plan, tokens, pos))
    active = [d for _, d in plan_active(plan, values)]  # plan.Dispatch: (pipeline, group, x, y, z, guard) value indices
    for _, _, x, _, _, _ in active:  # every grid's x evaluates to 0 workgroups
        values[x] = 0
    active = [(pipeline, group, x, y, z, None) for pipeline, group, x, y, z, _ in active]  # their guards held
    device = rt.device.device
    probe = device.create_buffer(size=16, usage=wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.STORAGE)

    def sample() -> tuple[float, float, float]:
        encoder = device.create_command_encoder()
        t0 = time.perf_counter()
        encoder = encode(encoder, active, values)  # the runtime's own recording
        t1 = time.perf_counter()
        buffer = encoder.finish()
        t2 = time.perf_counter()
        device.queue.submit([buffer])
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    for _ in range(min(50, repeats)):  # warm-up
        sample()
    samples = [sample() for _ in range(repeats)]
    device.queue.read_buffer(probe)  # everything submitted has run
    n = len(active)
    return n, *(statistics.median(s[i] for s in samples) * 1e6 / n for i in range(3))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", help="a synthetic model of this shape (bench_long.py's); default the bundled SmolLM2")
    p.add_argument("--verify", default="2,5,8", help="verification step sizes (comma-separated)")
    p.add_argument("--repeats", type=int, default=500, help="samples per median")
    a = p.parse_args()
    if a.shape:
        from bench_long import compile_synthetic

        from rusty_ir.backends.runtime import Device
        from rusty_ir.backends.runtime.model import ModelRuntime

        device = Device()
        model, art = compile_synthetic(device, a.shape)
        rt = ModelRuntime(art.schedule, art.wgsl, art.runtime_weights(model.weights), 512, device)
    else:
        import rusty_ir

        rt = rusty_ir.load(context_length=512, speculate="lookup").backend
    print(f"{rt.device.info.get('device', '?')} ({rt.device.info.get('backend_type', '?')}), wgpu {wgpu.__version__}")
    steps = [("decode", 1), *(("verify", int(k)) for k in a.verify.split(",") if rt.can_verify)]
    for entry, tokens in steps:
        n, record, finish, submit = per_dispatch(rt, entry, tokens, 200, a.repeats)
        print(f"{entry} {tokens}: {n} dispatches, record {record:.2f} + finish {finish:.2f} + submit {submit:.2f} "
              f"= {record + finish + submit:.2f} µs a dispatch ({n * (record + finish + submit) / 1e3:.3f} ms a step)")  # fmt: skip


if __name__ == "__main__":
    main()
