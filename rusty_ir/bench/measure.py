"""What ``rusty bench`` measures beside the timings: the device (with timestamp queries for ``--profile``), the bytes
a decode step reads (weights, KV cache), and per-kernel GPU time tables. Bandwidth and spin-up come from
``rusty_ir.probes``."""

from __future__ import annotations

from typing import Any

from rusty_ir.errors import RustyError


def profiling_device() -> Any:
    """A ``Device`` with the runtime's usual features plus 'timestamp-query' when the adapter offers it."""
    from rusty_ir.backends.runtime.device import WANTED_FEATURES, WANTED_LIMITS, Device, choose_adapter

    adapter = choose_adapter()
    if adapter is None:
        raise RustyError("no WebGPU adapter found (on a machine without a GPU, install mesa-vulkan-drivers)")
    offered = set(adapter.features)
    features = [f for f in (*WANTED_FEATURES, "timestamp-query") if f in offered]
    limits = {k: adapter.limits[k] for k in WANTED_LIMITS if k in adapter.limits}
    device = adapter.request_device_sync(required_features=features, required_limits=limits)
    return Device(adapter=adapter, device=device)


def device_report(device: Any) -> dict[str, Any]:
    from rusty_ir.backends.runtime.device import adapter_summary

    return {
        **adapter_summary(device.adapter),
        "features": sorted(f for f in device.features if f in ("shader-f16", "subgroup", "timestamp-query")),
        "max_storage_buffer_binding_size": device.limits.get("max-storage-buffer-binding-size"),
    }


def decode_weight_bytes(runtime: Any, weights: Any) -> tuple[int, dict[str, int]]:
    """Bytes of weights one decode step reads, and per weight.

    Every weight the decode entry binds counts in full, except the embedding table when only
    the embedding lookup (the first launch binding it) reads it: then one row.
    """
    binders: dict[str, int] = {}
    for name, count in runtime.weight_bindings("decode").items():  # split-layout parts name#codes, name#scales: one weight
        stored = name.split("#")[0]
        binders[stored] = max(binders.get(stored, 0), count)
    per: dict[str, int] = {}
    for name in binders:
        view = weights[name]
        if name == "token_embd.weight" and binders.get(name, 0) <= 1:
            per[name] = view.scheme.row_bytes(view.shape[-1])
        else:
            per[name] = view.nbytes
    return sum(per.values()), per


def kv_read_bytes(runtime: Any, first_pos: int, steps: int) -> float:
    """Average KV-cache bytes a decode step reads over positions ``first_pos .. first_pos + steps - 1``
    (K and V rows 0..pos of every layer)."""
    from rusty_ir.backends.runtime.kv_cache import row_bytes

    row = sum(2 * c.num_layers * row_bytes(c) for c in runtime.schedule.kv_caches)
    return row * (first_pos + (steps - 1) / 2 + 1)


def _profile_table(rows: list[tuple[str, float]] | None, wall: float) -> dict[str, Any] | None:
    """Per-kernel sums of one profiled step. Timestamps are taken as nanoseconds (wgpu-native does not
    expose the timestamp period; it is 1 ns on NVIDIA and llvmpipe): a sum above the step's wall time
    says the period is not 1 ns here."""
    if rows is None:
        return None
    per: dict[str, dict[str, Any]] = {}
    for name, seconds in rows:
        entry = per.setdefault(name, {"kernel": name, "seconds": 0.0, "dispatches": 0})
        entry["seconds"] += seconds
        entry["dispatches"] += 1
    total = sum(s for _, s in rows)
    table = sorted(per.values(), key=lambda e: -e["seconds"])
    for e in table:
        e["share"] = e["seconds"] / total if total > 0 else 0.0
    out: dict[str, Any] = {"gpu_seconds": total, "wall_seconds": wall, "dispatches": len(rows), "kernels": table}
    if total > 1.05 * wall:
        out["note"] = "GPU times exceed the wall time: this device's timestamp period is not 1 ns, times are off by it"
    return out

