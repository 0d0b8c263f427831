"""Target descriptions: what a kernel may use on one kind of GPU.

The bottom of the dependency graph (no xDSL): the compile driver picks a
target (by name, or from a wgpu adapter), ``attach-target`` writes it into the
IR as ``#rgpu.target<...>`` on the module, and every pass that needs a limit
or a feature reads it from there; the MSL emitter checks kernels against it.
Tuning heuristics read these fields instead of branching on a vendor (STYLE
habit 8). The ``webgpu`` target holds WebGPU's guaranteed limits and no
optional feature, so what is compiled for it runs on any adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from rusty_ir.errors import RustyError


@dataclass(frozen=True)
class TargetDescription:
    """Limits and features of one kind of GPU."""

    name: str
    max_invocations: int = 256
    """Invocations per workgroup."""
    max_workgroup_memory: int = 16384
    """Bytes of workgroup (threadgroup) memory per workgroup."""
    max_workgroups_per_dim: int = 65535
    """Workgroups per grid dimension."""
    subgroup_size: int = 0
    """Invocations per subgroup when the target has subgroup operations and their width is fixed (32 on
    NVIDIA warps and Apple SIMD-groups); 0 = reductions across invocations go through workgroup memory."""
    f16: bool = False
    """f16 arithmetic (WebGPU's ``shader-f16``): contractions may multiply in packed f16 with f32 accumulation."""
    int_dot: bool = False
    """A packed 8-bit dot-product instruction (DP4A; WGSL ``dot4I8Packed``): decode GEMVs may quantize their
    activations to int8 blocks and multiply them with the weight codes in integers (``math = dp4a``), which
    does four code multiply-adds per instruction where the float path spends about four instructions per code.
    Off where the builtin would be emulated (then it is slower than the float path)."""
    max_binding_bytes: int = 128 << 20
    """Bytes one storage-buffer binding may cover (WebGPU's guaranteed ``maxStorageBufferBindingSize``,
    128 MiB). A buffer may be larger: ``split-bindings`` binds a bigger read-only argument as several parts."""
    binding_offset_alignment: int = 256
    """Byte multiple a binding's offset into its buffer must be (WebGPU's guaranteed
    ``minStorageBufferOffsetAlignment``, 256; adapters may allow less, never require more)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "name" and not isinstance(value, bool) and (not isinstance(value, int) or value < 0):
                raise ValueError(f"target '{self.name}': {f.name} must be a non-negative integer, got {value!r}")
        if self.subgroup_size & (self.subgroup_size - 1):
            raise ValueError(f"target '{self.name}': subgroup_size must be a power of two or 0, got {self.subgroup_size}")

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def within(self, limits: dict[str, int], features: frozenset[str]) -> TargetDescription:
        """This target lowered to what one adapter offers (its wgpu limits and features)."""
        return replace(
            self,
            max_invocations=min(self.max_invocations, limits.get("max-compute-invocations-per-workgroup", self.max_invocations)),
            max_workgroup_memory=min(
                self.max_workgroup_memory, limits.get("max-compute-workgroup-storage-size", self.max_workgroup_memory)
            ),
            max_workgroups_per_dim=min(
                self.max_workgroups_per_dim, limits.get("max-compute-workgroups-per-dimension", self.max_workgroups_per_dim)
            ),
            subgroup_size=self.subgroup_size if "subgroup" in features else 0,
            f16=self.f16 and "shader-f16" in features,
        )


TARGETS: dict[str, TargetDescription] = {
    t.name: t
    for t in (
        TargetDescription("webgpu"),
        TargetDescription("apple", max_invocations=1024, max_workgroup_memory=32768, subgroup_size=32, f16=True),
        TargetDescription("nvidia", max_invocations=1024, max_workgroup_memory=49152, subgroup_size=32, f16=True, int_dot=True),
    )
}
"""Known targets by name; ``webgpu`` is the portable default. ``apple``: Apple GPUs (1024 threads and 32 KiB of
threadgroup memory per threadgroup, SIMD-groups of 32, half arithmetic); ``rusty compile --target msl`` compiles
for it and the MSL emitter checks every kernel against it. ``nvidia``: NVIDIA GPUs through Vulkan (warps of 32,
48 KiB of workgroup memory, ``shader-f16``, DP4A since Pascal)."""


def target(name: str) -> TargetDescription:
    """The target called ``name``, or a ValueError listing the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target '{name}' (known: {', '.join(TARGETS)})") from None


def check_subgroups(compiled_for: str, info: dict[str, str]) -> None:
    """RustyError unless kernels compiled for target ``compiled_for`` may run on the adapter of ``info``: a target of
    fixed subgroup width (``subgroup_size``: its reductions span that many invocations) needs an adapter whose own
    target has that width (on llvmpipe's subgroups of 8, or a GPU's of unknown width, they compute wrong sums)."""
    width = TARGETS[compiled_for].subgroup_size if compiled_for in TARGETS else 0
    mine = target_for_adapter(info)
    if width and TARGETS[mine].subgroup_size != width:
        raise RustyError(f"this model was compiled for the '{compiled_for}' target, whose kernels assume subgroups of {width} "
                         f"invocations; this adapter ({info.get('device', '?')}) takes the '{mine}' target: compile the model "
                         f"for it (rusty compile --target {mine}), or run without --compiled")  # fmt: skip


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
