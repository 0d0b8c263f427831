"""What prompt lookup would gain for given step costs: the recorded real text of ``bench_long.py --record-text``
replayed on the host against a cost model instead of a GPU.

The real ``Speculator`` (prompt lookup, adaptive draft length, back-off) generates each recorded answer through
``bench_long.Replay`` over a runtime that only adds up what each step would cost: ``--costs`` gives the wall time of
one synchronous step of S tokens (S = 1: a decode step; S > 1: a verification step; measure them with
``bench_long.py --verify-k``), ``--stream`` the time per token of plain decoding (each step encoded while the one
before runs; a stream's first token costs a decode step), ``--round-ms`` the host's time between two synchronous
steps. The speed-up is plain decoding's time over the speculative one's, per prompt and in all. With the costs measured on an H200 it
reproduced ``bench_long.py --replay``'s measured speed-ups within a few percent (BENCHMARKS.md, issue 15); it answers
what the steps would have to cost for a given speed-up on the same text, and which drafting policy helps.
Each line also gives this host's time in the speculator, prompt lookup and the stand-ins (the policy's own host cost).

    python scripts/speculation_model.py --costs 1:2.93,2:3.36,3:3.75,4:4.31,5:5.15,6:5.8,7:6.5,8:7.15 --stream 2.85
    python scripts/speculation_model.py --measured bench-out/verification.json   # what bench_long.py (a) measured
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import Replay, ints

from rusty_ir.speculative import SpeculativeOptions, SpeculativeStats, Speculator


class CostRuntime:
    """A stand-in for ``ModelRuntime`` under ``Replay``: each step adds its cost (ms) to ``spent``; the tokens it
    returns are never used (``Replay`` returns the recorded ones)."""

    name = "cost-model"
    can_verify = True
    context_length = max_verify = 1 << 20

    def __init__(self, costs: dict[int, float], stream: float, round_ms: float = 0.0) -> None:
        self.costs, self.stream, self.round_ms, self.spent = costs, stream, round_ms, 0.0
        self.fast_verify = max(costs)
        """Drafts are capped at the largest step with a cost, less one (as the wgpu runtime's ``fast_verify``)."""

    def _step(self, tokens: int) -> None:
        if tokens not in self.costs:
            raise SystemExit(f"no cost for a step of {tokens} tokens: give it in --costs")
        self.spent += self.costs[tokens] + self.round_ms

    def decode(self, token: int, pos: int) -> int:
        self._step(1)
        return 0

    def decode_stream(self, token: int, pos: int, count: int, until: Any = None, hold: Any = None) -> Any:
        """The first token waits as a synchronous decode step does, the later ones come at the stream's pace;
        ``until`` ends the stream one token later, as the wgpu runtime's does, or with the token where ``hold`` held
        the step after it, which then costs a synchronous decode step."""
        end, held = count, False
        for i in range(count):
            if i == 0 or held:
                self._step(1)
            else:
                self.spent += self.stream
            held = hold is not None and i + 1 < end and hold()
            if until is not None and until(0):
                end = min(end, i + 1 if held else i + 2)
            yield 0
            if i + 1 == end:
                return

    def verify(self, tokens: np.ndarray, pos: int) -> np.ndarray:
        self._step(int(np.asarray(tokens).size))
        return np.zeros(np.asarray(tokens).size, np.int32)

    def truncate(self, length: int) -> None:
        pass


def measured(path: Path) -> tuple[dict[int, float], float]:
    """(costs, stream) of the first shape in a ``bench_long.py`` verification.json (section (a)): the decode step and
    the verification steps it timed, the sizes between two measured ones interpolated linearly, and plain decoding's
    ms per token."""
    row = json.loads(path.read_text())[0]
    known = {1: row["decode_step_ms"], **{int(key.split("_")[1]): v for key, v in row.items() if re.fullmatch(r"verify_\d+_ms", key)}}
    sizes = sorted(known)
    costs = {s: float(np.interp(s, sizes, [known[x] for x in sizes])) for s in range(1, sizes[-1] + 1)}
    return costs, 1e3 / row["plain_decode_tok_s"]


def prompts(path: Path) -> dict[str, dict[str, list[int]]]:
    """Name -> ``prompt_ids`` and ``generated_ids`` of a ``--record-text`` recording, or of the Hugging Face oracle
    (``tests/data/oracle/smollm2_reference.json``: its prompts' ``input_ids`` and greedy ``generated_ids``)."""
    found = json.loads(path.read_text())["prompts"]
    if isinstance(found, dict):
        return found
    return {p["name"]: {"prompt_ids": p["input_ids"], "generated_ids": p["generated_ids"]} for p in found}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--text",
        default=str(Path(__file__).resolve().parent / "data" / "acceptance_text.json"),
        help="a --record-text recording, or the oracle's tests/data/oracle/smollm2_reference.json",
    )
    p.add_argument("--costs", help="S:ms,... the wall time of a synchronous step of S tokens (S = 1 a decode step)")
    p.add_argument("--stream", type=float, help="ms per token of plain decoding (decode_stream)")
    p.add_argument("--measured", type=Path, help="a bench_long.py verification.json: the step costs and plain decoding's time of "
                   "its first shape, step sizes between the measured ones interpolated (--costs and --stream override)")  # fmt: skip
    p.add_argument("--round-ms", type=float, default=0.0, help="the host's time between two synchronous steps (ms; default 0): "
                   "the speculator's and the session's work, about 0.09 on an H200's host (bench_long.py (d))")  # fmt: skip
    p.add_argument("--k", type=ints, default=[3, 4, 5, 6, 7], help="draft tokens per round to model (default 3,4,5,6,7)")
    p.add_argument("--fixed", action="store_true", help="always draft K (no adaptive draft length or back-off)")
    a = p.parse_args(argv)
    costs, stream = measured(a.measured) if a.measured else ({}, None)
    if a.costs:
        costs = {int(s): float(ms) for s, ms in (item.split(":") for item in a.costs.split(",") if item)}
    stream = a.stream if a.stream is not None else stream
    if not costs or stream is None:
        p.error("give the step costs and plain decoding's time: --measured FILE, or --costs and --stream")
    recording = prompts(Path(a.text))
    for k in a.k:
        plain_all = spec_all = host = 0.0
        cells = []
        for name, r in recording.items():
            prompt, answer = r["prompt_ids"], r["generated_ids"]
            runtime = CostRuntime(costs, stream, a.round_ms)
            backend = Replay(runtime, [*prompt, *answer])
            spec = Speculator(SpeculativeOptions("lookup", k, adaptive=not a.fixed))
            stats = SpeculativeStats("lookup", k)
            start = time.perf_counter()
            got = list(spec.tokens(backend, prompt, answer[0], len(answer) - 1, stats))
            host += time.perf_counter() - start
            if got != answer[1:]:
                raise SystemExit(f"{name}: the replay did not give the recorded answer")
            plain = (len(answer) - 1) * stream
            plain_all, spec_all = plain_all + plain, spec_all + runtime.spent
            cells.append(f"{name} {plain / runtime.spent:.2f}x")
        print(f"K = {k}: all {plain_all / spec_all:.3f}x ({', '.join(cells)}); this host's time in the speculator, prompt "
              f"lookup and the stand-ins: {1e3 * host:.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
