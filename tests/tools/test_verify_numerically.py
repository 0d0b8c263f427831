"""``--verify-each-numerically`` over the default pipeline (issue 17): a tiny model's ``@prefill_logits`` is
interpreted before and after each stage while an interpreter runs the level (tfm, tensor, dispatch, bufferized
host IR) and must not change; a wrong pass put into the pipeline is named. rusty_ir/numerics.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rusty_ir.driver import CompileOptions
from rusty_ir.errors import RustyError
from rusty_ir.ir import print_module
from rusty_ir.numerics import NumericChecker
from rusty_ir.pipeline import build_pipeline
from rusty_ir.registry import build_registry

ROOT = Path(__file__).resolve().parents[2]
MISCOMPILE = ROOT / "lit_tests" / "tools" / "Inputs" / "miscompile_plugin.py"
STAGES = [spec for _, spec in CompileOptions().stages]
INTERPRETED = STAGES[: STAGES.index("convert-dispatch-to-tiled")]
"""The default pipeline's passes up to the last level an interpreter runs (bufferized host IR)."""


@pytest.fixture(scope="module", params=["f16", "q8_0"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    from rusty_ir.importers import load_model

    cfg = tiny_config("llama")
    weights = random_weights(cfg, seed=3)
    types = {name: request.param if w.ndim == 2 else "f32" for name, w in weights.items()}
    return load_model(write_tiny_gguf(tmp_path_factory.mktemp("m") / "m.gguf", cfg, weights, types=types))


def _module(model: Any) -> Any:
    from rusty_ir.importers.to_ir import build_module

    return build_module(model.config, model.weights, logits_entry=True)


def test_the_default_pipeline_keeps_the_logits(model: Any) -> None:
    module = _module(model)
    registry = build_registry()
    checker = NumericChecker.for_module(module, "prefill_logits", model.weights)
    build_pipeline(registry, ",".join(STAGES), checker.callback).apply(registry.context(), module)
    assert [p.split("{")[0] for p in checker.checked] == [s.split("{")[0] for s in INTERPRETED]
    assert checker.stopped == "convert-dispatch-to-tiled"
    assert checker.last is not None and checker.last.size == model.config.vocab


def test_a_wrong_pass_in_the_default_pipeline_is_named(model: Any) -> None:
    module = _module(model)
    registry = build_registry([str(MISCOMPILE)])
    spec = ",".join([*STAGES[: STAGES.index("form-dispatches") + 1], "test-miscompile", *STAGES[STAGES.index("form-dispatches") + 1 :]])
    checker = NumericChecker.for_module(module, "prefill_logits", model.weights)
    with pytest.raises(RustyError, match="pass 'test-miscompile' changed the result of @prefill_logits"):
        build_pipeline(registry, spec, checker.callback).apply(registry.context(), module)
    assert checker.checked[-1] == "form-dispatches"


def test_rusty_opt_checks_a_printed_model_with_made_up_weights(model: Any, tmp_path: Path) -> None:
    """The CLI on the model's printed tfm level: no weight store, weights made up from the IR's types."""
    path = tmp_path / "model.mlir"
    path.write_text(print_module(_module(model)), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "rusty_ir.tools.rusty_opt", str(path), "-p", "rusty-default",
                        "--verify-each-numerically=prefill_logits", "-o", str(tmp_path / "out.mlir")],
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"@prefill_logits agreed after {len(INTERPRETED)} passes" in r.stderr
    assert "from 'convert-dispatch-to-tiled' on no interpreter runs the IR" in r.stderr
