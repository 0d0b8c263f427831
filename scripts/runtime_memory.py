"""The runtime's own host memory: what importing it and opening the GPU cost, and the peak RSS of
`rusty run --compiled` (no compiler) on a tiny random model and on SmolLM2 (a benchmark, not a test).

    python scripts/runtime_memory.py [--workdir DIR]

Prints, in MiB of resident memory: the interpreter; the runtime's imports (numpy, wgpu, tokenizers,
rusty_ir's runtime modules: no xDSL); the wgpu device (on Mesa's llvmpipe that is the software GPU
driver); then one `rusty run --compiled --json` per model in a fresh process: its peak RSS, the
device bytes it allocated (weights, KV cache, activations), and the difference. On llvmpipe device
memory is host memory, so the device bytes are part of the peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PHASES = """
def rss():
    return next(int(l.split()[1]) // 1024 for l in open("/proc/self/status") if l.startswith("VmRSS"))
print(json.dumps({"interpreter": rss()}))
import numpy, wgpu, tokenizers
from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.importers import load_model
print(json.dumps({"runtime imports": rss(), "xdsl imported": "xdsl" in sys.modules}))
Device()
print(json.dumps({"wgpu device": rss()}))
"""


def rusty(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rusty_ir.tools.rusty", *args], capture_output=True, text=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=None, help="where the tiny model and compiled folders go (default: a temp dir)")
    work = Path(parser.parse_args().workdir or tempfile.mkdtemp(prefix="rusty-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    for line in subprocess.run(
        [sys.executable, "-c", "import json, sys\n" + PHASES], capture_output=True, text=True, check=True
    ).stdout.splitlines():
        print("  " + ", ".join(f"{k}: {v}" + (" MiB" if type(v) is int else "") for k, v in json.loads(line).items()))

    from rusty_ir.synthetic import write_synthetic_gguf

    tiny = write_synthetic_gguf("test-tiny", "q4_0", work / "tiny.gguf")
    for name, model in (("tiny (2 layers, 64 wide)", str(tiny)), ("SmolLM2-135M Q4_1", None)):
        folder = work / f"compiled-{'tiny' if model else 'smollm2'}"
        rusty("compile", *([model] if model else []), "-q", "-o", str(folder))
        r = json.loads(rusty("run", *([model, "--no-chat"] if model else []), "--compiled", str(folder), "--json", "-q",
                             "--max-tokens", "8", "--context-length", "256").stdout)  # fmt: skip
        peak, device = r["host_peak_rss_bytes"] / 2**20, r["compile"]["memory"]["total"] / 2**20
        print(
            f"  {name}: peak RSS {peak:.1f} MiB, device allocations {device:.1f} MiB, peak minus device {peak - device:.1f} MiB, "
            f"compiler imported: {r['compiler_imported']}"
        )


if __name__ == "__main__":
    main()
