"""The pass registry's standing rules, and plugin discovery through entry points."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from rusty_ir.passes import PASSES
from rusty_ir.pipeline import option_docs, pass_summary
from rusty_ir.registry import PLUGIN_GROUP, build_registry

ROOT = Path(__file__).resolve().parents[2]


def test_registry_is_alphabetical_and_names_match():
    assert list(PASSES) == sorted(PASSES)
    for name, factory in PASSES.items():
        assert factory().name == name


@pytest.mark.parametrize("name", sorted(PASSES))
def test_every_pass_is_documented_and_lit_tested(name: str):
    cls = PASSES[name]()
    assert pass_summary(cls), f"pass {name} has no docstring"
    for opt in option_docs(cls):
        assert opt.doc, f"option {opt.name} of pass {name} has no docstring"
    assert (ROOT / "lit_tests" / "passes" / f"{name}.mlir").is_file(), f"pass {name} has no lit test"


def test_every_upstream_pass_resolves():
    reg = build_registry()
    for name, origin in reg.pass_origin.items():
        assert reg.pass_class(name).name == name, origin


def test_option_docs_read_field_docstrings():
    sys.path.insert(0, str(ROOT / "docs" / "plugin_example"))
    try:
        from rusty_hello import HelloStrengthReducePass
    finally:
        sys.path.pop(0)
    (opt,) = option_docs(HelloStrengthReducePass)
    assert (opt.name, opt.default) == ("max-shift", "31")
    assert opt.doc.startswith("Largest shift amount")
    assert [f.name for f in dataclasses.fields(HelloStrengthReducePass)] == ["max_shift"]


def test_entry_point_plugin_is_found(tmp_path: Path):
    """A package that declares the entry point is picked up by the tools, with no flag."""
    dist = tmp_path / "rusty_hello-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rusty-hello\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[{PLUGIN_GROUP}]\nhello = rusty_hello\n")
    (tmp_path / "rusty_hello").symlink_to(ROOT / "docs" / "plugin_example" / "rusty_hello")
    env_path = f"{tmp_path}"
    out = subprocess.run(
        [sys.executable, "-m", "rusty_ir.tools.rusty_opt", "--list-passes"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert "hello-strength-reduce  [plugin 'hello']" in out.stdout


def test_a_broken_installed_plugin_is_skipped_with_a_warning(tmp_path: Path):
    """A package whose entry point fails to import no longer breaks every command: the tools warn once and go
    on; a pipeline that names a pass it would have given fails on that pass, saying why."""
    dist = tmp_path / "rusty_broken-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rusty-broken\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[{PLUGIN_GROUP}]\nbroken = rusty_broken\n")
    (tmp_path / "rusty_broken.py").write_text("raise ImportError('needs libfoo')\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    tool = [sys.executable, "-m", "rusty_ir.tools.rusty_opt"]
    listed = subprocess.run([*tool, "--list-passes"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "convert-transformer-to-tensor" in listed.stdout
    assert (
        listed.stderr.count("\n") == 1
        and "plugin 'broken' (rusty_broken) failed to load and is skipped: ImportError: needs libfoo" in listed.stderr
    )
    named = subprocess.run([*tool, "-", "-p", "broken-pass"], input="", capture_output=True, text=True, env=env)
    assert named.returncode == 1 and "Traceback" not in named.stderr
    assert "unknown pass 'broken-pass'" in named.stderr and "plugin 'broken' failed to load (ImportError: needs libfoo)" in named.stderr
