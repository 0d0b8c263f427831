"""What ``rusty bench`` measures beside the timings: the device (with timestamp queries for ``--profile``), the bytes
a decode step reads (weights, KV cache), and per-kernel GPU time tables. Bandwidth and spin-up come from
``rusty_ir.probes``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NotRequired, TypedDict

from rusty_ir.errors import RustyError

if TYPE_CHECKING:
    from rusty_ir.backends.runtime.device import Device
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.weights import TensorView


class DeviceReport(TypedDict):
    """The device in a benchmark report: ``adapter_summary``'s names, the features kernels use, the binding limit."""

    name: str
    vendor: str
    backend: str
    type: str
    driver: str
    features: list[str]
    max_storage_buffer_binding_size: int | None


class KernelTime(TypedDict):
    """One kernel's line of a profiled step: its GPU seconds summed over its dispatches, and its share of the step."""

    kernel: str
    seconds: float
    dispatches: int
    share: float


class ProfileTable(TypedDict):
    """One profiled step (``_profile_table``): GPU and wall seconds, dispatches, kernels by time."""

    gpu_seconds: float
    wall_seconds: float
    dispatches: int
    kernels: list[KernelTime]
    note: NotRequired[str]
    """Present when the GPU times exceed the wall time (the timestamp period is not 1 ns)."""


def profiling_device() -> Device:
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


def device_report(device: Device) -> DeviceReport:
    from rusty_ir.backends.runtime.device import adapter_summary

    summary = adapter_summary(device.adapter)
    return DeviceReport(
        name=summary["name"], vendor=summary["vendor"], backend=summary["backend"], type=summary["type"], driver=summary["driver"],
        features=sorted(f for f in device.features if f in ("shader-f16", "subgroup", "timestamp-query")),
        max_storage_buffer_binding_size=device.limits.get("max-storage-buffer-binding-size"),
    )  # fmt: skip


def decode_weight_bytes(runtime: ModelRuntime, weights: Mapping[str, TensorView]) -> tuple[int, dict[str, int]]:
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


def kv_read_bytes(runtime: ModelRuntime, first_pos: int, steps: int) -> float:
    """Average KV-cache bytes a decode step reads over positions ``first_pos .. first_pos + steps - 1``
    (K and V rows 0..pos of every layer)."""
    from rusty_ir.backends.runtime.kv_cache import row_bytes

    row = sum(2 * c.num_layers * row_bytes(c) for c in runtime.schedule.kv_caches)
    return row * (first_pos + (steps - 1) / 2 + 1)


def _profile_table(rows: list[tuple[str, float]] | None, wall: float) -> ProfileTable | None:
    """Per-kernel sums of one profiled step. Timestamps are taken as nanoseconds (wgpu-native does not
    expose the timestamp period; it is 1 ns on NVIDIA and llvmpipe): a sum above the step's wall time
    says the period is not 1 ns here."""
    if rows is None:
        return None
    per: dict[str, KernelTime] = {}
    for name, seconds in rows:
        entry = per.setdefault(name, KernelTime(kernel=name, seconds=0.0, dispatches=0, share=0.0))
        entry["seconds"] += seconds
        entry["dispatches"] += 1
    total = sum(s for _, s in rows)
    table = sorted(per.values(), key=lambda e: -e["seconds"])
    for e in table:
        e["share"] = e["seconds"] / total if total > 0 else 0.0
    out = ProfileTable(gpu_seconds=total, wall_seconds=wall, dispatches=len(rows), kernels=table)
    if total > 1.05 * wall:
        out["note"] = "GPU times exceed the wall time: this device's timestamp period is not 1 ns, times are off by it"
    return out
