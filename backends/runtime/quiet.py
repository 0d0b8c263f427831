"""Keep Vulkan drivers quiet on machines without a display.

Mesa's window-system layer prints "XDG_RUNTIME_DIR is invalid or not set" for
every adapter it probes when that variable is unset (headless servers, CI).
Compute never touches the window system, so a private empty folder satisfies it.
"""

from __future__ import annotations

import os
import tempfile


def quiet_window_system() -> None:
    """Point XDG_RUNTIME_DIR at a private folder if it is unset or unusable."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and os.path.isdir(current):
        return
    folder = os.path.join(tempfile.gettempdir(), f"rusty-ir-runtime-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = folder
