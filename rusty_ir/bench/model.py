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
8. ``--speculate lookup|draft`` (``--draft MODEL``, ``--draft-tokens K``): the model is compiled with the ``@verify``
   entry and each timed run decodes speculatively (``rusty_ir.speculative``, greedy: the same tokens as plain
   decoding), a fresh drafter per run (a draft model re-reads the prompt inside the decode time, as ``rusty run``'s
   first round does). Decode tokens/s stays emitted tokens over wall time, so it compares with a plain run's; the
   roofline share counts the model's steps (verification and plain) instead of tokens, since a verification step
   reads the weights once for several tokens. The report's ``speculative`` entry: drafted, accepted, acceptance
   rate, tokens per verification step, the steps, and how many leading tokens agree with plain greedy decoding
   (the plain steps of step 4; informative: random weights have near-ties). The prompt is random token ids, so
   prompt lookup finds its matches mostly in the generated text: its acceptance here is not real text's.
   ``--profile`` adds one verification step of K + 1 tokens.
"""

from __future__ import annotations

import datetime
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import numpy as np

from rusty_ir.bench.measure import ProfileTable, _profile_table, decode_weight_bytes, device_report, kv_read_bytes, profiling_device
from rusty_ir.bench.options import CHECK_TOKENS, LOGITS_REL_TOL, REFERENCE_MAX_PARAMS, BenchOptions, _note, canonical_command, validate
from rusty_ir.bench.report import Report, check_report, format_report, report_header, report_main
from rusty_ir.bench.torch_baseline import build_torch_model, time_torch_generate, torch_available, torch_device_name, torch_logits
from rusty_ir.errors import RustyError
from rusty_ir.probes import SPIN_UP_SECONDS, measure_copy_bandwidth, measure_read_bandwidth, peak_rss_bytes, spin_up
from rusty_ir.speculative import SpeculativeOptions, SpeculativeStats, Speculator, check_same_vocabulary

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from rusty_ir.backends.runtime.device import Device
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.importers.loaded import LoadedModel

Progress = Callable[[str], None] | None
"""Where progress lines go (None: nowhere)."""
MakeSpeculator = Callable[[], Speculator] | None
"""A fresh speculative decoder per timed run (None: plain decoding)."""


class Correctness(TypedDict):
    """A correctness guard's verdict (the report's ``correctness``, and ``tuned.correctness``)."""

    reference: str | None
    """What the logits were checked against; None when they were not."""
    max_rel_err: float | None
    tolerance: float
    passed: bool | None
    prompt_tokens: NotRequired[int]
    note: NotRequired[str]
    """Why the check was skipped, or ""."""
    argmax_ours: NotRequired[int]
    argmax_reference: NotRequired[int]


class Profile(TypedDict):
    """``--profile``'s figures (the report's ``profile``): one decode and one prefill step, per kernel."""

    decode: ProfileTable | None
    prefill: ProfileTable | None
    prefill_tokens: int
    verify: NotRequired[ProfileTable | None]
    """With ``--speculate``: one verification step of ``verify_tokens`` tokens."""
    verify_tokens: NotRequired[int]
    note: NotRequired[str]


def _timed_runs(
    runtime: ModelRuntime,
    prompt: np.ndarray,
    decode_tokens: int,
    opts: BenchOptions,
    progress: Callable[[str], None] | None,
    label: str = "",
    speculator: MakeSpeculator = None,
) -> tuple[list[float], list[float], list[int], SpeculativeStats | None]:
    """``opts.warmup`` untimed then ``opts.repeats`` timed runs of a prefill of ``prompt`` and
    ``decode_tokens`` greedy tokens after its own, decoded as ``rusty run`` does (each step encoded while the one before runs; with
    ``speculator``, in rounds of drafted tokens checked by one verification step): the timed runs' prefill and
    decode seconds, and the last run's token ids and speculative decoding statistics (None without it)."""
    prefill_s: list[float] = []
    decode_s: list[float] = []
    generated: list[int] = []
    stats: SpeculativeStats | None = None
    prompt_ids = prompt.tolist()
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
        if speculator is None:
            ids = [token, *runtime.decode_stream(token, prompt.size, decode_tokens)]
            run_stats = None
        else:
            spec = speculator()
            run_stats = SpeculativeStats(spec.options.mode, spec.options.draft_tokens)
            ids = [token, *spec.tokens(runtime, prompt_ids, token, decode_tokens, run_stats)]
        t2 = time.perf_counter()
        if timed:
            prefill_s.append(t1 - t0)
            decode_s.append(t2 - t1)
            generated, stats = ids, run_stats
    return prefill_s, decode_s, generated, stats


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def _load(opts: BenchOptions, progress: Callable[[str], None] | None) -> tuple[LoadedModel, dict[str, Any]]:
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


def _draft_speculator(opts: BenchOptions, model: LoadedModel, device: Device, context: int, progress: Progress,
                      draft: LoadedModel | None) -> MakeSpeculator:  # fmt: skip
    """What ``--speculate`` decodes with: a fresh ``Speculator`` per run (None without it). For ``draft``: the draft
    model compiled like the model (same KV cache, greedy entries only) and run on the same device; a fresh drafter
    each run re-reads the prompt, as ``rusty run``'s first round does."""
    if opts.speculate is None:
        return None
    spec = SpeculativeOptions(opts.speculate, opts.draft_tokens)
    if draft is None:
        return lambda: Speculator(spec)
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.targets import target_for_adapter

    _note(progress, f"compiling the draft model {draft.source} (cached after the first run)")
    options = CompileOptions(target=target_for_adapter(device.info), kv_cache=opts.kv_cache, kv_block_size=opts.kv_block_size)
    compiled = compile_model(draft, options, adapter=device.identity, progress=progress)
    backend = ModelRuntime(compiled.artifact.schedule, compiled.artifact.wgsl, compiled.artifact.runtime_weights(draft.weights),
                           context, device)  # fmt: skip
    vocab = model.config.vocab
    return lambda: Speculator(spec, backend, vocab=vocab)


def _load_draft(opts: BenchOptions, model: LoadedModel, context: int, progress: Progress) -> LoadedModel | None:
    """The ``--draft`` checkpoint (None without one), checked before anything is compiled: the model's vocabulary,
    and trained for the context."""
    if opts.draft is None:
        return None
    from rusty_ir.api import resolve_model_path
    from rusty_ir.importers import load_model

    _note(progress, f"loading the draft model {opts.draft}")
    draft = load_model(resolve_model_path(opts.draft))
    check_same_vocabulary(model, draft)
    if draft.config.context_length and draft.config.context_length < context:
        raise RustyError(f"--draft {draft.source}: trained for {draft.config.context_length} positions, fewer than the "
                         f"{context} this run needs (prompt + decode tokens, or --context-length)")  # fmt: skip
    return draft


def run_bench(opts: BenchOptions, progress: Progress = None) -> Report:
    """Run the benchmark; the report (a JSON-able dict). Does not raise on a failed guard:
    ``report["correctness"]["passed"]`` is False then (``check_report`` raises)."""
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.targets import target_for_adapter

    validate(opts)
    started = datetime.datetime.now(datetime.UTC)
    model, model_info = _load(opts, progress)
    P, N = opts.prompt_tokens, opts.decode_tokens
    context = opts.context_length or P + N
    draft = _load_draft(opts, model, context, progress)
    device = profiling_device()
    _note(progress, f"device: {device_report(device)['name']}")

    _note(progress, "compiling (cached after the first run)")
    options = CompileOptions(target=target_for_adapter(device.info), logits_entry=True, kv_cache=opts.kv_cache, kv_block_size=opts.kv_block_size,
                             verify_entry=opts.speculate is not None)  # fmt: skip
    compiled = compile_model(model, options, adapter=device.identity, progress=progress)
    _note(progress, "loading kernels and weights onto the GPU")
    runtime = ModelRuntime(compiled.artifact.schedule, compiled.artifact.wgsl, model.weights, context, device,
                           resident_layers=opts.resident_layers)  # fmt: skip
    speculator = _draft_speculator(opts, model, device, context, progress, draft)
    if speculator is not None:
        speculator().check(runtime)

    rng = np.random.default_rng(opts.seed + 1)
    prompt = rng.integers(0, model.config.vocab, size=P, dtype=np.int32)
    prefill_s, decode_s, generated, stats = _timed_runs(runtime, prompt, N, opts, progress, speculator=speculator)
    figures, plain_ids = _speed_figures(runtime, model, device, prompt, N, prefill_s, decode_s, progress,
                                        model_steps=None if stats is None else stats.verify_steps + stats.plain_steps)  # fmt: skip
    report: Report = {
        **report_header("rusty bench", opts.command or canonical_command(opts), opts, started, device),
        "model": model_info,
        "settings": {
            "prompt_tokens": P,
            "decode_tokens": N,
            "repeats": opts.repeats,
            "warmup": opts.warmup,
            "context_length": context,
            "batch": 1,
            "seed": opts.seed,
            "resident_layers": runtime.resident_layers,
            "kv_cache": opts.kv_cache,
            "kv_block_size": opts.kv_block_size,
        },
        "compile": {
            "cache_hit": compiled.cache_hit,
            "seconds": round(compiled.seconds, 3),
            "kernels": compiled.artifact.manifest.get("kernels"),
            "load_seconds": round(runtime.load_seconds, 3),
            "pipeline": compiled.artifact.manifest.get("pipeline"),
        },
        **figures,
        "speculative": _speculative_report(opts, runtime, stats, N, _median(decode_s), generated, plain_ids),
        "generated_ids": generated,
        "profile": None,
        "correctness": None,
        "torch": None,
        "ratio_decode_vs_torch": None,
        "ratio_prefill_vs_torch": None,
    }
    if opts.profile:
        report["profile"] = _profile(runtime, prompt, generated, progress, opts.draft_tokens if speculator is not None else None)
    tm = _torch_model(opts, model, model_info["parameters"], progress)
    report["correctness"] = _correctness(opts, model, runtime, prompt, model_info["parameters"], tm, progress)
    if opts.vs_torch:
        _vs_torch(report, tm, prompt, generated, opts, progress)
    if opts.tune:
        report["tuned"] = bench_tuned(opts, model, device, runtime, report, prompt, progress, speculator)
    report["total_seconds"] = round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 3)
    return report


def _speed_figures(runtime: ModelRuntime, model: LoadedModel, device: Device, prompt: np.ndarray, N: int, prefill_s: list[float],
                   decode_s: list[float], progress: Progress, model_steps: int | None = None) -> tuple[dict[str, Any], list[int]]:  # fmt: skip
    """The report's speed and static figures (steps 3 and 4 of the module docstring): timings, the host's share of a
    decode step (measured step by step after the timed runs, so with no overlap), dispatches, bytes per token,
    bandwidth and the roofline share (over ``model_steps`` model steps per run when speculating, else over the
    tokens), memory; and the token ids of those plain greedy steps (the prefill's first)."""
    P = prompt.size
    runtime.reset()
    token = runtime.prefill(prompt, 0)
    plain = [token]
    split = np.zeros(3)
    steps = min(N, 16)
    for i in range(steps):
        token = runtime.decode(token, P + i)
        plain.append(token)
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
    return {
        "prefill_tokens_per_s": P / pre,
        "prefill_seconds": pre,
        "prefill_seconds_runs": prefill_s,
        "decode_tokens_per_s": decode_tps,
        "decode_seconds": dec,
        "decode_seconds_runs": decode_s,
        "decode_ms_per_token": 1e3 * dec / N,
        "decode_host_seconds_per_step": dict(zip(("prepare", "encode", "submit_wait_read"), map(float, host_split), strict=True)),
        "dispatches_per_token": runtime.dispatches_per_step("decode"),
        "dispatches_per_prefill_step": runtime.dispatches_per_step("prefill", min(P, runtime.max_prefill)),
        "weight_bytes_per_token": weight_bytes,
        "kv_cache_bytes_per_token_avg": kv_read_bytes(runtime, P, N),
        "copy_bandwidth_bytes_per_s": bandwidth["bytes_per_s"],
        "copy_bandwidth": bandwidth,
        "read_bandwidth": read_bandwidth,
        "roofline_share": weight_bytes * (decode_tps if model_steps is None else model_steps / dec) / ceiling,
        "memory": runtime.memory_report(),
        "memory_planning": runtime.memory_planning_report(),
        "host_peak_rss_bytes": peak_rss_bytes(),
    }, plain


def _speculative_report(opts: BenchOptions, runtime: ModelRuntime, stats: SpeculativeStats | None, N: int, decode_seconds: float,
                        generated: list[int], plain: list[int]) -> dict[str, Any] | None:  # fmt: skip
    """The report's ``speculative`` entry (None without ``--speculate``): ``SpeculativeStats.to_dict()`` of the last
    timed run (drafted, accepted, acceptance_rate, verify_steps, plain_steps, tokens_per_verify_step; every run is the
    same greedy generation), the model steps and tokens per model step, verification steps' dispatches, and the
    leading tokens that agree with plain greedy decoding."""
    if stats is None:
        return None
    steps = stats.verify_steps + stats.plain_steps
    compared = min(len(generated), len(plain))
    return {
        **stats.to_dict(),
        "draft_model": opts.draft,
        "model_steps": steps,
        "model_steps_per_s": steps / decode_seconds,
        "tokens_per_model_step": round(N / steps, 4) if steps else None,
        "dispatches_per_verify_step": runtime.dispatches_per_step("verify"),
        "plain_greedy_match": _prefix_match(generated, plain),
        "plain_greedy_compared": compared,
        "note": "the prompt is random token ids: prompt lookup finds its matches mostly in the generated text, and a "
                "draft model sees no real text; real text's acceptance differs",
    }  # fmt: skip


def _profile(
    runtime: ModelRuntime, prompt: np.ndarray, generated: list[int], progress: Progress, draft_tokens: int | None = None
) -> Profile:
    """``--profile``: per-kernel GPU time of one decode step and one prefill step (timestamp queries), and with
    ``draft_tokens`` (``--speculate``) one verification step of that many drafts and the last token."""
    P = prompt.size
    _note(progress, "profiling one decode step and one prefill step (timestamp queries)")
    t0 = time.perf_counter()
    dec_rows = runtime.profile_step("decode", np.array([generated[-1]], np.int32), P)
    t1 = time.perf_counter()
    pre_rows = runtime.profile_step("prefill", prompt[: runtime.max_prefill], 0)
    t2 = time.perf_counter()
    profile = Profile(decode=_profile_table(dec_rows, t1 - t0), prefill=_profile_table(pre_rows, t2 - t1),
                      prefill_tokens=int(min(P, runtime.max_prefill)))  # fmt: skip
    if draft_tokens is not None:  # rows P .. P + n - 1: within the context while n <= the decode tokens
        n = max(1, min(draft_tokens + 1, runtime.max_verify, len(generated) - 1))
        t3 = time.perf_counter()
        ver_rows = runtime.profile_step("verify", np.asarray(generated[:n], np.int32), P)
        profile["verify"] = _profile_table(ver_rows, time.perf_counter() - t3)
        profile["verify_tokens"] = n
    if dec_rows is None:
        profile["note"] = "the device has no 'timestamp-query' feature: no per-kernel GPU times"
    return profile


def _torch_model(opts: BenchOptions, model: LoadedModel, params: int, progress: Progress) -> PreTrainedModel | None:
    """The PyTorch model (float32) when ``--vs-torch`` asks for it, or the guard needs it (a model too big for the
    numpy interpreter, with torch installed); else None."""
    use_torch = opts.vs_torch or (opts.check and params > REFERENCE_MAX_PARAMS and torch_available())
    if not use_torch:
        return None
    if not torch_available():
        raise RustyError("--vs-torch needs the packages torch and transformers")
    tdev = torch_device_name()
    _note(progress, f"building the PyTorch model on {tdev} from the same weights")
    return build_torch_model(model, tdev, progress)


def _correctness(opts: BenchOptions, model: LoadedModel, runtime: ModelRuntime, prompt: np.ndarray, params: int,
                 tm: PreTrainedModel | None, progress: Progress) -> Correctness:  # fmt: skip
    """The correctness guard (step 6 of the module docstring): first-step logits against PyTorch or the reference
    interpreter."""
    check_ids = prompt[: min(CHECK_TOKENS, prompt.size)]
    correctness = Correctness(reference=None, max_rel_err=None, tolerance=LOGITS_REL_TOL, passed=None,
                              prompt_tokens=int(check_ids.size), note="")  # fmt: skip
    if not opts.check:
        correctness["note"] = "skipped (--no-check)"
        return correctness
    ours = runtime.prefill_logits(check_ids, 0)
    ref = None
    if tm is not None:
        _note(progress, "correctness guard: first-step logits against PyTorch (float32)")
        ref, correctness["reference"] = torch_logits(tm, check_ids.tolist()), f"pytorch float32 ({torch_device_name()})"
    elif params <= REFERENCE_MAX_PARAMS:
        _note(progress, "correctness guard: first-step logits against the reference interpreter")
        from rusty_ir.generate import ReferenceBackend
        from rusty_ir.importers.to_ir import build_module

        backend = ReferenceBackend(build_module(model.config, model.weights, logits_entry=True), model.weights,
                                   max(CHECK_TOKENS, check_ids.size), keep_logits=True)  # fmt: skip
        backend.prefill(check_ids, 0)
        ref, correctness["reference"] = backend.last_logits, "reference interpreter (numpy)"
    else:
        correctness["note"] = (f"skipped: {params / 1e9:.2f} B parameters is too many for the numpy interpreter "
                               "and torch/transformers are not installed")  # fmt: skip
    if ref is not None:
        err = float(np.abs(ours.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-30))
        correctness["max_rel_err"] = err
        correctness["passed"] = bool(err <= LOGITS_REL_TOL and np.isfinite(ours).all())
        correctness["argmax_ours"] = int(np.argmax(ours))
        correctness["argmax_reference"] = int(np.argmax(ref))
    return correctness


def _vs_torch(report: Report, tm: PreTrainedModel, prompt: np.ndarray, generated: list[int], opts: BenchOptions,
              progress: Progress) -> None:  # fmt: skip
    """``--vs-torch`` (step 7 of the module docstring): Hugging Face ``generate`` timed in fp16, into ``report``."""
    import torch

    tm = tm.half()
    _note(progress, f"timing Hugging Face generate (fp16, eager) on {torch_device_name()}")
    t = time_torch_generate(tm, prompt.tolist(), opts.decode_tokens, opts.repeats, opts.warmup)
    t["greedy_prefix_match"] = _prefix_match(generated, t["generated_ids"])
    report["torch"] = t
    report["ratio_decode_vs_torch"] = report["decode_tokens_per_s"] / t["decode_tokens_per_s"] if t["decode_tokens_per_s"] else None
    report["ratio_prefill_vs_torch"] = report["prefill_tokens_per_s"] / t["prefill_tokens_per_s"]
    del tm
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _prefix_match(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading token ids ``a`` and ``b`` share."""
    match = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        match += 1
    return match


def bench_tuned(opts: BenchOptions, model: LoadedModel, device: Device, default_runtime: ModelRuntime, report: Report,
                prompt: np.ndarray, progress: Callable[[str], None] | None, speculator: MakeSpeculator = None) -> dict[str, Any]:  # fmt: skip
    """``--tune``: the model compiled with measured tuning, timed as the default one was (same prompt, runs, warm-up).

    Compiling measures every distinct kernel's candidates once per adapter, with prefill steps of the bench's
    prompt length (progress on stderr; the winners are cached, and so is the tuned compile). Correctness: the tuned kernels' first-step logits against the
    default kernels' (which the main guard checks against the reference), same tolerance. With ``speculator``
    (``--speculate``) the tuned model decodes speculatively too (compiled with the ``@verify`` entry).
    """
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.targets import target_for_adapter

    P, N = opts.prompt_tokens, opts.decode_tokens
    _note(progress, "compiling with measured tuning (rusty_ir.tuning; winners cached per adapter after the first run)")
    # tuned for the prompt length being measured (decode is timed after that many positions)
    options = CompileOptions(target=target_for_adapter(device.info), logits_entry=True, tune=True, tune_prefill_length=P,
                             kv_cache=opts.kv_cache, kv_block_size=opts.kv_block_size, verify_entry=speculator is not None)  # fmt: skip
    compiled = compile_model(model, options, adapter=device.identity, progress=progress)
    context = report["settings"]["context_length"]
    runtime = ModelRuntime(compiled.artifact.schedule, compiled.artifact.wgsl, model.weights, context, device,
                           resident_layers=opts.resident_layers)  # fmt: skip
    prefill_s, decode_s, generated, stats = _timed_runs(runtime, prompt, N, opts, progress, "tuned ", speculator)  # as the default kernels
    pre, dec = _median(prefill_s), _median(decode_s)
    correctness = Correctness(reference="default kernels", max_rel_err=None, tolerance=LOGITS_REL_TOL, passed=None)
    if opts.check:
        check_ids = prompt[: min(CHECK_TOKENS, P)]
        ours = runtime.prefill_logits(check_ids, 0).astype(np.float64)
        ref = default_runtime.prefill_logits(check_ids, 0).astype(np.float64)
        err = float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))
        correctness["max_rel_err"] = err
        correctness["passed"] = bool(err <= LOGITS_REL_TOL and np.isfinite(ours).all())
        correctness["prompt_tokens"] = int(check_ids.size)
    match = _prefix_match(report["generated_ids"], generated)
    return {
        "compile": {
            "cache_hit": compiled.cache_hit,
            "seconds": round(compiled.seconds, 3),
            "kernels": compiled.artifact.manifest.get("kernels"),
            "pipeline": compiled.artifact.manifest.get("pipeline"),
        },
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
        "speculative": None if stats is None else stats.to_dict(),
    }


def bench_main(opts: BenchOptions, as_json: bool, quiet: bool = False) -> int:
    """The ``rusty bench`` command: run, print (table or JSON), then fail on a failed guard."""
    return report_main(lambda progress: run_bench(opts, progress), format_report, check_report, as_json, quiet)
