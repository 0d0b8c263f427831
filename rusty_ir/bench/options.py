"""``rusty bench``'s options: what a run measures, their checks, and the command line that reproduces them."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from rusty_ir.errors import RustyError
from rusty_ir.speculative import DEFAULT_DRAFT_TOKENS
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
    speculate: str | None = None
    """Decode speculatively (``rusty_ir.speculative``): ``lookup`` (prompt lookup) or ``draft`` (the draft model
    ``draft``); None = plain decoding. The decode figures are then the speculative decoder's (emitted tokens over wall
    time, so they compare with a plain run's), and the report's ``speculative`` entry says what it did."""
    draft: str | None = None
    """The draft checkpoint of ``speculate="draft"`` (same tokenizer); given alone, it implies ``draft``."""
    draft_tokens: int = DEFAULT_DRAFT_TOKENS
    """Tokens drafted per verification step (1..32)."""

    def __post_init__(self) -> None:
        if self.draft is not None and self.speculate is None:  # as rusty run: --draft MODEL implies --speculate draft
            self.speculate = "draft"


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
    if opts.speculate is not None or opts.draft is not None:
        from rusty_ir.api import LoadOptions

        LoadOptions(speculate=opts.speculate, draft=opts.draft, draft_tokens=opts.draft_tokens)  # rusty run's checks
    elif opts.draft_tokens != DEFAULT_DRAFT_TOKENS:
        raise RustyError("--draft-tokens applies to speculative decoding: give --speculate lookup or --draft MODEL")
    if opts.context_length is not None:
        need = opts.prompt_tokens + opts.decode_tokens
        if opts.context_length < need:
            raise RustyError(
                f"--context-length {opts.context_length} is too small for {opts.prompt_tokens} prompt + "
                f"{opts.decode_tokens} decode tokens (at least {need})"
            )


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
    if opts.speculate is not None:
        args += ["--speculate", opts.speculate, *(["--draft", opts.draft] if opts.draft is not None else []),
                 "--draft-tokens", str(opts.draft_tokens)]  # fmt: skip
    args += [
        flag
        for flag, on in (("--vs-torch", opts.vs_torch), ("--profile", opts.profile), ("--no-check", not opts.check), ("--tune", opts.tune))
        if on
    ]
    return shlex.join(args)


def _note(progress: Callable[[str], None] | None, message: str) -> None:
    if progress is not None:
        progress(message)
