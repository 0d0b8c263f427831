"""The fusion bench's PyTorch eager baseline (``rusty bench --fusion --vs-torch``; ``rusty_ir.bench.fusion``,
step 6). torch is imported only here; it is not a dependency."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rusty_ir.bench.fusion_cases import Case, rel_err, verdict
from rusty_ir.bench.fusion_options import FusionOptions
from rusty_ir.bench.options import _note
from rusty_ir.errors import RustyError

TORCH_REL_TOL = {"float32": 1e-3, "float16": 2e-2}
"""The same for PyTorch, by its dtype (f16 activations round every intermediate)."""


def import_torch() -> Any:
    """torch, or a RustyError saying how to get it (it is not a dependency of rusty-ir)."""
    try:
        import torch
    except ImportError:
        raise RustyError(
            "--vs-torch needs PyTorch, which is not installed (pip install torch); it is not a dependency of rusty-ir"
        ) from None
    return torch


def torch_dtype_for(case: str, choice: str) -> str:
    if choice != "auto":
        return choice
    return "float32" if case == "elementwise" else "float16"


Step = Callable[..., Any]
"""One eager run of a case: ``step(record=False)`` returns the output; with ``record=True`` it also appends each
op's (name, inputs, output) to the list it was made with, for the bytes model."""


def eager_step(torch: Any, case: Case, dev: Any, dtype: Any, ops: list[tuple[str, list[Any], Any]]) -> Step:
    """The case as PyTorch eager ops on ``dev`` in ``dtype``, its inputs and weights uploaded once."""
    import torch.nn.functional as F

    def t(a: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=dev, dtype=dtype)

    if case.name == "elementwise":
        a, b, c = (t(case.inputs[k]) for k in ("a", "b", "c"))

        def step(record: bool = False) -> Any:
            s = a + b
            out = s * c
            if record:
                ops.extend([("add", [a, b], s), ("mul", [s, c], out)])
            return out

        return step
    x, w, bias = t(case.inputs["x"]), t(case.weights["w"]), t(case.weights["bias"])
    wt = w.t()  # a view: no copy, cuBLAS reads W transposed

    def matmul_step(record: bool = False) -> Any:
        y = x @ wt
        z = y + bias
        out = F.gelu(z, approximate="tanh")
        if record:
            ops.extend([("matmul", [x, w], y), ("add", [y, bias], z), ("gelu", [z], out)])
        return out

    return matmul_step


def time_eager(torch: Any, dev: Any, step: Step, opts: FusionOptions) -> tuple[list[float], Any]:
    """Seconds of each timed run (CUDA events on cuda, wall clock on the CPU), after the warm-up; and the output of
    one more run, recorded for the bytes model."""

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    with torch.no_grad():
        for _ in range(max(1, opts.warmup)):  # at least one: torch's first call loads kernels
            step()
        sync()
        runs: list[float] = []
        for _ in range(opts.repeats):
            if dev.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                step()
                end.record()
                end.synchronize()
                runs.append(start.elapsed_time(end) * 1e-3)
            else:
                t0 = time.perf_counter()
                step()
                runs.append(time.perf_counter() - t0)
        out = step(record=True)
        sync()
    return runs, out


def bytes_by_op(ops: list[tuple[str, list[Any], Any]]) -> list[dict[str, Any]]:
    """The bytes model of ``rusty_ir.bench.fusion``'s docstring (step 4) for eager ops: every input and output once."""
    return [{"op": name, "bytes_read": sum(int(i.nelement() * i.element_size()) for i in ins),
             "bytes_written": int(o.nelement() * o.element_size())} for name, ins, o in ops]  # fmt: skip


def run_torch(case: Case, opts: FusionOptions, reference: np.ndarray, progress: Callable[[str], None] | None) -> dict[str, Any]:
    """PyTorch eager, op by op, on the same inputs: its report entry (``rusty_ir.bench.fusion``'s docstring, step 6)."""
    torch = import_torch()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype_name = torch_dtype_for(case.name, opts.torch_dtype)
    ops: list[tuple[str, list[Any], Any]] = []  # (op, inputs, output) of one run, for the bytes model
    step = eager_step(torch, case, dev, getattr(torch, dtype_name), ops)
    _note(progress, f"{case.name}: timing PyTorch eager {dtype_name} on {dev} ({opts.warmup} warm-up + {opts.repeats} runs)")
    runs, out = time_eager(torch, dev, step, opts)
    result = out.float().cpu().numpy()
    err = rel_err(result, reference)
    tol = TORCH_REL_TOL[dtype_name]
    by_op = bytes_by_op(ops)
    read = sum(o["bytes_read"] for o in by_op)
    written = sum(o["bytes_written"] for o in by_op)
    seconds = statistics.median(runs)
    dtypes = {k: dtype_name.replace("float", "f") for k in (*case.inputs, *case.weights, "out")}
    return {
        "variant": "pytorch eager",
        "dispatches": len(by_op),
        "seconds": seconds,
        "seconds_runs": runs,
        "bytes_read": read,
        "bytes_written": written,
        "bytes_moved": read + written,
        "gb_per_s": (read + written) / seconds / 1e9 if seconds > 0 else None,
        "by_op": by_op,
        "ops": case.torch_ops,
        "dtypes": dtypes,
        "device": str(dev),
        "timing_method": "CUDA events around the ops of one run" if dev.type == "cuda" else "wall clock (CPU)",
        "torch_version": torch.__version__,
        "cuda_device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "correctness": verdict(err, tol),
    }
