"""Progress on stderr for the tools and the Python API: step messages, and bars on a terminal.

``Progress(quiet)`` prints ``rusty: <step>...`` lines with the time each step took (none with
``quiet``), and, only when stderr is a terminal, tqdm bars for the long steps: compiling (stages),
uploading weights (bytes) and long prefills (tokens). ``warn_once`` prints a warning once per process.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

_WARNED: set[str] = set()


class StepDone(Protocol):
    """What ``Progress.step`` returns: call it when the step is done, with an optional detail."""

    def __call__(self, detail: str = "") -> None: ...


class Progress:
    """Step messages and bars on stderr (see the module docstring)."""

    def __init__(self, quiet: bool = False, bars: bool | None = None) -> None:
        """``bars``: None = when stderr is a terminal (and not ``quiet``)."""
        self.quiet = quiet
        self.bars = (not quiet and sys.stderr.isatty()) if bars is None else bars and not quiet

    def step(self, message: str) -> StepDone:
        """Print ``message...``; the returned function prints how long the step took (and a detail)."""
        start = time.perf_counter()
        if not self.quiet:
            print(f"rusty: {message}...", file=sys.stderr, flush=True)

        def done(detail: str = "") -> None:
            if not self.quiet:
                extra = f", {detail}" if detail else ""
                print(f"rusty:   done in {time.perf_counter() - start:.2f} s{extra}", file=sys.stderr, flush=True)

        return done

    def note(self, message: str) -> None:
        if not self.quiet:
            print(f"rusty:   {message}", file=sys.stderr, flush=True)

    def warn_once(self, message: str) -> None:
        """``rusty: warning: message``, the first time this process sees it (even when quiet)."""
        if message not in _WARNED:
            _WARNED.add(message)
            print(f"rusty: warning: {message}", file=sys.stderr, flush=True)

    @contextmanager
    def bar(self, total: int, desc: str, unit: str = "it") -> Iterator[Callable[[int], None]]:
        """A tqdm bar of ``total`` (only on a terminal); yields ``advance(n)``."""
        if not self.bars or total <= 0:
            yield lambda _n: None
            return
        from tqdm import tqdm  # only on a terminal

        scale: dict[str, Any] = {"unit_scale": True, "unit_divisor": 1024} if unit == "B" else {}
        with tqdm(total=total, desc=f"rusty: {desc}", unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True, **scale) as t:
            yield t.update


__all__ = ["Progress"]
