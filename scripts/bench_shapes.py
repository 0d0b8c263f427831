"""Run ``rusty bench`` on the synthetic shapes of issue 12 and print one table (the GPU machine's main job).

    python scripts/bench_shapes.py --out DIR [--shapes smollm2-135m,tinyllama-1.1b,llama3-8b] [--decode-tokens 128]

Each shape: ``rusty bench --synthetic SHAPE --quantize q4_0 --prompt-tokens 512 --max-tokens N --repeats R
--warmup 1 --profile --json`` in its own process (its report in DIR/SHAPE.json), then a table of tokens/s,
GPU ms per step and the five slowest kernels of each step.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shapes", default="smollm2-135m,tinyllama-1.1b,llama3-8b")
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--extra", default="", help="more rusty bench arguments")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for shape in args.shapes.split(","):
        cmd = ["rusty", "bench", "--synthetic", shape, "--quantize", "q4_0", "--prompt-tokens", "512", "--max-tokens",
               str(args.decode_tokens), "--repeats", str(args.repeats), "--warmup", "1", "--profile", "--json", *args.extra.split()]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        (args.out / f"{shape}.json").write_text(run.stdout)
        (args.out / f"{shape}.err").write_text(run.stderr)
        try:
            report = json.loads(run.stdout)
        except json.JSONDecodeError:
            print(f"{shape}: rusty bench failed (exit {run.returncode}): {run.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        rows.append((shape, report))
        print(f"{shape}: done", flush=True)
    for shape, r in rows:
        check = r.get("correctness", {})
        print(f"\n{shape}: prefill {r['prefill_tokens_per_s']:.0f} tok/s, decode {r['decode_tokens_per_s']:.1f} tok/s, "
              f"{r.get('dispatches_per_token')} dispatches/token, guard {check.get('max_rel_err')} {check.get('passed')}")  # fmt: skip
        for step in ("prefill", "decode"):
            p = r.get("profile", {}).get(step) or {}
            kernels = ", ".join(f"{k['kernel']} {k['seconds'] * 1e3:.2f}" for k in p.get("kernels", [])[:6])
            print(f"  {step}: GPU {p.get('gpu_seconds', 0) * 1e3:.2f} ms: {kernels}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
