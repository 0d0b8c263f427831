"""Issue 15's probe of where a replay's speculative decode time goes, on the host's clock.

``bench_long.py --replay``'s recorded answers are generated again (``bench_long.Recording`` over a synthetic shape),
plain and with prompt lookup at ``--k``, and every runtime call of the speculative runs is timed: verification
steps, ``expect``, decode streams (the time to a stream's first token, to each later one, and after its last), and
the host's time between runtime calls (the session's per-token work, prompt lookup, the speculator). Medians of
``--repeats`` runs a prompt, in ms, summed over the prompts; the call counts of the first run.

    python scripts/replay_trace.py [--shape llama3-8b] [--text data/acceptance_text.json] [--k 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import Recording, compile_synthetic

from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.model import ModelRuntime

KINDS = ("verify", "expect", "stream-first", "stream-next", "stream-end")


class Traced:
    """Wraps a runtime's ``verify``, ``expect`` and ``decode_stream`` so that each call (each streamed token) adds
    (kind, start, end) to ``events``."""

    def __init__(self, rt: ModelRuntime) -> None:
        self.events: list[tuple[str, float, float]] = []
        self.calls: dict[str, int] = {}
        verify, expect, stream = rt.verify, rt.expect, rt.decode_stream
        rt.verify = self._timed("verify", verify)  # type: ignore[method-assign]
        rt.expect = self._timed("expect", expect)  # type: ignore[method-assign]

        def decode_stream(*args: Any, **kwargs: Any) -> Iterator[int]:
            self.calls["stream"] = self.calls.get("stream", 0) + 1
            last = time.perf_counter()
            for i, token in enumerate(stream(*args, **kwargs)):
                self.events.append(("stream-first" if i == 0 else "stream-next", last, time.perf_counter()))
                yield token
                last = time.perf_counter()  # the consumer's time between tokens is the host's
            self.events.append(("stream-end", last, time.perf_counter()))

        rt.decode_stream = decode_stream  # type: ignore[method-assign]

    def _timed(self, kind: str, call: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.calls[kind] = self.calls.get(kind, 0) + 1
            start = time.perf_counter()
            result = call(*args, **kwargs)
            self.events.append((kind, start, time.perf_counter()))
            return result

        return timed

    def summary(self) -> dict[str, float]:
        """Seconds per kind, and ``host``: the time between one call's end and the next one's start."""
        out = dict.fromkeys(KINDS, 0.0)
        for kind, start, end in self.events:
            out[kind] += end - start
        spans = sorted(self.events, key=lambda e: e[1])
        reached, host = spans[0][2] if spans else 0.0, 0.0
        for _, start, end in spans[1:]:
            host += max(0.0, start - reached)
            reached = max(reached, end)
        out["host"] = host
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="llama3-8b", help="synthetic shape that replays the text (default llama3-8b)")
    p.add_argument("--text", default=str(Path(__file__).resolve().parent / "data" / "acceptance_text.json"))
    p.add_argument("--k", type=int, default=5, help="draft tokens per round (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="runs a prompt (medians; default 3)")
    a = p.parse_args()
    device = Device()
    model, art = compile_synthetic(device, a.shape)
    recorded = Recording(a.text, model)
    prompts = recorded.prompts
    rt = ModelRuntime(art.schedule, art.wgsl, art.runtime_weights(model.weights), recorded.context, device)
    traced = Traced(rt)

    def run(name: str, k: int | None) -> float:
        return recorded.generate(rt, name, k)[0].timings.decode_s

    for name in prompts:  # warm-up: every step size once
        run(name, None)
        run(name, a.k)
    total: dict[str, float] = {}
    for name in prompts:
        rows: dict[str, list[float]] = {}
        for repeat in range(a.repeats):
            rows.setdefault("plain", []).append(run(name, None))
            traced.events.clear()
            traced.calls.clear()
            rows.setdefault("speculative", []).append(run(name, a.k))
            for kind, seconds in traced.summary().items():
                rows.setdefault(kind, []).append(seconds)
            if repeat == 0:
                print(f"{name}: calls {traced.calls}", flush=True)
        medians = {kind: 1e3 * statistics.median(v) for kind, v in rows.items()}
        print(f"{name}: " + ", ".join(f"{kind} {ms:.1f}" for kind, ms in medians.items()) + " ms", flush=True)
        for kind, ms in medians.items():
            total[kind] = total.get(kind, 0.0) + ms
    print("all: " + ", ".join(f"{kind} {ms:.1f}" for kind, ms in total.items())
          + f" ms; speed-up {total['plain'] / total['speculative']:.3f}x", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
