"""The tuning cache (``rusty_ir.tuning``, step 2 of its docstring): one JSON file per adapter of winning configs by
region signature, which ``tune-workgroups{configs=FILE}`` reads."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rusty_ir.dialects.dispatch import LoweringConfigAttr
from rusty_ir.passes.tuning.signature import config_text

TUNER_VERSION = 3
"""Changes when the measuring method or the cache format changes (version 1: untyped configs; 2: timed without
spinning an idle GPU up first, so winners may have been ranked at a low clock)."""

CACHE_FORMAT = "rusty-tuning"


def cache_path(root: Path, adapter: str) -> Path:
    """The tuning cache of one adapter: ``tuning/<hash of its identity>.json`` under the compile cache ``root``."""
    return Path(root) / "tuning" / f"{hashlib.sha256(adapter.encode()).hexdigest()[:16]}.json"


class TuningCache:
    """Winning configs of one adapter by region signature, in one JSON file written atomically (temp file +
    rename). ``tune-workgroups{configs=FILE}`` reads its ``regions``. An unreadable file is reported once and
    treated as empty (the next write replaces it)."""

    def __init__(self, path: Path, warn: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.warn = warn
        self.entries: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text())
            if data.get("format") != CACHE_FORMAT or data.get("version") != TUNER_VERSION or not isinstance(data.get("regions"), dict):
                raise ValueError("not a rusty-ir tuning cache of this version")
            return dict(data["regions"])
        except (OSError, ValueError, AttributeError) as err:
            if self.warn is not None:
                self.warn(f"ignoring the tuning cache {self.path}: {err}")
            return {}

    def get(self, signature: str) -> dict[str, Any] | None:
        return self.entries.get(signature)

    def put(self, signature: str, entry: dict[str, Any]) -> None:
        """Record an entry and write the file (merged with what other processes wrote meanwhile)."""
        self.entries = {**self._read(), **self.entries, signature: entry}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"format": CACHE_FORMAT, "version": TUNER_VERSION, "regions": self.entries}, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def describe(config: LoweringConfigAttr | None) -> str:
    """A config as the cache and the log write it (``none`` for no config)."""
    return config_text(config) or "none"
