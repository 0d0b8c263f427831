"""Sliding-window attention and attention-logit soft-capping in every attention kernel (issue 13), on wgpu
against the buffer interpreter (``linalg_ext.attention``'s numpy semantics): per query row, split-KV with its merge
kernel, and FlashAttention-2 (key tiles before the block's window skipped, the rest masked per row).

The region is convert-dispatch-to-tiled.mlir's attention case with ``window`` and ``softcap`` added; the windows
are shorter than the positions so that whole key tiles, whole split partitions and whole rows of a FlashAttention
tile fall outside them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import test_dispatch_to_tiled
from test_dispatch_to_tiled import ATTENTION_CONFIGS, _attention_chunk, device, reference, run_on_gpu  # noqa: F401 - device is a fixture
from xdsl.dialects import arith
from xdsl.parser import Parser

from rusty_ir.registry import build_registry

test_dispatch_to_tiled._HOST.setdefault(arith.MaxUIOp, max)  # split-KV's window origin on the host (max/sub/div/mul)

CONFIGS = {
    **ATTENTION_CONFIGS,
    "split-kv": "#dispatch.lowering_config<attention, workgroup = [8, 1, 1], reduction_tile = 4, split = 8>",
    "split-kv-short": "#dispatch.lowering_config<attention, workgroup = [8, 1, 1], reduction_tile = 4, split = 4>",
}


def _windowed(head_dim: int, window: int | None, softcap: float | None):
    text = str(_attention_chunk(head_dim))
    extra = (f", window = {window} : i64" if window else "") + (f", softcap = {softcap} : f32" if softcap else "")
    text = text.replace("scale = 5.000000e-01 : f32", "scale = 5.000000e-01 : f32" + extra)
    assert extra in text
    return Parser(build_registry().context(), text).parse_module()


@pytest.mark.parametrize(("config", "target"), [(c, "webgpu") for c in sorted(CONFIGS)] + [("flash-2-lanes-per-row", "nvidia")])
@pytest.mark.parametrize(("rows", "pos", "window", "softcap"), [(9, 30, 5, 1.5), (1, 40, 6, None)])
def test_window_and_softcap(device: Any, rows: int, pos: int, window: int | None, softcap: float | None, config: str, target: str) -> None:
    """Also FlashAttention-2's f16 tiles (the nvidia target): q, k, v and the probabilities rounded to f16."""
    rng = np.random.default_rng(rows + pos)
    context = 48
    hd = 32 if config == "flash-2-lanes-per-row" else 4
    q = (2 * rng.standard_normal((rows, 4 * hd))).astype(np.float32)
    kc = rng.standard_normal((context, 2 * hd)).astype(np.float32)
    vc = rng.standard_normal((context, 2 * hd)).astype(np.float32)
    y = np.full((rows, 4 * hd), np.nan, np.float32)
    cfg = CONFIGS[config]
    run_on_gpu(device, _windowed(hd, window, softcap), [q, kc, vc, pos, y.copy()], {4: y}, target,
               configs={"attention_0": (cfg, None)} if cfg else None)  # fmt: skip
    want = reference(_windowed(hd, window, softcap), [q, kc, vc, pos, np.zeros_like(y)])[4]
    plain = reference(_attention_chunk(hd), [q, kc, vc, pos, np.zeros_like(y)])[4]
    assert not np.allclose(want, plain, atol=1e-3), "the window or the cap should change the output"
    tol = 1e-5 if target == "webgpu" else 3e-3
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol)
