"""tune-workgroups: attach a ``#dispatch.lowering_config`` to every dispatch region, by heuristic or by measurement."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.errors import RustyError
from rusty_ir.passes.dispatch.analysis import region_strategy, root_of
from rusty_ir.passes.tuning.generic import default_config
from rusty_ir.targets import TARGETS

MODES = ("heuristic", "measure")


@dataclass(frozen=True)
class TuneWorkgroupsPass(ModulePass):
    """Chooses each dispatch region's strategy, workgroup size and tile sizes, as an attribute.

    Matches: every ``dispatch.region``. Produces: the same regions with a
    ``config = #dispatch.lowering_config<...>`` property; nothing is lowered.
    Regions that already carry a config keep it unless ``overwrite`` is set,
    so a hand-tuned config in the IR wins. Pre-conditions: dispatch-level IR.

    ``mode=heuristic`` (the default) takes ``generic.default_config`` for the
    target. ``mode=measure`` times candidate configs of each region on the wgpu
    adapter and keeps the fastest (``autotune.py`` says how), caching winners in
    a JSON file keyed by the region's signature and the adapter; without an
    adapter it falls back to the heuristic, with a note on stderr. While it
    measures it prints one line per region on stderr.

    Example: ``rusty-opt m.mlir -p 'tune-workgroups{target=nvidia mode=measure prefill-length=512}'``
    """

    name = "tune-workgroups"

    target: str = "webgpu"
    """Target description whose limits bound the choice: webgpu (portable default), apple or nvidia."""

    overwrite: bool = False
    """Replace configs that are already present (false = keep them)."""

    mode: str = "heuristic"
    """heuristic: the target's heuristic config, no adapter needed; measure: time candidates on the wgpu adapter."""

    prefill_length: int = 512
    """mode=measure: tokens of the timed prefill step, and positions before the timed 1-token decode step (0 = decode only)."""

    repeats: int = 5
    """mode=measure: timed runs per candidate and step, after one warm-up; the median counts."""

    cache: str = ""
    """mode=measure: the tuning cache file; empty = tuning/workgroups.json under $RUSTY_CACHE_DIR (else ~/.cache/rusty-ir); 'none' = no cache."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.target not in TARGETS:
            raise RustyError(f"tune-workgroups: unknown target '{self.target}' (known: {', '.join(TARGETS)})")
        if self.mode not in MODES:
            raise RustyError(f"tune-workgroups: unknown mode '{self.mode}' (known: {', '.join(MODES)})")
        if self.prefill_length < 0:
            raise RustyError(f"tune-workgroups: prefill-length must not be negative, got {self.prefill_length}")
        if self.repeats < 1:
            raise RustyError(f"tune-workgroups: repeats must be at least 1, got {self.repeats}")
        if self.mode == "measure" and self._measure(ctx, op):
            return
        target = TARGETS[self.target]
        for region in op.walk():
            if not isinstance(region, RegionOp) or (region.config is not None and not self.overwrite):
                continue
            ops = region_ops(region)
            region.config = default_config(region_strategy(ops), root_of(ops), target)

    def _measure(self, ctx: Context, op: ModuleOp) -> bool:
        """Tune by measurement; False (after a note) when there is no adapter to measure on."""
        from rusty_ir.passes.tuning.autotune import (  # noqa: PLC0415 - keeps wgpu off the heuristic path
            Tuner,
            TuningCache,
            default_cache_path,
            measuring_device,
            stderr_log,
        )

        device, reason = measuring_device()
        if device is None:
            stderr_log(f"no wgpu adapter to measure on ({reason}); using the {self.target} heuristic")
            return False
        cache = None
        if self.cache != "none":
            cache = TuningCache(Path(self.cache) if self.cache else default_cache_path(), warn=stderr_log)
        tuner = Tuner(device, cache, TARGETS[self.target], self.prefill_length, self.repeats, log=stderr_log)
        results = tuner.tune_module(op, ctx, self.overwrite)
        distinct = list({id(r): r for r in results}.values())  # identical regions share one result
        by_source = {s: sum(1 for r in distinct if r.source == s) for s in ("measured", "cache", "heuristic")}
        where = f" ({cache.path})" if cache is not None else ""
        stderr_log(f"{len(results)} regions, {len(distinct)} distinct, on {tuner.adapter}: {by_source['measured']} measured "
                   f"({tuner.measurements} timings), {by_source['cache']} from the cache{where}, {by_source['heuristic']} by heuristic")  # fmt: skip
        return True
