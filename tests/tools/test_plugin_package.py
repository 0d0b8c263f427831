"""Plugins in the real pipeline (issue 17): an outside package, installed in the test, joins `rusty compile`.

tests/plugins/rusty-demo-passes is the package of docs/plugins.md's tutorial: a transformer-level pass
(demo-clamp-epsilon) and a kernel-level one (demo-reciprocal-div), found through its `rusty_ir.plugins`
entry point once pip has installed it into a folder on the path. One compile of a tiny f32 model (about 5 s:
the pipeline's cost hardly shrinks with the model) checks the generated kernels; everything else here
needs no compile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rusty_ir.driver import CompileOptions, cache_key, check_pipeline, installed_plugins
from rusty_ir.errors import RustyError
from rusty_ir.pipeline import build_pipeline, nested_pass_class

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tests" / "plugins" / "rusty-demo-passes"
TOOLS = {"rusty": ["-m", "rusty_ir.tools.rusty"], "lit": ["-c", "import sys; from lit.main import main; sys.exit(main())"]}


def _install(source: Path, work: Path) -> Path:
    """``pip install`` of a copy of ``source`` (the build writes build/ and *.egg-info beside the sources) into a
    folder of its own, which goes on PYTHONPATH / sys.path: the package, its dist-info and entry point."""
    copy = work / "src"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "Output"))
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check", "--target", str(target), str(copy)], check=True, capture_output=True)  # fmt: skip
    return target


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _install(PACKAGE, tmp_path_factory.mktemp("demo-plugin"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    cfg = tiny_config("llama")
    assert cfg.rms_eps == 1e-6  # what demo-clamp-epsilon{min=1.0e-5} raises below
    weights = random_weights(cfg, seed=3)  # f32 (no quantized loads to lower): half the compile time of q8_0
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf", cfg, weights, types=dict.fromkeys(weights, "f32"))


def _run(tool: str, *args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site) if site else ""}
    return subprocess.run([sys.executable, *TOOLS[tool], *args], capture_output=True, text=True, timeout=600, env=env)


def test_an_installed_plugin_inserts_passes_into_rusty_compile(site: Path, tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = _run("rusty", "compile", str(tiny), "-o", str(out), "--insert-after", "target=demo-clamp-epsilon{min=1.0e-5}",
             "--insert-after", "gpu=demo-reciprocal-div", "--dump-after", "gpu", site=site)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "compiling (target, demo-clamp-epsilon, tensor," in r.stderr and "gpu, demo-reciprocal-div, split)" in r.stderr
    assert "remark: " in r.stderr and "raised the epsilon of" in r.stderr  # the tfm-level pass ran, and said so
    # Before demo-reciprocal-div (the dump after 'gpu'): kernels divide by 64 (the RMSNorm's mean over 64 values).
    assert "arith.constant 6.400000e+01 : f32" in r.stdout and "arith.divf" in r.stdout
    wgsl = (out / "kernels.wgsl").read_text()
    assert "/ 64.0f" not in wgsl and "* 0.015625f" in wgsl  # after it: multiplied by the exact reciprocal
    assert "1e-06f" not in wgsl and "1e-05f" in wgsl  # the norms' epsilon, raised on the transformer level
    manifest = json.loads((out / "manifest.json").read_text())
    assert "convert-tiled-to-gpu,demo-reciprocal-div,split-bindings" in manifest["pipeline"]
    assert manifest["plugins"] == [{"name": "demo", "distribution": "rusty-demo-passes", "version": "0.2.0"}]


def test_the_plugins_own_lit_tests_pass_once_installed(site: Path) -> None:
    """The tutorial's lit suite (tests/plugins/rusty-demo-passes/lit_tests) runs rusty-opt with the installed plugin
    (on the installed copy: lit writes its Output folders beside the tests)."""
    r = _run("lit", "-q", str(site.parent / "src" / "lit_tests"), site=site)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_cache_key_has_the_installed_plugins_and_the_pipeline(site: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rusty_ir.importers import load_model

    model = load_model(tiny)
    plain = cache_key(model, CompileOptions(), "adapter")
    assert cache_key(model, CompileOptions(insert_after=("gpu=canonicalize",)), "adapter") != plain
    assert cache_key(model, CompileOptions(pass_pipeline="rusty-default"), "adapter") != plain
    monkeypatch.syspath_prepend(str(site))
    (plugin,) = installed_plugins()  # found without importing it: a cache hit must not load the compiler
    assert (plugin["name"], plugin["distribution"], plugin["version"]) == ("demo", "rusty-demo-passes", "0.2.0")
    with_plugin = cache_key(model, CompileOptions(), "adapter")
    assert with_plugin != plain
    source = site / "rusty_demo_passes" / "__init__.py"
    source.write_text(source.read_text() + "\n# edited\n")  # an editable install keeps its version: its sources count
    assert cache_key(model, CompileOptions(), "adapter") not in (plain, with_plugin)


def test_stages_of_a_pipeline_and_its_mistakes() -> None:
    default = [name for name, _ in CompileOptions().stages]
    options = CompileOptions(insert_after=("gpu=canonicalize,cse",), insert_before=("tensor=cse",))
    after_gpu = default.index("gpu") + 1
    assert [name for name, _ in options.stages] == [
        *default[:1],
        "cse",
        *default[1:after_gpu],
        "canonicalize",
        "cse#2",
        *default[after_gpu:],
    ]
    whole = CompileOptions(pass_pipeline="builtin.module(rusty-default, canonicalize)", quantize="q8_0")
    assert whole.pipeline == "quantize-weights{scheme=q8_0}," + CompileOptions().pipeline + ",canonicalize"
    assert [n for n, _ in whole.stages] == ["quantized", *default, "canonicalize"]
    # an op-anchored group stays whole: one stage that runs nested, as mlir-opt runs it (it was flattened)
    nested = CompileOptions(pass_pipeline="builtin.module(func.func(cse, canonicalize), rusty-default)")
    assert nested.stages[0] == ("func.func", "func.func(cse,canonicalize)")
    assert nested.pipeline == "func.func(cse,canonicalize)," + CompileOptions().pipeline
    assert isinstance(build_pipeline(check_pipeline(nested), nested.stages[0][1]).passes[0], nested_pass_class())
    for bad, message in (
        ({"insert_after": ("nowhere=cse",)}, "--insert-after 'nowhere=cse': unknown stage 'nowhere' (stages: target, tensor,"),
        ({"insert_before": ("gpu",)}, "--insert-before 'gpu': give STAGE=PASS{options}"),
        ({"pass_pipeline": "builtin.module(cse"}, "unbalanced parentheses"),
        ({"pass_pipeline": "cse,,dce"}, "an empty pass name"),
        ({"pass_pipeline": "rusty-default{target=apple}"}, "rusty-default takes no options (give --target)"),
        ({"insert_after": "gpu=cse"}, "insert_after must be a list"),
    ):
        with pytest.raises(RustyError, match=None) as err:
            CompileOptions(**bad)  # type: ignore[arg-type]  # deliberately bad values
        assert message in str(err.value), str(err.value)
    with pytest.raises(RustyError, match="stage 'no-such-pass': unknown pass 'no-such-pass'"):
        check_pipeline(CompileOptions(insert_after=("gpu=no-such-pass",)))


def test_a_broken_plugin_is_skipped_unless_the_pipeline_needs_it(tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    broken = tmp_path / "rusty-broken"
    (broken / "rusty_broken").mkdir(parents=True)
    (broken / "rusty_broken" / "__init__.py").write_text("raise ImportError('needs libfoo')\n")
    (broken / "pyproject.toml").write_text((PACKAGE / "pyproject.toml").read_text()
                                           .replace("rusty-demo-passes", "rusty-broken").replace("rusty_demo_passes", "rusty_broken")
                                           .replace("demo =", "broken ="))  # fmt: skip
    site = _install(broken, tmp_path)
    monkeypatch.syspath_prepend(str(site))
    check_pipeline(CompileOptions())  # the default pipeline needs no plugin: a warning, and on
    assert "plugin 'broken' (rusty_broken) failed to load and is skipped: ImportError: needs libfoo" in capsys.readouterr().err
    r = _run("rusty", "compile", str(tiny), "-o", str(tmp_path / "out"), "--insert-after", "gpu=broken-pass", site=site)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "rusty: error: stage 'broken-pass': unknown pass 'broken-pass'; it may come from a plugin that failed to load: " \
           "plugin 'broken' failed to load (ImportError: needs libfoo)" in r.stderr  # fmt: skip
    assert not (tmp_path / "out").exists() and "loading" not in r.stderr  # refused before any work


def test_rusty_run_and_the_api_take_the_pipeline_options() -> None:
    """`rusty run` (and chat, serve) parse the flags into the compile options; the reference backend refuses them."""
    from rusty_ir.api import LoadOptions
    from rusty_ir.tools.options import load_options
    from rusty_ir.tools.rusty import make_parser

    args = make_parser().parse_args(["run", "--pass-pipeline", "rusty-default,cse", "--insert-before", "gpu=canonicalize"])
    options = load_options(args, sampling=False)
    compiled = CompileOptions(**options.compile)
    assert compiled.pipeline.endswith(",canonicalize,convert-tiled-to-gpu,split-bindings{target=webgpu},cse")
    with pytest.raises(RustyError, match="--pass-pipeline, --insert-before applies to the wgpu backend"):
        LoadOptions(backend="reference", compile=options.compile)
    with pytest.raises(RustyError, match="unknown stage 'nowhere'"):
        LoadOptions(compile={"insert_after": ("nowhere=cse",)})  # checked when loading, before anything is compiled


DOCS = ROOT / "docs" / "plugins.md"
BEGIN, END = "<!-- BEGIN dialect reference", "<!-- END dialect reference -->"


def _dialect_reference() -> str:
    from rusty_ir.registry import build_registry
    from rusty_ir.tools.rusty_opt import dialect_reference

    return dialect_reference(build_registry(), origins=("rusty-ir",))


def _with_reference(text: str, reference: str) -> str:
    head, rest = text.split(BEGIN, 1)
    marker, _, _ = rest.partition("\n")
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}{marker}\n{reference}{END}{tail}"


def test_the_dialect_reference_in_the_docs_is_current() -> None:
    """docs/plugins.md lists every op, attribute and type of rusty-ir's dialects with its Python class and fields
    (rusty-opt --list-dialects). After changing a dialect: python tests/tools/test_plugin_package.py --update-docs"""
    text = DOCS.read_text(encoding="utf-8")
    assert text == _with_reference(text, _dialect_reference()), \
        "docs/plugins.md's dialect reference is stale: python tests/tools/test_plugin_package.py --update-docs"  # fmt: skip


if __name__ == "__main__" and sys.argv[1:] == ["--update-docs"]:
    DOCS.write_text(_with_reference(DOCS.read_text(encoding="utf-8"), _dialect_reference()), encoding="utf-8")
