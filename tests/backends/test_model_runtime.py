"""ModelRuntime runs the hand-written tiny model (lit_tests/backends/schedule/tiny-model.mlir) on wgpu against numpy."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.device import MappedReader
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.backends.schedule import build_schedule
from rusty_ir.backends.wgsl import emit_program
from rusty_ir.errors import RustyError
from rusty_ir.ir import SourceMap, parse_module
from rusty_ir.registry import build_registry
from rusty_ir.weights import SCHEMES, TensorView

TINY = Path(__file__).resolve().parents[2] / "lit_tests" / "backends" / "schedule" / "tiny-model.mlir"
VOCAB, HIDDEN, LAYERS = 16, 8, 2


@functools.cache
def compiled() -> tuple[str, str]:
    """(schedule JSON, WGSL source) of the tiny model."""
    module = parse_module(build_registry().context(), SourceMap(str(TINY), TINY.read_text()))
    return build_schedule(module).to_json(), emit_program(module).source


def make_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = {"token_embd.weight": rng.standard_normal((VOCAB, HIDDEN)), "output.weight": rng.standard_normal((VOCAB, HIDDEN))}
    w |= {f"blk.{layer}.w": rng.standard_normal(HIDDEN) for layer in range(LAYERS)}
    return {k: v.astype(np.float32) for k, v in w.items()}


def views(weights: dict[str, np.ndarray]) -> dict[str, TensorView]:
    return {k: TensorView(k, v.shape, SCHEMES["f32"], v.reshape(-1).view(np.uint8)) for k, v in weights.items()}


class Reference:
    """The tiny model in numpy (the formulas in the lit file's header)."""

    def __init__(self, weights: dict[str, np.ndarray], context_length: int):
        self.w = weights
        self.k = np.zeros((LAYERS, context_length, HIDDEN), np.float32)
        self.v = np.zeros_like(self.k)

    def step(self, tokens: np.ndarray, pos: int) -> np.ndarray:
        h = self.w["token_embd.weight"][tokens]
        for layer in range(LAYERS):
            w = self.w[f"blk.{layer}.w"]
            self.k[layer, pos : pos + len(tokens)] = h
            self.v[layer, pos : pos + len(tokens)] = h * w
            t = np.empty_like(h)
            for s in range(len(tokens)):
                n = pos + s + 1
                acc = (self.k[layer, :n] * self.v[layer, :n]).sum(0)
                t[s] = w * np.tanh(acc / n) + np.float32(0.01 * layer)
            h = h + t
        return self.w["output.weight"] @ h[-1]  # the logits


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return make_weights()


def runtime(device: Device, weights: dict[str, np.ndarray], context_length: int = 16, **kw) -> ModelRuntime:
    schedule, wgsl_source = compiled()
    return ModelRuntime(schedule, wgsl_source, views(weights), context_length, device, **kw)


def logits_of(rt: ModelRuntime) -> np.ndarray:
    return rt.device.read(rt._buffers[("slot", 3)], np.float32, VOCAB)  # white box: the logits slot


@pytest.mark.parametrize("spin", [False, True])
def test_prefill_and_decode_match_numpy(device: Device, weights, spin: bool):
    """Each step's logits against numpy; read back with a blocking wait and by polling without blocking (the
    ``MappedReader.spin`` a GPU adapter gets)."""
    rt = runtime(device, weights)
    rt._reader.spin = spin
    ref = Reference(weights, 16)
    prompt = np.array([3, 1, 4, 1, 5], np.int32)
    expected = ref.step(prompt, 0)
    token = rt.prefill(prompt, 0)
    np.testing.assert_allclose(logits_of(rt), expected, rtol=1e-5, atol=1e-5)
    assert token == int(np.argmax(expected))
    # Greedy decoding of this model settles on one token, so feed chosen ones too: every step reads the cache.
    for pos, fed in enumerate([token, 9, 2, 6, 5, 3], start=len(prompt)):
        expected = ref.step(np.array([fed], np.int32), pos)
        token = rt.decode(fed, pos)
        np.testing.assert_allclose(logits_of(rt), expected, rtol=1e-5, atol=1e-5)
        assert token == int(np.argmax(expected))


def test_decode_depends_on_the_cache(device: Device, weights):
    rt = runtime(device, weights)
    rt.prefill(np.array([1, 2, 3], np.int32), 0)
    rt.decode(4, 3)
    after_123 = logits_of(rt)
    rt.reset()
    rt.prefill(np.array([9, 9, 9], np.int32), 0)
    rt.decode(4, 3)
    assert not np.allclose(logits_of(rt), after_123)


def test_counts_and_memory(device: Device, weights):
    rt = runtime(device, weights, context_length=16, max_prefill=4)
    assert rt.name == "wgpu" and rt.context_length == 16
    assert rt.dispatches_per_step("prefill") == rt.dispatches_per_step("decode") == 1 + 3 * LAYERS + 2
    report = rt.memory_report()
    assert report["weights"] == sum(v.nbytes for v in weights.values())
    assert report["kv_cache"] == LAYERS * 2 * 16 * HIDDEN * 4
    assert report["slots"] == 3 * 4 * HIDDEN * 4 + VOCAB * 4  # slots 0-2 sized for S = max_prefill = 4
    assert report["total"] == sum(v for k, v in report.items() if k != "total")


def test_chunked_prefill_and_reset(device: Device, weights):
    prompt = np.array([7, 2, 9, 2, 6, 5, 3], np.int32)
    expected = int(np.argmax(Reference(weights, 16).step(prompt, 0)))
    rt = runtime(device, weights, max_prefill=3)
    assert rt.prefill(prompt, 0) == expected
    rt.reset()
    first = rt.prefill(prompt[:4], 0)
    rt.reset()
    assert rt.prefill(prompt[:4], 0) == first  # a new sequence over old cache contents gives the same answer


def test_context_length_is_checked_before_any_dispatch(device: Device, weights, monkeypatch):
    rt = runtime(device, weights, context_length=6)
    submits = count_submits(device, monkeypatch)
    with pytest.raises(RustyError, match="7 tokens at position 0 exceed the context length 6"):
        rt.prefill(np.arange(7, dtype=np.int32), 0)
    with pytest.raises(RustyError, match="1 token at position 6 exceed the context length 6"):
        rt.decode(1, 6)
    with pytest.raises(RustyError, match="at least one token"):
        rt.prefill(np.zeros(0, np.int32), 0)
    assert submits == []
    rt.prefill(np.arange(5, dtype=np.int32), 0)
    rt.decode(1, 5)  # the last position fits


def count_submits(device: Device, monkeypatch) -> list[int]:
    """Record each queue submit of command buffers (the number of buffers per submit): wgpu-py's, and those
    ``MappedReader.submit`` makes through wgpu-native's C call.

    wgpu-py's ``GPUBuffer.map_async`` submits an empty command buffer of its
    own to drive the mapping; those are not counted.
    """
    calls: list[int] = []
    queue_type = type(device.device.queue)
    original = queue_type.submit
    reader_submit = MappedReader.submit

    def submit(self, command_buffers):
        if sys._getframe(1).f_code.co_name != "map_async":
            calls.append(len(command_buffers))
        return original(self, command_buffers)

    def submit_one(self, commands):
        if self.per_submission:  # else it calls wgpu-py's submit, counted there
            calls.append(1)
        return reader_submit(self, commands)

    monkeypatch.setattr(MappedReader, "submit", submit_one)
    monkeypatch.setattr(queue_type, "submit", submit)
    return calls


def test_one_submit_per_decode_step(device: Device, weights, monkeypatch):
    rt = runtime(device, weights)
    token = rt.prefill(np.array([1, 2, 3], np.int32), 0)
    submits = count_submits(device, monkeypatch)
    for pos in range(3, 8):
        token = rt.decode(token, pos)
    assert submits == [1] * 5


def test_schedule_and_weight_errors(device: Device, weights):
    schedule, wgsl_source = compiled()
    with pytest.raises(RustyError, match="invalid JSON at line 1"):
        ModelRuntime("{", wgsl_source, views(weights), 8, device)
    data = json.loads(schedule)
    with pytest.raises(RustyError, match="schedule version 99 is not supported"):
        ModelRuntime({**data, "version": 99}, wgsl_source, views(weights), 8, device)
    with pytest.raises(RustyError, match="not a rusty-ir schedule"):
        ModelRuntime({**data, "format": "other"}, wgsl_source, views(weights), 8, device)
    broken = json.loads(schedule)
    broken["functions"]["layer"]["body"][4]["expr"] = ["pow", "n", 2]
    with pytest.raises(RustyError, match=r"functions.layer.body\[4\] \(let\).expr: expected \[op, a, b\]"):
        ModelRuntime(broken, wgsl_source, views(weights), 8, device)
    broken = json.loads(schedule)
    del broken["functions"]["decode"]["body"][0]["buffer"]
    with pytest.raises(RustyError, match=r"functions.decode.body\[0\] \(dim\) has no 'buffer'"):
        ModelRuntime(broken, wgsl_source, views(weights), 8, device)
    broken = json.loads(schedule)
    broken["functions"]["layer"]["body"][7]["buffers"][0] = "nowhere"
    with pytest.raises(RustyError, match=r"layer.body\[7\] \(launch\): unknown value 'nowhere'"):
        ModelRuntime(broken, wgsl_source, views(weights), 8, device)
    partial = views(weights)
    del partial["blk.1.w"]
    with pytest.raises(RustyError, match=r"binds weight 'blk.1.w' \(from 'blk.\{\}.w'\), which the weights do not have"):
        ModelRuntime(schedule, wgsl_source, partial, 8, device)
    wrong = views(weights | {"output.weight": np.zeros((VOCAB, 4), np.float32)})
    with pytest.raises(RustyError, match=r"'output.weight' is f32\[16, 4\] in the weights but f32\[16, 8\] in the schedule"):
        ModelRuntime(schedule, wgsl_source, wrong, 8, device)


def test_expansion_errors(device: Device, weights):
    schedule, wgsl_source = compiled()
    data = json.loads(schedule)
    loop = data["functions"]["prefill"]["body"][7]
    loop["upper"] = "S"
    with pytest.raises(
        RustyError, match=r"prefill.body\[7\] \(loop\): a loop bound must be a constant when the schedule is expanded, got S"
    ):
        ModelRuntime(data, wgsl_source, views(weights), 8, device)
    data = json.loads(schedule)
    data["functions"]["prefill"]["body"][7]["yield"] = ["in", "in"]  # the layer would write the buffer it reads
    with pytest.raises(RustyError, match="kernel 'residual' binds slot:0 twice and writes it"):
        ModelRuntime(data, wgsl_source, views(weights), 8, device)
    data = json.loads(schedule)
    data["kv_caches"][0]["num_layers"] = 1
    with pytest.raises(RustyError, match=r"no 'k' cache buffer of layer 1 in cache 'kv'"):
        ModelRuntime(data, wgsl_source, views(weights), 8, device)
    data = json.loads(schedule)
    data["functions"]["decode"]["args"][1]["kind"] = "i32"
    with pytest.raises(RustyError, match=r"entry 'decode' must take \(tokens: i32 buffer \[S\], pos: index, out: i32 buffer \[1\]\)"):
        ModelRuntime(data, wgsl_source, views(weights), 8, device)


def _rss_mib() -> int:
    return next(int(line.split()[1]) // 1024 for line in open("/proc/self/status") if line.startswith("VmRSS"))


def test_uploaded_mapped_weights_leave_the_resident_set(tmp_path):
    """release_mapped_pages drops a memory-mapped tensor's pages (they re-read from the file) and
    leaves ordinary arrays alone."""
    from rusty_ir.backends.runtime.model import release_mapped_pages

    path = tmp_path / "w.bin"
    np.arange(40_000_000, dtype=np.int32).tofile(path)  # 160 MB
    mapped = np.memmap(path, np.uint8, mode="r")[12_345:]
    checksum = int(mapped[::4096].sum())  # touches every page
    before = _rss_mib()
    assert release_mapped_pages(mapped)
    assert before - _rss_mib() > 100
    assert int(mapped[::4096].sum()) == checksum
    plain = np.ones(1 << 20, np.uint8)
    assert not release_mapped_pages(plain) and int(plain.sum()) == 1 << 20
