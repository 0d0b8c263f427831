"""Does a 7-8B model fit in 6 GB where device memory is host memory? (a benchmark, not a test)

    python scripts/fit_in_6gb.py [--workdir DIR] [--configs llama3-8b:f16:0 ...] [--context-length 4096]

For each configuration SHAPE:KV_CACHE:KV_BLOCK_SIZE (a synthetic Q4_0 checkpoint of that shape,
``rusty_ir.synthetic``), compiles it (`rusty compile -o`), then runs `rusty run --compiled --json`
for two new tokens in a fresh process and prints its peak RSS, its RSS after generating (the steady
state), and the device bytes it allocated. Each run's JSON report is kept in the work folder.
On Mesa's llvmpipe (software Vulkan) GPU buffers are host memory, so the peak RSS is the whole
footprint, as on an Apple laptop. KV_BLOCK_SIZE 0 is a contiguous cache: every layer's K and V
are allocated (and zero-filled) for the whole context at load, so the run pays for a full context
even though it generates two tokens; a paged cache (e.g. 16) holds only the positions used.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_CONFIGS = ("llama3-8b:f16:0", "llama3-8b:q8_0:0", "llama2-7b:q8_0:0", "llama2-7b:f16:0", "llama3-8b:f32:16")
GIB = 1 << 30


def rusty(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rusty_ir.tools.rusty", *args], capture_output=True, text=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=None, help="where checkpoints and compiled folders go (default: a temp dir)")
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), metavar="SHAPE:KV:BLOCK")
    parser.add_argument("--context-length", type=int, default=4096)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="rusty-6gb-"))
    work.mkdir(parents=True, exist_ok=True)

    from rusty_ir.synthetic import write_synthetic_gguf

    print(f"{'config':<20} {'peak RSS':>9} {'end RSS':>8} {'weights':>8} {'KV cache':>9} {'slots':>7} {'prefill':>8} {'decode':>9}")
    for config in args.configs:
        shape, kv, block = config.split(":")
        gguf = work / f"{shape}-q4_0.gguf"
        if not gguf.exists():
            write_synthetic_gguf(shape, "q4_0", gguf)
        compiled = work / f"{shape}-{kv}-{block}"
        rusty("compile", str(gguf), "-o", str(compiled), "-q", "--kv-cache", kv, "--kv-block-size", block)
        run = rusty("run", str(gguf), "--compiled", str(compiled), "--no-chat", "--prompt", "hello", "--max-tokens", "2",
                    "--ignore-eos", "--context-length", str(args.context_length), "--json")  # fmt: skip
        (work / f"{config.replace(':', '-')}.json").write_text(run.stdout)
        report = json.loads(run.stdout)
        memory, timings = report["compile"]["memory"], report["timings"]
        print(f"{config:<20} {report['host_peak_rss_bytes'] / GIB:>7.2f} G {report['host_rss_bytes'] / GIB:>6.2f} G {memory['weights'] / GIB:>6.2f} G "
              f"{memory['kv_cache'] / GIB:>7.2f} G {memory['slots'] / GIB:>5.2f} G {timings['prefill_s']:>7.1f}s "
              f"{timings['decode_s'] / max(1, timings['decode_tokens']):>7.1f}s/t", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
