"""Time the fusion bench's GEMM case (``rusty bench --fusion``, GELU(x W^T + bias), f16 weights) under several
``gemm`` lowering configs, to choose the heuristic's tiles on a GPU (docs/notes/kernel-lab.md).

    python scripts/sweep_gemm.py [--shape 4096x4096x4096] [--repeats 10] [CONFIG ...]

Each CONFIG is a ``#dispatch.lowering_config<gemm, ...>`` (default: a list around the heuristic's). Every
variant is compiled through the default pipeline with its config in place of the heuristic's, timed with GPU
timestamps after a spin-up, and checked against numpy; one line per config: ms, TFLOP/s, max relative error.
"""

from __future__ import annotations

import argparse
import sys

from rusty_ir.bench import profiling_device
from rusty_ir.bench.fusion import run_variant
from rusty_ir.bench.fusion_cases import build_case
from rusty_ir.bench.fusion_options import FusionOptions, parse_shape
from rusty_ir.passes.tuning import generic
from rusty_ir.passes.tuning.signature import parse_config
from rusty_ir.targets import target_for_adapter


def _gemm(tile: tuple[int, int], thread: tuple[int, int], bk: int, depth: int = 2, math: str = "f16") -> str:
    threads = (tile[0] // thread[0]) * (tile[1] // thread[1])
    return (f"#dispatch.lowering_config<gemm, workgroup = [{threads}, 1, 1], workgroup_tile = [{tile[0]}, {tile[1]}], "
            f"thread_tile = [{thread[0]}, {thread[1]}], reduction_tile = {bk}, pipeline_depth = {depth}, math = {math}>")  # fmt: skip


DEFAULT_CONFIGS = [
    _gemm((128, 128), (8, 8), 64),
    _gemm((128, 128), (8, 8), 32),
    _gemm((128, 128), (8, 8), 16),
    _gemm((128, 128), (8, 8), 64, depth=1),
    _gemm((128, 128), (8, 8), 32, math="f32"),
    _gemm((128, 64), (8, 4), 64),
    _gemm((64, 128), (4, 8), 64),
    _gemm((128, 128), (8, 4), 64),
    _gemm((128, 128), (4, 8), 64),
    _gemm((256, 64), (8, 4), 64),
    _gemm((64, 256), (4, 8), 64),
    _gemm((128, 256), (8, 16), 32),
    _gemm((256, 128), (16, 8), 32),
    _gemm((64, 64), (4, 4), 64),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", default=DEFAULT_CONFIGS)
    ap.add_argument("--shape", default="4096x4096x4096", help="M x K x N of the GEMM")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--target", help="target description (default: the adapter's)")
    args = ap.parse_args()
    opts = FusionOptions(cases=("gemm",), gemm=parse_shape(args.shape, "--shape"), repeats=args.repeats, warmup=2)
    device = profiling_device()
    target = args.target or target_for_adapter(device.info)
    case = build_case("gemm", opts)
    reference = case.reference()
    m, k, n = opts.gemm
    print(f"gemm {m}x{k}x{n}, target {target}", flush=True)
    for text in args.configs:
        config = parse_config(text)
        generic.gemm_config = lambda root, target, ops=(), config=config: config  # the heuristic's choice, replaced
        try:
            r = run_variant(device, case, True, target, opts, "timestamp-query" in device.features, reference, None)
        except Exception as err:  # a config that does not lower or run is reported and skipped
            print(f"{text}\n    failed: {str(err).splitlines()[0]}", flush=True)
            continue
        tflops = 2 * m * k * n / r["seconds"] / 1e12
        print(
            f"{text}\n    {r['seconds'] * 1e3:.3f} ms  {tflops:.2f} TFLOP/s  max rel err {r['correctness']['max_rel_err']:.2g}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
