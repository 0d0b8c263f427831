"""Where a replayed speculative generation's time goes: the wall time of every backend call, by kind and size.

Replays (``bench_long.Replay``) the recorded answers of ``--prompts`` on a synthetic ``--shape``, plain and with
prompt lookup (K = ``--k``), twice each, and prints per generation the decode time and the part of it spent inside
the runtime's calls, then per call kind (``verify`` by tokens, ``decode``, ``stream`` by steps, ``truncate``) the
count and median; last, verification steps of 2-5 tokens timed in a loop, for comparison.

    python scripts/replay_calls.py [--shape llama3-8b] [--prompts summarize,rename_code,extract] [--k 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import Replay, compile_synthetic

from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.generate import Session
from rusty_ir.speculative import SpeculativeOptions, Speculator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="llama3-8b")
    p.add_argument("--text", default=str(Path(__file__).resolve().parent / "data" / "acceptance_text.json"))
    p.add_argument("--prompts", default="summarize,rename_code,extract")
    p.add_argument("--k", type=int, default=4)
    a = p.parse_args()
    recording = json.loads(Path(a.text).read_text())["prompts"]
    device = Device()
    model, art = compile_synthetic(device, a.shape)
    rt = ModelRuntime(art.schedule, art.wgsl, art.runtime_weights(model.weights), 512, device)
    calls: dict[tuple[str, int], list[float]] = defaultdict(list)

    def timed(kind: str, fn: Any, size: Any) -> Any:
        def call(*args: Any) -> Any:
            start = time.perf_counter()
            out = fn(*args)
            calls[(kind, size(*args))].append(time.perf_counter() - start)
            return out

        return call

    verify, decode_stream = rt.verify, rt.decode_stream
    rt.verify = timed("verify", verify, lambda ids, pos: len(ids))  # type: ignore[method-assign]
    rt.decode = timed("decode", rt.decode, lambda token, pos: 1)  # type: ignore[method-assign]
    rt.truncate = timed("truncate", rt.truncate, lambda n: 0)  # type: ignore[method-assign]

    def stream(token: int, pos: int, count: int, sampling: Any = None, until: Any = None, hold: Any = None) -> Any:
        start = time.perf_counter()
        try:
            yield from decode_stream(token, pos, count, until=until, hold=hold)
        finally:  # a generation closes the stream after its last token
            calls[("stream", count)].append(time.perf_counter() - start)

    rt.decode_stream = stream  # type: ignore[method-assign]
    for name in a.prompts.split(","):
        r = recording[name]
        for mode in ("plain", "lookup", "plain", "lookup"):
            calls.clear()
            rt.reset()
            spec = Speculator(SpeculativeOptions("lookup", a.k)) if mode == "lookup" else None
            session = Session(Replay(rt, [*r["prompt_ids"], *r["generated_ids"]]), model.tokenizer)
            got = session.generate(r["prompt_ids"], len(r["generated_ids"]), stop_at_eos=False, speculative=spec)
            inside = sum(sum(v) for v in calls.values())
            print(f"{name} {mode}: decode {1e3 * got.timings.decode_s:.1f} ms, in the runtime's calls {1e3 * inside:.1f} ms")
        for (kind, size), times in sorted(calls.items()):
            print(f"    {kind:8s} {size:3d}: n={len(times):3d} median {1e3 * statistics.median(times):.3f} ms")
    rt.reset()
    rt.prefill(np.arange(3, 259, dtype=np.int32), 0)
    for size in (2, 3, 4, 5):
        times = []
        for _ in range(20):
            start = time.perf_counter()
            verify(np.arange(7, 7 + size, dtype=np.int32), 256)
            times.append(time.perf_counter() - start)
        print(f"loop: verify {size}: median {1e3 * statistics.median(times):.3f} ms")


if __name__ == "__main__":
    main()
