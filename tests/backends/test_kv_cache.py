"""The KV cache's layouts on the wgpu adapter: paged (block tables, pools that grow), contiguous, f16.

A small synthetic model is compiled through every IR level with each layout; the paged and f16
caches must give what the contiguous f32 cache gives, on the real adapter (llvmpipe in CI).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tiny_runs
from tiny_runs import CONTEXT, MAX_PREFILL, PROMPT, run, synthetic_model

from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.kv_cache import KvCaches
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.backends.runtime.schedule import KvCache
from rusty_ir.driver import CompileOptions, compile_model
from rusty_ir.errors import RustyError
from rusty_ir.generate import generate

TOKENS = 12


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return synthetic_model("test-tiny", tmp_path_factory.mktemp("kv"))


def runtime(model: Any, kv_cache: str = "f32", block: int = 0) -> ModelRuntime:
    return tiny_runs.runtime(model, CompileOptions(kv_cache=kv_cache, kv_block_size=block))


@pytest.fixture(scope="module")
def contiguous(model: Any) -> tuple[list[int], np.ndarray]:
    return run(runtime(model), model, TOKENS)


@pytest.mark.parametrize("block", [4, 16])
def test_paged_cache_gives_what_the_contiguous_cache_gives(model: Any, contiguous: Any, block: int) -> None:
    rt = runtime(model, block=block)
    tokens, logits = run(rt, model, TOKENS)
    assert tokens == contiguous[0]
    np.testing.assert_allclose(logits, contiguous[1], rtol=1e-5, atol=1e-5)
    assert rt.kv_cache_report()["kv"]["block_size"] == block


def test_a_later_sequence_reads_through_a_permuted_block_table(model: Any, contiguous: Any) -> None:
    """After reset the blocks come back most recent first: the second sequence's table is not the
    identity, and its tokens are still those of a fresh runtime."""
    rt = runtime(model, block=4)
    generate(rt, model.tokenizer, PROMPT[:30], 20, stop_at_eos=False)  # 50 positions: 13 blocks
    rt.reset()
    tokens = generate(rt, model.tokenizer, PROMPT, TOKENS, stop_at_eos=False).generated_ids
    blocks = -(-(len(PROMPT) + TOKENS - 1) // 4)
    table = rt.device.read(rt._caches.buffers[("block_table", "kv")], np.int32, blocks)
    assert list(table) != list(range(blocks)), "the test needs a permuted table"
    assert sorted(table) == sorted(set(table)), "a block is held twice"
    assert tokens == contiguous[0]


def test_attention_reads_through_the_block_table(model: Any) -> None:
    """Pointing logical block 0 at a block the sequence never wrote changes the next step's logits;
    pointing it back restores them: the kernels address the pools through the table."""
    rt = runtime(model, block=4)
    rt.prefill_logits(np.array(PROMPT[:8], np.int32), 0)  # positions 0..7: blocks 0 and 1
    step = np.array([PROMPT[8]], np.int32)
    expected = rt.prefill_logits(step, 8)
    pool, table = rt._caches.pools["kv"], rt._caches.buffers[("block_table", "kv")]
    unused = next(b for b in range(pool.capacity) if b not in pool.sequence)
    rt.device.write(table, np.array([unused], np.int32))
    assert not np.allclose(rt.prefill_logits(step, 8), expected, rtol=1e-3, atol=1e-3)
    rt.device.write(table, np.array(pool.sequence[:1], np.int32))
    np.testing.assert_allclose(rt.prefill_logits(step, 8), expected, rtol=1e-6, atol=1e-6)


def test_paged_pools_grow_with_the_sequence(model: Any) -> None:
    rt = runtime(model, block=4)
    flat = runtime(model).memory_report()["kv_cache"]
    before = rt.memory_report()["kv_cache"]
    assert before < flat / 4, "the pools start with room for one prefill step, not the context"
    generate(rt, model.tokenizer, PROMPT, TOKENS, stop_at_eos=False)
    report = rt.kv_cache_report()["kv"]
    assert report["blocks_used"] == -(-(len(PROMPT) + TOKENS - 1) // 4)
    assert report["blocks_used"] <= report["blocks_allocated"] <= report["blocks_max"] == CONTEXT // 4
    assert before < rt.memory_report()["kv_cache"] <= flat + 4 * report["blocks_max"]


def test_f16_cache_halves_the_memory_and_keeps_the_logits(model: Any, contiguous: Any) -> None:
    rt = runtime(model, kv_cache="f16", block=8)
    if "shader-f16" not in rt.device.features:
        pytest.fail("the CI adapter (llvmpipe) offers shader-f16; this one does not")
    tokens, logits = run(rt, model, TOKENS)
    rel = float(np.abs(logits - contiguous[1]).max() / np.abs(contiguous[1]).max())
    assert 0 < rel < 1e-2, f"f16 cache logits off by {rel:.3g}"
    assert tokens[:4] == contiguous[0][:4]
    f32 = runtime(model, block=8)
    run(f32, model, TOKENS)  # the same sequences: the pools grew alike
    assert rt.kv_cache_report() == f32.kv_cache_report()
    assert rt.memory_report()["kv_cache"] < 0.6 * f32.memory_report()["kv_cache"]


@pytest.fixture(scope="module")
def model64(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Rows of 64 values (2 kv heads of 32): a q8_0 cache stores them in one group."""
    return synthetic_model("test-tiny-kv64", tmp_path_factory.mktemp("kv64"))


def test_q8_0_cache_decodes_what_the_reference_stores(model64: Any) -> None:
    """The GPU's q8_0 codes and f16 scales give the logits of the tensor-level interpreter, whose cache
    rounds each row through q8_0 in numpy; both are a little off the f32 cache's, at 17/64 of its bytes."""
    from rusty_ir.dialects.dispatch.interp import TensorInterpreter
    from rusty_ir.driver import compile_module
    from rusty_ir.importers.to_ir import build_module

    tensor_ir: list[Any] = []
    options = CompileOptions(kv_cache="q8_0", kv_block_size=4, logits_entry=True)
    module = build_module(model64.config, model64.weights, logits_entry=True)
    artifact = compile_module(module, options, lambda stage, ir, _: tensor_ir.append(ir.clone()) if stage == "tensor" else None)
    rt = ModelRuntime(artifact.schedule, artifact.wgsl, model64.weights, CONTEXT, max_prefill=MAX_PREFILL)
    reference = TensorInterpreter(tensor_ir[0], model64.weights, context_length=CONTEXT)
    first, second = np.array(PROMPT[:11], np.int32), np.array(PROMPT[11:14], np.int32)
    got = [rt.prefill_logits(first, 0), rt.prefill_logits(second, 11)]
    want = [reference.call("prefill_logits", first, 0), reference.call("prefill_logits", second, 11)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-4, atol=1e-4 * float(np.abs(w).max()))

    f32 = runtime(model64, block=4)
    f32.prefill_logits(first, 0)
    exact = f32.prefill_logits(second, 11)
    rel = float(np.abs(got[1] - exact).max() / np.abs(exact).max())
    assert 1e-4 < rel < 3e-2, f"q8_0 cache logits off the f32 cache's by {rel:.3g}"
    assert rt.memory_report()["kv_cache"] < 0.3 * f32.memory_report()["kv_cache"]


def test_q8_0_cache_needs_rows_of_64(model: Any) -> None:
    with pytest.raises(RustyError, match="q8_0 KV cache needs rows .* multiple of 64 values, got 32"):
        compile_model(model, CompileOptions(kv_cache="q8_0"), use_cache=False)


def test_f16_cache_needs_shader_f16() -> None:
    device = Device()
    device.features = device.features - {"shader-f16"}
    with pytest.raises(RustyError, match="no 'shader-f16' feature.*--kv-cache f32"):
        KvCaches(device, [KvCache("kv", 2, 8, "f16", 4)], 32, 8)


def test_block_allocator_hands_out_returns_and_grows() -> None:
    caches = KvCaches(Device(), [KvCache("kv", 1, 4, "f32", 2)], context_length=16, initial_tokens=4)
    pool = caches.pools["kv"]
    assert (pool.capacity, pool.max_blocks) == (2, 8)
    assert not caches.reserve(3) and pool.sequence == [0, 1]
    old = caches.buffers[("cache", "kv", 0, "k")]
    caches.device.write(old, np.arange(16, dtype=np.float32))
    assert caches.reserve(7)  # 4 blocks: the pool doubles
    new = caches.buffers[("cache", "kv", 0, "k")]
    assert new is not old and pool.capacity == 4 and pool.sequence == [0, 1, 2, 3]
    np.testing.assert_array_equal(caches.device.read(new, np.float32, 16), np.arange(16, dtype=np.float32))
    caches.reset()
    assert not caches.reserve(4) and pool.sequence == [3, 2]  # the most recently returned first
    np.testing.assert_array_equal(caches.device.read(caches.buffers[("block_table", "kv")], np.int32, 2), [3, 2])


def test_positions_past_the_context_are_refused(model: Any) -> None:
    rt = runtime(model, block=4)
    with pytest.raises(RustyError, match="exceed the context length 96"):
        rt.prefill(np.arange(3, 3 + CONTEXT + 1, dtype=np.int32), 0)


def test_kv_cache_flags_reach_the_pipeline() -> None:
    options = CompileOptions(kv_cache="f16", kv_block_size=32)
    assert "convert-transformer-to-tensor{kv-cache-type=f16 kv-block-size=32}" in options.pipeline
    assert "convert-transformer-to-tensor," in CompileOptions().pipeline  # defaults: the pass's own
    with pytest.raises(RustyError, match="unknown KV cache type 'q4'"):
        CompileOptions(kv_cache="q4")


@pytest.mark.parametrize("argv", [["run", "--kv-block-size", "-1"], ["bench", "--kv-block-size", "x"], ["compile", "--kv-cache", "q4"]])
def test_bad_kv_flags_are_refused_before_any_work(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from rusty_ir.tools.rusty import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--kv-" in err and "Traceback" not in err
