"""What every rusty-ir tool shares: error reporting, reading input, writing output.

User errors (``RustyError``, located ``Diagnostic``s) print as one ``error:``
line on stderr (a located one followed by its source line and a caret, and its
notes, as mlir-opt prints them) and exit 1, with no traceback; bad flags too
(``ToolArgumentParser``); set ``RUSTY_DEBUG=1`` to see the
traceback of an internal error. Output files are written atomically, so a
failed run leaves nothing half-written (``rusty_ir.outputs``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from rusty_ir.errors import Diagnostic, RustyError, printable
from rusty_ir.outputs import write_file

DEFAULT_SPLIT_MARKER = "// -----"
"""The line between chunks of ``--split-input-file`` input and output (mlir-opt's)."""


class ToolArgumentParser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one ``<tool>: error: ...`` line and exit status 1 (through
    ``run_tool``), not a usage block."""

    def error(self, message: str) -> NoReturn:
        raise RustyError(f"{message} ({self.prog} --help lists the flags)")


def optional_value_flags(argv: Sequence[str], consts: Mapping[str, str]) -> list[str]:
    """mlir-opt's optional flag values: ``--flag=value`` gives a value, a bare ``--flag`` means ``consts[flag]``
    and never takes the next argument (``--split-input-file in.mlir`` reads in.mlir)."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return out + list(argv[i:])
        out.append(f"{arg}={consts[arg]}" if arg in consts else arg)
    return out


def run_tool(name: str, body: Callable[[], int]) -> int:
    """Run a tool's body, turning user errors into ``<tool>: error: ...`` and exit code 1."""
    try:
        return body()
    except (RustyError, Diagnostic) as err:
        text = terminal_safe(str(err))
        print(text if isinstance(err, Diagnostic) else f"{name}: error: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # an internal error: say so plainly
        if os.environ.get("RUSTY_DEBUG"):
            traceback.print_exc()
        print(
            f"{name}: internal error: {type(err).__name__}: {terminal_safe(str(err))} (set RUSTY_DEBUG=1 for a traceback)", file=sys.stderr
        )
        return 2


MAX_MESSAGE_CHARS = 4000
"""Longest error message printed (a corrupt name once made a 116 MB one)."""


def terminal_safe(text: str) -> str:
    """An error message as it may reach a terminal: escaped but for newlines and tabs, and bounded."""
    return printable(text, MAX_MESSAGE_CHARS, keep="\n\t")


@dataclass(frozen=True)
class Chunk:
    text: str
    line_offset: int
    """Lines of the original file before this chunk."""


def read_input(path: str | None) -> tuple[str, str]:
    """The input's display name and text; '-' or None reads stdin."""
    if path in (None, "-"):
        return "<stdin>", sys.stdin.read()
    file = Path(path)
    if not file.is_file():
        raise RustyError(f"cannot read '{path}': no such file")
    try:
        return path, file.read_text()
    except UnicodeDecodeError:
        raise RustyError(f"'{path}' is not UTF-8 text") from None


def split_input(text: str, marker: str | bool | None) -> list[Chunk]:
    """Chunks separated by lines that are exactly ``marker`` (trailing blanks allowed); ``True`` is
    ``// -----``; ``None``/``False``: the whole text as one chunk."""
    if not marker:
        return [Chunk(text, 0)]
    if marker is True:
        marker = DEFAULT_SPLIT_MARKER
    split = re.compile(rf"^{re.escape(marker.strip())}[ \t]*$", re.MULTILINE)
    chunks: list[Chunk] = []
    start = 0
    for m in split.finditer(text):
        chunks.append(Chunk(text[start : m.start()], text.count("\n", 0, start)))
        start = m.end()
    chunks.append(Chunk(text[start:], text.count("\n", 0, start)))
    return chunks


def write_output(path: str | None, text: str) -> None:
    """Write to stdout, or to ``path`` atomically, never replacing a special file (``rusty_ir.outputs.write_file``)."""
    if path in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_file(path, text)
