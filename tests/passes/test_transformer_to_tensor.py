"""convert-transformer-to-tensor numerics: each tfm op, and the tiny model, on numpy before and after the pass.

Before: the tfm reference interpreter (``ReferenceInterpreter``). After: the tensor-level numpy
interpreter (``TensorInterpreter``). They must agree within 1e-5 relative on random inputs.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import DYNAMIC_INDEX, FunctionType, IndexType, MemRefType, ModuleOp, f16, i32
from xdsl.ir import SSAValue
from xdsl.rewriter import Rewriter

from rusty_ir.dialects import transformer as tfm
from rusty_ir.dialects.dispatch import CacheOp, KvCacheOp
from rusty_ir.dialects.dispatch.interp import TensorInterpreter
from rusty_ir.dialects.linalg_ext import AttentionOp, CacheAppendOp
from rusty_ir.dialects.quant import Q8_0Type, block_quant_type
from rusty_ir.dialects.transformer.interp import ReferenceInterpreter
from rusty_ir.passes.conversion.transformer_to_tensor import ConvertTransformerToTensorPass
from rusty_ir.registry import build_registry
from rusty_ir.weights import TensorView, WeightStore

DYN = DYNAMIC_INDEX
INDEX = IndexType()
RTOL = 1e-5


def load_tiny() -> ModuleType:
    """tests/dialects/test_transformer_interp.py (build_model, random_store, helpers), loaded by path."""
    path = Path(__file__).resolve().parents[1] / "dialects" / "test_transformer_interp.py"
    spec = importlib.util.spec_from_file_location("rusty_tiny_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiny = load_tiny()
t = tiny.t


def convert(module: ModuleOp) -> ModuleOp:
    converted = module.clone()
    ConvertTransformerToTensorPass().apply(build_registry().context(), converted)
    converted.verify()
    assert not [op for op in converted.walk() if op.dialect_name() == "tfm"]
    return converted


def both(module: ModuleOp, args: tuple[object, ...], weights: dict[str, TensorView] | None = None) -> tuple[object, object]:
    store = WeightStore(weights or {})
    before = ReferenceInterpreter(module, store, max_context=16).call("f", *args)
    after = TensorInterpreter(convert(module), store, context_length=16).call("f", *args)
    return before, after


def assert_close(before: object, after: object) -> None:
    a, b = np.asarray(before), np.asarray(after)
    assert a.shape == b.shape
    np.testing.assert_allclose(b, a, rtol=RTOL, atol=RTOL * max(1.0, float(np.abs(a).max())))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# (name, arg types, body, args from rng, weights from rng)
Case = tuple[str, list, Callable[..., list[SSAValue]], Callable[[np.random.Generator], tuple], Callable[[np.random.Generator], dict]]


def _w(name: str, shape: tuple[int, ...], scheme: str) -> Callable[[np.random.Generator], dict]:
    return lambda rng: {name: tiny.store_tensor(name, rng.standard_normal(shape).astype(np.float32), scheme)}


def _x(*shapes: tuple[int, ...]) -> Callable[[np.random.Generator], tuple]:
    return lambda rng: tuple(rng.standard_normal(s).astype(np.float32) * 2 for s in shapes)


CASES: list[Case] = [
    ("add", [t(DYN, 8), t(DYN, 8)], lambda a, b: [tfm.AddOp(a, b).result], _x((3, 8), (3, 8)), lambda rng: {}),
    ("mul", [t(DYN, 8), t(DYN, 8)], lambda a, b: [tfm.MulOp(a, b).result], _x((3, 8), (3, 8)), lambda rng: {}),
    ("silu", [t(DYN, 8)], lambda a: [tfm.SiluOp(a).result], _x((5, 8)), lambda rng: {}),
    ("gelu_tanh", [t(DYN, 8)], lambda a: [tfm.GeluOp(a, "tanh").result], _x((5, 8)), lambda rng: {}),
    ("softmax", [t(DYN, 8)], lambda a: [tfm.SoftmaxOp(a).result], _x((4, 8)), lambda rng: {}),
    (
        "rms_norm_f16_weight",
        [t(DYN, 32)],
        lambda a: [tfm.RmsNormOp(a, tfm.WeightOp("n.w", t(32, elem=f16)), 1e-5).result],
        _x((3, 32)),
        _w("n.w", (32,), "f16"),
    ),
    (
        "rms_norm_per_head",
        [t(DYN, 32)],
        lambda a: [tfm.RmsNormOp(a, tfm.WeightOp("n.w", t(8)), 1e-6, head_dim=8).result],
        _x((3, 32)),
        _w("n.w", (8,), "f32"),
    ),
    (
        "linear_q4_0_bias",
        [t(DYN, 64), INDEX, t(12)],
        lambda a, layer, bias: [
            tfm.LinearOp(a, tfm.WeightOp("blk.{}.w", t(12, 64, elem=block_quant_type("q4_0")), layer=layer), t(DYN, 12), bias=bias).result
        ],
        lambda rng: (rng.standard_normal((3, 64)).astype(np.float32), 1, rng.standard_normal(12).astype(np.float32)),
        _w("blk.1.w", (12, 64), "q4_0"),
    ),
    (
        "linear_f16",
        [t(DYN, 32)],
        lambda a: [tfm.LinearOp(a, tfm.WeightOp("w", t(8, 32, elem=f16)), t(DYN, 8)).result],
        _x((2, 32)),
        _w("w", (8, 32), "f16"),
    ),
    (
        "embedding_q8_0",
        [t(DYN, elem=i32)],
        lambda tok: [tfm.EmbeddingOp(tok, tfm.WeightOp("emb", t(10, 32, elem=block_quant_type("q8_0"))), t(DYN, 32)).result],
        lambda rng: (np.array([3, 0, 9, 3], np.int32),),
        _w("emb", (10, 32), "q8_0"),
    ),
    (
        "rope_half",
        [t(DYN, 16), INDEX],
        lambda x, pos: [tfm.RopeOp(x, pos, 8, 10000.0, "half").result],
        lambda rng: (rng.standard_normal((3, 16)).astype(np.float32), 5),
        lambda rng: {},
    ),
    (
        "rope_interleaved",
        [t(DYN, 16), INDEX],
        lambda x, pos: [tfm.RopeOp(x, pos, 8, 500000.0, "interleaved").result],
        lambda rng: (rng.standard_normal((3, 16)).astype(np.float32), 2),
        lambda rng: {},
    ),
    (
        "rope_scaled_factors_weight",  # RoPE scaling: per-pair frequency divisors read from a stored weight
        [t(DYN, 16), INDEX],
        lambda x, pos: [tfm.RopeOp(x, pos, 8, 10000.0, "half", tfm.WeightOp("rope_freqs.weight", t(4))).result],
        lambda rng: (rng.standard_normal((3, 16)).astype(np.float32), 9),
        lambda rng: {"rope_freqs.weight": tiny.store_tensor("rope_freqs.weight", np.array([1.0, 1.7, 6.5, 8.0], np.float32), "f32")},
    ),
    (
        "logits_norm_argmax",
        [t(DYN, 32), t(32)],
        lambda h, w: [tfm.LogitsOp(tfm.RmsNormOp(h, w, 1e-5), tfm.WeightOp("emb", t(16, 32, elem=block_quant_type("q8_0"))), t(16)).result],
        lambda rng: (rng.standard_normal((4, 32)).astype(np.float32), rng.standard_normal(32).astype(np.float32)),
        _w("emb", (16, 32), "q8_0"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_reference(case: Case, rng: np.random.Generator) -> None:
    _, types, body, make_args, make_weights = case
    module = tiny.one_func_module(types, body)
    before, after = both(module, make_args(rng), make_weights(rng))
    assert_close(before, after)


def test_argmax_becomes_a_one_element_tensor(rng: np.random.Generator) -> None:
    module = tiny.one_func_module([t(16)], lambda x: [tfm.ArgmaxOp(x).result])
    x = rng.standard_normal(16).astype(np.float32)
    before, after = both(module, (x,))
    assert before == int(np.argmax(x))
    np.testing.assert_array_equal(after, [before])


def test_row_argmax_is_each_rows_argmax(rng: np.random.Generator) -> None:
    """tfm.row_argmax (speculative decoding's @verify) before and after lowering: the first maximum on ties."""
    module = tiny.one_func_module([t(DYN, 40)], lambda x: [tfm.RowArgmaxOp(x).result])
    x = rng.standard_normal((5, 40)).astype(np.float32)
    x[1, 7] = x[1, 30] = 9.0  # a tie: the smaller index
    x[3, 39] = 9.0  # the last column
    before, after = both(module, (x,))
    np.testing.assert_array_equal(before, np.argmax(x, axis=1))
    np.testing.assert_array_equal(after, before)
    assert list(after[[1, 3]]) == [7, 39]


@pytest.mark.parametrize(("window", "softcap"), [(None, None), (2, 0.5)])
def test_attention_prefill_then_decode(rng: np.random.Generator, window: int | None, softcap: float | None) -> None:
    """GQA attention over the cache: prefill 3 rows, then a 1-row step at pos 3, same interpreter state; also with a
    sliding window of 2 positions and soft-capped scores."""
    heads, kv_heads, hd = 4, 2, 4
    module = tiny.one_func_module(
        [t(DYN, heads * hd), t(DYN, kv_heads * hd), t(DYN, kv_heads * hd), INDEX, INDEX],
        lambda q, k, v, pos, layer: [
            tfm.AttentionOp(
                q,
                k,
                v,
                pos,
                layer,
                cache="kv",
                num_heads=heads,
                num_kv_heads=kv_heads,
                head_dim=hd,
                scale=1 / math.sqrt(hd),
                window=window,
                softcap=softcap,
            ).result
        ],
        prelude=[tfm.KvCacheOp("kv", 2, kv_heads, hd)],
    )
    ref = ReferenceInterpreter(module, WeightStore({}), max_context=16)
    new = TensorInterpreter(convert(module), {}, context_length=16)
    for rows, pos, layer in ((3, 0, 1), (1, 3, 1), (2, 0, 0)):
        q, k, v = (rng.standard_normal((rows, w)).astype(np.float32) for w in (heads * hd, kv_heads * hd, kv_heads * hd))
        assert_close(ref.call("f", q, k, v, pos, layer), new.call("f", q, k, v, pos, layer))


def test_q8_0_cache_is_words(rng: np.random.Generator) -> None:
    """A q8_0 KV cache's buffers are the i32 words of its rows (64 values: 16 words of codes, 1 of scales), an
    upstream memref; the scheme is the declaration's ``element_type`` and the ops' ``cache_element``. The tensor
    interpreter rounds the rows through q8_0: a little off the f32 cache's attention."""
    heads, kv_heads, hd = 4, 4, 16
    module = tiny.one_func_module(
        [t(DYN, heads * hd), t(DYN, kv_heads * hd), t(DYN, kv_heads * hd), INDEX, INDEX],
        lambda q, k, v, pos, layer: [
            tfm.AttentionOp(q, k, v, pos, layer, cache="kv", num_heads=heads, num_kv_heads=kv_heads, head_dim=hd, scale=0.25).result
        ],
        prelude=[tfm.KvCacheOp("kv", 2, kv_heads, hd)],
    )
    q8 = module.clone()
    ConvertTransformerToTensorPass(kv_cache_type="q8_0").apply(build_registry().context(), q8)
    q8.verify()
    words = MemRefType(i32, [DYN, 17])
    decl = next(op for op in q8.walk() if isinstance(op, KvCacheOp))
    assert isinstance(decl.cache_element_type, Q8_0Type) and decl.buffer_type == words
    assert [op.result.type for op in q8.walk() if isinstance(op, CacheOp)] == [words, words]
    users = [op for op in q8.walk() if isinstance(op, CacheAppendOp | AttentionOp)]
    assert len(users) == 2 and all(isinstance(op.cache_element, Q8_0Type) for op in users)
    args = (*(rng.standard_normal((3, w)).astype(np.float32) for w in (heads * hd, kv_heads * hd, kv_heads * hd)), 0, 1)
    exact = np.asarray(TensorInterpreter(convert(module), {}, context_length=16).call("f", *args))
    got = np.asarray(TensorInterpreter(q8, {}, context_length=16).call("f", *args))
    rel = float(np.abs(got - exact).max() / np.abs(exact).max())
    assert 1e-5 < rel < 3e-2, f"q8_0 cache attention off the f32 cache's by {rel:.3g}"


def prefill_logits(module: ModuleOp) -> ModuleOp:
    """The tiny model with one more entry, @prefill_logits: @prefill returning the logits instead of their argmax."""
    out = module.clone()
    prefill = next(op for op in out.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "prefill")
    logits_fn = prefill.clone()
    logits_fn.sym_name = type(prefill.sym_name)("prefill_logits")
    argmax = next(op for op in logits_fn.walk() if isinstance(op, tfm.ArgmaxOp))
    ret = logits_fn.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    Rewriter.replace_op(ret, func.ReturnOp(argmax.input))
    Rewriter.erase_op(argmax)
    logits_fn.function_type = FunctionType.from_lists(logits_fn.function_type.inputs.data, [t(tiny.VOCAB)])
    out.body.block.add_op(logits_fn)
    out.verify()
    return out


def test_tiny_model_tokens_and_logits() -> None:
    rng = np.random.default_rng(1234)
    module = prefill_logits(tiny.build_model())
    store, _ = tiny.random_store(rng)
    ref = ReferenceInterpreter(module, store, max_context=16)
    new = TensorInterpreter(convert(module), store, context_length=16)
    prompt = np.array([3, 1, 4, 1, 5], np.int32)
    want_logits = ref.call("prefill_logits", prompt, 0)
    got_logits = new.call("prefill_logits", prompt, 0)
    assert_close(want_logits, got_logits)
    assert abs(float(got_logits[7]) - float(want_logits[7])) <= RTOL * max(1.0, abs(float(want_logits[7])))
    ref.reset()
    new.reset()
    sequence = list(prompt)
    token = ref.prefill(prompt, 0)
    got = new.call("prefill", prompt, 0)
    for _ in range(4):
        assert int(np.asarray(got)[0]) == token, sequence
        sequence.append(token)
        token = ref.decode(token, len(sequence) - 1)
        got = new.call("decode", np.array([sequence[-1]], np.int32), len(sequence) - 1)
    assert int(np.asarray(got)[0]) == token
