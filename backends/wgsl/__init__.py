"""The WGSL backend: prints gpu-level kernels as WGSL and describes their binding interface.

``emit_wgsl(module)`` gives the text of every kernel; ``kernel_interfaces(module)``
the bindings and params layout the runtime needs (``rusty_ir.backends.runtime.kernel_abi``);
``emit_program(module)`` both from one walk. The contract is in docs/backends.md.
"""

from rusty_ir.backends.runtime.kernel_abi import KernelInterface
from rusty_ir.backends.wgsl.emitter import (
    WgslEmitter,
    WgslProgram,
    emit_program,
    emit_wgsl,
    kernel_interfaces,
)

__all__ = ["KernelInterface", "WgslEmitter", "WgslProgram", "emit_program", "emit_wgsl", "kernel_interfaces"]
