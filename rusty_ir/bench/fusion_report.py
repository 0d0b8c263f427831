"""The fusion bench's report (``rusty_ir.bench.fusion``): the correctness check and the printed table."""

from __future__ import annotations

from typing import Any

from rusty_ir.errors import RustyError


def check_fusion_report(report: dict[str, Any]) -> None:
    """RustyError when a variant's result did not match numpy."""
    failed = [(c["case"], name, v["correctness"]) for c in report["cases"] for name, v in c["variants"].items()
              if not v["correctness"]["passed"]]  # fmt: skip
    if failed:
        case, name, c = failed[0]
        how = ("has non-finite values" if c["max_rel_err"] is None else
               f"differs from numpy by a max relative error of {c['max_rel_err']:.3g} > {c['tolerance']:g}")  # fmt: skip
        raise RustyError(f"correctness guard FAILED: {case} ({name}) {how}; the figures above are not to be trusted")


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n / 1e3:,.1f} kB"


def _time(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s >= 1e-4 else f"{s * 1e6:.1f} us"


def _err_text(err: float | None) -> str:
    return "non-finite" if err is None else f"{err:.3g}"


def format_fusion_report(r: dict[str, Any]) -> str:
    """The report as a readable table."""
    d, t = r["device"], r["timing"]
    lines = [
        f"rusty bench --fusion: {d['name']} [{d['backend']}, {d['type']}] {d['driver']}; target {r['target']}",
        f"  timing: {t['description']}; median of {t['repeats']} after {t['warmup']} warm-up; commit {r['commit'] or '?'}; {r['date']}",
        f"  bytes moved: {r['bytes_model']}",
    ]
    for c in r["cases"]:
        shape = ", ".join(f"{k}={v}" for k, v in c["shape"].items())
        lines += ["", f"  {c['case']}: {c['title']} ({shape})"]
        lines.append(f"    {'variant':16s}{'dispatches':>11s}{'time':>14s}{'bytes moved':>16s}{'GB/s':>10s}{'max rel err':>13s}  dtypes")
        for v in c["variants"].values():
            gbs = f"{v['gb_per_s']:.4g}" if v["gb_per_s"] is not None else "?"
            ok = "" if v["correctness"]["passed"] else " FAILED"
            dtypes = ", ".join(f"{k} {ty}" for k, ty in v["dtypes"].items())
            label = v["variant"] + (f" ({v['device']})" if "device" in v else "")
            lines.append(f"    {label:16s}{v['dispatches']:>11d}{_time(v['seconds']):>14s}{_mb(v['bytes_moved']):>16s}{gbs:>10s}"
                         f"{_err_text(v['correctness']['max_rel_err']):>13s}{ok}  {dtypes}")  # fmt: skip
        for key in ("fused", "unfused"):
            v = c["variants"][key]
            if len(v["by_dispatch"]) > 1 or v["by_dispatch"][0]["seconds"] is not None:
                parts = [f"{e['kernel']} {_time(e['seconds'])}" if e["seconds"] is not None else e["kernel"] for e in v["by_dispatch"]]
                lines.append(f"      {key} kernels: {', '.join(parts)}")
            if v["timing_note"]:
                lines.append(f"      note: {v['timing_note']}")
        ratio = c["traffic_ratio_fused_over_unfused"]
        verdict = "yes" if c["cuts_more_than_half"] else "no"
        lines.append(f"    traffic fused/unfused = {ratio:.3f} (fusion cuts modelled traffic by {100 * c['traffic_cut']:.1f}%; "
                     f"more than half: {verdict}); time unfused/fused = {c['speedup_fused_over_unfused']:.2f}x")  # fmt: skip
        if "tflops_fused" in c:
            vs = ", ".join(f"{100 * c['tflops_fused'] * 1e12 / p['flops_per_s']:.0f}% of the measured {e} fma peak "
                           f"({p['flops_per_s'] / 1e12:.1f} TFLOP/s)" for e, p in r.get("fma_peaks", {}).items())  # fmt: skip
            lines.append(f"    fused: {c['tflops_fused']:.2f} TFLOP/s{'; ' + vs if vs else ''}")
        if "speedup_fused_over_torch" in c:
            tv = c["variants"]["torch"]
            lines.append(f"    vs PyTorch eager ({tv['ops']}; {tv['torch_version']}{', ' + tv['cuda_device'] if tv.get('cuda_device') else ''}): "
                         f"time torch/ours-fused = {c['speedup_fused_over_torch']:.2f}x, "
                         f"traffic ours-fused/torch = {c['traffic_ratio_fused_over_torch']:.3f}")  # fmt: skip
    return "\n".join(lines)
