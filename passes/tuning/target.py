"""Target descriptions: the limits tuning and tiling must respect, per GPU family.

Tuning reads these instead of branching on a backend (STYLE habit 8). The
defaults are WebGPU's guaranteed limits, so a schedule chosen without an
adapter runs on any adapter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TargetDescription:
    """What a kernel may use on one kind of GPU."""

    name: str
    max_invocations: int = 256
    """Invocations per workgroup."""
    max_workgroup_memory: int = 16384
    """Bytes of workgroup (threadgroup) memory per workgroup."""
    max_workgroups_per_dim: int = 65535
    """Workgroups per grid dimension."""
    subgroup_size: int = 32
    """Preferred SIMD width (NVIDIA warps, Apple SIMD-groups); a hint, not a requirement."""
    prefill_tokens: int = 1
    """Tokens a contraction workgroup handles in a prefill step (reusing each decoded weight block).
    More than one makes kernels larger: worth it on GPUs, not on CPU adapters such as llvmpipe."""
    max_binding_bytes: int = 128 << 20
    """Bytes one storage-buffer binding may cover (WebGPU's guaranteed ``maxStorageBufferBindingSize``,
    128 MiB). A buffer may be larger: ``split-bindings`` binds a bigger read-only argument as several parts."""
    binding_offset_alignment: int = 256
    """Byte multiple a binding's offset into its buffer must be (WebGPU's guaranteed
    ``minStorageBufferOffsetAlignment``, 256; adapters may allow less, never require more)."""


TARGETS: dict[str, TargetDescription] = {
    t.name: t
    for t in (
        TargetDescription("webgpu"),
        TargetDescription("apple", max_invocations=1024, max_workgroup_memory=32768, subgroup_size=32, prefill_tokens=4),
        TargetDescription("nvidia", max_invocations=1024, max_workgroup_memory=49152, subgroup_size=32, prefill_tokens=4),
    )
}
"""Known targets by name; ``webgpu`` is the portable default. ``apple`` holds Apple GPUs' limits (1024 threads
and 32 KiB of threadgroup memory per threadgroup, SIMD-groups of 32): ``rusty compile --target msl`` tunes for it,
and the MSL emitter (``rusty_ir.backends.msl``) checks every kernel against it."""


def target_for_adapter(info: dict[str, str]) -> str:
    """The target description for a wgpu adapter (its ``info``): by vendor, portable otherwise."""
    if info.get("adapter_type", "").lower() == "cpu":
        return "webgpu"
    text = " ".join(str(v) for v in info.values()).lower()
    if "nvidia" in text:
        return "nvidia"
    if "apple" in text:
        return "apple"
    return "webgpu"
