"""The gemv walk with ``pipeline_depth = 2`` (``passes/codegen/gemv.py``) run on the wgpu adapter: each step of a
lane's walk loads the next step's weight codes before it multiplies its own. A module of its own, so that its two
compiles of the tiny model run beside ``test_dispatch_to_tiled.py``'s (pytest-xdist keeps a module on one worker)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from test_dispatch_to_tiled import _int_dot_tiny_model, _verify_matches_one_token_steps, device  # noqa: F401 (a fixture)


@pytest.mark.parametrize(("which", "unroll"), [("few", 2), ("single", 1)])
def test_gemv_walks_that_load_the_next_blocks_first_match_one_token_steps(device: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         which: str, unroll: int) -> None:  # fmt: skip
    """The tiny model's dp4a gemvs of steps of 2-8 tokens (``few``) or of one token (``single``) given
    ``pipeline_depth = 2`` (each step of a lane's walk loads the next step's weight codes before it multiplies its
    own), walking two blocks a step (few: the blocks past K's end guarded) or one: the loops carry the codes (i32
    loop variables beside the f32 accumulators), and the verification logits of 2, 5 and 8 tokens equal those of one-token steps (one of the two
    pipelined, the other not)."""
    from rusty_ir.passes.tuning import generic, tune_workgroups

    def pipelined(config: Any) -> Any:
        if config is None or config.config.math != "dp4a":
            return config
        return config.replace(pipeline_depth=2, reduction_tile=unroll)

    if which == "few":
        few_token_configs = generic.few_token_configs
        monkeypatch.setattr(tune_workgroups, "few_token_configs", lambda *a: tuple(map(pipelined, few_token_configs(*a))))
    else:
        gemv_config = generic.gemv_config
        monkeypatch.setattr(generic, "gemv_config", lambda *a: pipelined(gemv_config(*a)))
    art, rt = _int_dot_tiny_model(device, tmp_path, monkeypatch)
    carried = re.findall(r"fn (contraction_\d+(?:_contraction_\d+)?(?:_\d+)?)\([^\n]*\n(?:  [^\n]*\n)*?  var v\d+: i32 = ", art.wgsl)
    # few: qkv, gate+up and down at least, a version per step size of 2 to 8 tokens; single: o, the LM head, ...
    assert len(carried) >= (7 * 3 if which == "few" else 2), carried
    _verify_matches_one_token_steps(rt, (2, 5, 8))
