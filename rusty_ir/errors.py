"""The one exception type for user-facing errors, and how to say where an op is.

Anything a user can cause (bad IR, an unknown pass, a corrupt checkpoint, an op
a backend cannot print) raises ``RustyError`` with a message that names what is
wrong and where. The tools print it as ``error: <message>`` and exit 1, with no
traceback. This module imports nothing from xDSL so the runtime can use it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any


class RustyError(Exception):
    """A user-facing error: the message names what is wrong and where.

    Passes and emitters that fail on a particular op pass it as ``op``, so the
    tools can report the op's source line (and ``--verify-diagnostics`` can
    match it against an ``expected-error`` annotation). ``notes`` are
    ``(message, op)`` pairs printed after the error, each at its op's line
    (``expected-note`` matches them), e.g. where a conflicting value is defined.
    """

    def __init__(self, message: str, op: Any = None, notes: Any = ()) -> None:
        super().__init__(message)
        self.op = op
        self.notes: list[tuple[str, Any]] = list(notes)


def printable(text: Any, limit: int = 80, keep: str = "") -> str:
    """``text`` (a name or value read from a user's file, or a whole message) made safe to quote on a terminal:
    control, format and unassigned characters escaped except those in ``keep`` (no escape sequence reaches
    the terminal), at most ``limit`` characters kept."""
    text = str(text)
    out = "".join(ch if ch in keep or unicodedata.category(ch)[0] != "C" else ascii(ch)[1:-1] for ch in text[:limit])
    return out + (f"... ({len(text)} characters)" if len(text) > limit else "")


def describe_op(op: Any) -> str:
    """A short 'where' for an xDSL operation: its name and the symbols that enclose it.

    xDSL keeps no source locations on ops, so an op is located by the chain of
    symbol-defining parents (``gpu.module @kernels > gpu.func @softmax``) and
    its position in its block.
    """
    chain: list[str] = []
    parent = op.parent_op()
    while parent is not None:
        sym = parent.properties.get("sym_name") or parent.attributes.get("sym_name")
        if sym is not None:
            chain.append(f"{parent.name} @{sym.data}")
        parent = parent.parent_op()
    where = " > ".join(reversed(chain))
    index = ""
    block = op.parent_block()
    if block is not None:
        index = f" (op #{list(block.ops).index(op)} of its block)"
    return f"'{op.name}'{index}" + (f" in {where}" if where else "")


SEVERITIES = ("error", "warning", "remark", "note")
"""MLIR's diagnostic severities."""

SNIPPET_CHARS = 160
"""Widest source excerpt shown under a diagnostic (a window around the column of longer lines)."""


@dataclass
class Diagnostic(Exception):
    """A diagnostic at a source position (line/column are None when unknown), e.g. in parsed IR.

    Printed as mlir-opt does: ``file:line:col: error: message``, then the source line with a caret
    under the column (when ``snippet`` holds that line), then each note the same way.
    """

    message: str
    source: str
    line: int | None = None
    col: int | None = None
    severity: str = "error"
    snippet: str | None = None
    """The text of the source line, shown with a caret under ``col``."""
    notes: list[Diagnostic] = field(default_factory=list)

    @property
    def where(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}:{self.col}"

    def headline(self) -> str:
        """The first line: ``file:line:col: severity: message``."""
        return f"{self.where}: {self.severity}: {self.message}"

    def __str__(self) -> str:
        lines = [self.headline(), *caret_lines(self.snippet, self.col)]
        return "\n".join(lines + [str(note) for note in self.notes])


def caret_lines(text: str | None, col: int | None) -> list[str]:
    """A source line and a caret under column ``col`` (1-based), as MLIR's SourceMgr prints them; a window
    of ``SNIPPET_CHARS`` around the column for longer lines; nothing without the text."""
    if text is None or col is None:
        return []
    text = text.rstrip("\r\n")
    start = 0
    if len(text) > SNIPPET_CHARS:  # a window around the column
        start = max(0, min(col - 1 - SNIPPET_CHARS // 2, len(text) - SNIPPET_CHARS))
    window = text[start : start + SNIPPET_CHARS]
    before, after = ("..." if start else ""), ("..." if start + SNIPPET_CHARS < len(text) else "")
    lead = before + text[start : max(start, col - 1)]
    pad = "".join("\t" if ch == "\t" else " " for ch in lead)
    return [before + printable(window, SNIPPET_CHARS, keep="\t") + after, pad + "^"]
