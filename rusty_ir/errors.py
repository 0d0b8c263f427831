"""The one exception type for user-facing errors, and how to say where an op is.

Anything a user can cause (bad IR, an unknown pass, a corrupt checkpoint, an op
a backend cannot print) raises ``RustyError`` with a message that names what is
wrong and where. The tools print it as ``error: <message>`` and exit 1, with no
traceback. This module imports nothing from xDSL so the runtime can use it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any


class RustyError(Exception):
    """A user-facing error: the message names what is wrong and where.

    Passes and emitters that fail on a particular op pass it as ``op``, so the
    tools can report the op's source line (and ``--verify-diagnostics`` can
    match it against an ``expected-error`` annotation).
    """

    def __init__(self, message: str, op: Any = None) -> None:
        super().__init__(message)
        self.op = op


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


@dataclass
class Diagnostic(Exception):
    """An error at a source position (line/column are None when unknown), e.g. in parsed IR."""

    message: str
    source: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}:{self.col}"
        return f"{where}: error: {self.message}"
