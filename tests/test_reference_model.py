"""Real checkpoints imported as tfm IR and run by the reference interpreter, against Hugging Face.

1. SmolLM2-135M-Instruct (GGUF Q4_1, and the same weights as a float32 safetensors folder)
   against tests/data/oracle: prompt ids, 32 greedy ids, first-step logits within 1e-3.
2. Tiny random checkpoints (qwen2 with biases, a SentencePiece llama GGUF, a BF16 folder)
   against tests/data/hf_reference.json, which scripts/make_hf_references.py made with
   transformers on the same bytes.
3. The shape of the IR (size independent of depth, weights as layer-indexed symbols) and
   the generation loop's contract.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import oracle_checks
import pytest
from importers.tiny import HF_REFERENCE_PROMPT, HF_REFERENCE_STEPS, hf_reference_checkpoints
from oracle_checks import max_rel_err
from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, ModuleOp, StringAttr

from rusty_ir.dialects.transformer import RopeOp
from rusty_ir.errors import RustyError
from rusty_ir.generate import GenerationResult, ReferenceBackend, Session, generate
from rusty_ir.importers import load_model
from rusty_ir.importers.to_ir import build_module
from rusty_ir.speculative import SpeculativeOptions, Speculator
from rusty_ir.weights import SCHEMES, TensorView, WeightStore

DATA = Path(__file__).resolve().parent / "data"
SPECULATIVE = {"unicode_mixed": 16}
"""Oracle prompts also decoded speculatively (prompt lookup) on the GGUF run, and how many of their tokens:
they must be plain greedy's, token for token (unicode_mixed: most drafts accepted, some rejected)."""
NEAR_TIE = 1e-3
"""A greedy mismatch is accepted only where the reference's top-two logits are closer than this."""
LOGITS_REL_TOL = 1e-3


def compare_greedy(got: list[int], want: list[int], steps: list[dict[str, Any]], what: str) -> int:
    return oracle_checks.compare_greedy(got, want, steps, what, NEAR_TIE)


# --- 1. SmolLM2 against the oracle ---------------------------------------------------------------


@pytest.fixture(scope="session")
def smollm2_runs(smollm2: Any, smollm2_hf_folder: Path) -> dict[str, tuple[Any, ReferenceBackend]]:
    """Per source, the loaded model and a reference backend that keeps the first-step logits."""
    runs: dict[str, tuple[Any, ReferenceBackend]] = {}
    for source, model in (("gguf", smollm2), ("safetensors", load_model(smollm2_hf_folder))):
        module = build_module(model.config, model.weights, logits_entry=True, verify_entry=source == "gguf")
        runs[source] = (model, ReferenceBackend(module, model.weights, 512, keep_logits=True))
    return runs


def test_safetensors_folder_is_the_same_model(smollm2: Any, smollm2_hf_folder: Path) -> None:
    folder = load_model(smollm2_hf_folder)
    assert folder.format == "safetensors" and folder.config.rope_style == "half"
    assert smollm2.config.rope_style == "interleaved"
    assert folder.weights["blk.0.attn_q.weight"].scheme.name == "f32"


@pytest.mark.parametrize("source", ["gguf", "safetensors"])
def test_smollm2_matches_oracle(source: str, smollm2_runs: dict, oracle: dict, oracle_logits: dict) -> None:
    model, backend = smollm2_runs[source]
    assert len(oracle["prompts"]) >= 5
    compared: dict[str, int] = {}
    for p in oracle["prompts"]:
        what = f"{source} {p['name']}"
        ids = model.tokenizer.encode_chat(p["messages"]) if p.get("messages") else model.tokenizer.encode(p["prompt_text"])
        assert ids == p["input_ids"], f"{what}: prompt ids differ"
        session = Session(backend, model.tokenizer)
        result = session.generate(ids, len(p["generated_ids"]), stop_at_eos=False)
        assert backend.last_logits is not None
        err = max_rel_err(backend.last_logits, oracle_logits[p["name"]])
        assert err < LOGITS_REL_TOL, f"{what}: first-step logits off by {err:.3g} (relative to max |logit|)"
        compared[p["name"]] = compare_greedy(result.generated_ids, p["generated_ids"], p["greedy_steps"], what)
        assert result.text == model.tokenizer.decode(result.generated_ids)
        if source == "gguf" and p["name"] in SPECULATIVE:  # the cache holds the prompt: only its last token is run again
            n = SPECULATIVE[p["name"]]
            spec = session.generate(ids, n, stop_at_eos=False, speculative=Speculator(SpeculativeOptions("lookup", 4)))
            assert spec.generated_ids == result.generated_ids[:n], f"{what}: speculative greedy differs from plain greedy"
            assert spec.speculative is not None and spec.speculative["verify_steps"] > 0, spec.speculative
    print(f"\n{source}: greedy ids compared per prompt: {compared}")


# --- 2. tiny checkpoints against transformers -------------------------------------------------------


@pytest.fixture(scope="module")
def hf_reference() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return oracle_checks.hf_reference("hf_reference")


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hf_reference_checkpoints(tmp_path_factory.mktemp("hf_tiny"), DATA)


@pytest.mark.parametrize("name", ["qwen2_bias", "llama_spm", "llama_bf16_folder"])
def test_tiny_checkpoint_matches_transformers(name: str, hf_reference: tuple, tiny_checkpoints: dict) -> None:
    report, logits = hf_reference
    ref = report["checkpoints"][name]
    model = load_model(tiny_checkpoints[name])
    # The fixture rebuilt the checkpoint transformers saw (same config; bytes are seeded).
    assert model.config.to_dict() == ref["config"], f"{name}: tests/importers/tiny.py changed; rerun the script"
    ids = model.tokenizer.encode(report["prompt_text"])
    assert ids == ref["prompt_ids"], f"{name}: prompt ids differ from {ref['prompt_ids_source']}"
    module = build_module(model.config, model.weights, logits_entry=True)
    backend = ReferenceBackend(module, model.weights, 64, keep_logits=True)
    result = generate(backend, model.tokenizer, ids, report["steps"], stop_at_eos=False)
    assert backend.last_logits is not None
    err = max_rel_err(backend.last_logits, logits[name])
    assert err < LOGITS_REL_TOL, f"{name}: first-step logits off by {err:.3g}"
    compare_greedy(result.generated_ids, ref["generated_ids"], ref["greedy_steps"], name)


def test_tiny_checkpoints_cover_what_they_claim(tiny_checkpoints: dict) -> None:
    qwen = load_model(tiny_checkpoints["qwen2_bias"])
    assert qwen.config.qkv_bias and qwen.config.tied_embeddings and qwen.weights["blk.0.attn_q.weight"].scheme.name == "q8_0"
    spm = load_model(tiny_checkpoints["llama_spm"])
    assert spm.config.rope_style == "interleaved" and not spm.config.tied_embeddings
    assert spm.metadata["tokenizer.ggml.model"] == "llama" and spm.weights["blk.0.ffn_up.weight"].scheme.name == "f16"
    bf16 = load_model(tiny_checkpoints["llama_bf16_folder"])
    assert bf16.format == "safetensors" and {v.scheme.name for v in bf16.weights.values()} == {"bf16"}
    assert HF_REFERENCE_STEPS >= 8 and HF_REFERENCE_PROMPT


# --- 3. the IR ---------------------------------------------------------------------------------------


def _op_counts(module: ModuleOp) -> Counter[str]:
    return Counter(op.name for op in module.walk())


def test_ir_size_does_not_depend_on_depth(smollm2: Any) -> None:
    full = build_module(smollm2.config, smollm2.weights)
    shallow = build_module(smollm2.config.replace(n_layers=2), smollm2.weights)
    assert _op_counts(full) == _op_counts(shallow)
    counts = _op_counts(full)
    assert counts["func.call"] == 2 and counts["scf.for"] == 2  # one loop in @prefill, one in @decode
    assert counts["tfm.attention"] == 1 and counts["tfm.kv_cache"] == 1
    text = str(full)
    assert 'tfm.weight "blk.{}.attn_q.weight"[%' in text
    assert "tensor<576x576x!rquant.q4_1>" in text and "tensor<49152x576x!rquant.q8_0>" in text
    assert '"output.weight"' not in text  # tied head: the logits read token_embd.weight


def test_ir_entries_and_config(smollm2: Any) -> None:
    module = build_module(smollm2.config, smollm2.weights)
    funcs = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp)}
    assert set(funcs) == {"decoder_layer", "prefill", "decode"}
    assert str(funcs["prefill"].function_type) == "(tensor<?xi32>, index) -> i32"
    assert str(funcs["decode"].function_type) == "(tensor<1xi32>, index) -> i32"
    layer_inputs = [str(t) for t in funcs["decoder_layer"].function_type.inputs]
    assert layer_inputs[:3] == ["tensor<?x576xf32>", "index", "index"] and len(layer_inputs) == 3 + 9
    cfg = module.attributes["tfm.config"]
    assert isinstance(cfg, DictionaryAttr)
    n_layers, rope_style = cfg.data["n_layers"], cfg.data["rope_style"]
    assert isinstance(n_layers, IntegerAttr) and n_layers.value.data == 30
    assert isinstance(rope_style, StringAttr) and rope_style.data == "interleaved"
    rope = next(op for op in module.walk() if isinstance(op, RopeOp))
    assert rope.style.data == "interleaved" and rope.theta.value.data == 100000.0


def test_ir_qwen2_biases_and_untied_head(tiny_checkpoints: dict) -> None:
    qwen = load_model(tiny_checkpoints["qwen2_bias"])
    text = str(build_module(qwen.config, qwen.weights))
    for t in "qkv":
        assert f'tfm.weight "blk.{{}}.attn_{t}.bias"[%' in text
    assert text.count("tfm.linear") == 7 and '"half"' in text
    spm = load_model(tiny_checkpoints["llama_spm"])
    assert 'tfm.weight "output.weight"' in str(build_module(spm.config, spm.weights))


def test_ir_mixed_layer_schemes_get_a_function_per_signature(smollm2: Any) -> None:
    """One layer storing ffn_down in another scheme (as mixed quantizations do): its own @decoder_layer_1, one
    call per layer, that tensor loaded by its own name in every layer (tests/importers/test_mixed_quant.py runs
    such a file on both backends)."""
    views = dict(smollm2.weights)
    old = views["blk.3.ffn_down.weight"]
    sch = SCHEMES["q8_0"]
    views[old.name] = TensorView(old.name, old.shape, sch, np.zeros(sch.nbytes(old.shape), np.uint8))
    module = build_module(smollm2.config, WeightStore(views))
    decode = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "decode")
    calls = [op.callee.root_reference.data for op in decode.walk() if isinstance(op, func.CallOp)]
    assert len(calls) == smollm2.config.n_layers and calls[3] == "decoder_layer_1" and set(calls[:3] + calls[4:]) == {"decoder_layer"}
    text = str(decode)
    assert 'tfm.weight "blk.3.ffn_down.weight" : tensor<576x1536x!rquant.q8_0>' in text
    assert 'tfm.weight "blk.0.ffn_down.weight" : tensor<576x1536x!rquant.q4_1>' in text
    assert 'tfm.weight "blk.{}.attn_q.weight"[%' in text and "blk.{}.ffn_down" not in text


# --- the generation loop -----------------------------------------------------------------------------


class _CountingBackend:
    """Wraps a backend and counts its calls."""

    def __init__(self, inner: ReferenceBackend) -> None:
        self.inner, self.name, self.context_length = inner, "counting", inner.context_length
        self.calls: list[str] = []

    def prefill(self, tokens: np.ndarray, pos: int) -> int:
        self.calls.append("prefill")
        return self.inner.prefill(tokens, pos)

    def decode(self, token: int, pos: int) -> int:
        self.calls.append("decode")
        return self.inner.decode(token, pos)

    def reset(self) -> None:
        self.calls.append("reset")
        self.inner.reset()


def test_generate_streams_stops_at_eos_and_checks_context(smollm2_runs: dict, oracle: dict) -> None:
    model, backend = smollm2_runs["gguf"]
    chat = next(p for p in oracle["prompts"] if p.get("messages"))
    eos = model.config.eos_token_ids[0]
    assert eos in chat["generated_ids"], "the oracle's chat answer should end with EOS"
    pieces: list[str] = []
    counting = _CountingBackend(backend)
    result: GenerationResult = generate(counting, model.tokenizer, chat["input_ids"], 32, on_text=pieces.append)
    end = chat["generated_ids"].index(eos) + 1
    assert result.generated_ids == chat["generated_ids"][:end] and result.stopped_at_eos
    assert "".join(pieces) == result.text == model.tokenizer.decode(result.generated_ids)
    assert counting.calls == ["reset", "prefill"] + ["decode"] * (end - 1)
    t = result.timings
    assert t.decode_tokens == end - 1 and t.prefill_s > 0 and t.decode_tokens_per_s > 0
    assert t.time_to_first_token_s == t.prefill_s

    counting.calls.clear()
    small = _CountingBackend(ReferenceBackend(backend.interpreter.module, model.weights, 8))
    with pytest.raises(RustyError, match=r"prompt of 42 tokens \+ 4 new tokens exceeds the context length 8"):
        generate(small, model.tokenizer, chat["input_ids"], 4)
    assert small.calls == []  # refused before any compute
