"""rquant.load / rquant.load_block of the GGUF schemes decoded field by field (Q5_0, Q5_1, IQ4_NL and the K-quants
Q2_K .. Q6_K), through lower-quant-loads, on the wgpu adapter and as MSL on the CPU, against ``gguf``'s dequantizers
(``rusty_ir.weights.dequantize`` calls ``gguf.quants``): bit for bit.

The weights are random block bytes (``random_blocks``: every code and sub-scale bit random, finite f16 scales), so
every field of the formats is exercised; six rows of one super-block, which puts the odd rows' super-blocks of the
2-byte-aligned Q6_K and Q3_K (and Q5_0's blocks) at offsets 2 mod 4.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_quant_loads import ROWS, K, program
from wgsl_harness import Runner

from rusty_ir.dialects.quant import kernel_block
from rusty_ir.weights import SCHEMES, TensorView, dequantize, random_blocks, split_layout, split_part

CASES = [(s, "blocks") for s in ("q5_0", "q5_1", "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k")] + [("iq4_nl", "split")]


@pytest.mark.parametrize(("scheme", "layout"), CASES)
def test_gguf_loads_match_gguf_dequantize(both_backends: Runner, scheme: str, layout: str) -> None:
    sch = SCHEMES[scheme]
    data = random_blocks(sch, (ROWS, K), np.random.default_rng(list(SCHEMES).index(scheme)))
    expected = dequantize(data, sch, (ROWS, K))
    assert np.isfinite(expected).all() and np.abs(expected).max() > 0
    if layout == "split":
        assert split_layout(sch) is not None
        view = TensorView("w", (ROWS, K), sch, data)
        codes, scales = split_part(view, "codes"), split_part(view, "scales")
        inputs = {"codes": codes.view(np.int32), "scales": np.pad(scales, (0, -len(scales) % 4)).view(np.int32)}
    else:
        inputs = {"w": np.pad(data, (0, -len(data) % 4)).view(np.int32)}
    prog = program(both_backends, scheme, layout, "words", {n: len(a) for n, a in inputs.items()})
    count = kernel_block(sch)
    nblocks = ROWS * K // count
    out = both_backends.run(prog, "elements", (ROWS * K // 64,), inputs, {"out": (np.float32, (ROWS * K,))})["out"]
    np.testing.assert_array_equal(out.reshape(ROWS, K), expected)
    out = both_backends.run(prog, "blocks", (nblocks,), inputs, {"out": (np.float32, (nblocks * (count + 2),))})["out"]
    blocks = out.reshape(nblocks, count + 2)
    decoded = blocks[:, :1] * blocks[:, 2:] + blocks[:, 1:2]
    np.testing.assert_array_equal(decoded.reshape(ROWS, K), expected)
