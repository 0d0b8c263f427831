"""split-bindings end to end: a kernel whose weights are bound as parts runs on the wgpu adapter (and as MSL on
the CPU) against numpy, and a synthetic model whose embedding and output matrices are split generates exactly
what the unsplit model does."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from msl_harness import MslRunner
from wgsl_harness import context, parse

from rusty_ir.backends.msl import emit_program as emit_msl
from rusty_ir.backends.runtime import Device
from rusty_ir.backends.runtime.kernel_abi import BufferBinding, KernelInterface
from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.backends.wgsl import emit_program as emit_wgsl
from rusty_ir.driver import CompileOptions, compile_model
from rusty_ir.errors import RustyError
from rusty_ir.importers import load_model
from rusty_ir.passes.gpu.split_bindings import SplitBindingsPass
from rusty_ir.stages import DEFAULT_STAGES
from rusty_ir.synthetic import write_synthetic_gguf
from rusty_ir.targets import TARGETS

ROWS, COLS, WORDS = 40, 16, 700

# out[r] = sum_j w[r, j] * x[j] + words[17 r]: w (40 rows of 64 bytes) and words (2800 bytes) are
# both over a 1024-byte limit, so each becomes three parts at 256-byte-aligned offsets.
KERNEL = f"""
builtin.module attributes {{gpu.container_module}} {{
  "gpu.module"() <{{sym_name = "kernels"}}> ({{
    "gpu.func"() <{{function_type = (memref<{ROWS}x{COLS}xf32>, memref<{WORDS}xi32>, memref<{COLS}xf32>, memref<?xf32>) -> (), kernel}}> ({{
    ^bb0(%w: memref<{ROWS}x{COLS}xf32>, %words: memref<{WORDS}xi32>, %x: memref<{COLS}xf32>, %out: memref<?xf32>):
      %r = "gpu.thread_id"() <{{dimension = #gpu<dim x>}}> : () -> index
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %cols = arith.constant {COLS} : index
      %rows = arith.constant {ROWS} : index
      %c17 = arith.constant 17 : index
      %zero = arith.constant 0.0 : f32
      %in = arith.cmpi ult, %r, %rows : index
      scf.if %in {{
        %acc = scf.for %j = %c0 to %cols step %c1 iter_args(%a = %zero) -> (f32) {{
          %wv = memref.load %w[%r, %j] : memref<{ROWS}x{COLS}xf32>
          %xv = memref.load %x[%j] : memref<{COLS}xf32>
          %p = arith.mulf %wv, %xv : f32
          %s = arith.addf %a, %p : f32
          scf.yield %s : f32
        }}
        %k = arith.muli %r, %c17 : index
        %word = memref.load %words[%k] : memref<{WORDS}xi32>
        %f = arith.sitofp %word : i32 to f32
        %y = arith.addf %acc, %f : f32
        memref.store %y, %out[%r] : memref<?xf32>
      }}
      "gpu.return"() : () -> ()
    }}) {{sym_name = "gemv", gpu.known_block_size = array<i32: 64, 1, 1>}} : () -> ()
  }}) : () -> ()
}}
"""


def _split_kernel() -> Any:
    module = parse(KERNEL)
    SplitBindingsPass(max_bytes=1024, alignment=256).apply(context(), module)
    module.verify()
    return module


def _inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    words = rng.integers(-1000, 1000, WORDS).astype(np.int32)
    x = rng.standard_normal(COLS).astype(np.float32)
    expected = w @ x + words[17 * np.arange(ROWS)].astype(np.float32)
    return w, words, x, expected


def _parts(iface: KernelInterface) -> dict[str, tuple[int, int]]:
    return {b.name: b.byte_range for b in iface.buffers if b.byte_range is not None}


def test_split_kernel_runs_on_wgpu(device: Device) -> None:
    program = emit_wgsl(_split_kernel())
    (iface,) = program.kernels
    parts = _parts(iface)
    assert parts == {
        "w_p0": (0, 1024), "w_p1": (1024, 1024), "w_p2": (2048, 512),
        "words_p0": (0, 1024), "words_p1": (1024, 1024), "words_p2": (2048, 752),
    }  # fmt: skip
    w, words, x, expected = _inputs()
    w_buf, words_buf = device.buffer(w), device.buffer(words)
    out = device.empty(ROWS * 4)
    # the host holds one buffer per weight: every part binds its own byte range of it
    buffers = {name: (w_buf if name.startswith("w_") else words_buf) for name in parts}
    kernel = device.kernel(device.compile(program.source), iface)
    device.run([(kernel.bind({**buffers, "x": device.buffer(x), "out": out}), (1,))])
    np.testing.assert_allclose(device.read(out, np.float32, ROWS), expected, rtol=1e-5, atol=1e-4)


def test_split_kernel_runs_as_msl(msl_runner: MslRunner) -> None:
    program = emit_msl(_split_kernel())
    (iface,) = program.kernels
    w, words, x, expected = _inputs()
    whole = {"w": w.reshape(-1).view(np.uint8), "words": words.view(np.uint8)}
    # what a Metal host does with setBuffer:offset: each part is the argument's bytes from its offset
    inputs = {
        b.name: whole[b.name.rsplit("_p", 1)[0]][b.byte_range[0] : b.byte_range[0] + b.byte_range[1]].view(
            np.float32 if b.element_type == "f32" else np.int32
        )
        for b in iface.buffers
        if b.byte_range is not None
    }
    got = msl_runner.run(program, "gemv", (1,), {**inputs, "x": x}, {"out": (np.float32, (ROWS,))})["out"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_buffer_binding_byte_range(device: Device) -> None:
    """A part binds its byte range (size rounded up to a word) and round-trips through JSON; no range, no key."""
    b = BufferBinding(0, "w", 0, "read", "f32", (8,), (256, 10))
    buf = device.empty(1024)
    assert b.resource(buf) == {"buffer": buf, "offset": 256, "size": 12}  # size rounded up to a word
    assert BufferBinding.__dataclass_fields__["byte_range"].default is None
    d = KernelInterface("k", "m", "k", (1, 1, 1), (b,), None).to_dict()
    assert d["buffers"][0]["byte_range"] == [256, 10]
    assert KernelInterface.from_dict(json.loads(json.dumps(d))).buffers[0] == b
    plain = KernelInterface("k", "m", "k", (1, 1, 1), (BufferBinding(0, "w", 0, "read", "f32", (8,)),), None).to_dict()
    assert "byte_range" not in plain["buffers"][0]  # unsplit interfaces keep their JSON form


class _SmallBindings(CompileOptions):
    """The default pipeline with split-bindings limited to 8 KiB (test-tiny's 18 KiB matrices become 3 parts)."""

    def stage_spec(self, spec: str) -> str:
        return super().stage_spec(spec).replace("split-bindings{", "split-bindings{max-bytes=8192 ")


def _weights_bound_as_parts(schedule: str) -> set[str]:
    doc = json.loads(schedule)
    kernels = {k: KernelInterface.from_dict(v) for k, v in doc["kernels"].items()}
    found: set[str] = set()

    def walk(steps: list[dict[str, Any]], weights: dict[str, str]) -> None:
        for step in steps:
            if step["op"] == "weight":
                weights[step["result"]] = step["name"]
            elif step["op"] == "launch":
                for b, name in zip(kernels[step["kernel"]].buffers, step["buffers"], strict=True):
                    if b.byte_range is not None:
                        found.add(weights[name])
            for key in ("body", "then", "else"):
                if isinstance(step.get(key), list):
                    walk(step[key], weights)

    for fn in doc["functions"].values():
        walk(fn["body"], {})
    return found


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = write_synthetic_gguf("test-tiny", "q4_0", tmp_path_factory.mktemp("synthetic") / "tiny.gguf")
    return load_model(str(path))


@pytest.fixture(scope="module")
def artifacts(tiny_model: Any) -> dict[str, Any]:
    """The tiny model compiled once each way (with the logits entry), for the tests below: whole weights bound,
    and weights split at _SmallBindings' 8 KiB."""
    options = {"whole": CompileOptions(logits_entry=True), "split": _SmallBindings(logits_entry=True)}
    return {name: compile_model(tiny_model, o, use_cache=False).artifact for name, o in options.items()}


def test_split_model_generates_the_same_tokens(tiny_model: Any, artifacts: dict[str, Any], device: Device) -> None:
    runs = {}
    for name, artifact in artifacts.items():
        runs[name] = (artifact, ModelRuntime(artifact.schedule, artifact.wgsl, tiny_model.weights, 64, device=device))
    assert _weights_bound_as_parts(runs["whole"][0].schedule) == set()
    assert {"token_embd.weight", "output.weight"} <= _weights_bound_as_parts(runs["split"][0].schedule)
    prompt = np.array([1, 17, 300, 42, 511, 7], np.int32)
    tokens = {}
    for name, (_, rt) in runs.items():
        seq = [rt.prefill(prompt, 0)]
        for i in range(5):
            seq.append(rt.decode(seq[-1], len(prompt) + i))
        tokens[name] = seq
    assert tokens["split"] == tokens["whole"]
    np.testing.assert_array_equal(runs["split"][1].prefill_logits(prompt), runs["whole"][1].prefill_logits(prompt))


def test_runtime_refuses_a_whole_binding_over_the_limit(tiny_model: Any, artifacts: dict[str, Any], device: Device) -> None:
    """Without splitting, a weight over the device's binding limit is refused at load with a clear message."""
    artifact = artifacts["whole"]
    small = Device.__new__(Device)
    small.__dict__.update(device.__dict__)
    small.limits = {**device.limits, "max-storage-buffer-binding-size": 8192}
    with pytest.raises(
        RustyError,
        match=r"weight '(token_embd|output)\.weight#codes' has 16384 bytes and kernel '\w+' binds all of it; "
        r"the device binds at most 8192 \(max-storage-buffer-binding-size\)",
    ):
        ModelRuntime(artifact.schedule, artifact.wgsl, tiny_model.weights, 64, device=small)


def test_split_over_what_the_device_binds_is_refused(tiny_model: Any, artifacts: dict[str, Any], device: Device) -> None:
    artifact = artifacts["split"]
    small = Device.__new__(Device)
    small.__dict__.update(device.__dict__)
    small.limits = {**device.limits, "max-storage-buffer-binding-size": 4096}
    with pytest.raises(RustyError, match=r"binds bytes 0\.\.8192 of it; the device binds at most 4096"):
        ModelRuntime(artifact.schedule, artifact.wgsl, tiny_model.weights, 64, device=small)


def test_default_pipeline_splits_at_webgpus_limit() -> None:
    """split-bindings is a stage of the default pipeline; the limit is WebGPU's 128 MiB for every target."""
    assert ("split", "split-bindings{target=TARGET}") in DEFAULT_STAGES
    assert {t.max_binding_bytes for t in TARGETS.values()} == {128 << 20}


def test_default_limit_splits_a_llama3_8b_embedding() -> None:
    """Llama-3-8B's Q4_0 token embedding (128256 x 4096: 295436288 bytes of words) becomes 3 parts of at most 128 MiB."""
    words = 128256 * 4096 // 32 * 18 // 4
    module = parse(f"""
builtin.module attributes {{gpu.container_module}} {{
  "gpu.module"() <{{sym_name = "kernels"}}> ({{
    "gpu.func"() <{{function_type = (memref<{words}xi32>, memref<?xi32>) -> (), kernel}}> ({{
    ^bb0(%w: memref<{words}xi32>, %out: memref<?xi32>):
      %i = "gpu.global_id"() <{{dimension = #gpu<dim x>}}> : () -> index
      %v = memref.load %w[%i] : memref<{words}xi32>
      memref.store %v, %out[%i] : memref<?xi32>
      "gpu.return"() : () -> ()
    }}) {{sym_name = "embed", gpu.known_block_size = array<i32: 64, 1, 1>}} : () -> ()
  }}) : () -> ()
}}""")
    SplitBindingsPass().apply(context(), module)
    (iface,) = emit_wgsl(module).kernels
    mib128 = 128 << 20
    assert [b.byte_range for b in iface.buffers] == [(0, mib128), (mib128, mib128), (2 * mib128, words * 4 - 2 * mib128), None]
