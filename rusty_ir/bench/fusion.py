"""``rusty bench --fusion``: fused against unfused kernels of our compiler (and PyTorch eager), time and bytes moved.

    report = run_fusion_bench(FusionOptions(elements=1 << 26))
    print(format_fusion_report(report))          # or json.dumps(report)

The question it answers (issue 5, "Fusion, measured"): does fusion cut memory traffic by more
than half, and what does that buy in time? What it does, in order:

1. Cases, each a small transformer-level (``tfm``) function built as IR text:

   - ``elementwise``: ``(A + B) * C`` on ``N`` f32 elements (``tfm.add``, ``tfm.mul``),
     laid out as ``[N / W, W]`` rows with ``W = gcd(N, 4096)``;
   - ``gemm`` and ``gemv``: ``GELU(x @ W^T + bias)`` at ``M x K x N`` (``tfm.linear`` with a
     bias, then ``tfm.gelu`` with the tanh approximation): ``x`` is ``[M, K]`` f32 (our
     activations are f32), ``W`` is ``[N, K]`` and ``bias`` ``[N]``, both stored f16 (the
     ``f16`` weight scheme of ``rusty_ir.weights``; kernels read the raw halves and accumulate
     in f32), the result ``[M, N]`` f32.

2. Each case is compiled twice through the default pipeline (``rusty_ir.pipeline.DEFAULT_STAGES``,
   tuning target from the adapter): *fused* as is, and *unfused* with ``form-dispatches{fuse=false}``
   (one dispatch per tensor-level op; every intermediate goes through a buffer). The WGSL and the
   host schedule come out as for a model; the schedule's one function is run by ``fusion_program._Program``.

3. Timing. With the adapter's ``timestamp-query`` feature: ``warmup`` untimed runs, then
   ``repeats`` runs in one command buffer, each run one compute pass holding every dispatch of the
   variant, a timestamp at the pass's start and end; the median is reported. A second command buffer
   times each dispatch in a pass of its own (the per-kernel breakdown). Timestamps are taken as
   nanoseconds, as ``rusty bench --profile`` does (wgpu does not expose the period; it is 1 ns on
   NVIDIA and llvmpipe); a sum of GPU times above the wall time of the submit is flagged. Without
   the feature: wall clock of each run submitted and awaited (a 4-byte read-back), which includes
   the submit and the wait; the report says which method was used.

4. Bytes moved, a model, the same for every variant: each dispatch moves the whole of every buffer
   it binds once, read-only bindings as bytes read, writable ones as bytes written. A buffer's size
   is that of the value bound (its shape at this step), not of the device buffer behind it. This is
   the compulsory traffic of the dispatch sequence: re-reads that a kernel's tiling makes (the GEMM
   reading ``W`` once per group of rows, served mostly from cache) are not in it, nor are reads a
   kernel skips. PyTorch eager gets the same model per op (every input and output tensor once).
   Effective GB/s = modelled bytes / median time. The traffic ratio is fused / unfused bytes; the
   issue's claim is "fusion cuts memory traffic by more than half", i.e. a ratio below 0.5.

5. Correctness guard: after the timed runs, each variant's output is read back and compared with
   numpy (float32 on the same f16-rounded weights): max |ours - ref| / max |ref| must stay within
   ``OURS_REL_TOL``. A failed guard fails the command after the report is printed.

6. ``--vs-torch``: the same computation as separate PyTorch eager ops on the same inputs (``a + b``
   then ``* c``; ``x @ W.T``, ``+ bias``, ``gelu(approximate="tanh")``) on cuda when available,
   timed with CUDA events (wall clock on the CPU), in ``torch_dtype``: ``auto`` is float32 for the
   elementwise case (as ours) and float16 for the matmul cases (everything f16, as PyTorch users
   run them). Its ``dispatches`` count eager ops (a cuBLAS call may launch more than one kernel).
   torch is imported only in ``fusion_torch``; it is not a dependency.

Tuning is the default pipeline's (the target's heuristic), the same for both variants.

The modules, one per concern: ``fusion_options`` (``FusionOptions``, their checks, the command line),
``fusion_cases`` (step 1 and the numpy guard of step 5), ``fusion_program`` (compiling a variant, running its
host schedule through the runtime's schedule executor, ``rusty_ir.backends.runtime.execute``, as the tuner's
is, and timing it: steps 2 to 4), ``fusion_torch`` (step 6), ``fusion_report`` (the printed table and the
guard's verdict); this one runs them (``run_fusion_bench``, ``fusion_main``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import numpy as np

from rusty_ir.bench.fusion_cases import Case, build_case, check_device_fits, rel_err, verdict
from rusty_ir.bench.fusion_options import FusionOptions, canonical_fusion_command, validate
from rusty_ir.bench.fusion_program import _Program, compile_variant, time_program
from rusty_ir.bench.fusion_report import check_fusion_report, format_fusion_report
from rusty_ir.bench.fusion_torch import import_torch, run_torch
from rusty_ir.bench.options import _note
from rusty_ir.bench.report import report_header, report_main

OURS_REL_TOL = 5e-3
"""Max relative error (max |out - ref| / max |ref|) our kernels may show against numpy: f32 kernels are near
1e-7, but on targets with f16 arithmetic the GEMM multiplies f16 tiles (its activations rounded to f16,
2^-11 relative each), which on K = 4096 reaches about 1.5e-3."""


def run_variant(device: Any, case: Case, fused: bool, target: str, opts: FusionOptions, timestamps: bool,
                reference: np.ndarray, progress: Callable[[str], None] | None) -> dict[str, Any]:  # fmt: skip
    """Compile, load, time and check one variant of ours; its report entry."""
    label = "fused" if fused else "unfused"
    _note(progress, f"{case.name}: compiling {label}")
    wgsl, schedule, seconds = compile_variant(case.ir, fused, target)
    prog = _Program.load(device, wgsl, schedule, case.inputs, case.weights, case.out_shape)
    try:
        _note(
            progress,
            f"{case.name}: timing {label} ({len(prog.dispatches)} dispatch{'es' if len(prog.dispatches) > 1 else ''}, {opts.warmup} warm-up + {opts.repeats} runs)",
        )
        timing = time_program(prog, opts.repeats, opts.warmup, timestamps)
        out = prog.read_output(case.out_shape)
    finally:
        prog.release()
    err = rel_err(out, reference)
    read = sum(d.read_bytes for d in prog.dispatches)
    written = sum(d.written_bytes for d in prog.dispatches)
    per = timing["per_dispatch_seconds"]
    return {
        "variant": f"ours {label}",
        "dispatches": len(prog.dispatches),
        "compile_seconds": round(seconds, 3),
        "seconds": timing["seconds"],
        "seconds_runs": timing["seconds_runs"],
        "bytes_read": read,
        "bytes_written": written,
        "bytes_moved": read + written,
        "gb_per_s": (read + written) / timing["seconds"] / 1e9 if timing["seconds"] > 0 else None,
        "by_dispatch": [
            {
                "kernel": d.kernel,
                "grid": list(d.grid),
                "bytes_read": d.read_bytes,
                "bytes_written": d.written_bytes,
                "seconds": per[i] if per else None,
            }
            for i, d in enumerate(prog.dispatches)
        ],
        "dtypes": case.dtypes,
        "timing_note": timing["note"],
        "correctness": verdict(err, OURS_REL_TOL),
    }


def run_fusion_bench(opts: FusionOptions, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every case; the report (a JSON-able dict). A failed guard does not raise here
    (``check_fusion_report`` does)."""
    from rusty_ir.bench import device_report, profiling_device
    from rusty_ir.targets import target_for_adapter

    validate(opts)
    if opts.vs_torch:
        import_torch()  # fail before any work
    started = datetime.datetime.now(datetime.UTC)
    device = profiling_device()
    check_device_fits(device, opts)
    timestamps = "timestamp-query" in device.features
    target = opts.target or target_for_adapter(device.info)
    _note(progress, f"device: {device_report(device)['name']} (target {target}; "
                    f"{'GPU timestamp queries' if timestamps else 'no timestamp-query: wall clock'})")  # fmt: skip
    cases = []
    for name in opts.cases:
        case = build_case(name, opts)
        _note(progress, f"{name}: numpy reference")
        reference = case.reference()
        variants = {
            "fused": run_variant(device, case, True, target, opts, timestamps, reference, progress),
            "unfused": run_variant(device, case, False, target, opts, timestamps, reference, progress),
        }
        if opts.vs_torch:
            variants["torch"] = run_torch(case, opts, reference, progress)
        fused, unfused = variants["fused"], variants["unfused"]
        ratio = fused["bytes_moved"] / unfused["bytes_moved"]
        entry: dict[str, Any] = {
            "case": name,
            "title": case.title,
            "shape": case.shape,
            "variants": variants,
            "traffic_ratio_fused_over_unfused": ratio,
            "traffic_cut": 1.0 - ratio,
            "cuts_more_than_half": bool(ratio < 0.5),
            "speedup_fused_over_unfused": unfused["seconds"] / fused["seconds"] if fused["seconds"] > 0 else None,
        }
        if name == "gemm" and fused["seconds"] > 0:
            m, k, n = opts.gemm
            entry["tflops_fused"] = 2 * m * k * n / fused["seconds"] / 1e12
        if "torch" in variants:
            t = variants["torch"]
            entry["traffic_ratio_fused_over_torch"] = fused["bytes_moved"] / t["bytes_moved"]
            entry["speedup_fused_over_torch"] = t["seconds"] / fused["seconds"] if fused["seconds"] > 0 else None
        cases.append(entry)
    peaks: dict[str, Any] = {}
    if "gemm" in opts.cases:  # what the contraction's arithmetic is measured against
        from rusty_ir.probes import measure_fma_peak

        for elem in ("f32", "f16") if "shader-f16" in device.features else ("f32",):
            _note(progress, f"measuring the {elem} fma peak")
            peaks[elem] = measure_fma_peak(device, elem)
    return {
        **report_header("rusty bench --fusion", opts.command or canonical_fusion_command(opts), opts, started, device),
        "target": target,
        "fma_peaks": peaks,
        "timing": {
            "method": "gpu-timestamps" if timestamps else "wall-clock",
            "description": (
                "GPU timestamps at the start and end of one compute pass holding the variant's dispatches (period taken as 1 ns)"
                if timestamps
                else (
                    "the adapter has no 'timestamp-query' feature: wall clock of each run submitted and awaited "
                    "(includes submit and read-back latency)"
                )
            ),
            "repeats": opts.repeats,
            "warmup": opts.warmup,
        },
        "bytes_model": (
            "per dispatch (or PyTorch op): every bound buffer once, at the size of the value bound; "
            "read-only bindings = read, writable = written; no cache effects, no re-reads from tiling"
        ),
        "cases": cases,
        "total_seconds": round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 3),
    }


def fusion_main(opts: FusionOptions, as_json: bool, quiet: bool = False) -> int:
    """The ``rusty bench --fusion`` command: run, print (table or JSON), then fail on a failed guard."""
    return report_main(lambda progress: run_fusion_bench(opts, progress), format_fusion_report, check_fusion_report, as_json, quiet)
