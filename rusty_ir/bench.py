"""``rusty bench``: prefill and decode speed at batch 1, next to the bandwidth roofline and PyTorch.

    report = run_bench(BenchOptions(synthetic="llama3-8b", quant="q4_0", prompt_tokens=512, decode_tokens=128))
    print(format_report(report))            # or json.dumps(report)

What it does, in order:

1. The model: a checkpoint (``MODEL``) or a synthetic random-weight GGUF of a real shape
   (``rusty_ir.synthetic``, cached). Either way it goes through ``load_model`` and the
   normal compile driver (``compile_model``, cached, with the ``prefill_logits`` entry).
2. The wgpu device is created with the usual features plus ``timestamp-query`` when the
   adapter has it (per-kernel GPU times with ``--profile``).
3. Timing: first ``SPIN_UP_SECONDS`` of multiply-adds on the GPU (``rusty_ir.probes.spin_up``: an idle
   GPU runs at a low clock), then ``warmup + repeats`` runs of one prompt of ``prompt_tokens`` random token ids
   (prefill, timed) followed by ``decode_tokens`` greedy decode steps (timed together); the
   warm-up runs are dropped, the medians of the rest reported. Each step ends by reading the
   token back, so every time is wall clock of finished GPU work.
4. Static figures: dispatches per decode step and per prefill step, the bytes of every weight
   a decode step binds (the embedding table counts one row when only the lookup reads it,
   the whole table when it is also the output head), the KV-cache bytes a decode step reads on
   average, the device's copy bandwidth (a large buffer-to-buffer copy, read + write bytes
   over wall time) and read bandwidth (a compute kernel streaming one large buffer with
   16-byte loads). Roofline share = weight bytes per token x decode tokens/s / the larger
   of the two (on an H100 the copy reaches ~0.8 TB/s, the read kernel ~3.4 TB/s).
5. ``--profile``: one decode step and one prefill step with a timestamp query around every
   dispatch (``ModelRuntime.profile_step``); GPU time summed per kernel name.
6. Correctness guard: the first-step logits of a short prompt (``prefill_logits``) against
   the reference interpreter (models up to ``REFERENCE_MAX_PARAMS``), or against PyTorch in
   float32 (with ``--vs-torch``, or for bigger models when torch and transformers are
   installed), else skipped with a note. Max relative error (max |ours - ref| / max |ref|)
   above ``LOGITS_REL_TOL`` fails the run (after the report is printed).
7. ``--vs-torch``: a Hugging Face ``LlamaForCausalLM`` (``Qwen2ForCausalLM`` for qwen2)
   built on the same device (cuda when available) from the same weights, dequantized on that
   device, q/k rows permuted from GGUF's interleaved rope order to Hugging Face's; float32 for
   the guard, then fp16 with eager attention for ``generate`` (greedy, same prompt ids, same
   number of tokens), timed the same way: prefill = ``generate(max_new_tokens=1)``, decode =
   the difference to ``generate(max_new_tokens=decode_tokens + 1)``.
"""

from __future__ import annotations

import datetime
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rusty_ir.errors import RustyError
from rusty_ir.probes import SPIN_UP_SECONDS, measure_copy_bandwidth, measure_read_bandwidth, peak_rss_bytes, spin_up
from rusty_ir.stages import DEFAULT_KV_BLOCK_SIZE

LOGITS_REL_TOL = 2e-2
"""Max relative error of the first-step logits that the guard accepts (quantized weights, f32 math)."""
REFERENCE_MAX_PARAMS = 400_000_000
"""Models up to this many parameters are checked against the numpy reference interpreter."""
CHECK_TOKENS = 8
"""Prompt length of the correctness guard."""


@dataclass
class BenchOptions:
    model: str | None = None
    """A checkpoint path; None with ``synthetic`` set."""
    synthetic: str | None = None
    quant: str | None = None
    """Synthetic models only (default q4_0)."""
    seed: int = 0
    prompt_tokens: int = 512
    decode_tokens: int = 128
    repeats: int = 3
    warmup: int = 1
    context_length: int | None = None
    """KV-cache positions (default: prompt + decode tokens)."""
    vs_torch: bool = False
    profile: bool = False
    check: bool = True
    cache_dir: str | None = None
    """Where synthetic checkpoints are kept (default ``rusty_ir.synthetic.default_cache_dir()``)."""
    command: str | None = None
    """The command line, for the report."""
    kv_cache: str = "f32"
    """What the KV cache holds (``CompileOptions.kv_cache``)."""
    kv_block_size: int = DEFAULT_KV_BLOCK_SIZE
    """Positions per KV block (``CompileOptions.kv_block_size``; 0 = not paged)."""
    resident_layers: int | None = None
    """Layer streaming: layers whose weights stay on the device (``ModelRuntime``'s ``resident_layers``; None: all)."""
    tune: bool = False
    """Also compile with measured tuning (``CompileOptions.tune``) and time that model the same way: the report's
    ``tuned`` entry, tuned against default side by side (see ``bench_tuned``)."""


def _timed_runs(
    runtime: Any, prompt: np.ndarray, decode_tokens: int, opts: BenchOptions, progress: Callable[[str], None] | None, label: str = ""
) -> tuple[list[float], list[float], list[int]]:
    """``opts.warmup`` untimed then ``opts.repeats`` timed runs of a prefill of ``prompt`` and
    ``decode_tokens`` greedy steps, decoded as ``rusty run`` does (one step in flight): the timed
    runs' prefill and decode seconds, and the last run's token ids."""
    prefill_s: list[float] = []
    decode_s: list[float] = []
    generated: list[int] = []
    _note(progress, f"{label}spinning the GPU up ({SPIN_UP_SECONDS:g} s of multiply-adds: an idle GPU runs at a low clock)")
    spin_up(runtime.device)
    for r in range(opts.warmup + opts.repeats):
        timed = r >= opts.warmup
        _note(progress, f"{label}{'run' if timed else 'warm-up'} {r + 1 - (opts.warmup if timed else 0)}: "
                        f"prefill {prompt.size} + decode {decode_tokens}")  # fmt: skip
        runtime.reset()
        t0 = time.perf_counter()
        token = runtime.prefill(prompt, 0)
        t1 = time.perf_counter()
        ids = [token, *runtime.decode_stream(token, prompt.size, decode_tokens)]
        t2 = time.perf_counter()
        if timed:
            prefill_s.append(t1 - t0)
            decode_s.append(t2 - t1)
            generated = ids
    return prefill_s, decode_s, generated


def _note(progress: Callable[[str], None] | None, message: str) -> None:
    if progress is not None:
        progress(message)


def validate(opts: BenchOptions) -> None:
    """RustyError for inconsistent options, before anything is loaded."""
    from rusty_ir.synthetic import check_quant, shape_of

    if opts.model is not None and opts.synthetic is not None:
        raise RustyError("give either MODEL or --synthetic SHAPE, not both")
    if opts.synthetic is not None:
        shape_of(opts.synthetic)
        check_quant(opts.quant or "q4_0")
    elif opts.quant is not None:
        raise RustyError("--quant applies to --synthetic models only (a checkpoint keeps its own types)")
    for name, value, low in (
        ("--prompt-tokens", opts.prompt_tokens, 1),
        ("--decode-tokens", opts.decode_tokens, 1),
        ("--repeats", opts.repeats, 1),
        ("--warmup", opts.warmup, 0),
    ):
        if value < low:
            raise RustyError(f"{name} must be at least {low}, got {value}")
    if opts.resident_layers is not None and opts.resident_layers < 1:
        raise RustyError(f"--resident-layers must be at least 1 (layers kept on the GPU), got {opts.resident_layers}")
    if opts.resident_layers is not None and opts.profile:
        raise RustyError("--profile times a step as one command buffer; it does not apply with --resident-layers")
    if opts.context_length is not None:
        need = opts.prompt_tokens + opts.decode_tokens
        if opts.context_length < need:
            raise RustyError(
                f"--context-length {opts.context_length} is too small for {opts.prompt_tokens} prompt + "
                f"{opts.decode_tokens} decode tokens (at least {need})"
            )


# --- the device -------------------------------------------------------------------------------


def profiling_device() -> Any:
    """A ``Device`` with the runtime's usual features plus 'timestamp-query' when the adapter offers it."""
    from rusty_ir.backends.runtime.device import WANTED_FEATURES, WANTED_LIMITS, Device, choose_adapter

    adapter = choose_adapter()
    if adapter is None:
        raise RustyError("no WebGPU adapter found (on a machine without a GPU, install mesa-vulkan-drivers)")
    offered = set(adapter.features)
    features = [f for f in (*WANTED_FEATURES, "timestamp-query") if f in offered]
    limits = {k: adapter.limits[k] for k in WANTED_LIMITS if k in adapter.limits}
    device = adapter.request_device_sync(required_features=features, required_limits=limits)
    return Device(adapter=adapter, device=device)


def device_report(device: Any) -> dict[str, Any]:
    from rusty_ir.backends.runtime.device import adapter_summary

    return {
        **adapter_summary(device.adapter),
        "features": sorted(f for f in device.features if f in ("shader-f16", "subgroup", "timestamp-query")),
        "max_storage_buffer_binding_size": device.limits.get("max-storage-buffer-binding-size"),
    }


# --- static figures ---------------------------------------------------------------------------


def decode_weight_bytes(runtime: Any, weights: Any) -> tuple[int, dict[str, int]]:
    """Bytes of weights one decode step reads, and per weight.

    Every weight the decode entry binds counts in full, except the embedding table when only
    the embedding lookup (the first launch binding it) reads it: then one row.
    """
    binders: dict[str, int] = {}
    for name, count in runtime.weight_bindings("decode").items():  # split-layout parts name#codes, name#scales: one weight
        stored = name.split("#")[0]
        binders[stored] = max(binders.get(stored, 0), count)
    per: dict[str, int] = {}
    for name in binders:
        view = weights[name]
        if name == "token_embd.weight" and binders.get(name, 0) <= 1:
            per[name] = view.scheme.row_bytes(view.shape[-1])
        else:
            per[name] = view.nbytes
    return sum(per.values()), per


def kv_read_bytes(runtime: Any, first_pos: int, steps: int) -> float:
    """Average KV-cache bytes a decode step reads over positions ``first_pos .. first_pos + steps - 1``
    (K and V rows 0..pos of every layer)."""
    from rusty_ir.backends.runtime.kv_cache import row_bytes

    row = sum(2 * c.num_layers * row_bytes(c) for c in runtime.schedule.kv_caches)
    return row * (first_pos + (steps - 1) / 2 + 1)


def git_commit() -> str | None:
    """The rusty-ir commit (with '-dirty' for uncommitted changes to tracked files), if git knows it."""
    import rusty_ir

    for where in (Path(rusty_ir.__file__).resolve().parent, Path.cwd()):
        try:
            sha = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
            if sha.returncode != 0:
                continue
            dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10)  # fmt: skip
            return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
        except (OSError, subprocess.SubprocessError):
            continue
    return os.environ.get("RUSTY_COMMIT")


# --- PyTorch ----------------------------------------------------------------------------------


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transformers") is not None


def dequantize_torch(view: Any, device: Any, dtype: Any = None) -> Any:
    """A weight as a torch tensor on ``device`` (float32 by default), decoded there from its raw bytes
    (q4_0, q4_1, q8_0, f16, bf16, f32; other schemes through numpy on the host)."""
    import torch

    dtype = dtype or torch.float32
    name = view.scheme.name
    if name not in ("f32", "f16", "bf16", "q4_0", "q4_1", "q8_0"):
        return torch.from_numpy(view.to_numpy()).to(device=device, dtype=dtype)
    raw = torch.from_numpy(np.array(view.data, dtype=np.uint8, copy=True)).to(device)
    if name == "f32":
        out = raw.view(torch.float32)
    elif name == "f16":
        out = raw.view(torch.float16)
    elif name == "bf16":
        out = raw.view(torch.bfloat16)
    else:
        blocks = raw.view(-1, view.scheme.block_bytes)
        d = blocks[:, 0:2].contiguous().view(torch.float16).to(dtype)
        if name == "q8_0":
            out = blocks[:, 2:].contiguous().view(torch.int8).to(dtype) * d
        else:
            qs = blocks[:, 4:] if name == "q4_1" else blocks[:, 2:]
            q = torch.cat([qs & 0x0F, qs >> 4], dim=1).to(dtype)  # byte i: element i (low), i + 16 (high)
            if name == "q4_0":
                out = (q - 8) * d
            else:
                m = blocks[:, 2:4].contiguous().view(torch.float16).to(dtype)
                out = q * d + m
    return out.to(dtype).reshape(view.shape)


def _interleaved_to_half(w: Any, n_heads: int) -> Any:
    """rusty_ir.importers.export.interleaved_to_half on a torch tensor (llama.cpp's q/k row order -> HF's)."""
    d = w.shape[0] // n_heads
    return w.reshape(n_heads, d // 2, 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def torch_device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_torch_model(model: Any, device: str, progress: Callable[[str], None] | None = None) -> Any:
    """A Hugging Face causal LM (float32, eager attention) on ``device`` holding ``model``'s weights."""
    import torch
    import transformers

    from rusty_ir.importers.export import hf_config_dict
    from rusty_ir.importers.safetensors import gguf_to_hf_name

    cfg = model.config
    if cfg.rope_scaling:
        raise RustyError(f"--vs-torch: rope scaling {dict(cfg.rope_scaling)} is not passed to the PyTorch model")
    transformers.logging.set_verbosity_error()
    hf = hf_config_dict(cfg)
    hf["torch_dtype"] = "float32"
    config_cls = transformers.Qwen2Config if cfg.arch == "qwen2" else transformers.LlamaConfig
    model_cls = transformers.Qwen2ForCausalLM if cfg.arch == "qwen2" else transformers.LlamaForCausalLM
    config = config_cls(**{k: v for k, v in hf.items() if k not in ("architectures", "model_type")})
    config._attn_implementation = "eager"
    try:  # skip the random initialisation: every parameter is overwritten below
        from transformers.initialization import no_init_weights
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights
        except ImportError:
            from contextlib import nullcontext as no_init_weights
    start = time.perf_counter()
    with torch.device(device), no_init_weights():
        tm = model_cls(config)
    tm.eval()
    params = dict(tm.named_parameters())
    assigned = set()
    with torch.no_grad():
        for name in model.weights:
            if name == "rope_freqs.weight":
                continue
            hf_name = gguf_to_hf_name(name)
            if hf_name not in params:
                raise RustyError(f"--vs-torch: weight '{name}' ({hf_name}) has no place in the PyTorch model")
            w = dequantize_torch(model.weights[name], device)
            if cfg.rope_style == "interleaved":
                if name.endswith(("attn_q.weight", "attn_q.bias")):
                    w = _interleaved_to_half(w, cfg.n_heads)
                elif name.endswith(("attn_k.weight", "attn_k.bias")):
                    w = _interleaved_to_half(w, cfg.n_kv_heads)
            params[hf_name].copy_(w)
            assigned.add(hf_name)
            del w
        out_name, in_name = gguf_to_hf_name("output.weight"), gguf_to_hf_name("token_embd.weight")
        if cfg.tied_embeddings and out_name in params and out_name not in assigned:
            # without the random init transformers leaves the head untied: give it the embedding's values
            params[out_name].copy_(params[in_name])
            assigned.add(out_name)
    missing = [n for n in params if n not in assigned]
    if missing:
        raise RustyError(f"--vs-torch: PyTorch parameters left without weights: {missing[:5]}")
    tm.generation_config.eos_token_id = None
    tm.generation_config.pad_token_id = 0
    _note(progress, f"PyTorch model built on {device} in {time.perf_counter() - start:.1f} s")
    return tm


def torch_logits(tm: Any, ids: Sequence[int]) -> np.ndarray:
    import torch

    dev = next(tm.parameters()).device
    with torch.no_grad():
        out = tm(torch.tensor([list(ids)], device=dev), use_cache=False).logits[0, -1]
    return out.float().cpu().numpy()


def time_torch_generate(tm: Any, prompt: Sequence[int], decode_tokens: int, repeats: int, warmup: int) -> dict[str, Any]:
    """Greedy ``generate`` timings: prefill = generate(1 new token), decode = generate(decode_tokens + 1) minus that."""
    import torch

    dev = next(tm.parameters()).device
    ids = torch.tensor([list(prompt)], device=dev)
    mask = torch.ones_like(ids)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def gen(n: int) -> tuple[float, list[int]]:
        sync()
        start = time.perf_counter()
        with torch.no_grad():
            out = tm.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                              pad_token_id=0, eos_token_id=None)  # fmt: skip
        sync()
        return time.perf_counter() - start, out[0, ids.shape[1] :].tolist()

    firsts: list[float] = []
    diffs: list[float] = []
    generated: list[int] = []
    for r in range(max(1, warmup) + repeats):  # at least one warm-up: torch's first call is much slower
        t1, _ = gen(1)
        tn, generated = gen(decode_tokens + 1)
        if r >= max(1, warmup):
            firsts.append(t1)
            diffs.append(tn - t1)
    prefill_s = statistics.median(firsts)
    decode_s = statistics.median(diffs)
    return {
        "device": str(dev),
        "dtype": str(next(tm.parameters()).dtype).replace("torch.", ""),
        "attention": "eager",
        "prefill_seconds": prefill_s,
        "prefill_tokens_per_s": len(prompt) / prefill_s,
        "decode_seconds": decode_s,
        "decode_tokens_per_s": decode_tokens / decode_s if decode_s > 0 else None,
        "generate_seconds": statistics.median(f + d for f, d in zip(firsts, diffs, strict=True)),
        "generated_ids": generated,
        "torch_version": torch.__version__,
        "cuda_device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
    }


# --- the benchmark ----------------------------------------------------------------------------


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def _profile_table(rows: list[tuple[str, float]] | None, wall: float) -> dict[str, Any] | None:
    """Per-kernel sums of one profiled step. Timestamps are taken as nanoseconds (wgpu-native does not
    expose the timestamp period; it is 1 ns on NVIDIA and llvmpipe): a sum above the step's wall time
    says the period is not 1 ns here."""
    if rows is None:
        return None
    per: dict[str, dict[str, Any]] = {}
    for name, seconds in rows:
        entry = per.setdefault(name, {"kernel": name, "seconds": 0.0, "dispatches": 0})
        entry["seconds"] += seconds
        entry["dispatches"] += 1
    total = sum(s for _, s in rows)
    table = sorted(per.values(), key=lambda e: -e["seconds"])
    for e in table:
        e["share"] = e["seconds"] / total if total > 0 else 0.0
    out: dict[str, Any] = {"gpu_seconds": total, "wall_seconds": wall, "dispatches": len(rows), "kernels": table}
    if total > 1.05 * wall:
        out["note"] = "GPU times exceed the wall time: this device's timestamp period is not 1 ns, times are off by it"
    return out


def _load(opts: BenchOptions, progress: Callable[[str], None] | None) -> tuple[Any, dict[str, Any]]:
    from rusty_ir.importers import load_model

    info: dict[str, Any] = {}
    path: str | Path | None
    if opts.synthetic is not None:
        from rusty_ir.synthetic import synthetic_model_path

        quant = opts.quant or "q4_0"
        start = time.perf_counter()
        path, hit = synthetic_model_path(opts.synthetic, quant, opts.seed, opts.cache_dir, progress)
        info = {"synthetic": opts.synthetic, "quant": quant, "seed": opts.seed, "file_cache_hit": hit,
                "file_seconds": round(time.perf_counter() - start, 3)}  # fmt: skip
    else:
        path = opts.model
        if path is None:
            from rusty_ir.importers import default_model_path

            path = default_model_path()
        info = {"synthetic": None, "quant": None}
    model = load_model(path)
    cfg = model.config
    schemes = sorted({v.scheme.name for v in model.weights.values()})
    params = sum(int(np.prod(v.shape)) for v in model.weights.values())
    info.update({"source": str(model.source), "arch": cfg.arch, "n_layers": cfg.n_layers, "hidden": cfg.hidden,
                 "n_heads": cfg.n_heads, "n_kv_heads": cfg.n_kv_heads, "ffn_hidden": cfg.ffn_hidden, "vocab": cfg.vocab,
                 "tied_embeddings": cfg.tied_embeddings, "parameters": params, "weight_bytes": model.weights.nbytes,
                 "schemes": schemes})  # fmt: skip
    return model, info


def run_bench(opts: BenchOptions, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark; the report (a JSON-able dict). Does not raise on a failed guard:
    ``report["correctness"]["passed"]`` is False then (``check_report`` raises)."""
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.targets import target_for_adapter

    validate(opts)
    started = datetime.datetime.now(datetime.UTC)
    model, model_info = _load(opts, progress)
    cfg = model.config
    P, N = opts.prompt_tokens, opts.decode_tokens
    context = opts.context_length or P + N
    device = profiling_device()
    _note(progress, f"device: {device_report(device)['name']}")

    _note(progress, "compiling (cached after the first run)")
    options = CompileOptions(target=target_for_adapter(device.info), logits_entry=True, kv_cache=opts.kv_cache, kv_block_size=opts.kv_block_size)
    compiled = compile_model(model, options, adapter=device.identity, progress=progress)
    _note(progress, "loading kernels and weights onto the GPU")
    runtime = ModelRuntime(compiled.artifact.schedule, compiled.artifact.wgsl, model.weights, context, device,
                           resident_layers=opts.resident_layers)  # fmt: skip

    rng = np.random.default_rng(opts.seed + 1)
    prompt = rng.integers(0, cfg.vocab, size=P, dtype=np.int32)

    prefill_s, decode_s, generated = _timed_runs(runtime, prompt, N, opts, progress)
    # the host's share of a step, measured step by step (no overlap) after the timed runs
    runtime.reset()
    token = runtime.prefill(prompt, 0)
    split = np.zeros(3)
    steps = min(N, 16)
    for i in range(steps):
        token = runtime.decode(token, P + i)
        split += runtime.last_step_seconds
    host_split = split / max(steps, 1)

    pre = _median(prefill_s)
    dec = _median(decode_s)
    decode_tps = N / dec
    weight_bytes, _ = decode_weight_bytes(runtime, model.weights)
    _note(progress, "measuring copy and read bandwidth")
    bandwidth = measure_copy_bandwidth(device)
    read_bandwidth = measure_read_bandwidth(device)
    ceiling = max(bandwidth["bytes_per_s"], read_bandwidth["bytes_per_s"])
    report: dict[str, Any] = {
        **report_header("rusty bench", opts.command or canonical_command(opts), opts, started, device),
        "model": model_info,
        "settings": {"prompt_tokens": P, "decode_tokens": N, "repeats": opts.repeats, "warmup": opts.warmup,
                     "context_length": context, "batch": 1, "seed": opts.seed, "resident_layers": runtime.resident_layers,
                     "kv_cache": opts.kv_cache, "kv_block_size": opts.kv_block_size},  # fmt: skip
        "compile": {"cache_hit": compiled.cache_hit, "seconds": round(compiled.seconds, 3),
                    "kernels": compiled.artifact.manifest.get("kernels"), "load_seconds": round(runtime.load_seconds, 3),
                    "pipeline": compiled.artifact.manifest.get("pipeline")},  # fmt: skip
        "prefill_tokens_per_s": P / pre,
        "prefill_seconds": pre,
        "prefill_seconds_runs": prefill_s,
        "decode_tokens_per_s": decode_tps,
        "decode_seconds": dec,
        "decode_seconds_runs": decode_s,
        "decode_ms_per_token": 1e3 * dec / N,
        "decode_host_seconds_per_step": dict(zip(("prepare", "encode", "submit_wait_read"), map(float, host_split), strict=True)),
        "dispatches_per_token": runtime.dispatches_per_step("decode"),
        "dispatches_per_prefill_step": runtime.dispatches_per_step("prefill"),
        "weight_bytes_per_token": weight_bytes,
        "kv_cache_bytes_per_token_avg": kv_read_bytes(runtime, P, N),
        "copy_bandwidth_bytes_per_s": bandwidth["bytes_per_s"],
        "copy_bandwidth": bandwidth,
        "read_bandwidth": read_bandwidth,
        "roofline_share": weight_bytes * decode_tps / ceiling,
        "memory": runtime.memory_report(),
        "memory_planning": runtime.memory_planning_report(),
        "host_peak_rss_bytes": peak_rss_bytes(),
        "generated_ids": generated,
        "profile": None,
        "correctness": None,
        "torch": None,
        "ratio_decode_vs_torch": None,
        "ratio_prefill_vs_torch": None,
    }

    if opts.profile:
        _note(progress, "profiling one decode step and one prefill step (timestamp queries)")
        t0 = time.perf_counter()
        dec_rows = runtime.profile_step("decode", np.array([generated[-1]], np.int32), P)
        t1 = time.perf_counter()
        pre_rows = runtime.profile_step("prefill", prompt[: runtime.max_prefill], 0)
        t2 = time.perf_counter()
        report["profile"] = {"decode": _profile_table(dec_rows, t1 - t0), "prefill": _profile_table(pre_rows, t2 - t1),
                             "prefill_tokens": int(min(P, runtime.max_prefill))}  # fmt: skip
        if dec_rows is None:
            report["profile"]["note"] = "the device has no 'timestamp-query' feature: no per-kernel GPU times"

    tm: Any = None
    check_ids = prompt[: min(CHECK_TOKENS, P)]
    correctness: dict[str, Any] = {"reference": None, "max_rel_err": None, "tolerance": LOGITS_REL_TOL,
                                   "passed": None, "prompt_tokens": int(check_ids.size), "note": ""}  # fmt: skip
    params = model_info["parameters"]
    use_torch = opts.vs_torch or (opts.check and params > REFERENCE_MAX_PARAMS and torch_available())
    if use_torch:
        if not torch_available():
            raise RustyError("--vs-torch needs the packages torch and transformers")
        tdev = torch_device_name()
        _note(progress, f"building the PyTorch model on {tdev} from the same weights")
        tm = build_torch_model(model, tdev, progress)
    if opts.check:
        ours = runtime.prefill_logits(check_ids, 0)
        ref = None
        if tm is not None:
            _note(progress, "correctness guard: first-step logits against PyTorch (float32)")
            ref, correctness["reference"] = torch_logits(tm, check_ids.tolist()), f"pytorch float32 ({torch_device_name()})"
        elif params <= REFERENCE_MAX_PARAMS:
            _note(progress, "correctness guard: first-step logits against the reference interpreter")
            from rusty_ir.generate import ReferenceBackend
            from rusty_ir.importers.to_ir import build_module

            backend = ReferenceBackend(build_module(cfg, model.weights, logits_entry=True), model.weights,
                                       max(CHECK_TOKENS, check_ids.size), keep_logits=True)  # fmt: skip
            backend.prefill(check_ids, 0)
            ref, correctness["reference"] = backend.last_logits, "reference interpreter (numpy)"
        else:
            correctness["note"] = (f"skipped: {params / 1e9:.2f} B parameters is too many for the numpy interpreter "
                                   "and torch/transformers are not installed")  # fmt: skip
        if ref is not None:
            err = float(np.abs(ours.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-30))
            correctness.update(max_rel_err=err, passed=bool(err <= LOGITS_REL_TOL and np.isfinite(ours).all()),
                               argmax_ours=int(np.argmax(ours)), argmax_reference=int(np.argmax(ref)))  # fmt: skip
    else:
        correctness["note"] = "skipped (--no-check)"
    report["correctness"] = correctness

    if opts.vs_torch:
        import torch

        tm = tm.half()
        _note(progress, f"timing Hugging Face generate (fp16, eager) on {torch_device_name()}")
        t = time_torch_generate(tm, prompt.tolist(), N, opts.repeats, opts.warmup)
        match = 0
        for a, b in zip(generated, t["generated_ids"], strict=False):
            if a != b:
                break
            match += 1
        t["greedy_prefix_match"] = match
        report["torch"] = t
        report["ratio_decode_vs_torch"] = decode_tps / t["decode_tokens_per_s"] if t["decode_tokens_per_s"] else None
        report["ratio_prefill_vs_torch"] = (P / pre) / t["prefill_tokens_per_s"]
        del tm
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if opts.tune:
        report["tuned"] = bench_tuned(opts, model, device, runtime, report, prompt, progress)
    report["total_seconds"] = round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 3)
    return report


def bench_tuned(opts: BenchOptions, model: Any, device: Any, default_runtime: Any, report: dict[str, Any], prompt: np.ndarray,
                progress: Callable[[str], None] | None) -> dict[str, Any]:  # fmt: skip
    """``--tune``: the model compiled with measured tuning, timed as the default one was (same prompt, runs, warm-up).

    Compiling measures every distinct kernel's candidates once per adapter, with prefill steps of the bench's
    prompt length (progress on stderr; the winners are cached, and so is the tuned compile). Correctness: the tuned kernels' first-step logits against the
    default kernels' (which the main guard checks against the reference), same tolerance.
    """
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.targets import target_for_adapter

    P, N = opts.prompt_tokens, opts.decode_tokens
    _note(progress, "compiling with measured tuning (rusty_ir.tuning; winners cached per adapter after the first run)")
    # tuned for the prompt length being measured (decode is timed after that many positions)
    options = CompileOptions(target=target_for_adapter(device.info), logits_entry=True, tune=True, tune_prefill_length=P,
                             kv_cache=opts.kv_cache, kv_block_size=opts.kv_block_size)  # fmt: skip
    compiled = compile_model(model, options, adapter=device.identity, progress=progress)
    context = report["settings"]["context_length"]
    runtime = ModelRuntime(compiled.artifact.schedule, compiled.artifact.wgsl, model.weights, context, device,
                           resident_layers=opts.resident_layers)  # fmt: skip
    prefill_s, decode_s, generated = _timed_runs(runtime, prompt, N, opts, progress, "tuned ")  # as the default kernels
    pre, dec = _median(prefill_s), _median(decode_s)
    correctness: dict[str, Any] = {"reference": "default kernels", "max_rel_err": None, "tolerance": LOGITS_REL_TOL, "passed": None}
    if opts.check:
        check_ids = prompt[: min(CHECK_TOKENS, P)]
        ours = runtime.prefill_logits(check_ids, 0).astype(np.float64)
        ref = default_runtime.prefill_logits(check_ids, 0).astype(np.float64)
        err = float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))
        correctness.update(max_rel_err=err, passed=bool(err <= LOGITS_REL_TOL and np.isfinite(ours).all()), prompt_tokens=int(check_ids.size))
    match = 0
    for a, b in zip(report["generated_ids"], generated, strict=False):
        if a != b:
            break
        match += 1
    return {
        "compile": {"cache_hit": compiled.cache_hit, "seconds": round(compiled.seconds, 3),
                    "kernels": compiled.artifact.manifest.get("kernels"), "pipeline": compiled.artifact.manifest.get("pipeline")},  # fmt: skip
        "prefill_tokens_per_s": P / pre,
        "prefill_seconds": pre,
        "prefill_seconds_runs": prefill_s,
        "decode_tokens_per_s": N / dec,
        "decode_seconds": dec,
        "decode_seconds_runs": decode_s,
        "decode_ms_per_token": 1e3 * dec / N,
        "dispatches_per_token": runtime.dispatches_per_step("decode"),
        "speedup_prefill": report["prefill_seconds"] / pre,
        "speedup_decode": report["decode_seconds"] / dec,
        "generated_ids": generated,
        "greedy_prefix_match": match,
        "correctness": correctness,
    }


def check_report(report: dict[str, Any]) -> None:
    """RustyError when the correctness guard failed (or, with --tune, the tuned kernels' check)."""
    tc = (report.get("tuned") or {}).get("correctness") or {}
    if tc.get("passed") is False:
        raise RustyError(
            f"tuned kernels FAILED their check: first-step logits differ from the default kernels' by a max relative error of "
            f"{tc['max_rel_err']:.3g} > {tc['tolerance']:g}; the tuned figures above are not to be trusted"
        )
    c = report.get("correctness") or {}
    if c.get("passed") is False:
        raise RustyError(
            f"correctness guard FAILED: first-step logits differ from the {c['reference']} by a max relative error of "
            f"{c['max_rel_err']:.3g} > {c['tolerance']:g}; the speed figures above are not to be trusted"
        )


# --- printing ---------------------------------------------------------------------------------


def _si(x: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {prefix}{unit}"
    return f"{x:.2f} {unit}"


def _bytes(n: float) -> str:
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def format_report(r: dict[str, Any]) -> str:
    """The report as a readable table."""
    m, s, d = r["model"], r["settings"], r["device"]
    name = f"synthetic {m['synthetic']} {m['quant']}" if m.get("synthetic") else m["source"]
    lines = [
        f"rusty bench: {name} ({m['arch']}, {m['n_layers']} layers, {_si(m['parameters'], '').strip()} parameters, "
        f"{_bytes(m['weight_bytes'])} of weights: {', '.join(m['schemes'])})",
        f"  device: {d['name']} [{d['backend']}, {d['type']}] {d['driver']}",
        f"  batch 1, prompt {s['prompt_tokens']} tokens, decode {s['decode_tokens']} tokens, median of {s['repeats']} "
        f"after {s['warmup']} warm-up; context {s['context_length']}, {s['kv_cache']} KV cache "
        f"{'paged in blocks of ' + str(s['kv_block_size']) if s['kv_block_size'] else 'contiguous'}"
        f"{'' if s['resident_layers'] is None else ', ' + str(s['resident_layers']) + ' resident layers'}; commit {r['commit'] or '?'}; {r['date']}",
        "",
    ]
    t = r.get("torch")
    head = f"  {'':28s}{'rusty-ir (wgpu)':>18s}"
    if t:
        head += f"{'PyTorch ' + t['dtype'] + ' eager (' + t['device'] + ')':>32s}{'ours/torch':>12s}"
    lines.append(head)

    def row(label: str, ours: str, theirs: str = "", ratio: float | None = None) -> None:
        line = f"  {label:28s}{ours:>18s}"
        if t:
            line += f"{theirs:>32s}{(f'{ratio:.2f}x' if ratio is not None else ''):>12s}"
        lines.append(line)

    row("prefill tokens/s", f"{r['prefill_tokens_per_s']:.1f}", f"{t['prefill_tokens_per_s']:.1f}" if t else "",
        r.get("ratio_prefill_vs_torch"))
    t_dec = t and t["decode_tokens_per_s"]
    row("decode tokens/s", f"{r['decode_tokens_per_s']:.1f}", f"{t_dec:.1f}" if t_dec else "?", r.get("ratio_decode_vs_torch"))
    row("decode ms/token", f"{r['decode_ms_per_token']:.3f}", f"{1e3 / t_dec:.3f}" if t_dec else "?")
    row("dispatches per token", str(r["dispatches_per_token"]))
    row("dispatches per prefill step", str(r["dispatches_per_prefill_step"]))
    row("weight bytes per token", _bytes(r["weight_bytes_per_token"]))
    row("KV bytes per token (avg)", _bytes(r["kv_cache_bytes_per_token_avg"]))
    bw = r["copy_bandwidth"]
    row("copy bandwidth (r+w)", _si(bw["bytes_per_s"], "B/s"))
    if r.get("read_bandwidth"):
        row("read bandwidth (kernel)", _si(r["read_bandwidth"]["bytes_per_s"], "B/s"))
    row("roofline share (weights)", f"{100 * r['roofline_share']:.1f} %")
    h = r["decode_host_seconds_per_step"]
    row("host per decode step (ms)", f"{1e3 * h['prepare']:.2f}/{1e3 * h['encode']:.2f}/{1e3 * h['submit_wait_read']:.2f}")
    lines.append("  (host per decode step: prepare / encode / submit+wait+read; "
                 f"copy bandwidth: {_bytes(bw['buffer_bytes'])} buffer x {bw['copies']})")  # fmt: skip
    c = r.get("correctness") or {}
    if c.get("max_rel_err") is not None:
        verdict = "ok" if c["passed"] else "FAILED"
        lines.append(f"  correctness: first-step logits of {c['prompt_tokens']} tokens vs {c['reference']}: "
                     f"max rel err {c['max_rel_err']:.3g} (tolerance {c['tolerance']:g}) {verdict}")  # fmt: skip
    else:
        lines.append(f"  correctness: {c.get('note') or 'not checked'}")
    if t:
        lines.append(f"  torch: {t['torch_version']}{', ' + t['cuda_device'] if t.get('cuda_device') else ''}; "
                     f"greedy ids agree for the first {t['greedy_prefix_match']} tokens "
                     "(random weights have near-ties; informative only)")  # fmt: skip
    tu = r.get("tuned")
    if tu:
        lines += ["", f"  tuned against default (measured tuning, prefill length {s['prompt_tokens']}; tuned compile "
                      f"{'from the cache' if tu['compile']['cache_hit'] else 'took ' + format(tu['compile']['seconds'], '.1f') + ' s'})",
                  f"  {'':28s}{'default':>18s}{'tuned':>14s}{'tuned/default':>16s}"]  # fmt: skip
        lines.append(f"  {'prefill tokens/s':28s}{r['prefill_tokens_per_s']:18.1f}{tu['prefill_tokens_per_s']:14.1f}{tu['speedup_prefill']:15.2f}x")
        lines.append(f"  {'decode tokens/s':28s}{r['decode_tokens_per_s']:18.1f}{tu['decode_tokens_per_s']:14.1f}{tu['speedup_decode']:15.2f}x")
        lines.append(f"  {'decode ms/token':28s}{r['decode_ms_per_token']:18.3f}{tu['decode_ms_per_token']:14.3f}")
        tc = tu["correctness"]
        if tc.get("max_rel_err") is not None:
            lines.append(f"  tuned correctness: first-step logits vs the default kernels: max rel err {tc['max_rel_err']:.3g} "
                         f"(tolerance {tc['tolerance']:g}) {'ok' if tc['passed'] else 'FAILED'}; "
                         f"greedy ids agree for the first {tu['greedy_prefix_match']} tokens")  # fmt: skip
    p = r.get("profile")
    if p:
        for entry in ("decode", "prefill"):
            table = p.get(entry)
            if table is None:
                continue
            what = "one decode step" if entry == "decode" else f"one prefill step of {p['prefill_tokens']} tokens"
            lines += ["", f"  GPU time per kernel, {what}: {1e3 * table['gpu_seconds']:.3f} ms in {table['dispatches']} dispatches "
                          f"(the profiled step took {1e3 * table['wall_seconds']:.3f} ms wall, one compute pass per dispatch)"]
            lines.append(f"    {'kernel':32s}{'ms':>10s}{'dispatches':>12s}{'share':>8s}")
            for e in table["kernels"]:
                lines.append(f"    {e['kernel']:32s}{1e3 * e['seconds']:10.3f}{e['dispatches']:12d}{100 * e['share']:7.1f}%")
            if table.get("note"):
                lines.append(f"    note: {table['note']}")
        if p.get("note"):
            lines.append(f"  profile: {p['note']}")
    return "\n".join(lines)


def report_header(tool: str, command: str, opts: Any, started: Any, device: Any) -> dict[str, Any]:
    """What every benchmark report starts with: the tool, how to reproduce it, when, which code and
    which device."""
    return {
        "tool": tool,
        "command": command,
        "options": asdict(opts),
        "date": started.isoformat(timespec="seconds"),
        "commit": git_commit(),
        "rusty_ir_version": __import__("rusty_ir").__version__,
        "python": sys.version.split()[0],
        "device": device_report(device),
    }


def report_main(run: Any, fmt: Any, check: Any, as_json: bool, quiet: bool = False) -> int:
    """Run a benchmark (``run(progress)``, progress lines on stderr unless ``quiet``), print its
    report as a table (``fmt``) or JSON, then fail on a failed guard (``check`` raises)."""
    import json

    def progress(message: str) -> None:
        if not quiet:
            print(f"rusty: {message}", file=sys.stderr, flush=True)

    report = run(progress)
    print(json.dumps(report, default=_json_default) if as_json else fmt(report))
    sys.stdout.flush()
    check(report)
    return 0


def bench_main(opts: BenchOptions, as_json: bool, quiet: bool = False) -> int:
    """The ``rusty bench`` command: run, print (table or JSON), then fail on a failed guard."""
    return report_main(lambda progress: run_bench(opts, progress), format_report, check_report, as_json, quiet)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    raise TypeError(f"not JSON-able: {type(x).__name__}")


def canonical_command(opts: BenchOptions) -> str:
    """The ``rusty bench`` command line that reproduces ``opts``."""
    args = ["rusty", "bench"]
    if opts.model is not None:
        args.append(opts.model)
    if opts.synthetic is not None:
        args += ["--synthetic", opts.synthetic, "--quant", opts.quant or "q4_0"]
        if opts.seed:
            args += ["--seed", str(opts.seed)]
    args += ["--prompt-tokens", str(opts.prompt_tokens), "--decode-tokens", str(opts.decode_tokens),
             "--repeats", str(opts.repeats), "--warmup", str(opts.warmup)]  # fmt: skip
    if opts.context_length is not None:
        args += ["--context-length", str(opts.context_length)]
    if opts.kv_cache != "f32":
        args += ["--kv-cache", opts.kv_cache]
    if opts.kv_block_size != DEFAULT_KV_BLOCK_SIZE:
        args += ["--kv-block-size", str(opts.kv_block_size)]
    if opts.resident_layers is not None:
        args += ["--resident-layers", str(opts.resident_layers)]
    args += [flag for flag, on in (("--vs-torch", opts.vs_torch), ("--profile", opts.profile), ("--no-check", not opts.check), ("--tune", opts.tune)) if on]
    return shlex.join(args)


__all__ = [
    "LOGITS_REL_TOL",
    "BenchOptions",
    "bench_main",
    "bench_tuned",
    "build_torch_model",
    "check_report",
    "decode_weight_bytes",
    "dequantize_torch",
    "format_report",
    "profiling_device",
    "run_bench",
    "validate",
]
