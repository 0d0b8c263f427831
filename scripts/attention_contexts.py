"""Issue 15's probe of split-KV attention in steps of a few tokens at longer contexts.

After a prefill of ``--prefill`` tokens, for each of ``--positions``: the GPU time a layer of the attention kernels
(split-KV kernel + merge, ``ModelRuntime.profile_step``, best of 5 medians over the layers) in steps of 1, 3, 6 and
8 tokens, and the wall times of synchronous 1- and 6-token steps (medians of 15). Each variant compiles the synthetic
shape with the few-token steps' split-KV attention changed (``heuristic``: as it is; ``KEY=VALUE``: a field of its
lowering config, e.g. ``split=64`` for partitions of 64 positions or ``workgroup=128``), decode keeping the
heuristic's; ``--check`` compares each variant's 6-token verification logits with one-token steps' first.

    python scripts/attention_contexts.py [--shape llama3-8b] [--check] heuristic workgroup=128 split=64
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import compile_synthetic, median_seconds

import rusty_ir.passes.tuning.tune_workgroups as tune_workgroups
from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.passes.tuning import generic

STEP_TOKENS = (1, 3, 6, 8)


def patched(variant: str):
    """``few_token_configs`` where a split-KV attention region's few-token steps take the single-token config with
    ``variant``'s field changed (``heuristic``: no change)."""
    key, _, value = variant.partition("=")

    def few_token_configs(single, ops, target):
        if variant != "heuristic" and single is not None and single.strategy == "attention" and single.config.split:
            field: Any = [int(value), 1, 1] if key == "workgroup" else int(value)
            return single.replace(**{key: field}), None
        return generic.few_token_configs(single, ops, target)

    return few_token_configs


def attention_us(rt: ModelRuntime, tokens: np.ndarray, pos: int) -> str:
    """'kernel + merge' µs a layer of one step: each kernel's median over the layers, the best of 5 steps."""
    best: dict[str, float] = {}
    for _ in range(5):
        per: dict[str, list[float]] = {}
        for name, seconds in rt.profile_step("verify", tokens, pos) or []:
            if name.startswith("attention"):
                per.setdefault(name, []).append(seconds)
        for name, times in per.items():
            best[name] = min(best.get(name, float("inf")), 1e6 * float(np.median(times)))
    return " + ".join(f"{us:.1f}" for _, us in sorted(best.items()))


def measure(device: Device, variant: str, a: argparse.Namespace, positions: list[int], prompt: np.ndarray) -> None:
    """One variant: compiled, loaded, prefilled, (checked,) its lines printed."""
    tune_workgroups.few_token_configs = patched(variant)
    model, art = compile_synthetic(device, a.shape, use_cache=False)
    rt = ModelRuntime(art.schedule, art.wgsl, art.runtime_weights(model.weights), prompt.size, device)
    for start in range(0, a.prefill, 512):
        rt.prefill(prompt[start : min(a.prefill, start + 512)], start)
    for pos in positions if a.check else []:
        few = rt.verify_logits(prompt[pos : pos + 6], pos)
        one = np.stack([rt.verify_logits(prompt[pos + i : pos + i + 1], pos + i)[0] for i in range(6)])
        err = float((np.abs(few - one).max(axis=1) / np.abs(one).max(axis=1)).max())
        print(f"[{variant}] check at {pos}: max rel err {err:.2e}, argmax agree {bool((few.argmax(1) == one.argmax(1)).all())}", flush=True)
    for pos in positions:
        cells = "; ".join(f"{t}: {attention_us(rt, prompt[pos : pos + t], pos)}" for t in STEP_TOKENS)
        walls = [1e3 * median_seconds(lambda t=t, pos=pos: rt.verify(prompt[pos : pos + t], pos), 15) for t in (1, 6)]
        print(f"[{variant}] {pos} positions, attention µs (kernel + merge) {cells} | walls 1 / 6 tokens "
              f"{walls[0]:.3f} / {walls[1]:.3f} ms", flush=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("variants", nargs="*", default=["heuristic"], help="'heuristic' or KEY=VALUE (default heuristic)")
    p.add_argument("--shape", default="llama3-8b")
    p.add_argument("--positions", default="32,256,1000,2000", help="comma-separated (default 32,256,1000,2000)")
    p.add_argument("--prefill", type=int, default=2048, help="tokens prefilled first, in steps of 512 (default 2048)")
    p.add_argument("--check", action="store_true", help="6-token verification logits against one-token steps")
    a = p.parse_args()
    positions = [int(x) for x in a.positions.split(",")]
    device = Device()
    context = max(a.prefill, max(positions) + max(STEP_TOKENS)) + 8
    prompt = np.random.default_rng(0).integers(3, 30000, context).astype(np.int32)
    for variant in a.variants:
        measure(device, variant, a, positions, prompt)
        gc.collect()


if __name__ == "__main__":
    main()
