"""Mixed-quantization GGUF files, as llama-quantize writes them: a Q4_K_M-style tiny llama (attention and FFN
matrices Q4_K, attn_v and ffn_down Q6_K in the first and last layers only, a Q5_K matrix, the token embedding Q6_K,
the output Q8_0, norms F32) written with gguf's GGUFWriter from random block bytes. The layers differ in scheme, so
the IR has one decoder layer function per distinct layer signature and one call per layer; the reference and wgpu
backends give the same first-step logits and greedy tokens."""

from __future__ import annotations

import gguf
import numpy as np
from xdsl.dialects import func, scf

from rusty_ir.dialects.transformer import WeightOp
from rusty_ir.importers import load_model
from rusty_ir.importers.to_ir import build_module
from rusty_ir.weights import SCHEMES, dequantize, random_blocks

from .tiny import random_weights, tiny_config, write_tiny_gguf

MORE_BITS = (0, 2)
"""Layers whose attn_v and ffn_down are Q6_K (llama-quantize's Q4_K_M gives the first and last eighth of the layers
and every third one more bits)."""


def _blocks(scheme: str, shape: tuple[int, int], rng: np.random.Generator, rms: float = 0.05) -> tuple[np.ndarray, object]:
    """Random block bytes of ``scheme`` whose values have about ``rms`` (the f16 fields scale the values linearly)."""
    sch = SCHEMES[scheme]
    state = rng.bit_generator.state
    probe = dequantize(random_blocks(sch, shape, rng, scale=1.0), sch, shape)
    rng.bit_generator.state = state  # the same bytes again, with scales for the wanted rms
    data = random_blocks(sch, shape, rng, scale=rms / float(np.sqrt(np.mean(probe**2))))
    if scheme in CENTRED:  # dmin = d * the mean code: values about zero-mean, as a quantizer's minimums make them
        blocks = data.reshape(-1, sch.block_bytes)
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        blocks[:, 2:4] = (d * CENTRED[scheme]).astype(np.float16).view(np.uint8).reshape(-1, 2)
    return data.reshape(shape[0], -1), gguf.GGMLQuantizationType(sch.ggml_type)


CENTRED = {"q4_k": 7.5, "q5_k": 15.5}
"""Mean code of the K-quants with minimums (d * sc * q - dmin * m with sc, m of one distribution)."""


def mixed_gguf(path, n_layers: int = 3):
    cfg = tiny_config("llama", hidden=256, n_heads=4, head_dim=64, n_kv_heads=2, ffn_hidden=512, n_layers=n_layers,
                      tied_embeddings=False)  # fmt: skip
    weights = random_weights(cfg, seed=5)
    rng = np.random.default_rng(13)
    schemes = {"token_embd.weight": "q6_k", "output.weight": "q8_0"}
    for layer in range(n_layers):
        for name in ("attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"):
            schemes[f"blk.{layer}.{name}.weight"] = "q4_k"
        for name in ("attn_v", "ffn_down"):
            schemes[f"blk.{layer}.{name}.weight"] = "q6_k" if layer in MORE_BITS else "q4_k"
    schemes["blk.1.ffn_up.weight"] = "q5_k"  # one matrix at another K-quant, in a layer of its own signature
    extra = {name: _blocks(s, weights.pop(name).shape, rng) for name, s in schemes.items() if s != "q8_0"}
    path = write_tiny_gguf(path, cfg, weights, types={"output.weight": "q8_0"}, extra_tensors=extra,
                           extra_kv={"general.file_type": ("uint32", int(gguf.LlamaFileType.MOSTLY_Q4_K_M))})  # fmt: skip
    return load_model(path), schemes


def test_mixed_file_has_a_function_per_layer_signature(tmp_path) -> None:
    model, schemes = mixed_gguf(tmp_path / "m.gguf")
    assert {n: model.weights[n].scheme.name for n in schemes} == schemes
    module = build_module(model.config, model.weights)
    layers = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data.startswith("decoder_layer")}
    assert sorted(layers) == ["decoder_layer", "decoder_layer_1"]  # layers 0 and 2 share a signature, layer 1 has its own
    prefill = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "prefill")
    assert not any(isinstance(op, scf.ForOp) for op in prefill.walk())
    calls = [op.callee.root_reference.data for op in prefill.walk() if isinstance(op, func.CallOp)]
    assert calls == ["decoder_layer", "decoder_layer_1", "decoder_layer"]
    names = {op.weight_name.data for op in prefill.walk() if isinstance(op, WeightOp)}
    # tensors whose scheme differs between layers by their own names; the others by a layer-indexed template
    assert {"blk.0.attn_v.weight", "blk.1.attn_v.weight", "blk.2.ffn_down.weight", "blk.1.ffn_up.weight"} <= names
    assert "blk.{}.attn_q.weight" in names and "blk.{}.attn_v.weight" not in names and "blk.0.attn_q.weight" not in names
    v_types = [str(layers[f].function_type.inputs.data[6]) for f in ("decoder_layer", "decoder_layer_1")]
    assert v_types == ["tensor<128x256x!rquant.q6_k>", "tensor<128x256x!rquant.q4_k>"]


def test_uniform_file_keeps_one_layer_loop(tmp_path) -> None:
    cfg = tiny_config("llama", n_layers=3)
    model = load_model(write_tiny_gguf(tmp_path / "u.gguf", cfg, random_weights(cfg)))
    module = build_module(model.config, model.weights)
    assert [op.sym_name.data for op in module.ops if isinstance(op, func.FuncOp)].count("decoder_layer") == 1
    prefill = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "prefill")
    assert sum(isinstance(op, scf.ForOp) for op in prefill.walk()) == 1


def test_mixed_file_same_tokens_on_reference_and_wgpu(tmp_path) -> None:
    """Compiled for wgpu (llvmpipe in CI): first-step logits within 2e-3 of the reference backend's (relative to the
    largest), and the same 8 greedy tokens."""
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.generate import ReferenceBackend, generate

    model, _ = mixed_gguf(tmp_path / "m.gguf", n_layers=2)  # two layer signatures; two layers keep the compile short
    prompt = [1, 17, 42, 99, 5]
    reference = ReferenceBackend(build_module(model.config, model.weights, logits_entry=True), model.weights, 64, keep_logits=True)
    want = generate(reference, model.tokenizer, list(prompt), 8, stop_at_eos=False).generated_ids
    result = compile_model(model, CompileOptions(logits_entry=True), use_cache=False)
    runtime = ModelRuntime(result.artifact.schedule, result.artifact.wgsl, model.weights, 64)
    logits = runtime.prefill_logits(np.array(prompt, np.int32))
    first = reference.last_logits
    assert np.abs(logits - first).max() <= 2e-3 * np.abs(first).max()
    got = generate(runtime, model.tokenizer, list(prompt), 8, stop_at_eos=False).generated_ids
    assert got == want
    assert len(set(want)) > 2  # the random model does not just repeat one token
