"""Peak resident memory of `rusty import` against the size of the checkpoint it reads.

Runs ``rusty import MODEL -o <tmp>`` (default MODEL: the bundled SmolLM2 GGUF) in a child
process and reports the child's peak RSS (``ru_maxrss`` of the finished child), next to the
RSS of a child that only imports the same libraries (Python + xDSL + numpy + tokenizers ...),
so the difference is what importing the model costs. The weights are memory-mapped and never
read by `rusty import`, so that difference should be a small fraction of the file.

    python scripts/bench_import_memory.py [MODEL] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_BASELINE = (
    "import numpy, tokenizers, gguf, jinja2, xdsl.dialects.builtin\n"
    "import rusty_ir.importers, rusty_ir.importers.gguf, rusty_ir.importers.tokenizer, rusty_ir.importers.to_ir\n"
    "import rusty_ir.tools.rusty, rusty_ir.ir\n"
)


def _child_peak_kib(argv: list[str]) -> int:
    """Run ``argv`` in a fresh child (its own wait4 rusage) and return its peak RSS in KiB."""
    wrapper = (
        "import os, resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="checkpoint (default: bundled SmolLM2 GGUF)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    from rusty_ir.importers import default_model_path

    model = Path(args.model) if args.model else default_model_path()
    size = sum(f.stat().st_size for f in model.rglob("*") if f.is_file()) if model.is_dir() else model.stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.mlir"
        peak = _child_peak_kib([sys.executable, "-m", "rusty_ir.tools.rusty", "import", "-q", str(model), "-o", str(out)])
        ir_bytes = out.stat().st_size
    baseline = _child_peak_kib([sys.executable, "-c", _BASELINE])
    report = {
        "model": str(model),
        "file_mib": round(size / 2**20, 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "baseline_rss_mib": round(baseline / 1024, 1),
        "import_cost_mib": round((peak - baseline) / 1024, 1),
        "import_cost_share_of_file": round((peak - baseline) * 1024 / size, 3),
        "ir_kib": round(ir_bytes / 1024, 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"rusty import {model.name}: file {report['file_mib']} MiB, peak RSS {report['peak_rss_mib']} MiB "
            f"(libraries alone {report['baseline_rss_mib']} MiB, so the import itself costs "
            f"{report['import_cost_mib']} MiB = {report['import_cost_share_of_file']:.0%} of the file); "
            f"IR text {report['ir_kib']} KiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
