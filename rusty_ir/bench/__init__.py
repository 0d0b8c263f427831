"""``rusty bench``: the model benchmark (prefill and decode speed at batch 1, next to the bandwidth roofline and
PyTorch; ``rusty_ir.bench.model`` documents what it measures), one module per concern:

- ``options``: ``BenchOptions``, their checks, the command line that reproduces a run;
- ``measure``: the profiling device, the bytes a decode step reads, per-kernel GPU time tables
  (bandwidth and spin-up are ``rusty_ir.probes``);
- ``model``: the benchmark itself (``run_bench``, ``bench_tuned``, ``bench_main``);
- ``report``: the report header, the printed table, the correctness verdict and the shared main
  (``rusty bench --fusion`` prints through it too);
- ``torch_baseline``: the PyTorch model built from the same weights (``--vs-torch``).

And ``rusty bench --fusion`` (fused against unfused kernels; ``rusty_ir.bench.fusion`` documents what it
measures): ``fusion`` runs it, ``fusion_options``, ``fusion_cases``, ``fusion_program`` (compiling, running and
timing a variant), ``fusion_torch`` and ``fusion_report``; import its names from those modules.

The names below (the model benchmark's) are importable from ``rusty_ir.bench`` itself, as before the split.
"""

from __future__ import annotations

from rusty_ir.bench.measure import decode_weight_bytes, device_report, kv_read_bytes, profiling_device
from rusty_ir.bench.model import bench_main, bench_tuned, run_bench
from rusty_ir.bench.options import CHECK_TOKENS, LOGITS_REL_TOL, REFERENCE_MAX_PARAMS, BenchOptions, canonical_command, validate
from rusty_ir.bench.report import check_report, format_report, git_commit, report_header, report_main
from rusty_ir.bench.torch_baseline import (
    build_torch_model,
    dequantize_torch,
    time_torch_generate,
    torch_available,
    torch_device_name,
    torch_logits,
)

__all__ = [
    "CHECK_TOKENS",
    "LOGITS_REL_TOL",
    "REFERENCE_MAX_PARAMS",
    "BenchOptions",
    "bench_main",
    "bench_tuned",
    "build_torch_model",
    "canonical_command",
    "check_report",
    "decode_weight_bytes",
    "dequantize_torch",
    "device_report",
    "format_report",
    "git_commit",
    "kv_read_bytes",
    "profiling_device",
    "report_header",
    "report_main",
    "run_bench",
    "time_torch_generate",
    "torch_available",
    "torch_device_name",
    "torch_logits",
    "validate",
]
