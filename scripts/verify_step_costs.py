"""Issue 15's probe of one build: what decode and verification steps of a synthetic shape cost on this adapter.

1. A check first: the wgpu runtime's verification logits of 6 tokens against the reference interpreter's on the
   ``--check-shape`` synthetic model (max relative error per row, and whether the argmaxes agree).
2. Wall time of synchronous steps of ``--shape``: a decode step, greedy and sampled (``decode_sample``), and
   verification steps of 2, 3, 5 and 8 tokens after a 256-token prompt (medians of 15), greedy (``verify``) and
   sampled (``verify_sample``: every row drawn on the GPU); sampling at temperature 0.7, top-p 0.9.
3. GPU time per kernel (``ModelRuntime.profile_step``: a timestamp query around every dispatch, which adds a few µs
   to each) of a decode step, greedy and sampled, and a 5-token verification step, summed per kernel name over the
   layers.

    python scripts/verify_step_costs.py [--shape llama3-8b] [--check-shape smollm2-135m] [--label NAME]
                                        [--one-workgroup-sampling]

``--one-workgroup-sampling`` compiles the sampling regions with one workgroup a row (``split = 0``) instead of the
tuning's split schedule (passes/codegen/split_sampling.py), bypassing the compile cache: the A/B of the two.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import compile_synthetic, median_seconds

import rusty_ir
from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.bench.measure import _profile_table
from rusty_ir.sampling import Sampler, SamplingParams
from rusty_ir.synthetic import synthetic_model_path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="llama3-8b")
    p.add_argument("--check-shape", default="smollm2-135m", help="'none' skips the check")
    p.add_argument("--label", default="", help="a prefix for every line (which build)")
    p.add_argument("--one-workgroup-sampling", action="store_true", help="sampling regions get split = 0 (not cached)")
    a = p.parse_args()
    tag = f"[{a.label}] " if a.label else ""
    if a.check_shape != "none":
        path, _ = synthetic_model_path(a.check_shape, "q4_0", 0, None, None)
        ref = rusty_ir.load(str(path), backend="reference", speculate="lookup", context_length=64)
        gpu = rusty_ir.load(str(path), backend="wgpu", speculate="lookup", context_length=64)
        ids = np.arange(100, 106, dtype=np.int32)
        want, got = ref.backend.verify_logits(ids, 0), gpu.backend.verify_logits(ids, 0)
        err = np.abs(want - got).max(axis=1) / np.abs(want).max(axis=1)
        print(f"{tag}{a.check_shape} verify logits: max rel err per row {np.round(err, 4).tolist()}, "
              f"argmax agree {(want.argmax(1) == got.argmax(1)).tolist()}", flush=True)  # fmt: skip
        del ref, gpu
    device = Device()
    if a.one_workgroup_sampling:
        import rusty_ir.passes.tuning.generic as heuristics

        heuristics.sample_split = lambda vocab, threads: 0
    model, art = compile_synthetic(device, a.shape, use_cache=not a.one_workgroup_sampling, sampling=True)
    rt = ModelRuntime(art.schedule, art.wgsl, art.runtime_weights(model.weights), 512, device)
    prompt = np.random.default_rng(0).integers(3, 30000, 256).astype(np.int32)
    rt.prefill(prompt, 0)
    words = Sampler(SamplingParams(temperature=0.7, top_p=0.9, seed=0)).ahead(prompt[1:8])
    walls = [f"decode {1e3 * median_seconds(lambda: rt.decode(7, 256), 15):.3f}",
             f"decode_sample {1e3 * median_seconds(lambda: rt.decode_sample(7, 256, words[0]), 15):.3f}"]  # fmt: skip
    walls += [f"verify{k} {1e3 * median_seconds(lambda k=k: rt.verify(prompt[:k], 256), 15):.3f}" for k in (2, 3, 5, 8)]
    walls += [f"verify_sample{k} {1e3 * median_seconds(lambda k=k: rt.verify_sample(prompt[:k], 256, words[:k]), 15):.3f}"
              for k in (2, 3, 5, 8)]  # fmt: skip
    print(f"{tag}wall ms: {', '.join(walls)}", flush=True)
    rt.decode_sample(7, 256, words[0])  # its words written for the profile
    for name, entry, tokens in (
        ("decode", "decode", prompt[:1]),
        ("decode_sample", "decode_sample", prompt[:1]),
        ("verify5", "verify", prompt[:5]),
    ):
        start = time.perf_counter()
        rows = rt.profile_step(entry, tokens, 256)
        table = _profile_table(rows, time.perf_counter() - start)
        if table is None:
            print("no timestamp queries on this adapter")
            return
        print(f"{tag}{name}: {table['dispatches']} dispatches, GPU sum {1e3 * table['gpu_seconds']:.3f} ms")
        for k in table["kernels"][:14]:
            each = 1e6 * k["seconds"] / k["dispatches"]
            print(f"    {k['kernel']:40s} n={k['dispatches']:3d} {1e3 * k['seconds']:7.3f} ms  ({each:6.1f} us each)")


if __name__ == "__main__":
    main()
