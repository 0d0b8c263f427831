"""What a verification step's kernels cost its wall time: the step timed as it runs, then with every dispatch of one
role's kernels taken out of the plan. The kernels after a removed one read stale data, so the logits are wrong but
the timing holds (no kernel's work depends on the values it reads): the difference is the most that making the
role's kernels free could save, in wall time, which a profile's per-dispatch timestamps overstate for short kernels.

Roles, found in the step's dispatches: ``quantize`` (the kernels that only quantize a few-token step's activation
for the gemv after them: qkv's in every layer, the LM head's), and per layer ``qkv``, ``attention``, ``o``,
``gate+up``, ``down``, then ``head`` (what follows the layers, but the argmax). Each step is named ahead
(``ModelRuntime.expect``) before it runs, as a speculative round's is; medians of ``--repeats`` steps at position
256 after a 256-token prefill.

    python scripts/step_without.py --shape llama3-8b --tokens 1,6 --roles quantize   # from scripts/
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import compile_synthetic, ints

from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.backends.runtime.plan import active

ROLES = ("quantize", "qkv", "attention", "o", "gate+up", "down", "head")
POS = 256


def kernels(rt: ModelRuntime, tokens: int) -> list[str]:
    """The kernel of every dispatch a verification step of ``tokens`` runs, in order."""
    plan = rt._plans["verify"]
    return [plan.bound[i].kernel.interface.name for i, _ in active(plan, rt._values(plan, tokens, POS))]


def roles(seq: list[str], single: set[str], layers: int) -> dict[str, set[str]]:
    """Each role's kernels in one step's dispatches: the embedding, ``layers`` equal blocks (checked), the head. A
    quantizing kernel is one that a one-token step (kernels ``single``) does not run, followed by another such
    version of its region (the gemv it quantizes for)."""
    versions = [(n, n.rsplit("_", 1)[0]) for n in seq]
    few = [a for (a, ra), (b, rb) in zip(versions, versions[1:]) if ra == rb and a not in single and b not in single]
    per = seq.index(seq[1], 2) - 1
    block = seq[1 : 1 + per]
    if seq[1 : 1 + per * layers] != block * layers:
        raise SystemExit(f"the step's dispatches are not {layers} equal blocks of {per}: {block}")
    return {"quantize": set(few), "qkv": set(block[:-5]) - set(few), "attention": set(block[-5:-3]), "o": {block[-3]},
            "gate+up": {block[-2]}, "down": {block[-1]}, "head": set(seq[1 + per * layers : -1]) - set(few)}  # fmt: skip


def wall_ms(rt: ModelRuntime, ids: np.ndarray, repeats: int) -> float:
    """Median wall time of a verification step of ``ids`` at ``POS``, named ahead each time (``expect`` outside the
    timed span, which is why ``bench_long.median_seconds`` does not serve)."""
    times = []
    for i in range(repeats + 2):  # two warm-up steps: the first records the step, the second runs the recording
        rt.expect([(ids.size, POS)])
        start = time.perf_counter()
        rt.verify(ids, POS)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def without(rt: ModelRuntime, names: set[str], ids: np.ndarray, repeats: int) -> float:
    """``wall_ms`` with the dispatches of ``names`` taken out of every plan, the plans rebuilt after."""
    for plan in rt._plans.values():
        keep = [i for i, b in enumerate(plan.bound) if b.kernel.interface.name not in names]
        plan.dispatches[:] = [plan.dispatches[i] for i in keep]
        plan.bound[:] = [plan.bound[i] for i in keep]
    rt._ahead.clear()
    try:
        return wall_ms(rt, ids, repeats)
    finally:
        rt._plans = rt._make_plans()
        rt._ahead.clear()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="llama3-8b", help="synthetic model shape (default llama3-8b)")
    p.add_argument("--target", help="compile for this target instead of the adapter's (e.g. nvidia on llvmpipe)")
    p.add_argument("--tokens", type=ints, default=[1, 6], help="step sizes (default 1,6)")
    p.add_argument("--roles", default=",".join(ROLES), help=f"roles to take out, one at a time (default {','.join(ROLES)})")
    p.add_argument("--repeats", type=int, default=31, help="steps per median (default 31)")
    p.add_argument("--rounds", type=int, default=2, help="times the whole is measured (default 2)")
    a = p.parse_args()
    wanted = a.roles.split(",")
    if unknown := [r for r in wanted if r not in ROLES]:
        p.error(f"unknown roles {unknown} (known: {', '.join(ROLES)})")
    device = Device()
    model, art = compile_synthetic(device, a.shape, target=a.target)
    rt = ModelRuntime(art.schedule, art.wgsl, art.runtime_weights(model.weights), 600, device)
    prompt = np.random.default_rng(0).integers(3, min(3000, model.config.vocab), POS + max(a.tokens)).astype(np.int32)
    rt.prefill(prompt[:POS], 0)
    layers = model.config.n_layers
    single = set(kernels(rt, 1))
    found = {t: roles(kernels(rt, t), single, layers) for t in a.tokens}
    for t in a.tokens:
        print(f"{t} token(s): " + "; ".join(f"{r} {sorted(found[t][r])}" for r in wanted), flush=True)
    print("ms a step: as it runs, then without each role (its share: µs a layer, a step for quantize and head)")
    for t in a.tokens:  # not reported: a fresh GPU's first round swung by up to 0.7 ms (BENCHMARKS.md, issue 15)
        wall_ms(rt, prompt[POS : POS + t], 3 * a.repeats)
    for _ in range(a.rounds):
        for t in a.tokens:
            ids = prompt[POS : POS + t]
            base = wall_ms(rt, ids, a.repeats)
            cells = []
            for r in wanted:
                if not found[t][r]:
                    cells.append(f"{r} -")
                    continue
                saved = base - without(rt, found[t][r], ids, a.repeats)
                cells.append(f"{r} {1e3 * saved / (1 if r in ('quantize', 'head') else layers):.1f}")
            print(f"  {t} token(s): {base:.3f}; " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
