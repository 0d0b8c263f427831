"""The C-like kernel printer shared by the WGSL and MSL backends (one walk of gpu-level IR, a table per language)."""

from rusty_ir.backends.c_like.emitter import (
    CLikeLanguage,
    KernelParts,
    Program,
    emit_module,
)

__all__ = ["CLikeLanguage", "KernelParts", "Program", "emit_module"]
