"""``rusty bench --fusion``'s options: the cases and their sizes, their checks, and the command line that
reproduces a run (``rusty_ir.bench.fusion`` documents what the benchmark measures)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from rusty_ir.errors import RustyError

CASES = ("elementwise", "gemm", "gemv")
"""Every case, in the order they run."""
DEFAULT_ELEMENTS = 1 << 26
"""Elements of each (A + B) * C operand (64M: 256 MiB of f32 per buffer)."""
DEFAULT_GEMM = (4096, 4096, 4096)
"""M x K x N of the GEMM case."""
DEFAULT_GEMV = (1, 4096, 14336)
"""M x K x N of the GEMV case (one row: a decode-step projection of Llama-3-8B's MLP)."""
TORCH_DTYPES = ("auto", "float16", "float32")
MAX_REPEATS = 1000
"""Most timed runs per variant (all of them go into one command buffer)."""


@dataclass
class FusionOptions:
    """What ``rusty bench --fusion`` runs."""

    cases: tuple[str, ...] = CASES
    """Which cases, a subset of ``CASES``."""
    elements: int = DEFAULT_ELEMENTS
    """N of the elementwise case: elements per operand."""
    gemm: tuple[int, int, int] = DEFAULT_GEMM
    """M, K, N of the GEMM case."""
    gemv: tuple[int, int, int] = DEFAULT_GEMV
    """M, K, N of the GEMV case (M is normally 1)."""
    repeats: int = 10
    """Timed runs per variant; medians are reported."""
    warmup: int = 2
    """Untimed runs per variant before the timed ones."""
    seed: int = 0
    """Seed of the random inputs and weights."""
    vs_torch: bool = False
    """Also time PyTorch eager on the same device (needs torch)."""
    torch_dtype: str = "auto"
    """PyTorch's dtype: auto (float32 elementwise, float16 matmuls), float16 or float32."""
    target: str | None = None
    """Tuning target description (``rusty_ir.targets.TARGETS``); None: the adapter's."""
    command: str | None = None
    """The command line, for the report."""


def parse_shape(text: str, flag: str) -> tuple[int, int, int]:
    """``MxKxN`` (or ``M,K,N``) as three positive ints; a RustyError naming ``flag`` otherwise."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise RustyError(f"{flag} takes MxKxN with three positive integers (for example 4096x4096x4096), got '{text}'")
    return dims


def parse_cases(text: str) -> tuple[str, ...]:
    """A comma-separated subset of ``CASES``, in ``CASES`` order."""
    wanted = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CASES]
    if unknown or not wanted:
        what = f"unknown case {unknown[0]!r}" if unknown else "no case given"
        raise RustyError(f"--fusion-cases: {what} (cases: {', '.join(CASES)})")
    return tuple(c for c in CASES if c in wanted)


def validate(opts: FusionOptions) -> None:
    """RustyError for inconsistent options, before anything runs."""
    if not opts.cases or any(c not in CASES for c in opts.cases):
        raise RustyError(f"cases must be a non-empty subset of {', '.join(CASES)}, got {list(opts.cases)}")
    if opts.elements < 1:
        raise RustyError(f"--fusion-elements must be at least 1, got {opts.elements}")
    for flag, dims in (("--fusion-gemm", opts.gemm), ("--fusion-gemv", opts.gemv)):
        if len(dims) != 3 or min(dims) < 1:
            raise RustyError(f"{flag} needs three positive sizes M x K x N, got {dims}")
    if not 1 <= opts.repeats <= MAX_REPEATS:
        raise RustyError(f"--repeats must be between 1 and {MAX_REPEATS}, got {opts.repeats}")
    if opts.warmup < 0:
        raise RustyError(f"--warmup must be at least 0, got {opts.warmup}")
    if opts.target is not None:
        from rusty_ir.targets import TARGETS

        if opts.target not in TARGETS:
            raise RustyError(f"unknown target '{opts.target}' (known: {', '.join(TARGETS)})")
    if opts.torch_dtype not in TORCH_DTYPES:
        raise RustyError(f"--torch-dtype must be one of {', '.join(TORCH_DTYPES)}, got '{opts.torch_dtype}'")


def canonical_fusion_command(opts: FusionOptions) -> str:
    """The ``rusty bench --fusion`` command line that reproduces ``opts``."""
    args = ["rusty", "bench", "--fusion", "--fusion-cases", ",".join(opts.cases), "--fusion-elements", str(opts.elements),
            "--fusion-gemm", "x".join(map(str, opts.gemm)), "--fusion-gemv", "x".join(map(str, opts.gemv)),
            "--repeats", str(opts.repeats), "--warmup", str(opts.warmup)]  # fmt: skip
    if opts.seed:
        args += ["--seed", str(opts.seed)]
    if opts.vs_torch:
        args += ["--vs-torch", "--torch-dtype", opts.torch_dtype]
    return shlex.join(args)
