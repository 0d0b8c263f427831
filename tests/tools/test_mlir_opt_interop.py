"""Upstream MLIR reads what rusty-ir writes: mlir-opt-22 over the generic form of compiled levels (issue 17).

Needs Debian's mlir-opt-22 (package mlir-22-tools; scripts/setup.sh test installs it on Linux): without it
these tests fail, they do not skip. Each level is printed as ``rusty compile --dump-after STAGE --generic``
prints it (``rusty_ir.ir.print_module(..., generic=True)``) and given to ``mlir-opt-22
--allow-unregistered-dialect`` (rusty-ir's own dialects are unregistered there).

Levels compiled here (``LEVELS``): every stage of the f16 model (a tiny llama with f16 attention and Q4_1
feed-forward matrices, so that one compile holds float and quantized weights; seconds), of
it with an f16 and a q8_0 KV cache, and of SmolLM2 (Q4_1, about 15 seconds). Every level of the f16 model also
re-parses in rusty-opt from the custom and the generic form (``test_every_level_re_parses_in_both_forms``).

``NOT_YET`` is the ledger of levels that upstream does not parse yet, with the first error mlir-opt-22
gives: a level that starts to parse fails the test until it is taken out of the ledger, so the ledger
only shrinks; it is empty.
Fixed: a q8_0 KV cache's ``dispatch.cache`` was ``memref<?x64x!rquant.q8_0>``; its buffers are now the i32 words of
its rows (``memref<?x17xi32>``), with the scheme on ``dispatch.kv_cache`` and as ``cache_element`` on
``linalg_ext.cache_append``/``attention``; a quantized model's levels from 'bufferized' on held ``memref<576x576x!rquant.q4_1>``, an invalid
memref element type upstream (builtin element types only): a bufferized quantized weight is now the words
of its bytes, ``memref<51840xi32>``, with the tensor they store as an attribute (``dispatch.weight``'s
``stored``, the ``rquant.stored`` argument attribute) and ``rquant.to_tensor`` in regions
(``rusty_ir.dialects.quant.storage``); the dialect's name (``quant`` was upstream's quantization dialect: no level of SmolLM2 parsed);
``#builtin.int`` properties of ``tiled.reduce``/``tiled.contract_tile`` (now i64 ``IntegerAttr``);
``arith.extf`` from f32 to f32 for f16 weights (``rusty_ir.pipeline.require_legal_casts`` now checks casts
after every pass); kernels marked with xDSL's ``kernel`` property (now ``gpu.kernel`` and
``known_block_size``) and launch operands of another type than the kernel's argument (now cast).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rusty_ir.driver import CompileOptions
from rusty_ir.ir import SourceMap, parse_module, print_module
from rusty_ir.pipeline import build_pipeline
from rusty_ir.registry import build_registry
from rusty_ir.tools.common import split_input

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("import", *(name for name, _ in CompileOptions().stages))
"""The imported module, then the IR after each stage of the default pipeline."""
LEVELS: dict[str, tuple[str, ...]] = {
    "smollm2": STAGES,
    "f16": STAGES,
    "f16-kv-f16": STAGES,
    "f16-kv-q8_0": STAGES,
}
"""The levels checked for each model: SmolLM2 (Q4_1), the f16 model, and the f16 model with an f16 and a q8_0
KV cache (``--kv-cache``; the q8_0 one with 4 KV heads: its rows must be a multiple of 64 values)."""

KV_CACHE = {"f16-kv-f16": "f16", "f16-kv-q8_0": "q8_0"}
"""The models compiled with another KV cache than f32."""

NOT_YET: dict[str, dict[str, str]] = {
    "smollm2": {},
    "f16": {},
    "f16-kv-f16": {},
    "f16-kv-q8_0": {},
}
"""Levels mlir-opt-22 does not parse yet, with the message it gives (the module's docstring says why)."""


def mlir_opt() -> str:
    """mlir-opt-22, else the newest mlir-opt-NN (19 or later: known_block_size is a property since 19), else
    mlir-opt; a failed test when there is none."""
    for name in ("mlir-opt-22", *(f"mlir-opt-{v}" for v in range(40, 18, -1)), "mlir-opt"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("mlir-opt-22 is not installed: on Debian/Ubuntu `apt-get install mlir-22-tools` (scripts/setup.sh test "
                "does it on Linux); these tests check that upstream MLIR parses rusty-ir's IR", pytrace=False)  # fmt: skip


def _levels(model: Any, levels: tuple[str, ...], kv_cache: str = "f32", forms: tuple[bool, ...] = (False,)) -> dict[bool, dict[str, str]]:
    """The generic (False) and/or the custom (True) form, as ``forms`` asks, of ``model``'s IR at each of
    ``levels`` (a prefix of ``STAGES``), printed from one compile. Kept for the module: the f16 model's levels in
    both forms are compiled once, for mlir-opt and for both re-parse tests."""
    from rusty_ir.importers.to_ir import build_module

    key = (id(model), levels, kv_cache, forms)
    if key in _COMPILED:
        return _COMPILED[key][1]
    module = build_module(model.config, model.weights)
    registry = build_registry()
    ctx = registry.context()
    texts: dict[bool, dict[str, str]] = {custom: {"import": print_module(module, generic=not custom)} for custom in forms}
    for stage, spec in CompileOptions(kv_cache=kv_cache).stages:
        if stage not in levels:
            break
        build_pipeline(registry, spec).apply(ctx, module)
        for custom in forms:
            texts[custom][stage] = print_module(module, generic=not custom)
    _COMPILED[key] = (model, texts)  # the model kept with them: its id stays its own
    return texts


_COMPILED: dict[tuple[int, tuple[str, ...], str, tuple[bool, ...]], tuple[Any, dict[bool, dict[str, str]]]] = {}
"""``_levels``'s results, by model, levels, KV cache and forms."""
_BOTH = (False, True)
"""The forms compiled for the f16 model (its levels are re-parsed in both)."""


def _parse_upstream(tool: str, text: str, *flags: str) -> str:
    """'' when mlir-opt parses and verifies ``text``, else its first error line."""
    r = subprocess.run([tool, *flags, "-o", "/dev/null", "-"], input=text, capture_output=True, text=True, timeout=120)
    return "" if r.returncode == 0 else next((line for line in r.stderr.splitlines() if "error:" in line), r.stderr.strip())


def _f16_model(path: Path, kv_heads: int = 2) -> Any:
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    from rusty_ir.importers import load_model

    cfg = tiny_config("llama", n_kv_heads=kv_heads)
    weights = random_weights(cfg, seed=5)
    # float and quantized in one compile: f16 attention and embedding matrices, Q4_1 feed-forward ones, f32 norms
    types = {name: ("q4_1" if "ffn_" in name else "f16") if w.ndim == 2 else "f32" for name, w in weights.items()}
    return load_model(write_tiny_gguf(path, cfg, weights, types=types))


@pytest.fixture(scope="module")
def f16_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _f16_model(tmp_path_factory.mktemp("f16") / "f16.gguf")


@pytest.fixture(scope="module")
def f16_model_4kv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _f16_model(tmp_path_factory.mktemp("f16") / "f16-4kv.gguf", kv_heads=4)


_FIXTURE = {"smollm2": "smollm2", "f16": "f16_model", "f16-kv-f16": "f16_model", "f16-kv-q8_0": "f16_model_4kv"}


@pytest.mark.parametrize("name", list(LEVELS))
def test_mlir_opt_parses_the_compiled_levels(name: str, request: pytest.FixtureRequest) -> None:
    tool = mlir_opt()
    model = request.getfixturevalue(_FIXTURE[name])
    problems: list[str] = []
    generic = _levels(model, LEVELS[name], KV_CACHE.get(name, "f32"), _BOTH if name == "f16" else (False,))[False]
    for level, text in generic.items():
        error = _parse_upstream(tool, text, "--allow-unregistered-dialect")
        expected = NOT_YET[name].get(level)
        if expected is None and error:
            problems.append(f"{name} level '{level}' no longer parses in mlir-opt: {error}")
        elif expected is not None and not error:
            problems.append(f"{name} level '{level}' parses in mlir-opt now: take it out of NOT_YET")
        elif expected is not None and expected not in error:
            problems.append(f"{name} level '{level}' fails differently: {error} (NOT_YET says {expected!r})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("custom", [True, False], ids=["custom", "generic"])
def test_every_level_re_parses_in_both_forms(custom: bool, f16_model: Any) -> None:
    """Every level of the f16 model (``STAGES``; f16 and Q4_1 matrices), printed in the custom or the generic form,
    parses back in rusty-opt and prints the same text again (the kernel levels are 6k-16k lines)."""
    texts = _levels(f16_model, STAGES, forms=_BOTH)[custom]
    assert tuple(texts) == STAGES
    for level, text in texts.items():
        again = print_module(parse_module(build_registry().context(), SourceMap(level, text)), generic=not custom)
        assert again == text, f"level '{level}' ({'custom' if custom else 'generic'}) prints differently after a re-parse"
    if custom:  # the gpu level in mlir-opt's custom syntax (its kernels' rgpu ops keep it from mlir-opt itself)
        assert "gpu.launch_func @kernels::" in texts["split"] and ") kernel attributes {" in texts["split"]


def test_mlir_opt_reads_the_custom_gpu_level_of_a_linalg_program() -> None:
    """An upstream linalg.matmul through the default pipeline: its gpu level, printed in the custom form
    (gpu.module, gpu.func ... kernel attributes {known_block_size}, gpu.launch_func ... args(...)), parses and
    verifies in mlir-opt-22 (only rusty-ir's attributes, #rgpu.target and rusty.slot, need
    --allow-unregistered-dialect)."""
    text = (
        "func.func @mm(%a: tensor<8x16xf32>, %b: tensor<16x12xf32>) -> tensor<8x12xf32> {\n"
        "  %e = tensor.empty() : tensor<8x12xf32>\n  %z = arith.constant 0.0 : f32\n"
        "  %f = linalg.fill ins(%z : f32) outs(%e : tensor<8x12xf32>) -> tensor<8x12xf32>\n"
        "  %r = linalg.matmul ins(%a, %b : tensor<8x16xf32>, tensor<16x12xf32>) outs(%f : tensor<8x12xf32>) -> tensor<8x12xf32>\n"
        "  func.return %r : tensor<8x12xf32>\n}\n"
    )  # fmt: skip
    registry = build_registry()
    module = parse_module(registry.context(), SourceMap("mm", text))
    for _, spec in CompileOptions().stages:
        build_pipeline(registry, spec.replace("TARGET", "webgpu")).apply(registry.context(), module)
    gpu_level = print_module(module)
    assert "gpu.launch_func @kernels::" in gpu_level and ") kernel attributes {known_block_size = " in gpu_level
    assert '"gpu.' not in gpu_level
    assert _parse_upstream(mlir_opt(), gpu_level, "--allow-unregistered-dialect") == ""


def test_upstream_kernels_round_trip_through_rusty_opt_into_mlir_opt() -> None:
    """An upstream-marked gpu module (mlir-opt-22's own output, lit_tests/backends/wgsl/upstream-kernel.mlir) as
    rusty-opt prints it back parses and verifies in mlir-opt-22 without --allow-unregistered-dialect."""
    tool = mlir_opt()
    lit = ROOT / "lit_tests" / "backends" / "wgsl" / "upstream-kernel.mlir"
    for chunk in split_input(lit.read_text(encoding="utf-8"), True):
        module = parse_module(build_registry().context(), SourceMap(str(lit), chunk.text, chunk.line_offset))
        assert _parse_upstream(tool, print_module(module, generic=True)) == ""


def test_locations_travel_between_mlir_opt_and_rusty_opt() -> None:
    """mlir-opt-22's --mlir-print-debuginfo output (location aliases defined after the module) parses here with
    every location kept, and what rusty-opt prints with --mlir-print-debuginfo gives mlir-opt-22 the same
    locations as mlir-opt-22 read from the input (lit_tests/tools/debuginfo.mlir: written and given locations)."""
    tool = mlir_opt()
    lit = ROOT / "lit_tests" / "tools" / "debuginfo.mlir"
    path = "input.mlir"
    for chunk in split_input(lit.read_text(encoding="utf-8"), True)[:2]:

        def upstream(text: str) -> str:
            r = subprocess.run([tool, "--mlir-print-debuginfo", "--mlir-print-local-scope", "-"], input=text,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
            assert r.returncode == 0, r.stderr
            return r.stdout.replace("<stdin>", path)

        def ours(text: str) -> str:
            module = parse_module(build_registry().context(), SourceMap(path, text))
            return print_module(module, debuginfo=True)

        aliased = subprocess.run([tool, "--mlir-print-debuginfo", "-"], input=chunk.text, capture_output=True, text=True,
                                 timeout=60).stdout.replace("<stdin>", path)  # fmt: skip
        assert "#loc" in aliased  # mlir-opt's own form: aliases at the end
        expected = upstream(chunk.text)
        assert upstream(ours(aliased)) == expected
        assert upstream(ours(chunk.text)).replace("%arg0", "%a") == expected.replace("%arg0", "%a")


def test_dialect_resources_travel_between_mlir_opt_and_rusty_opt() -> None:
    """A dense_resource blob (lit_tests/tools/dialect-resources.mlir) printed by rusty-opt reads in mlir-opt-22,
    and mlir-opt-22's output reads here with the same blob."""
    tool = mlir_opt()
    lit = ROOT / "lit_tests" / "tools" / "dialect-resources.mlir"
    text = split_input(lit.read_text(encoding="utf-8"), True)[0].text
    ours = print_module(parse_module(build_registry().context(), SourceMap(str(lit), text)))
    r = subprocess.run([tool, "-"], input=ours, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert 'blob1: "0x040000000000803F00000040"' in r.stdout
    back = print_module(parse_module(build_registry().context(), SourceMap("mlir-opt", r.stdout)))
    assert 'blob1: "0x040000000000803F00000040"' in back and "dense_resource<blob1>" in back
