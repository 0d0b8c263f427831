"""quantize-weights: IR types on a tiny model, lazy tensor-by-tensor quantization, and wgpu against numpy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from importers.tiny import scaled_random_weights, tiny_config, write_tiny_gguf
from xdsl.dialects.builtin import TensorType

from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.dialects.quant.attrs import BlockQuantType
from rusty_ir.dialects.transformer import WeightOp
from rusty_ir.dialects.transformer.interp import ReferenceInterpreter
from rusty_ir.driver import CompileOptions, compile_model, quantize_module, quantized_weights
from rusty_ir.errors import RustyError
from rusty_ir.importers import load_model
from rusty_ir.importers.export import write_hf_folder
from rusty_ir.importers.to_ir import build_module
from rusty_ir.weights import SCHEMES, QuantizingStore, plan_from_templates, quantize

LOGITS_REL_TOL = 2e-2


def f16_folder(tmp_path: Path, name: str = "hf", **cfg_kw: Any) -> Any:
    """A tiny llama as a Hugging Face folder with f16 matrices and f32 norms, loaded (memory-mapped)."""
    cfg = tiny_config("llama", **cfg_kw)
    gguf = write_tiny_gguf(
        tmp_path / f"{name}.gguf", cfg, scaled_random_weights(cfg, 3), types=dict.fromkeys(scaled_random_weights(cfg, 3), "f32")
    )
    return load_model(write_hf_folder(load_model(gguf), tmp_path / name, dtype="f16"))


def weight_types(module: Any) -> dict[str, Any]:
    out = {}
    for op in module.walk():
        if isinstance(op, WeightOp):
            ty = op.result.type
            assert isinstance(ty, TensorType)
            out[op.weight_name.data] = ty.element_type
    return out


def test_pass_retypes_layer_matrices_and_head(tmp_path: Path) -> None:
    model = f16_folder(tmp_path, tied_embeddings=False)
    module = build_module(model.config, model.weights)
    before = weight_types(module)
    templates = quantize_module(module, "q4_0")
    module.verify()
    after = weight_types(module)
    matrices = {n for n in before if n.startswith("blk.") and not n.endswith("norm.weight")} | {"output.weight"}
    assert set(templates) == matrices and set(templates.values()) == {"q4_0"}
    for name, elem in after.items():
        if name in matrices:
            assert isinstance(elem, BlockQuantType) and elem.scheme.name == "q4_0", name
        else:  # norms and the untied embedding table keep their stored type
            assert elem == before[name], name
    # @decoder_layer takes what the loop passes
    layer = next(f for f in module.walk() if getattr(f, "sym_name", None) is not None and f.sym_name.data == "decoder_layer")
    assert sum(isinstance(t, TensorType) and isinstance(t.element_type, BlockQuantType) for t in layer.function_type.inputs.data) == 7


def test_already_quantized_checkpoint_is_refused(tmp_path: Path) -> None:
    cfg = tiny_config("llama")
    model = load_model(write_tiny_gguf(tmp_path / "q8.gguf", cfg, scaled_random_weights(cfg, 3)))  # Q8_0 matrices
    with pytest.raises(RustyError, match=r"weight 'blk\.\{\}\.attn_q\.weight' is already quantized \(q8_0\)"):
        compile_model(model, CompileOptions(quantize="q4_0"), use_cache=False)
    with pytest.raises(RustyError, match=r"unknown quantization scheme 'q5_0'"):
        CompileOptions(quantize="q5_0")


def test_quantize_is_part_of_the_cache_key(tmp_path: Path) -> None:
    from rusty_ir.driver import cache_key

    model = f16_folder(tmp_path, n_layers=1)
    keys = {cache_key(model, CompileOptions(quantize=q), "a") for q in ("", "q8_0", "q4_0")}
    assert len(keys) == 3


def test_store_quantizes_one_tensor_per_read(tmp_path: Path) -> None:
    """Reading a planned tensor converts that tensor only; reading them one by one peaks at about one tensor."""
    model = f16_folder(tmp_path, n_layers=6)
    module = build_module(model.config, model.weights)
    plan = plan_from_templates(quantize_module(module, "q8_0"), model.weights)
    store = QuantizingStore(model.weights, plan)
    assert store.conversions == 0  # building the store reads nothing
    view = store["blk.4.ffn_down.weight"]
    assert store.conversions == 1
    assert view.scheme.name == "q8_0"
    np.testing.assert_array_equal(view.data, quantize(model.weights["blk.4.ffn_down.weight"].to_numpy(), SCHEMES["q8_0"]))
    assert store["blk.4.ffn_norm.weight"].scheme.name == "f32" and store.conversions == 1  # not planned: passed through
    floats = {n: int(np.prod(model.weights[n].shape)) * 4 for n in plan}
    tracemalloc.start()
    try:
        for name in plan:
            assert store[name].scheme.name == "q8_0"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert store.conversions == 1 + len(plan)
    assert store["blk.0.attn_q.weight"] is not store["blk.0.attn_q.weight"]  # nothing kept: 2 more conversions
    kept = QuantizingStore(model.weights, plan, keep=True)
    assert kept["blk.0.attn_q.weight"] is kept["blk.0.attn_q.weight"] and kept.conversions == 1
    # the planned tensors hold sum(floats) bytes as float32; reading them one by one never holds them all
    assert peak < 4 * max(floats.values()) and peak < sum(floats.values()) / 4, (peak, max(floats.values()), sum(floats.values()))


@pytest.mark.parametrize(("scheme", "hidden"), [("q8_0", 64), ("q4_0", 64), ("int4_g128", 128)])
def test_quantized_tiny_model_on_wgpu_matches_reference(tmp_path: Path, scheme: str, hidden: int) -> None:
    """The in-kernel block readers decode what QuantizingStore wrote: wgpu logits = numpy on the same quantized weights.
    (int4_g32 runs on wgpu in test_cli_quantize, which compares its tokens with the reference backend's.)"""
    kw = {} if hidden == 64 else {"hidden": 128, "head_dim": 32, "ffn_hidden": 128}
    model = f16_folder(tmp_path, **kw)
    ids = np.array(model.tokenizer.encode("the world 12 hello"), np.int32)
    result = compile_model(model, CompileOptions(logits_entry=True, quantize=scheme), use_cache=False)
    weights = result.artifact.runtime_weights(model.weights)
    assert isinstance(weights, QuantizingStore) and result.artifact.manifest["quantized_weights"]
    runtime = ModelRuntime(result.artifact.schedule, result.artifact.wgsl, weights, 32)
    gpu = runtime.prefill_logits(ids)

    module = build_module(model.config, model.weights, logits_entry=True)
    ref_weights = quantized_weights(quantize_module(module, scheme), model.weights, keep=True)
    ref = np.asarray(ReferenceInterpreter(module, ref_weights, max_context=32).call("prefill_logits", ids, 0))
    err = float(np.max(np.abs(gpu - ref)) / np.max(np.abs(ref)))
    assert err < LOGITS_REL_TOL, f"{scheme}: wgpu logits off by {err:.3g}"
    # and quantization did change the model (the comparison is not float against float)
    float_ref = np.asarray(
        ReferenceInterpreter(build_module(model.config, model.weights, logits_entry=True), model.weights, max_context=32).call(
            "prefill_logits", ids, 0
        )
    )
    assert np.max(np.abs(float_ref - ref)) > 1e-4


# --- the CLI -----------------------------------------------------------------------------------


def rusty(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUSTY_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "rusty_ir.tools.rusty", *args], capture_output=True, text=True, timeout=300, env=env)


def assert_user_error(r: subprocess.CompletedProcess[str], message: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert "rusty: error:" in r.stderr and message in r.stderr, r.stderr


def test_cli_quantize(tmp_path: Path, smollm2_path: Path) -> None:
    folder = str(f16_folder(tmp_path).source)
    cache = tmp_path / "cache"
    r = rusty("compile", folder, "--quantize", "q8_0", "--dump-after", "quantized", "-q", cache=cache)
    assert r.returncode == 0, r.stderr
    assert 'tfm.quantization = {scheme = "q8_0"' in r.stdout and 'tfm.weight "blk.{}.ffn_up.weight"[%' in r.stdout
    assert "x!rquant.q8_0>" in r.stdout
    ids = {}
    for backend in ("reference", "wgpu"):
        r = rusty("run", folder, "--quantize", "int4_g32", "--backend", backend, "--no-chat", "--prompt", "the world",
                  "--max-tokens", "6", "--ignore-eos", "--json", cache=cache)  # fmt: skip
        assert r.returncode == 0, r.stderr
        ids[backend] = json.loads(r.stdout)["generated_ids"]
    assert ids["reference"] == ids["wgpu"] and len(ids["wgpu"]) == 6
    # a compiled folder records the quantized weights in its manifest; running it needs no compiler
    out = tmp_path / "compiled"
    assert rusty("compile", folder, "--quantize", "int4_g32", "-q", "-o", str(out), cache=cache).returncode == 0
    assert json.loads((out / "manifest.json").read_text())["quantized_weights"]["blk.{}.ffn_down.weight"] == "int4_g32"
    r = rusty("run", folder, "--compiled", str(out), "--no-chat", "--prompt", "the world", "--max-tokens", "6",
              "--ignore-eos", "--json", cache=cache)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["generated_ids"] == ids["wgpu"] and json.loads(r.stdout)["compiler_imported"] is False
    assert_user_error(rusty("run", folder, "--quantize", "q5_1", cache=cache), "unknown quantization scheme 'q5_1'")
    assert_user_error(
        rusty("run", str(smollm2_path), "--quantize", "q8_0", "--backend", "reference", cache=cache),
        "weight 'token_embd.weight' is already quantized (q8_0)",  # the bundled GGUF: Q8_0 embeddings, Q4_1 layers
    )
