"""The flags ``rusty run``, ``rusty chat`` and ``rusty serve`` share: loading a model, sampling, stop strings.

Each ``add_*`` puts a group of flags on a subcommand's parser; the matching function turns the
parsed namespace into the options object (``rusty_ir.api.LoadOptions``, ``SamplingParams``).
Defaults are the Python API's (``rusty_ir.load``, ``Model.generate``).
"""

from __future__ import annotations

import argparse
from typing import Any

from rusty_ir.api import BACKENDS, DEFAULT_CONTEXT_CAP, DEFAULT_MAX_TOKENS, LoadOptions
from rusty_ir.sampling import DEFAULT_PENALTY_LAST_N, MAX_PENALIZED, SamplingParams
from rusty_ir.speculative import DEFAULT_DRAFT_TOKENS, MAX_DRAFT_TOKENS, SPECULATE_MODES
from rusty_ir.stages import DEFAULT_KV_BLOCK_SIZE, KV_CACHE_TYPES

DEFAULT_BACKEND = LoadOptions.backend

TUNE_HELP = (
    "choose workgroup and tile sizes by timing candidates of every kernel on this GPU "
    "(winners cached per GPU in tuning/ under ~/.cache/rusty-ir or $RUSTY_CACHE_DIR, read by "
    "tune-workgroups{configs=...}; heuristic without a GPU)"
)
QUANTIZE_HELP = (
    "quantize the float (f32/f16/bf16) weight matrices of the layers and the LM head at compile time: "
    "q8_0, q4_0, int4_g32 or int4_g128 (quantize-weights; docs/quantization.md)"
)
KV_CACHE_HELP = (
    "what the KV cache holds: f32 (default), f16 (half the memory; needs the adapter's shader-f16) "
    "or q8_0 (8-bit values with an f16 scale per 32: about a quarter)"
)
KV_BLOCK_HELP = (
    f"positions per block of the paged KV cache (default {DEFAULT_KV_BLOCK_SIZE}; 0 = one buffer per layer sized for the context)"
)
KV_BUDGET_HELP = (
    "device memory the KV cache may take (bytes, or with K/M/G suffixes: 2G); past it the oldest blocks move to "
    "host memory and are copied back per layer each step (slower, identical output; paged cache). Default: half the "
    "adapter's memory less the weights where it is known (a CPU adapter: the RAM), else no limit"
)
RESIDENT_LAYERS_HELP = (
    "stream the layers' weights: keep only N layers on the GPU (for models larger than GPU memory): the "
    "first N - 2 stay, the others are uploaded every token while the GPU runs the layer before (slower). "
    "Default: every layer resident; N >= the model's layers is the same"
)


def block_size(text: str) -> int:
    """``--kv-block-size``: 0 (not paged) or a positive number of positions."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (not paged) or a positive number of positions, got '{text}'")
    return value


def add_compile_options(parser: argparse.ArgumentParser) -> None:
    """The flags that change what is compiled: --tune, --quantize, --kv-cache, --kv-block-size, and the pipeline
    (--pass-pipeline, --insert-after, --insert-before)."""
    parser.add_argument("--tune", action="store_true", help=TUNE_HELP)
    parser.add_argument("--quantize", metavar="SCHEME", help=QUANTIZE_HELP)
    parser.add_argument("--kv-cache", choices=KV_CACHE_TYPES, default="f32", help=KV_CACHE_HELP)
    parser.add_argument("--kv-block-size", type=block_size, default=DEFAULT_KV_BLOCK_SIZE, metavar="N", help=KV_BLOCK_HELP)
    group = parser.add_argument_group("pipeline (installed plugins' passes may be named; docs/plugins.md)")
    group.add_argument("--pass-pipeline", default="", metavar="PIPELINE", help=PASS_PIPELINE_HELP)
    group.add_argument("--insert-after", action="append", default=[], metavar="STAGE=PASS", help=INSERT_HELP.format(where="after"))
    group.add_argument("--insert-before", action="append", default=[], metavar="STAGE=PASS", help=INSERT_HELP.format(where="before"))


PASS_PIPELINE_HELP = (
    "compile with this pipeline instead of the default stages: 'builtin.module(a,b{x=1})' or 'a,b{x=1}'; "
    "'rusty-default' stands for the default stages, e.g. 'rusty-default,my-pass'; it must end at the gpu level"
)
INSERT_HELP = (
    "run passes {where} a stage of the pipeline: STAGE=PASS{{options}}[,PASS...] (repeatable; "
    "stages: rusty compile --dump-after's); each inserted pass is a stage named after it"
)


def compile_options(args: argparse.Namespace) -> dict[str, Any]:
    """``CompileOptions`` fields from the flags of ``add_compile_options``."""
    return {"tune": args.tune, "quantize": args.quantize or "", "kv_cache": args.kv_cache, "kv_block_size": args.kv_block_size,
            "pass_pipeline": args.pass_pipeline, "insert_after": tuple(args.insert_after), "insert_before": tuple(args.insert_before)}  # fmt: skip


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """MODEL and how to run it: the backend, the context length, what is compiled, layer streaming, a compiled folder."""
    parser.add_argument("model", nargs="?", metavar="MODEL", help="checkpoint (default: bundled SmolLM2)")
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                        help=f"what runs the model (default: {DEFAULT_BACKEND}; 'reference' is the numpy interpreter "
                             "of the transformer IR)")  # fmt: skip
    parser.add_argument("--context-length", type=int, default=None, metavar="N",
                        help="KV-cache positions; prompt + max tokens must fit "
                             f"(default: the model's context length, at most {DEFAULT_CONTEXT_CAP}; never more than the model's)")  # fmt: skip
    add_compile_options(parser)
    parser.add_argument("--resident-layers", type=int, metavar="N", help=RESIDENT_LAYERS_HELP)
    parser.add_argument("--kv-device-budget", metavar="BYTES", help=KV_BUDGET_HELP)
    parser.add_argument("--compiled", metavar="DIR",
                        help="run the kernels and schedule in DIR (from rusty compile -o DIR) instead of compiling; "
                             "MODEL still gives the weights and tokenizer, which must match what DIR was compiled from")  # fmt: skip


def add_speculative_options(parser: argparse.ArgumentParser) -> None:
    """Speculative decoding: --speculate, --draft, --draft-tokens (checked by ``LoadOptions``, not argparse, so that a
    bad value is a one-line error and exit 1)."""
    group = parser.add_argument_group(
        "speculative decoding (greedy: the same tokens as plain greedy decoding; sampled: the same distribution, "
        "by rejection sampling; in fewer steps when drafts are accepted)"
    )
    group.add_argument("--speculate", metavar="MODE",
                       help=f"draft tokens and check them in one multi-token step: {' or '.join(SPECULATE_MODES)} "
                            "(lookup: n-grams of the prompt and the text so far; draft: a draft model, --draft)")  # fmt: skip
    group.add_argument(
        "--draft", metavar="MODEL", help="the draft model of --speculate draft (implies it): a smaller checkpoint with the same tokenizer"
    )
    group.add_argument(
        "--draft-tokens",
        type=int,
        default=DEFAULT_DRAFT_TOKENS,
        metavar="K",
        help=f"the most tokens drafted per verification step, 1 to {MAX_DRAFT_TOKENS} (default {DEFAULT_DRAFT_TOKENS}; "
        "fewer, or none for a while, after rejections; on the GPU at most 7, since larger steps leave the few-token kernels)",
    )


def load_options(args: argparse.Namespace, sampling: bool) -> LoadOptions:
    """``LoadOptions`` from the flags of ``add_load_options`` (and ``add_speculative_options``, where the command has
    them; it checks them); ``sampling``: compile the sampling entries."""
    draft = getattr(args, "draft", None)
    speculate = getattr(args, "speculate", None) or ("draft" if draft is not None else None)
    return LoadOptions(backend=args.backend, context_length=args.context_length, compiled=args.compiled,
                       resident_layers=args.resident_layers, sampling=sampling, compile=compile_options(args),
                       kv_device_budget=getattr(args, "kv_device_budget", None),
                       speculate=speculate, draft=draft, draft_tokens=getattr(args, "draft_tokens", DEFAULT_DRAFT_TOKENS))  # fmt: skip


def add_generation_options(parser: argparse.ArgumentParser, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
    """The token budget (default ``max_tokens``), stop strings and the sampling options (greedy by default)."""
    parser.add_argument(
        "--max-tokens", type=int, default=max_tokens, metavar="N", help=f"new tokens to generate at most (default: {max_tokens})"
    )
    parser.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop before this text (repeat the flag for several)")
    parser.add_argument("--ignore-eos", action="store_true", help="keep generating after an end-of-sequence token")
    group = parser.add_argument_group("sampling (default: greedy, the most likely token)")
    group.add_argument("--temperature", type=float, default=0.0, metavar="T", help="sample at this temperature; 0 = greedy (default)")
    group.add_argument("--top-k", type=int, default=0, metavar="K", help="keep the K most likely tokens (default 0 = off)")
    group.add_argument(
        "--top-p",
        type=float,
        default=1.0,
        metavar="P",
        help="keep the most likely tokens holding this share of the probability (default 1 = off)",
    )
    group.add_argument(
        "--min-p",
        type=float,
        default=0.0,
        metavar="P",
        help="keep tokens at least P times as likely as the most likely one (default 0 = off)",
    )
    group.add_argument(
        "--repetition-penalty",
        type=float,
        default=1.0,
        metavar="R",
        help="divide the logits of recently generated tokens by R (default 1 = off)",
    )
    group.add_argument(
        "--presence-penalty",
        type=float,
        default=0.0,
        metavar="X",
        help="subtract X from the logits of recently generated tokens (default 0)",
    )
    group.add_argument(
        "--frequency-penalty",
        type=float,
        default=0.0,
        metavar="X",
        help="subtract X times its count from each recently generated token's logit (default 0)",
    )
    group.add_argument(
        "--penalty-last-n",
        type=int,
        default=DEFAULT_PENALTY_LAST_N,
        metavar="N",
        help=f"generated tokens the penalties look back over (default {DEFAULT_PENALTY_LAST_N}, at most {MAX_PENALIZED})",
    )
    group.add_argument(
        "--seed", type=int, default=None, help="seed of the random draws: the same seed repeats a run (default: a fresh one)"
    )


def sampling_from_args(args: argparse.Namespace) -> SamplingParams:
    """``SamplingParams`` from the flags of ``add_generation_options`` (RustyError for a bad value)."""
    return SamplingParams(
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
        repetition_penalty=args.repetition_penalty, presence_penalty=args.presence_penalty,
        frequency_penalty=args.frequency_penalty, penalty_last_n=args.penalty_last_n, seed=args.seed,
    )  # fmt: skip
