"""The wgpu device layer and kernel ABI: everything needed to run emitted kernels, without xDSL.

``kernel_abi`` (standard library only) describes a kernel's bindings and params;
``device`` wraps wgpu: adapter and device, buffers, shader compilation with
readable errors, pipelines, batched dispatches and readback. ``Device`` is
imported lazily so that the emitter can use ``kernel_abi`` without loading wgpu.
"""

from typing import TYPE_CHECKING, Any

from rusty_ir.backends.runtime.kernel_abi import BufferBinding, KernelInterface, ParamField, ParamsLayout

if TYPE_CHECKING:
    from rusty_ir.backends.runtime.device import BoundKernel, Device, Kernel


def __getattr__(name: str) -> Any:
    if name in ("BoundKernel", "Device", "Kernel"):
        from rusty_ir.backends.runtime import device

        return getattr(device, name)
    raise AttributeError(name)


__all__ = ["BoundKernel", "BufferBinding", "Device", "Kernel", "KernelInterface", "ParamField", "ParamsLayout"]
