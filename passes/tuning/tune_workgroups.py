"""tune-workgroups: attach a ``#dispatch.lowering_config`` to every dispatch region (and its single-token version)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.dialects.dispatch.ops import STEP_CONFIGS, region_ops
from rusty_ir.dialects.gpu.attrs import module_target
from rusty_ir.errors import RustyError
from rusty_ir.passes.tuning.generic import default_configs, few_token_configs
from rusty_ir.passes.tuning.signature import load_tuned, region_signature


@dataclass(frozen=True)
class TuneWorkgroupsPass(ModulePass):
    """Chooses each dispatch region's schedule: strategy, workgroup and tile sizes, as attributes.

    Matches: every ``dispatch.region``. Produces: the same regions with
    ``config = #dispatch.lowering_config<...>`` and, for regions over tokens
    (contractions, attention), ``single_token_config`` for the version that
    runs one-token steps and, where they differ, ``few_token_config`` for
    steps of a few and ``more_token_config`` for the larger of them
    (``generic.few_token_configs``); nothing is lowered. The configs are the heuristic's
    for the module's target (``generic.default_configs``, ``#rgpu.target``),
    or, with ``configs``, the ones a measured search stored for regions of
    the same signature (``rusty_ir.tuning``: measurement runs in the driver, the
    pass only reads its results). Regions that already carry a config keep it
    unless ``overwrite`` is set, so a hand-tuned config in the IR wins.
    Pre-conditions: dispatch-level IR with a target (``attach-target``).

    Example: ``rusty-opt m.mlir -p 'attach-target{target=nvidia},tune-workgroups'``
    """

    name = "tune-workgroups"

    overwrite: bool = False
    """Replace configs that are already present (false = keep them)."""

    configs: str = ""
    """A JSON file of measured configs by region signature (written by ``rusty_ir.tuning``); empty = heuristic only."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = module_target(op)
        tuned = self._tuned()
        for region in op.walk():
            if not isinstance(region, RegionOp) or (region.config is not None and not self.overwrite):
                continue
            ops = region_ops(region)
            try:
                config, single = default_configs(ops, target)
            except ValueError as err:
                raise RustyError(f"tune-workgroups: dispatch region '{region.label.data}': {err}", region) from None
            if tuned:
                entry = tuned.get(region_signature(region, target))
                if entry is not None:
                    config, single = entry
            region.config = config
            few, more = few_token_configs(single, ops, target)
            for name, value in zip(STEP_CONFIGS, (single, few, more), strict=True):
                if value is not None:
                    region.properties[name] = value
                else:
                    region.properties.pop(name, None)

    def _tuned(self) -> dict:
        if not self.configs:
            return {}
        path = Path(self.configs)
        try:
            return load_tuned(path)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError) as err:
            raise RustyError(f"tune-workgroups: cannot read tuned configs '{path}': {err}") from None
        except Exception as err:  # xDSL's ParseError of a config string
            first = str(err).strip().splitlines()
            raise RustyError(
                f"tune-workgroups: cannot read tuned configs '{path}': a config does not parse ({first[-1] if first else err})"
            ) from None
