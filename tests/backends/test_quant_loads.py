"""rquant.load / rquant.load_block through lower-quant-loads, run on the wgpu adapter and as MSL on the CPU.

Every scheme a kernel reads, in both layouts (as stored, and split into codes and
f16 scales, the scales bound as words or as f16), against ``rusty_ir.weights.dequantize``.
"""

from __future__ import annotations

import numpy as np
import pytest
from msl_harness import MslRunner
from wgsl_harness import Runner
from xdsl.parser import Parser

from rusty_ir.backends.msl import emit_program as emit_msl_program
from rusty_ir.backends.wgsl import emit_program
from rusty_ir.dialects.quant import kernel_block
from rusty_ir.passes.quant.lower_quant_loads import LowerQuantLoadsPass
from rusty_ir.registry import build_registry
from rusty_ir.weights import SCHEMES, TensorView, dequantize, quantize, split_layout, split_part

ROWS, K = 6, 256
RNG = np.random.default_rng(7)

KERNELS = """
"gpu.module"() <{{sym_name = "q"}}> ({{
  "gpu.func"() <{{function_type = ({buffer_types}, memref<?xf32>) -> (), kernel}}> ({{
  ^bb0({buffer_args}, %out: memref<?xf32>):
    %i = "gpu.global_id"() <{{dimension = #gpu<dim x>}}> : () -> index
    %nb = arith.constant {nb} : index
    %row = arith.divui %i, %nb : index
    %blk = arith.remui %i, %nb : index
    %s, %o, %q:{count} = rquant.load_block {buffers}[%row, %blk] {{scheme = "{scheme}", shape = array<i64: {rows}, {k}>, layout = "{layout}"}} : {buffer_types} -> f32, f32, {f32s}
    %stride = arith.constant {stride} : index
    %base = arith.muli %i, %stride : index
    memref.store %s, %out[%base] : memref<?xf32>
    %c1 = arith.constant 1 : index
    %b1 = arith.addi %base, %c1 : index
    memref.store %o, %out[%b1] : memref<?xf32>
{stores}
    "gpu.return"() : () -> ()
  }}) {{sym_name = "blocks", gpu.known_block_size = array<i32: 1, 1, 1>}} : () -> ()

  "gpu.func"() <{{function_type = ({buffer_types}, memref<?xf32>) -> (), kernel}}> ({{
  ^bb0({buffer_args}, %out: memref<?xf32>):
    %i = "gpu.global_id"() <{{dimension = #gpu<dim x>}}> : () -> index
    %kk = arith.constant {k} : index
    %row = arith.divui %i, %kk : index
    %col = arith.remui %i, %kk : index
    %v = rquant.load {buffers}[%row, %col] {{scheme = "{scheme}", shape = array<i64: {rows}, {k}>, layout = "{layout}"}} : {buffer_types} -> f32
    memref.store %v, %out[%i] : memref<?xf32>
    "gpu.return"() : () -> ()
  }}) {{sym_name = "elements", gpu.known_block_size = array<i32: 64, 1, 1>}} : () -> ()
}}) : () -> ()
"""


def program(runner: Runner | MslRunner, scheme: str, layout: str, scales: str, sizes: dict[str, int]):
    """The two kernels for this case, lowered and emitted for the runner's backend."""
    count = kernel_block(SCHEMES[scheme])
    names = ["%w"] if layout == "blocks" else ["%codes", "%scales"]
    types = [f"memref<{sizes[n[1:]]}xi32>" for n in names]
    if layout == "split" and scales == "f16":
        types[1] = f"memref<{sizes['scales'] * 2}xf16>"
    stores = "\n".join(
        f"    %k{j} = arith.constant {j + 2} : index\n    %a{j} = arith.addi %base, %k{j} : index\n"
        f"    memref.store %q#{j}, %out[%a{j}] : memref<?xf32>"
        for j in range(count)
    )
    text = KERNELS.format(
        buffer_types=", ".join(types), buffer_args=", ".join(f"{n}: {t}" for n, t in zip(names, types)), buffers=", ".join(names),
        nb=K // count, count=count, scheme=scheme, rows=ROWS, k=K, layout=layout, f32s=", ".join(["f32"] * count),
        stride=count + 2, stores=stores,
    )  # fmt: skip
    ctx = build_registry().context()
    module = Parser(ctx, text).parse_module()
    LowerQuantLoadsPass().apply(ctx, module)
    module.verify()
    return emit_msl_program(module) if isinstance(runner, MslRunner) else emit_program(module)


CASES = [(s, "blocks", "words") for s in ("q4_0", "q4_1", "q8_0", "int4_g32", "int4_g128", "int8_g32", "f16", "bf16", "f32")] + [
    (s, "split", scales) for s in ("q4_0", "q4_1", "q8_0", "int4_g128") for scales in ("words", "f16")
]


@pytest.mark.parametrize(("scheme", "layout", "scales"), CASES)
def test_quant_loads_match_dequantize(both_backends: Runner, scheme: str, layout: str, scales: str) -> None:
    sch = SCHEMES[scheme]
    values = RNG.standard_normal((ROWS, K)).astype(np.float32)
    data = quantize(values, sch)
    view = TensorView("w", (ROWS, K), sch, data)
    expected = dequantize(data, sch, (ROWS, K))
    if layout == "split":
        assert split_layout(sch) is not None
        parts = {p: split_part(view, p) for p in ("codes", "scales")}
        inputs = {"codes": parts["codes"].view(np.int32)}
        inputs["scales"] = (
            parts["scales"].view(np.float16) if scales == "f16" else np.pad(parts["scales"], (0, -len(parts["scales"]) % 4)).view(np.int32)
        )
        sizes = {"codes": len(inputs["codes"]), "scales": len(parts["scales"]) // 4 + (len(parts["scales"]) % 4 > 0)}
        if scales == "f16":
            sizes["scales"] = len(inputs["scales"]) // 2
    else:
        inputs = {"w": np.pad(data, (0, -len(data) % 4)).view(np.int32)}
        sizes = {"w": len(inputs["w"])}
    prog = program(both_backends, scheme, layout, scales, sizes)
    count = kernel_block(sch)
    nblocks = ROWS * K // count
    out = both_backends.run(prog, "elements", (ROWS * K // 64,), inputs, {"out": (np.float32, (ROWS * K,))})["out"]
    np.testing.assert_allclose(out.reshape(ROWS, K), expected, rtol=1e-6, atol=1e-7)
    out = both_backends.run(prog, "blocks", (nblocks,), inputs, {"out": (np.float32, (nblocks * (count + 2),))})["out"]
    blocks = out.reshape(nblocks, count + 2)
    decoded = blocks[:, :1] * blocks[:, 2:] + blocks[:, 1:2]
    np.testing.assert_allclose(decoded.reshape(ROWS, K), expected, rtol=1e-6, atol=1e-7)
