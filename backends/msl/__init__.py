"""The Metal Shading Language backend: prints gpu-level kernels as MSL with the WGSL backend's interfaces.

``emit_msl(module)`` gives the text of every kernel; ``emit_program(module, limits)``
the text and each kernel's interface (``rusty_ir.backends.runtime.kernel_abi``),
checking every kernel against a target description's limits (default ``apple``).
The contract is in docs/backends.md.
"""

from rusty_ir.backends.msl.emitter import (
    MslProgram,
    TargetLimits,
    emit_msl,
    emit_program,
)

__all__ = ["MslProgram", "TargetLimits", "emit_msl", "emit_program"]
