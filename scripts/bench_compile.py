"""Compile-time benchmark: a cold `rusty run` (empty cache) against a cached one.

Runs `rusty run --json --max-tokens 1` twice in fresh processes with a private cache
folder, and prints the compile seconds, cache hits and wall time to the first token of each.
Usage: python scripts/bench_compile.py [MODEL]   (no MODEL: the bundled SmolLM2-135M-Instruct)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def run_once(model: list[str], cache: str) -> dict:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "rusty_ir.tools.rusty", "run", *model, "--json", "--max-tokens", "1", "--prompt", "Hi"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "RUSTY_CACHE_DIR": cache},
    )
    wall = time.perf_counter() - start
    report = json.loads(out.stdout)
    return {
        "wall_s": round(wall, 2),
        "compile_s": report["compile"]["compile_seconds"],
        "cache_hit": report["compile"]["cache_hit"],
        "load_s": report["compile"]["load_seconds"],
        "time_to_first_token_s": round(report["timings"]["time_to_first_token_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a .gguf or .safetensors checkpoint (default: the bundled model)")
    model = [m for m in [parser.parse_args().model] if m]
    with tempfile.TemporaryDirectory() as cache:
        cold = run_once(model, cache)
        warm = run_once(model, cache)
    print(json.dumps({"cold": cold, "cached": warm}, indent=2))


if __name__ == "__main__":
    main()
