"""SmolLM2 compiled with `--target msl`: every kernel compiles against the stand-in <metal_stdlib> and matches numpy.

The model is compiled once per session (apple tuning, MSL). The kernels are built with
clang++ (msl_harness.py) and driven by a small executor of the host schedule
(``ScheduleRun``), so they get the buffers, scalars and grids the real schedule gives
them. Numerics, against numpy implementations of the transformer ops (the reference
interpreter's definitions) on layer 0's real weights and random hidden states:

- one decoder layer (both kernel versions: S = 1 and S = 5 tokens, at position 3 after
  a cache prefix): its output and the K/V cache rows it appends;
- prefill/decode with the layers left out: the embedding kernel, the LM head (a few
  threadgroups of it: the CPU runs one OS thread per GPU thread, and 3072 threadgroups
  would take half a minute) and the argmax.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from msl_harness import MslLibrary, MslRunner, metal_compile

from rusty_ir.backends.wgsl import emit_program as emit_wgsl_program
from rusty_ir.weights import split_part

CONTEXT = 64  # four blocks of the paged cache
RNG = np.random.default_rng(7)


@pytest.fixture(scope="session")
def compiled_msl() -> dict[str, Any]:
    """The bundled SmolLM2 compiled by the driver with --target msl, and its gpu-level module."""
    from rusty_ir.driver import CompileOptions, compile_module
    from rusty_ir.importers import load_model
    from rusty_ir.importers.to_ir import build_module

    model = load_model()
    module = build_module(model.config, model.weights)
    artifact = compile_module(module, CompileOptions.for_target("msl"))  # leaves `module` at the gpu level
    return {"model": model, "module": module, "artifact": artifact}


@pytest.fixture(scope="session")
def msl_library(compiled_msl: dict[str, Any], msl_runner: MslRunner) -> MslLibrary:
    from rusty_ir.backends.msl import emit_program

    program = emit_program(compiled_msl["module"])
    assert program.source == compiled_msl["artifact"].kernels
    return msl_runner.library(program)  # clang++ of every kernel, with each signature's bindings checked


def test_msl_artifact_has_the_wgsl_schedule_and_interfaces(compiled_msl: dict[str, Any], msl_library: MslLibrary, tmp_path: Path) -> None:
    artifact = compiled_msl["artifact"]
    metal = metal_compile(artifact.kernels, tmp_path)  # on a Mac (xcrun metal): Metal's own compiler too
    if metal is not None:
        assert metal.returncode == 0, metal.stderr[:4000]
    assert artifact.language == "msl" and artifact.kernels_file == "kernels.metal"
    assert "#include <metal_stdlib>" in artifact.kernels and "@compute" not in artifact.kernels
    wgsl = emit_wgsl_program(compiled_msl["module"])
    # Same buffer indices, params layouts and threadgroup sizes as the WGSL of the same IR ...
    assert msl_library.program.kernels == wgsl.kernels
    # ... and the schedule (grids, launches) records exactly those interfaces.
    schedule = json.loads(artifact.schedule)
    assert {k: v for k, v in schedule["kernels"].items()} == {k.name: k.to_dict() for k in wgsl.kernels}
    assert len(wgsl.kernels) == artifact.manifest["kernels"] > 0


# -- a small executor of the host schedule ----------------------------------------------------------

_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a // b,
    "ceildiv": lambda a, b: -(-a // b), "rem": lambda a, b: a % b, "min": min, "max": max,
    "le": lambda a, b: int(a <= b), "lt": lambda a, b: int(a < b), "ge": lambda a, b: int(a >= b),
    "gt": lambda a, b: int(a > b), "eq": lambda a, b: int(a == b), "ne": lambda a, b: int(a != b),
}  # fmt: skip
_NP = {"f32": np.float32, "i32": np.int32, "f16": np.float16}


class ScheduleRun:
    """Runs functions of a schedule on numpy buffers, launching kernels through an ``MslLibrary``."""

    def __init__(self, schedule: dict[str, Any], lib: MslLibrary, weights: Any, groups: dict[str, list[int]] | None = None):
        self.schedule, self.lib, self.weights = schedule, lib, weights
        self.groups = groups or {}
        self.caches: dict[tuple[str, str, int], np.ndarray] = {}
        self.launched: list[str] = []
        (cache,) = schedule["kv_caches"]
        self.block = cache.get("block_size", 0)
        # a paged cache's block table, reversed so that reading through it is exercised
        self.table = np.arange(CONTEXT // self.block - 1, -1, -1, dtype=np.int32) if self.block else None

    def rows(self, positions: range) -> np.ndarray:
        """The cache rows holding ``positions`` (through the block table when the cache is paged)."""
        t = np.asarray(positions)
        return t if self.table is None else self.table[t // self.block] * self.block + t % self.block

    def expr(self, e: Any, env: dict[str, Any]) -> Any:
        if isinstance(e, list):
            return _OPS[e[0]](self.expr(e[1], env), self.expr(e[2], env))
        return env[e] if isinstance(e, str) else e

    def weight(self, name: str, part: str | None = None) -> np.ndarray:
        """A stored tensor as its kernel argument: whole, or one buffer (``codes``/``scales``) of its split layout."""
        view = self.weights[name]
        if part is not None:
            raw = split_part(view, part)
            return raw.view(np.int32) if part == "codes" else raw.view(np.float16)
        raw = np.array(view.data)  # an aligned copy of the stored bytes
        return raw.view(np.float32) if view.scheme.name == "f32" else raw.view(np.int32)

    def cache(self, step: dict[str, Any], env: dict[str, Any]) -> np.ndarray:
        key = (step["cache"], step["part"], int(self.expr(step["layer"], env)))
        if key not in self.caches:
            width = next(c["row_width"] for c in self.schedule["kv_caches"] if c["name"] == step["cache"])
            self.caches[key] = np.zeros((CONTEXT, width), np.float32)
        return self.caches[key]

    def call(self, fn: str, args: dict[str, Any], run_calls: bool = True) -> None:
        env = dict(args)
        self.steps(self.schedule["functions"][fn]["body"], env, run_calls)

    def steps(self, body: list[dict[str, Any]], env: dict[str, Any], run_calls: bool) -> None:
        for step in body:
            op = step["op"]
            if op == "dim":
                env[step["result"]] = env[step["buffer"]].shape[step["index"]]
            elif op == "let":
                env[step["result"]] = self.expr(step["expr"], env)
            elif op == "alloc":
                shape = [int(self.expr(d, env)) for d in step["shape"]]
                env[step["result"]] = (
                    np.full(shape, np.nan, _NP[step["element_type"]])
                    if step["element_type"] == "f32"
                    else np.zeros(shape, _NP[step["element_type"]])
                )
            elif op == "weight":
                name = (
                    step["name"].replace("{}", str(self.expr(step["layer"], env)))
                    if step.get("layered") or "{}" in step["name"]
                    else step["name"]
                )
                env[step["result"]] = self.weight(name, step.get("part"))
            elif op == "cache":
                env[step["result"]] = self.cache(step, env)
            elif op == "block_table":
                env[step["result"]] = self.table
            elif op == "if":
                self.steps(step["then"] if self.expr(step["cond"], env) else step.get("else", []), env, run_calls)
            elif op == "launch":
                kernel = step["kernel"]
                grid = [int(self.expr(g, env)) for g in step["grid"]]
                buffers = [env[b] for b in step["buffers"]]
                iface = next(k for k in self.lib.program.kernels if k.name == kernel)
                assert tuple(step["block"]) == iface.workgroup_size
                by_name = {b.name: buf.reshape(-1) for b, buf in zip(iface.buffers, buffers, strict=True)}
                scalars = [int(self.expr(s, env)) for s in step["scalars"]]
                self.lib.run(kernel, grid, by_name, scalars or None, self.groups.get(kernel))
                self.launched.append(kernel)
            elif op == "call":
                if run_calls:
                    callee = self.schedule["functions"][step["callee"]]
                    self.call(step["callee"], {a["name"]: env[v] for a, v in zip(callee["args"], step["args"], strict=True)})
            elif op == "loop":
                for name, init in step["iter_args"]:
                    env[name] = env[init]
                for iv in range(int(self.expr(step["lower"], env)), int(self.expr(step["upper"], env)), int(self.expr(step["step"], env))):
                    env[step["iv"]] = iv
                    self.steps(step["body"], env, run_calls)
                    if run_calls:
                        values = [env[y] for y in step["yield"]]
                        for (name, _), v in zip(step["iter_args"], values, strict=True):
                            env[name] = v
                for result, (name, _) in zip(step["results"], step["iter_args"], strict=True):
                    env[result] = env[name]
            elif op == "return":
                return
            else:
                raise AssertionError(f"unknown schedule step {op}")


# -- numpy references (the reference interpreter's definitions) ---------------------------------------


def rms_norm(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    return (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(1e-5)) * g).astype(np.float32)


def rope(x: np.ndarray, pos: int, head_dim: int = 64, theta: float = 100000.0) -> np.ndarray:
    rows, width = x.shape
    inv_freq = (1.0 / np.float32(theta) ** (np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim))).astype(np.float32)
    angle = np.arange(pos, pos + rows, dtype=np.float32)[:, None] * inv_freq[None, :]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    heads = x.reshape(rows, width // head_dim, head_dim)
    a, b = heads[..., 0::2], heads[..., 1::2]
    out = np.empty_like(heads)
    out[..., 0::2], out[..., 1::2] = a * cos - b * sin, a * sin + b * cos
    return out.reshape(rows, width)


def attention(q: np.ndarray, keys: np.ndarray, values: np.ndarray, pos: int) -> np.ndarray:
    rows, total = q.shape[0], keys.shape[0]
    qh = q.reshape(rows, 9, 64)
    kh = np.repeat(keys.reshape(total, 3, 64), 3, axis=1)
    vh = np.repeat(values.reshape(total, 3, 64), 3, axis=1)
    scores = np.einsum("shd,thd->hst", qh, kh) * np.float32(0.125)
    visible = np.arange(total)[None, :] <= (pos + np.arange(rows))[:, None]
    scores = np.where(visible[None], scores, -np.inf)
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    return np.einsum("hst,thd->shd", probs, vh).reshape(rows, 576).astype(np.float32)


def reference_layer(x: np.ndarray, w: dict[str, np.ndarray], k_prev: np.ndarray, v_prev: np.ndarray, pos: int):
    n = rms_norm(x, w["attn_norm"])
    q, k, v = n @ w["attn_q"].T, n @ w["attn_k"].T, n @ w["attn_v"].T
    k = rope(k, pos)
    keys, values = np.concatenate([k_prev, k]), np.concatenate([v_prev, v])
    h = x + attention(rope(q, pos), keys, values, pos) @ w["attn_output"].T
    n2 = rms_norm(h, w["ffn_norm"])
    gate, up = n2 @ w["ffn_gate"].T, n2 @ w["ffn_up"].T
    return h + ((gate / (1 + np.exp(-gate))) * up) @ w["ffn_down"].T, k, v


LAYER_WEIGHTS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")


@pytest.mark.parametrize("tokens", [1, 5])
def test_decoder_layer_kernels_match_numpy(compiled_msl: dict[str, Any], msl_library: MslLibrary, tokens: int) -> None:
    weights = compiled_msl["model"].weights
    schedule = json.loads(compiled_msl["artifact"].schedule)
    run = ScheduleRun(schedule, msl_library, weights)
    pos = 3  # three cached positions before this step
    x = RNG.standard_normal((tokens, 576)).astype(np.float32)
    k_prev = RNG.standard_normal((pos, 192)).astype(np.float32)
    v_prev = RNG.standard_normal((pos, 192)).astype(np.float32)
    fn = schedule["functions"]["decoder_layer"]
    args: dict[str, Any] = {}
    names = iter(f"blk.0.{w}.weight" for w in LAYER_WEIGHTS)
    for a in fn["args"]:
        if a["kind"] == "index":
            args[a["name"]] = None
        elif list(a["shape"]) == [576]:  # a norm's gain
            args[a["name"]] = run.weight(next(names))
        elif a["element_type"] == "i32":  # a quantized matrix in the split layout: codes, then its scales
            name = next(names)
            args[a["name"]] = run.weight(name, "codes")
        elif a["element_type"] == "f16":
            args[a["name"]] = run.weight(name, "scales")
        else:
            args[a["name"]] = np.full((tokens, a["shape"][1]), np.nan, np.float32)
    buffers = [a["name"] for a in fn["args"] if a["kind"] == "buffer"]
    index_args = [a["name"] for a in fn["args"] if a["kind"] == "index"]
    args[buffers[0]] = x  # (h, pos, layer, weights..., out): the schedule's argument order
    args[index_args[0]], args[index_args[1]] = pos, 0
    run.caches[("kv", "k", 0)] = np.zeros((CONTEXT, 192), np.float32)
    run.caches[("kv", "v", 0)] = np.zeros((CONTEXT, 192), np.float32)
    run.caches[("kv", "k", 0)][run.rows(range(pos))], run.caches[("kv", "v", 0)][run.rows(range(pos))] = k_prev, v_prev
    run.call("decoder_layer", args)
    new = run.rows(range(pos, pos + tokens))

    dense = {w: weights[f"blk.0.{w}.weight"].to_numpy() for w in LAYER_WEIGHTS}
    expected, k_new, v_new = reference_layer(x, dense, k_prev, v_prev, pos)
    assert run.block, "the default cache is paged"
    # a multi-token step stages activations in f16 tiles on apple (half arithmetic: 11-bit mantissas) in its GEMMs,
    # and q, k, v and the probabilities in its FlashAttention tiles
    tol = 1e-4 if tokens == 1 else 2e-2
    np.testing.assert_allclose(run.caches[("kv", "k", 0)][new], k_new, rtol=tol, atol=tol)
    np.testing.assert_allclose(run.caches[("kv", "v", 0)][new], v_new, rtol=tol, atol=tol)
    untouched = np.ones(CONTEXT, bool)
    untouched[run.rows(range(pos + tokens))] = False
    assert not run.caches[("kv", "k", 0)][untouched].any()  # nothing written but the new rows
    np.testing.assert_allclose(args[buffers[-1]], expected, rtol=max(tol, 2e-3), atol=max(tol, 2e-3))
    # every kernel of a layer, once (up to 8 tokens: split-KV attention is two kernels)
    assert len(set(run.launched)) == len(run.launched) == (6 if tokens <= 8 else 5), run.launched


@pytest.mark.parametrize("entry", ["prefill", "decode"])
def test_embedding_lm_head_argmax_match_numpy(compiled_msl: dict[str, Any], msl_library: MslLibrary, entry: str) -> None:
    weights = compiled_msl["model"].weights
    schedule = json.loads(compiled_msl["artifact"].schedule)
    fn = schedule["functions"][entry]
    tokens = np.array([17, 4000, 49151] if entry == "prefill" else [1234], np.int32)
    out = np.full(1, -1, np.int32)
    args = {fn["args"][0]["name"]: tokens, fn["args"][1]["name"]: 0, fn["args"][2]["name"]: out}

    table = weights["token_embd.weight"].to_numpy()
    h = table[tokens]
    logits = table @ rms_norm(h[-1:], weights["output_norm.weight"].to_numpy())[0]

    # Run the entry with the decoder layers left out (`call` steps skipped), the LM head on a few
    # threadgroups (first, last, one between), then check and complete its output for the argmax.
    run = ScheduleRun(schedule, msl_library, weights)
    launches: list[tuple[str, dict[str, np.ndarray]]] = []
    real_run = msl_library.run

    def run_kernel(name: str, grid: Any, buffers: dict[str, np.ndarray], params: Any = None, groups: Any = None) -> None:
        total = int(np.prod(grid))
        if total > 64:
            groups = [0, total // 2 + 1, total - 1]
        real_run(name, grid, buffers, params, groups)
        launches.append((name, buffers))
        written = next((b for b in buffers.values() if b.dtype == np.float32 and b.size == logits.size), None)
        if written is not None and groups is not None:  # the LM head: check what it wrote, complete the rest
            done = ~np.isnan(written)
            assert done.sum() >= 3, "the LM head's threadgroups wrote nothing"
            np.testing.assert_allclose(written[done], logits[done], rtol=1e-3, atol=1e-3)
            written[~done] = logits[~done]

    msl_library.run = run_kernel  # type: ignore[method-assign]  # the kernel runner stubbed for this call
    try:
        run.call(entry, args, run_calls=False)
    finally:
        msl_library.run = real_run  # type: ignore[method-assign]  # and restored
    embedded = next(b for name, bufs in launches for b in bufs.values() if b.size == tokens.size * 576)
    np.testing.assert_array_equal(embedded.reshape(-1, 576), h)  # dequantizing Q8_0 rows is exact
    assert len(launches) == 3 and out[0] == int(np.argmax(logits))
