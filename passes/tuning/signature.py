"""Region signatures and the tuned-configs file that ``tune-workgroups{configs=...}`` reads.

A signature identifies a dispatch region's computation for tuning: the hash of
its outlined IR without configs or label, the target and the sources of the
kernel generator (a changed schedule builder re-tunes). The file maps
signatures to the config and single-token config a measured search chose.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from xdsl.context import Context
from xdsl.parser import Parser
from xdsl.printer import Printer

from rusty_ir.dialects.dispatch import Dispatch, LoweringConfigAttr, RegionOp
from rusty_ir.dialects.dispatch.ops import STEP_CONFIGS
from rusty_ir.targets import TargetDescription

_CODEGEN_DIRS = ("codegen", "tiling", "conversion", "tuning")


def codegen_fingerprint() -> str:
    """A hash of the sources that turn a config into kernels."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for folder in _CODEGEN_DIRS:
        for path in sorted((root / folder).glob("*.py")):
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def region_signature(region: RegionOp, target: TargetDescription) -> str:
    """The signature of one region (see the module docstring)."""
    clone = region.clone()
    for name in ("config", *STEP_CONFIGS, "label"):
        clone.properties.pop(name, None)
    text = io.StringIO()
    Printer(stream=text, print_generic_format=True).print_op(clone)
    h = hashlib.sha256("\n".join([codegen_fingerprint(), repr(target), text.getvalue()]).encode())
    return h.hexdigest()[:32]


def config_text(config: LoweringConfigAttr | None) -> str | None:
    if config is None:
        return None
    out = io.StringIO()
    Printer(stream=out).print_attribute(config)
    return out.getvalue()


def parse_config(text: str) -> LoweringConfigAttr:
    ctx = Context()
    ctx.load_dialect(Dispatch)
    attr = Parser(ctx, text).parse_attribute()
    if not isinstance(attr, LoweringConfigAttr):
        raise ValueError(f"not a lowering config: {text}")
    return attr


def load_tuned(path: Path) -> dict[str, tuple[LoweringConfigAttr, LoweringConfigAttr | None]]:
    """signature -> (config, single-token config) from a tuned-configs file."""
    data: dict[str, Any] = json.loads(path.read_text())
    out = {}
    for signature, entry in data.get("regions", {}).items():
        single = entry.get("single_token_config")
        out[signature] = (parse_config(entry["config"]), parse_config(single) if single else None)
    return out
