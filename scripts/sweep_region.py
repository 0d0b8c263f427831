"""Time one dispatch region of a real model under several lowering configs, on the GPU (a kernel-design probe).

    python scripts/sweep_region.py MODEL --region LABEL [--tokens 512] [--decode] [--rounds 2] [--config CONFIG ...]
    python scripts/sweep_region.py MODEL --region LABEL[,LABEL...] --few 2,5,8 [--per-workgroup 1,2,4 --math dp4a,f32]

MODEL is a checkpoint or ``synthetic:SHAPE`` (``rusty_ir.synthetic``, Q4_0). The model is lowered to the stage
'merged'; the region labelled ``--region`` (``rusty compile --dump-after merged`` shows the labels, e.g.
``contraction_5`` for Llama's gate+up) is outlined as the tuner does (``rusty_ir.tuning.RegionBenchmark``) and
timed on ``--tokens`` tokens (``--decode``: one token at position ``--tokens``) with random inputs, every argument
copy writing the same outputs (dependent dispatches, as in a model): the heuristic's config and each ``--config``
(a ``#dispatch.lowering_config<...>``), in ``--rounds`` rounds over all of them. One line per config: the best
round's median ms, TFLOP/s of the region's multiply-adds, bytes of its arguments per second, its workgroups, and
the largest difference from the heuristic's outputs.

``--few N,...`` times speculative decoding's verification steps instead: steps of N tokens through a contraction
region's single-token version (the gemv) alone, the heuristic's and its variants with ``workgroup_tile[0]`` tokens
per workgroup (``--per-workgroup``), each ``--rows`` and ``--math``, then each ``--config``: the weights are read once
per workgroup, so more tokens per workgroup read them fewer times, against more registers and, with dp4a, more
workgroup memory. Each line gives the largest difference from the first variant's outputs at that step size.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from rusty_ir.bench import profiling_device
from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.driver import CompileOptions
from rusty_ir.errors import RustyError
from rusty_ir.importers import load_model
from rusty_ir.importers.to_ir import build_module
from rusty_ir.passes.dispatch.analysis import Kind, kind
from rusty_ir.passes.tuning.generic import default_configs
from rusty_ir.passes.tuning.signature import parse_config
from rusty_ir.pipeline import build_pipeline
from rusty_ir.registry import build_registry
from rusty_ir.synthetic import synthetic_model_path
from rusty_ir.targets import TARGETS, target_for_adapter
from rusty_ir.tuning import BufferArg, DeviceRunner, HostScalars, RegionBenchmark, TimedStep, region_ops


def merged_module(path: str, target: str) -> ModuleOp:
    """The model's IR at the stage 'merged' (regions formed, no configs yet): the compile's own stages for
    ``target`` (``CompileOptions.stages``) up to there."""
    model = load_model(path)
    module = build_module(model.config, model.weights)
    registry = build_registry()
    ctx = registry.context()
    for stage, spec in CompileOptions.for_target(target).stages:
        build_pipeline(registry, spec).apply(ctx, module)
        if stage == "merged":
            return module
    raise AssertionError("no stage 'merged'")


def macs(region: RegionOp, tokens: int) -> int:
    """Multiply-adds of the region's contractions at ``tokens`` tokens (K x N per token each)."""
    total = 0
    for op in region_ops(region):
        if kind(op) is Kind.CONTRACTION:
            k = op.inputs[0].type.get_shape()[-1]
            total += tokens * k * sum(r.type.get_shape()[-1] for r in op.results)
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--config", action="append", default=[], help="a config to time after the heuristic's (repeatable)")
    ap.add_argument("--region", required=True, help="the region's label (rusty compile --dump-after merged shows them)")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--decode", action="store_true", help="time one token at position --tokens instead")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per round (their median)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds over every config (the best round's median is kept)")
    ap.add_argument("--few", help="verification steps of these token counts through the gemv alone (comma-separated)")
    ap.add_argument("--per-workgroup", default="1,2,4,8", help="--few: tokens per workgroup of the variants")
    ap.add_argument("--math", default="dp4a,f32", help="--few: the variants' math")
    ap.add_argument("--rows", default="2,4", help="--few: the variants' rows per invocation (thread_tile)")
    args = ap.parse_args()
    device = profiling_device()
    target = TARGETS[target_for_adapter(device.info)]
    path = args.model
    if path.startswith("synthetic:"):
        path = str(synthetic_model_path(path.split(":", 1)[1], "q4_0")[0])
    module = merged_module(path, target.name)
    host = HostScalars(module)
    if args.few:
        return sweep_few(module, host, target, args)
    step = TimedStep("decode", 1, args.tokens) if args.decode else TimedStep("prefill", args.tokens, 0)
    runner = DeviceRunner(device, args.repeats)
    seen: set[str] = set()
    for region in [op for op in module.walk() if isinstance(op, RegionOp)]:
        if region.label.data != args.region or region.label.data in seen:
            continue
        seen.add(region.label.data)
        ops = region_ops(region)
        config, single = default_configs(ops, target)
        bench = RegionBenchmark(region, target)
        if args.decode and single is None:  # a region without a single-token config runs its config on one token
            single, config = config, None
        first = single if args.decode else config
        candidates = [first] + [parse_config(c) for c in args.config]
        flops = 2 * macs(region, step.tokens)
        print(f"region {region.label.data}: {step.name}, {step.tokens} tokens, {flops / 1e9:.1f} GFLOP", flush=True)
        uploads = None
        built = []  # (config, runs, lowered)
        for cand in candidates:
            try:
                lowered = bench.lower(config, cand) if args.decode and config is not None else bench.lower(cand, single)
                shapes = bench.step_args(step, host, args.tokens + 1, lowered)
                outs = range(len(shapes) - len(region.outputs), len(shapes))
                if uploads is None:
                    uploads = runner.upload(shapes, np.random.default_rng(0), runner.copies_for(shapes))
                    for values in uploads[1:]:  # one out-buffer for every copy: the runs are dependent, as in a model
                        for i in outs:
                            values[i] = uploads[0][i]
                pipelines = runner.build(lowered)
                built.append((cand, [runner.dispatches(lowered, pipelines, values, shapes) for values in uploads], shapes))
            except RustyError as err:
                print(f"  refused: {str(err).splitlines()[0]}  {cand}", flush=True)
        best = [math.inf] * len(built)
        for _ in range(args.rounds):  # rounds over every config: a config timed first is not favoured or penalized
            for i, (_, runs, _) in enumerate(built):
                best[i] = min(best[i], runner.time(runs))
        reference = None
        for seconds, (cand, runs, shapes) in zip(best, built):
            runner.device.run(runs[0])
            got = runner.read(uploads[0], shapes, range(len(shapes) - len(region.outputs), len(shapes)))
            reference = reference or got
            err = max(float(np.max(np.abs(g.astype(np.float64) - r)) / (float(np.max(np.abs(r))) or 1.0)) for g, r in zip(got, reference))
            moved = sum(a.nbytes for a in shapes if isinstance(a, BufferArg))
            print(
                f"  {seconds * 1e3:8.3f} ms  {flops / seconds / 1e12:6.2f} TFLOP/s  {moved / seconds / 1e9:7.1f} GB/s of arguments  "
                f"grid {[d[1] for d in runs[0]]}  err {err:.1e}  {cand}",
                flush=True,
            )
    if not seen:
        print(f"no region matches '{args.region}'", file=sys.stderr)
        return 1
    return 0


def sweep_few(module: ModuleOp, host: HostScalars, target, args: argparse.Namespace) -> int:
    """``--few``: per region and step size, the heuristic's gemv and its variants (module docstring)."""
    device = profiling_device()
    runner = DeviceRunner(device, args.repeats)
    labels = args.region.split(",")
    regions = {r.label.data: r for r in module.walk() if isinstance(r, RegionOp) and r.label.data in labels}
    for label in labels:
        if label not in regions:
            print(f"no region matches '{label}'", file=sys.stderr)
            return 1
        region = regions[label]
        _, single = default_configs(region_ops(region), target)
        if single is None or single.strategy != "gemv":
            print(f"region {label} has no gemv version", file=sys.stderr)
            return 1
        bench = RegionBenchmark(region, target)
        groups = single.config.workgroup_tile[1] // single.config.thread_tile[0]
        variants = [single] + [
            single.replace(workgroup_tile=[t, groups * r], thread_tile=[r], math=m)
            for m in args.math.split(",")
            for t in map(int, args.per_workgroup.split(","))
            for r in map(int, args.rows.split(","))
        ]
        variants = list(dict.fromkeys(variants + [parse_config(c) for c in args.config]))
        uploads: dict[int, list] = {}  # per step size: the argument copies, shared by the variants
        reference: dict[int, list] = {}  # per step size: the first variant's outputs
        for cand in variants:
            try:
                lowered = bench.lower(cand)
                pipelines = runner.build(lowered)
            except RustyError as err:
                print(f"  {label}: refused: {str(err).splitlines()[0]}  {cand}", flush=True)
                continue
            for tokens in map(int, args.few.split(",")):
                shapes = bench.step_args(TimedStep("verify", tokens, 0), host, tokens + 1, lowered)
                if tokens not in uploads:
                    uploads[tokens] = runner.upload(shapes, np.random.default_rng(0), runner.copies_for(shapes))
                runs = [runner.dispatches(lowered, pipelines, v, shapes) for v in uploads[tokens]]
                seconds = min(runner.time(runs) for _ in range(args.rounds))
                runner.device.run(runs[0])
                got = runner.read(uploads[tokens][0], shapes, range(len(shapes) - len(region.outputs), len(shapes)))
                ref = reference.setdefault(tokens, got)
                err = max(float(np.max(np.abs(g.astype(np.float64) - r)) / (float(np.max(np.abs(r))) or 1.0)) for g, r in zip(got, ref))
                grid = [d[1] for d in runs[0]]
                print(f"  {label} {tokens} tokens: {seconds * 1e6:8.1f} us  err {err:.1e}  grid {grid}  {cand}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
