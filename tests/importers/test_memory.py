"""Importing SmolLM2 must not read the weights: peak RSS growth stays well under the file size."""

from __future__ import annotations

import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys
import numpy, tokenizers, gguf, jinja2  # libraries are not the import's cost
import rusty_ir.importers, rusty_ir.importers.gguf, rusty_ir.importers.tokenizer
from rusty_ir.importers import default_model_path, load_model
path = default_model_path()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m = load_model(path)
ids = m.tokenizer.encode("The capital of France is")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": after - before, "peak_kib": after, "file_bytes": path.stat().st_size,
                  "tensors": len(m.weights), "weight_bytes": m.weights.nbytes}))
"""


def test_import_peak_rss_is_well_under_file_size(smollm2_path):
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    growth = r["growth_kib"] * 1024
    print(
        f"\nimport of {r['file_bytes'] / 2**20:.1f} MiB GGUF ({r['tensors']} tensors, {r['weight_bytes'] / 2**20:.1f} MiB of weights): "
        f"peak RSS growth {growth / 2**20:.1f} MiB ({growth / r['file_bytes']:.0%} of the file), peak RSS {r['peak_kib'] / 1024:.1f} MiB"
    )
    assert growth < 0.6 * r["file_bytes"]
