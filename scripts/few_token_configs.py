"""Issue 15's config probe: few-token gemv configs timed in the whole model, where kernels alone (sweep_region.py)
did not predict the model's times.

Each variant compiles the synthetic model with one region kind's few-token configs replaced by one (rows a
workgroup / rows an invocation / split / invocations, optionally / blocks a lane walks at once (``reduction_tile``) /
tokens a workgroup / whether the step's activation is quantized once, by a kernel of its own or its producer (1),
or by every workgroup (0); otherwise these stay the heuristic's), loads it, and times synchronous verification steps of
2, 3, 5, 6 and 8 tokens and a decode step (medians of 21) and the kernels of those steps (``profile_step``, µs a
layer). Region kinds by their ops: ``gate+up`` a contraction of two weights, ``qkv`` a region of several
contractions, ``down`` one contraction over K of 8192 or more, ``o`` one over a plain activation of shorter K,
``head`` one over a computed one (the final norm's rows onto the vocabulary). With ``--check``, each variant's
verification logits of 2, 5 and 8 tokens are compared with 8 one-token steps' (relative error, argmaxes).

    python scripts/few_token_configs.py [--shape llama3-8b] [--check] heuristic gate+up:16/2/16/128 down:8/4/64/128/2 o:32/4/32/256/2/8
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import OpResult

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import compile_synthetic, median_seconds

import rusty_ir.passes.tuning.tune_workgroups as tune_workgroups
from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.bench.measure import _profile_table
from rusty_ir.passes.codegen.materialize import static_shape
from rusty_ir.passes.dispatch.analysis import Kind, kind, root_of
from rusty_ir.passes.tuning import generic

VERIFY_TOKENS = (2, 3, 5, 6, 8)


def region_kind(ops) -> str | None:
    root = root_of(list(ops))
    if not isinstance(root, linalg.GenericOp):
        return None
    if len(root.outputs) == 2:
        return "gate+up"
    if sum(1 for o in ops if isinstance(o, linalg.GenericOp) and kind(o) is Kind.CONTRACTION) > 1:
        return "qkv"
    if static_shape(root.inputs[0])[-1] >= generic.PREQUANTIZE_MIN_K:
        return "down"
    return "head" if isinstance(root.inputs[0], OpResult) else "o"


def patched(variant: tuple[str, list[int]] | None):
    """``few_token_configs`` where ``variant`` = (region kind, [rows, rows an invocation, split, invocations[, blocks
    at once[, tokens]]]) replaces a region kind's few-token configs by one for all of its few-token steps."""

    def few_token_configs(single, ops, target):
        few, more = generic.few_token_configs(single, ops, target)
        if few is None or variant is None or region_kind(ops) != variant[0]:
            return few, more
        widest = more or few
        rows, r, split, threads, *rest = variant[1]
        unroll = rest[0] if rest else widest.config.reduction_tile
        tokens = rest[1] if len(rest) > 1 else widest.config.workgroup_tile[0]
        prequantize = rest[2] if len(rest) > 2 else widest.config.prequantize
        return widest.replace(
            workgroup=[threads, 1, 1],
            workgroup_tile=[tokens, rows],
            thread_tile=[r],
            split=split,
            reduction_tile=unroll,
            prequantize=prequantize,
        ), None

    return few_token_configs


def check(rt: ModelRuntime) -> None:
    ids = np.arange(100, 108, dtype=np.int32)
    for tokens in (2, 5, 8):
        few = rt.verify_logits(ids[:tokens], 0)
        one = np.stack([rt.verify_logits(ids[i : i + 1], i)[0] for i in range(tokens)])
        err = np.abs(few - one).max(axis=1) / np.abs(one).max(axis=1)
        print(f"  verify {tokens} vs one-token steps: max rel err per row {np.round(err, 5).tolist()}, "
              f"argmax agree {(few.argmax(1) == one.argmax(1)).tolist()}", flush=True)  # fmt: skip


def run(device: Device, shape: str, prompt: np.ndarray, spec: str, checked: bool, target: str | None = None) -> None:
    """One variant: compiled, loaded, (checked,) timed, one line printed."""
    region, _, numbers = spec.partition(":")
    tune_workgroups.few_token_configs = patched(None if spec == "heuristic" else (region, [int(x) for x in numbers.split("/")]))
    start = time.perf_counter()
    model, art = compile_synthetic(device, shape, use_cache=False, target=target)
    rt = ModelRuntime(art.schedule, art.wgsl, art.runtime_weights(model.weights), 512, device)
    if checked:
        check(rt)
    rt.prefill(prompt, 0)
    walls = [median_seconds(lambda k=k: rt.verify(prompt[:k], 256), 21) for k in VERIFY_TOKENS] + [
        median_seconds(lambda: rt.decode(7, 256), 21)
    ]
    kernels = {}
    for tokens in VERIFY_TOKENS:
        table = _profile_table(rt.profile_step("verify", prompt[:tokens], 256) or [], 1.0)
        kernels[tokens] = {k["kernel"]: round(1e6 * k["seconds"] / k["dispatches"], 1) for k in (table or {"kernels": []})["kernels"][:8]}
    verify = ", ".join(f"{k} {1e3 * w:.3f}" for k, w in zip(VERIFY_TOKENS, walls))
    profiles = " | ".join(f"{t} tokens {kernels[t]}" for t in VERIFY_TOKENS)
    print(
        f"[{spec}] ({time.perf_counter() - start:.0f} s) wall ms: verify {verify}, decode {1e3 * walls[-1]:.3f} | µs, {profiles}",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("variants", nargs="+", help="'heuristic' or KIND:ROWS/R/SPLIT/INVOCATIONS[/UNROLL[/TOKENS[/PREQUANTIZE]]]")
    p.add_argument("--shape", default="llama3-8b")
    p.add_argument("--check", action="store_true", help="each variant's verification logits against one-token steps")
    p.add_argument("--target", help="compile for this target instead of the adapter's (e.g. nvidia on llvmpipe, with --check)")
    a = p.parse_args()
    device = Device()
    prompt = np.random.default_rng(0).integers(3, 30000, 256).astype(np.int32)
    for spec in a.variants:
        run(device, a.shape, prompt, spec, a.check, a.target)
        gc.collect()


if __name__ == "__main__":
    main()
