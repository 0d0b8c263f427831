"""Progress on stderr: step lines unless quiet, bars only on a terminal, a warning once; the f16 check before compiling."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from rusty_ir.api import _check_features
from rusty_ir.errors import RustyError
from rusty_ir.progress import Progress


def test_steps_bars_and_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert not Progress().bars  # not a terminal: no bars
    progress = Progress(bars=True)
    progress.step("compiling")("3 kernels")
    with progress.bar(10, "uploading weights", "B") as advance:
        advance(10)
    Progress(quiet=True, bars=True).step("hidden")()
    for _ in range(2):
        Progress(quiet=True).warn_once("slow adapter")
    text = err.getvalue()
    assert "rusty: compiling..." in text and "3 kernels" in text and "uploading weights" in text
    assert "hidden" not in text and text.count("rusty: warning: slow adapter") == 1


def test_f16_kv_cache_needs_the_feature() -> None:
    gl = SimpleNamespace(features=frozenset({"subgroup"}), info={"device": "llvmpipe (GL)"})
    with pytest.raises(RustyError, match=r"--kv-cache f16 needs the adapter's shader-f16 feature, which llvmpipe \(GL\) lacks"):
        _check_features(gl, "f16")
    _check_features(gl, "q8_0")  # q8_0 reads its scales from words: no f16 needed
