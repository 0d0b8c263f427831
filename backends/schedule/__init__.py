"""The schedule backend: prints the host functions of gpu-level IR as a host schedule (JSON).

``emit_schedule(module)`` gives the JSON text that ``rusty-translate --to-schedule``
prints; ``build_schedule(module)`` the ``Schedule`` object
(``rusty_ir.backends.runtime.schedule``, which documents the format).
"""

from rusty_ir.backends.schedule.emitter import build_schedule, emit_schedule

__all__ = ["build_schedule", "emit_schedule"]
