"""`rusty compile --target msl` and `rusty-translate --to-msl` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def tool(module: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600, input=stdin, check=False)


def test_compile_target_msl_writes_metal_kernels_and_schedule(tmp_path: Path) -> None:
    out = tmp_path / "smollm2-msl"
    r = tool("rusty_ir.tools.rusty", "compile", "--target", "msl", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["kernels.metal", "manifest.json", "schedule.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["language"] == "msl" and manifest["options"]["target"] == "apple"
    assert "attach-target{target=apple}" in manifest["pipeline"]
    metal = (out / "kernels.metal").read_text()
    assert metal.count("kernel void ") == manifest["kernels"] == len(json.loads((out / "schedule.json").read_text())["kernels"])
    assert "kernels.metal" in r.stderr


def test_bad_target_and_bad_combination_are_clear_errors(tmp_path: Path) -> None:
    r = tool("rusty_ir.tools.rusty", "compile", "-q", "--target", "metal", "-o", str(tmp_path / "x"))
    assert r.returncode == 1 and "unknown target 'metal' (known: webgpu, apple, nvidia, msl)" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x").exists()
    check = "from rusty_ir.driver import CompileOptions\ntry:\n CompileOptions(target='nvidia', language='msl')\nexcept Exception as e:\n print(e)"
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False)
    assert "MSL kernels run on Apple GPUs and are tuned for the 'apple' target, not 'nvidia'" in r.stdout
