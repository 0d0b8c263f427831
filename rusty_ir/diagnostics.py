"""Warnings and remarks from passes (errors are raised: ``RustyError(message, op, notes)``).

A pass that wants to tell the user something without failing calls
``emit_warning(op, message)`` or ``emit_remark(op, message)``; ``notes`` are
``(message, op)`` pairs shown after it. The tool running the pass decides what
happens: ``rusty-opt`` prints it at the op's source line (``file:line:col:
warning: ...`` with the line and a caret) or, under ``--verify-diagnostics``,
matches it against ``expected-warning``/``expected-remark`` annotations. With
no tool handler installed (``rusty compile``, the Python API), it is printed on
stderr naming the op. This module imports nothing from xDSL, like
``rusty_ir.errors``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rusty_ir.errors import describe_op, printable

Handler = Callable[[str, str, Any, list[tuple[str, Any]]], None]
"""``handler(severity, message, op, notes)``: what a tool does with a diagnostic emitted by a pass."""

_handlers: list[Handler] = []


def emit_warning(op: Any, message: str, notes: Iterable[tuple[str, Any]] = ()) -> None:
    """Report a warning at ``op`` (an xDSL operation, or None for no location); the pass goes on."""
    emit("warning", message, op, notes)


def emit_remark(op: Any, message: str, notes: Iterable[tuple[str, Any]] = ()) -> None:
    """Report a remark (information, e.g. a decision a pass made) at ``op``."""
    emit("remark", message, op, notes)


def emit(severity: str, message: str, op: Any = None, notes: Iterable[tuple[str, Any]] = ()) -> None:
    """Hand a diagnostic to the innermost handler, or print it on stderr when none is installed."""
    if severity not in ("warning", "remark", "note", "error"):
        raise ValueError(f"unknown diagnostic severity '{severity}'")
    notes = list(notes)
    if _handlers:
        _handlers[-1](severity, message, op, notes)
        return
    print(_unlocated(severity, message, op), file=sys.stderr)
    for text, note_op in notes:
        print(_unlocated("note", text, note_op), file=sys.stderr)


@contextmanager
def diagnostic_handler(handler: Handler) -> Iterator[None]:
    """Send the diagnostics emitted inside the ``with`` block to ``handler``."""
    _handlers.append(handler)
    try:
        yield
    finally:
        _handlers.remove(handler)


def _unlocated(severity: str, message: str, op: Any) -> str:
    where = f"{describe_op(op)}: " if op is not None else ""
    return printable(f"{severity}: {where}{message}", 4000)
