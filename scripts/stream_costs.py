"""Issue 15's in-stream probe: what each kernel adds to a synchronous step's wall time, where timestamp queries
(``profile_step``) add a few µs to every dispatch and cannot see the gaps between them.

For every kernel of a step's plan, each of its dispatches is run ``--times`` times instead of once (the step's other
dispatches as they are); the step's median wall time minus the plain step's, over the extra runs, is that kernel's
marginal cost in the stream. Steps: a decode step and verification steps of ``--verify`` tokens after a 256-token
prompt, on a synthetic model.

    python scripts/stream_costs.py [--shape llama3-8b] [--verify 2,5] [--times 2] [--repeats 21]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import compile_synthetic, median_seconds

from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.model import ModelRuntime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="llama3-8b")
    p.add_argument("--verify", default="2,5", help="verification step sizes (comma-separated)")
    p.add_argument("--times", type=int, default=2, help="runs of each dispatch of the kernel under test")
    p.add_argument("--repeats", type=int, default=21, help="timed steps per median")
    a = p.parse_args()
    device = Device()
    model, art = compile_synthetic(device, a.shape)
    rt = ModelRuntime(art.schedule, art.wgsl, art.runtime_weights(model.weights), 512, device)
    prompt = np.random.default_rng(0).integers(3, 30000, 256).astype(np.int32)
    rt.prefill(prompt, 0)
    sizes = [int(k) for k in a.verify.split(",")]
    steps = {
        "verify": {f"verify {k}": (lambda k=k: rt.verify(prompt[:k], 256)) for k in sizes},
        "decode": {"decode": lambda: rt.decode(7, 256)},
    }
    for entry, timed in steps.items():
        plan = rt._plans[entry]
        base = {name: median_seconds(step, a.repeats) for name, step in timed.items()}
        kernels: dict[str, list[int]] = defaultdict(list)
        for i, bound in enumerate(plan.bound):
            kernels[bound.kernel.interface.name].append(i)
        original = list(plan.dispatches)
        for kernel, indices in kernels.items():
            chosen = set(indices)
            plan.dispatches = [d for i, d in enumerate(original) for _ in range(a.times if i in chosen else 1)]
            try:
                costs = {name: (median_seconds(step, a.repeats) - base[name]) / (a.times - 1) for name, step in timed.items()}
            finally:
                plan.dispatches = original
            each = ", ".join(f"{name} {1e6 * c / len(indices):+7.1f}" for name, c in costs.items())
            print(f"{entry:6s} {kernel:34s} x{len(indices):3d}: µs each: {each}", flush=True)
        print(f"{entry:6s} plain steps (ms): " + ", ".join(f"{name} {1e3 * t:.3f}" for name, t in base.items()), flush=True)


if __name__ == "__main__":
    main()
