"""Where a synchronous step's time goes on the GPU: timestamps around every step of a decode stream and of
synchronous steps (encoded after the wait, or recorded ahead with ``ModelRuntime.expect``), on a synthetic model.

Each step gets two markers, a one-workgroup no-op dispatch in a compute pass with a timestamp write (a
bottom-of-pipe write on Vulkan: it waits for every command submitted before it): one submitted before the step's
commands (its beginning), one after its last submission (its end). Per step, medians over the steps of a case:

- ``period``: end to end, the step's share of the GPU's time line;
- ``busy``: beginning to end, the GPU's time on the step (with the host's submissions it waited for);
- ``gap``: the previous step's end to this one's beginning, the GPU idle while the host reads the result and
  submits the next step;
- ``host``: the host's µs from the read's return to the beginning marker's submission.

A decode stream's steps are queued before the step before ends, so their gap is the markers' own cost. The markers
add two submissions a step; compare cases of one run. Cases alternate, ``--rounds`` times.

    python scripts/step_timeline.py --shape llama3-8b        # a GPU (the H100 figures in BENCHMARKS.md, issue 15)
    python scripts/step_timeline.py --shape smollm2-135m --steps 4 --rounds 1   # llvmpipe: that it runs

``--sampled`` adds sampled decode steps with a repetition penalty, which have no stream (each step's penalty window
needs the token before it): one synchronous step a token, named ahead as ``Session`` names them, or not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import wgpu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import compile_synthetic, prompt_of

from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.sampling import Sampler, SamplingParams

QUERIES = 4096


class Timeline:
    """Timestamp markers around the steps of one runtime (its ``_encode`` and its reader's ``submit`` and ``read``
    wrapped), collected per case."""

    def __init__(self, device: Device, runtime: ModelRuntime) -> None:
        dev = self.dev = device.device
        self.queries = dev.create_query_set(type=wgpu.QueryType.timestamp, count=QUERIES)
        self.resolved = dev.create_buffer(size=8 * QUERIES, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
        module = dev.create_shader_module(code="@compute @workgroup_size(1) fn main() {}")
        self.noop = dev.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"})
        self.on = False
        self.marks: list[str] = []  # "b" or "e", in query order
        self.host: list[tuple[str, float]] = []  # ("r", read returned) and ("b", beginning submitted)
        encode, reader = runtime._encode, runtime._reader
        submit, read = reader.submit, reader.read

        def encode_marked(*args: Any, **kwargs: Any) -> Any:
            self.mark("b")
            return encode(*args, **kwargs)

        def submit_marked(commands: Any) -> int:
            index = submit(commands)
            self.mark("e")
            return index

        def read_marked(*args: Any, **kwargs: Any) -> Any:
            data = read(*args, **kwargs)
            if self.on:
                self.host.append(("r", time.perf_counter()))
            return data

        runtime._encode = encode_marked  # type: ignore[method-assign]
        reader.submit, reader.read = submit_marked, read_marked  # type: ignore[method-assign]

    def mark(self, kind: str) -> None:
        if not self.on or len(self.marks) == QUERIES:
            return
        if kind == "b":
            self.host.append(("b", time.perf_counter()))
        i = len(self.marks)
        write = "beginning_of_pass_write_index" if kind == "b" else "end_of_pass_write_index"
        encoder = self.dev.create_command_encoder()
        compute = encoder.begin_compute_pass(timestamp_writes={"query_set": self.queries, write: i})
        compute.set_pipeline(self.noop)
        compute.dispatch_workgroups(1)
        compute.end()
        self.marks.append(kind)
        self.dev.queue.submit([encoder.finish()])

    def case(self, run: Callable[[], None]) -> tuple[float, float, float, float]:
        """(period, busy, gap, host) µs of ``run``'s steps (medians; the first step's gap and period left out)."""
        self.on, self.marks, self.host = True, [], []
        run()
        self.on = False
        n = len(self.marks)
        encoder = self.dev.create_command_encoder()
        encoder.resolve_query_set(self.queries, 0, n, self.resolved, 0)
        self.dev.queue.submit([encoder.finish()])
        stamps = np.frombuffer(self.dev.queue.read_buffer(self.resolved, 0, 8 * n), np.uint64).astype(np.int64)
        begins = [int(t) for k, t in zip(self.marks, stamps, strict=True) if k == "b"]
        ends = [int(t) for k, t in zip(self.marks, stamps, strict=True) if k == "e"]
        steps = min(len(begins), len(ends))
        host, read_at = [], None
        for kind, t in self.host:
            if kind == "r":
                read_at = t
            elif read_at is not None:
                host.append((t - read_at) * 1e6)
                read_at = None

        def med(xs: list[float]) -> float:
            return statistics.median(xs) if xs else float("nan")

        return (
            med([(ends[i] - ends[i - 1]) / 1e3 for i in range(1, steps)]),
            med([(ends[i] - begins[i]) / 1e3 for i in range(1, steps)]),
            med([(begins[i] - ends[i - 1]) / 1e3 for i in range(1, steps)]),
            med(host),
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="llama3-8b", help="synthetic shape (default llama3-8b)")
    p.add_argument("--steps", type=int, default=24, help="steps per case (default 24)")
    p.add_argument("--rounds", type=int, default=2, help="times each case runs, alternating (default 2)")
    p.add_argument("--verify", type=int, default=5, help="tokens of the verification steps timed (default 5)")
    p.add_argument("--sampled", action="store_true", help="also sampled decode steps with a repetition penalty (no stream)")
    a = p.parse_args()
    device = Device()
    if "timestamp-query" not in device.features:
        raise SystemExit("this adapter has no timestamp queries")
    model, artifact = compile_synthetic(device, a.shape, sampling=a.sampled)
    runtime = ModelRuntime(artifact.schedule, artifact.wgsl, artifact.runtime_weights(model.weights), 1024, device)
    timeline = Timeline(device, runtime)
    pos, n, S = 64, a.steps, a.verify
    token = runtime.prefill(np.asarray(prompt_of(pos, model.config.vocab), np.int32), 0)
    draft = np.full(S, token, np.int32)

    def stream() -> None:
        for _ in runtime.decode_stream(token, pos, n):
            pass

    def decode(named: bool, sampler: Sampler | None = None) -> Callable[[], None]:
        """Synchronous decode steps, greedy or drawn by ``sampler`` (a penalized one has no stream: what ``Session``
        runs then), each naming the next when ``named``."""

        def run() -> None:
            t = token
            for i in range(n):
                if named:
                    runtime.expect([(1, pos + i + 1)], sampled=sampler is not None)
                if sampler is None:
                    t = runtime.decode(t, pos + i)
                else:
                    t = runtime.decode_sample(t, pos + i, sampler.words())
                    sampler.accept(t)

        return run

    def verify(named: bool) -> Callable[[], None]:
        def run() -> None:
            for i in range(n):
                if named:
                    runtime.expect([(S, pos + (i + 1) * S)])
                runtime.verify(draft, pos + i * S)

        return run

    cases = {
        "decode stream": stream,
        "decode, encoded after the wait": decode(False),
        "decode, recorded ahead": decode(True),
        f"verify {S}, encoded after the wait": verify(False),
        f"verify {S}, recorded ahead": verify(True),
    }
    if a.sampled:
        penalized = SamplingParams(temperature=0.7, top_k=40, repetition_penalty=1.1, seed=1)
        cases["penalized sampled decode, encoded after the wait"] = decode(False, Sampler(penalized))
        cases["penalized sampled decode, recorded ahead"] = decode(True, Sampler(penalized))
    for run in cases.values():
        run()  # warm-up (and the recordings' first use)
    rows: dict[str, list[tuple[float, float, float, float]]] = {c: [] for c in cases}
    for _ in range(a.rounds):
        for name, run in cases.items():
            rows[name].append(timeline.case(run))
    print(f"{a.shape} on {device.info.get('device', '?')}: µs a step, medians of {n - 1} steps a round")
    print("| case | period | busy | gap | host |\n|---|---|---|---|---|")
    for name, results in rows.items():
        for period, busy, gap, host in results:
            print(f"| {name} | {period:.1f} | {busy:.1f} | {gap:.1f} | {host:.1f} |")


if __name__ == "__main__":
    main()
