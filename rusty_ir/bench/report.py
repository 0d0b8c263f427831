"""Benchmark reports: the header every report starts with (command, commit, device), the table ``rusty bench``
prints, the correctness verdict, and the shared main (progress, table or JSON, then the verdict) that
``rusty bench`` and ``rusty bench --fusion`` run."""

from __future__ import annotations

import datetime
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from rusty_ir.bench.measure import device_report
from rusty_ir.errors import RustyError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from rusty_ir.backends.runtime.device import Device

Report: TypeAlias = dict[str, Any]
"""A benchmark report: a JSON document (``report_header``'s keys, then the benchmark's own), printed as a table or
as JSON. Its parts with a fixed shape have their own types (``measure.DeviceReport``, ``measure.ProfileTable``,
``model.Correctness``, ``torch_baseline.TorchTimings``)."""


def git_commit() -> str | None:
    """The rusty-ir commit (with '-dirty' for uncommitted changes to tracked files), if git knows it."""
    import rusty_ir

    for where in (Path(rusty_ir.__file__).resolve().parent, Path.cwd()):
        try:
            sha = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
            if sha.returncode != 0:
                continue
            dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10)  # fmt: skip
            return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
        except (OSError, subprocess.SubprocessError):
            continue
    return os.environ.get("RUSTY_COMMIT")


def report_header(tool: str, command: str, opts: DataclassInstance, started: datetime.datetime, device: Device) -> Report:
    """What every benchmark report starts with: the tool, how to reproduce it, when, which code and
    which device."""
    return {
        "tool": tool,
        "command": command,
        "options": asdict(opts),
        "date": started.isoformat(timespec="seconds"),
        "commit": git_commit(),
        "rusty_ir_version": __import__("rusty_ir").__version__,
        "python": sys.version.split()[0],
        "device": device_report(device),
    }


def report_main(run: Callable[[Callable[[str], None]], Report], fmt: Callable[[Report], str], check: Callable[[Report], None],
                as_json: bool, quiet: bool = False) -> int:  # fmt: skip
    """Run a benchmark (``run(progress)``, progress lines on stderr unless ``quiet``), print its
    report as a table (``fmt``) or JSON, then fail on a failed guard (``check`` raises)."""
    import json

    def progress(message: str) -> None:
        if not quiet:
            print(f"rusty: {message}", file=sys.stderr, flush=True)

    report = run(progress)
    print(json.dumps(report, default=_json_default) if as_json else fmt(report))
    sys.stdout.flush()
    check(report)
    return 0


def _json_default(x: object) -> object:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    raise TypeError(f"not JSON-able: {type(x).__name__}")


def check_report(report: Report) -> None:
    """RustyError when the correctness guard failed (or, with --tune, the tuned kernels' check)."""
    tc = (report.get("tuned") or {}).get("correctness") or {}
    if tc.get("passed") is False:
        raise RustyError(
            f"tuned kernels FAILED their check: first-step logits differ from the default kernels' by a max relative error of "
            f"{tc['max_rel_err']:.3g} > {tc['tolerance']:g}; the tuned figures above are not to be trusted"
        )
    c = report.get("correctness") or {}
    if c.get("passed") is False:
        raise RustyError(
            f"correctness guard FAILED: first-step logits differ from the {c['reference']} by a max relative error of "
            f"{c['max_rel_err']:.3g} > {c['tolerance']:g}; the speed figures above are not to be trusted"
        )


def _si(x: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {prefix}{unit}"
    return f"{x:.2f} {unit}"


def _bytes(n: float) -> str:
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def format_report(r: Report) -> str:
    """The report as a readable table."""
    m, s, d = r["model"], r["settings"], r["device"]
    name = f"synthetic {m['synthetic']} {m['quant']}" if m.get("synthetic") else m["source"]
    lines = [
        f"rusty bench: {name} ({m['arch']}, {m['n_layers']} layers, {_si(m['parameters'], '').strip()} parameters, "
        f"{_bytes(m['weight_bytes'])} of weights: {', '.join(m['schemes'])})",
        f"  device: {d['name']} [{d['backend']}, {d['type']}] {d['driver']}",
        f"  batch 1, prompt {s['prompt_tokens']} tokens, decode {s['decode_tokens']} tokens, median of {s['repeats']} "
        f"after {s['warmup']} warm-up; context {s['context_length']}, {s['kv_cache']} KV cache "
        f"{'paged in blocks of ' + str(s['kv_block_size']) if s['kv_block_size'] else 'contiguous'}"
        f"{'' if s['resident_layers'] is None else ', ' + str(s['resident_layers']) + ' resident layers'}; commit {r['commit'] or '?'}; {r['date']}",
        "",
    ]
    t = r.get("torch")
    head = f"  {'':28s}{'rusty-ir (wgpu)':>18s}"
    if t:
        head += f"{'PyTorch ' + t['dtype'] + ' eager (' + t['device'] + ')':>32s}{'ours/torch':>12s}"
    lines.append(head)

    def row(label: str, ours: str, theirs: str = "", ratio: float | None = None) -> None:
        line = f"  {label:28s}{ours:>18s}"
        if t:
            line += f"{theirs:>32s}{(f'{ratio:.2f}x' if ratio is not None else ''):>12s}"
        lines.append(line)

    row(
        "prefill tokens/s",
        f"{r['prefill_tokens_per_s']:.1f}",
        f"{t['prefill_tokens_per_s']:.1f}" if t else "",
        r.get("ratio_prefill_vs_torch"),
    )
    t_dec = t and t["decode_tokens_per_s"]
    row("decode tokens/s", f"{r['decode_tokens_per_s']:.1f}", f"{t_dec:.1f}" if t_dec else "?", r.get("ratio_decode_vs_torch"))
    row("decode ms/token", f"{r['decode_ms_per_token']:.3f}", f"{1e3 / t_dec:.3f}" if t_dec else "?")
    sp = r.get("speculative")
    if sp:
        rate = sp["acceptance_rate"]
        row("  speculative decoding", f"{sp['mode']}, K={sp['draft_tokens']}")
        row("  drafted / accepted", f"{sp['drafted']} / {sp['accepted']}")
        row("  acceptance rate", "-" if rate is None else f"{100 * rate:.1f} %")
        row("  tokens per verify step", "-" if sp["tokens_per_verify_step"] is None else f"{sp['tokens_per_verify_step']:.2f}")
        row("  model steps (verify+plain)", f"{sp['verify_steps']}+{sp['plain_steps']}")
        row("  tokens per model step", "-" if sp["tokens_per_model_step"] is None else f"{sp['tokens_per_model_step']:.2f}")
        row("  dispatches per verify", str(sp["dispatches_per_verify_step"]))
    row("dispatches per token", str(r["dispatches_per_token"]))
    row("dispatches per prefill step", str(r["dispatches_per_prefill_step"]))
    row("weight bytes per token", _bytes(r["weight_bytes_per_token"]))
    row("KV bytes per token (avg)", _bytes(r["kv_cache_bytes_per_token_avg"]))
    bw = r["copy_bandwidth"]
    row("copy bandwidth (r+w)", _si(bw["bytes_per_s"], "B/s"))
    if r.get("read_bandwidth"):
        row("read bandwidth (kernel)", _si(r["read_bandwidth"]["bytes_per_s"], "B/s"))
    row("roofline share (weights)" if not sp else "roofline share (per step)", f"{100 * r['roofline_share']:.1f} %")
    h = r["decode_host_seconds_per_step"]
    row("host per decode step (ms)", f"{1e3 * h['prepare']:.2f}/{1e3 * h['encode']:.2f}/{1e3 * h['submit_wait_read']:.2f}")
    lines.append("  (host per decode step: prepare / encode / submit+wait+read; "
                 f"copy bandwidth: {_bytes(bw['buffer_bytes'])} buffer x {bw['copies']})")  # fmt: skip
    c = r.get("correctness") or {}
    if c.get("max_rel_err") is not None:
        verdict = "ok" if c["passed"] else "FAILED"
        lines.append(f"  correctness: first-step logits of {c['prompt_tokens']} tokens vs {c['reference']}: "
                     f"max rel err {c['max_rel_err']:.3g} (tolerance {c['tolerance']:g}) {verdict}")  # fmt: skip
    else:
        lines.append(f"  correctness: {c.get('note') or 'not checked'}")
    if sp:
        lines.append(f"  speculative: decode tokens/s counts the {s['decode_tokens']} emitted tokens over wall time (compare with a plain run); "
                     f"roofline share over model steps; plain greedy agrees for the first {sp['plain_greedy_match']} of "
                     f"{sp['plain_greedy_compared']} tokens compared")  # fmt: skip
        lines.append(f"  ({sp['note']})")
    if t:
        lines.append(f"  torch: {t['torch_version']}{', ' + t['cuda_device'] if t.get('cuda_device') else ''}; "
                     f"greedy ids agree for the first {t['greedy_prefix_match']} tokens "
                     "(random weights have near-ties; informative only)")  # fmt: skip
    return "\n".join(lines + _tuned_lines(r) + _profile_lines(r))


def _tuned_lines(r: Report) -> list[str]:
    """The ``--tune`` table: tuned against default kernels."""
    s = r["settings"]
    lines: list[str] = []
    tu = r.get("tuned")
    if tu:
        lines += ["", f"  tuned against default (measured tuning, prefill length {s['prompt_tokens']}; tuned compile "
                      f"{'from the cache' if tu['compile']['cache_hit'] else 'took ' + format(tu['compile']['seconds'], '.1f') + ' s'})",
                  f"  {'':28s}{'default':>18s}{'tuned':>14s}{'tuned/default':>16s}"]  # fmt: skip
        lines.append(
            f"  {'prefill tokens/s':28s}{r['prefill_tokens_per_s']:18.1f}{tu['prefill_tokens_per_s']:14.1f}{tu['speedup_prefill']:15.2f}x"
        )
        lines.append(
            f"  {'decode tokens/s':28s}{r['decode_tokens_per_s']:18.1f}{tu['decode_tokens_per_s']:14.1f}{tu['speedup_decode']:15.2f}x"
        )
        lines.append(f"  {'decode ms/token':28s}{r['decode_ms_per_token']:18.3f}{tu['decode_ms_per_token']:14.3f}")
        tc = tu["correctness"]
        if tc.get("max_rel_err") is not None:
            lines.append(f"  tuned correctness: first-step logits vs the default kernels: max rel err {tc['max_rel_err']:.3g} "
                         f"(tolerance {tc['tolerance']:g}) {'ok' if tc['passed'] else 'FAILED'}; "
                         f"greedy ids agree for the first {tu['greedy_prefix_match']} tokens")  # fmt: skip
    return lines


def _profile_lines(r: Report) -> list[str]:
    """The ``--profile`` tables: GPU time per kernel of one decode and one prefill step."""
    lines: list[str] = []
    p = r.get("profile")
    if p:
        for entry in ("decode", "prefill", "verify"):
            table = p.get(entry)
            if table is None:
                continue
            what = {
                "decode": "one decode step",
                "prefill": f"one prefill step of {p['prefill_tokens']} tokens",
                "verify": f"one verification step of {p.get('verify_tokens')} tokens",
            }[entry]
            lines += [
                "",
                f"  GPU time per kernel, {what}: {1e3 * table['gpu_seconds']:.3f} ms in {table['dispatches']} dispatches "
                f"(the profiled step took {1e3 * table['wall_seconds']:.3f} ms wall, one compute pass per dispatch)",
            ]
            lines.append(f"    {'kernel':32s}{'ms':>10s}{'dispatches':>12s}{'share':>8s}")
            for e in table["kernels"]:
                lines.append(f"    {e['kernel']:32s}{1e3 * e['seconds']:10.3f}{e['dispatches']:12d}{100 * e['share']:7.1f}%")
            if table.get("note"):
                lines.append(f"    note: {table['note']}")
        if p.get("note"):
            lines.append(f"  profile: {p['note']}")
    return lines
