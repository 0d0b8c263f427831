"""Measured tuning: time candidate lowering configs of each dispatch region on the wgpu adapter, and cache the winners.

The compile driver runs it (``CompileOptions.tune``, ``rusty compile/run/bench --tune``) on the module after
the stage 'merged', before 'tuned'; then ``tune-workgroups{configs=FILE}`` reads the winners from the cache
file of this adapter, by region signature. Passes never time anything. It can also be driven directly::

    tuner = Tuner(device, TuningCache(path), TARGETS["nvidia"])
    tuner.tune_module(module)                # measures every region, writes the cache
    tuner.measurements                       # candidate timings taken (0 when everything came from the cache)

How one region is tuned:

1. Its **signature** (``passes/tuning/signature.py``) hashes the region without configs or label, the
   target and the sources of the kernel generator. Identical regions (every decoder layer's) share it and
   are tuned once.
2. The **cache** (``TuningCache``: one JSON file per adapter, ``tuning/<adapter>.json`` under the compile
   cache) is looked up under the signature; a hit is used without timing.
3. Otherwise the region is outlined (``outline``) and given arguments for each representative **step**:
   decode (1 token at position L) and prefill (L tokens at position 0), L = ``prefill_length``.
   Activations get the step's token count as their dynamic dimension, KV caches L + 1 rows, index
   operands the value the host computes for them (``HostScalars``).
4. The **search** starts at the heuristic's configs (``generic.default_configs``) and goes axis by axis
   (``search_axes``, coordinate descent over the typed config's fields). A region over tokens has two
   configs, and each is searched on the step that runs it: the single-token config on decode, the
   config on prefill; a region without one has its config searched on every step. A candidate is
   lowered alone through the default pipeline's passes after 'tuned' (``LOWERING``), compiled, and timed
   on random inputs: ``repeats`` runs after a warm-up, the median of the GPU time between two
   timestamps around one compute pass (wall clock without 'timestamp-query'); one whose first run
   takes over ``CUTOFF`` times the best's is not run again. On a discrete GPU the runs cycle through
   enough copies of the arguments (``ROTATE_BYTES``) that the weights come from memory, not the L2.
5. A candidate replaces the best when its time (summed over its steps, relative to the heuristic's) is
   at least ``MIN_GAIN`` lower. Its outputs must match the heuristic config's (``check_outputs``). A best
   that is not the heuristic's is timed again against it and kept only if it still wins by ``MIN_GAIN``.

The timed kernels read weights in the layout the region is given (``weight-layout`` changes the outlined
function's arguments, so it is not run): relative timings, not the model's absolute ones.

This module holds the search (``Tuner``) and the compile driver's entry (``tune_for_compile``); the rest is one
module per concern: ``cache`` (step 2), ``region`` (step 3: outlining, arguments, lowering a candidate),
``candidates`` (the axes of step 4) and ``runner`` (building, running and timing a candidate on the device).
"""

from __future__ import annotations

import datetime
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.dialects.gpu.attrs import module_target
from rusty_ir.errors import RustyError
from rusty_ir.passes.tuning.generic import contraction_weights, default_configs
from rusty_ir.passes.tuning.signature import config_text, parse_config, region_signature
from rusty_ir.targets import TargetDescription
from rusty_ir.tuning.cache import CACHE_FORMAT, TUNER_VERSION, TuningCache, cache_path, describe
from rusty_ir.tuning.candidates import THREADS, Axis, search_axes
from rusty_ir.tuning.region import (
    FUNCTION,
    LOWERING,
    BufferArg,
    HostScalars,
    Lowered,
    RegionBenchmark,
    StepArgs,
    TimedStep,
    UnknownHostValue,
    outline,
    representative_steps,
)
from rusty_ir.tuning.runner import MAX_COPIES, ROTATE_BYTES, BoundLaunch, DeviceArg, DeviceRunner, random_array

if TYPE_CHECKING:
    from rusty_ir.backends.runtime.device import Device

MIN_GAIN = 0.01
"""A candidate must score this much (relative) below the best so far to replace it."""

CUTOFF = 2.0
"""A candidate whose first timed run is this many times slower than the best's is not run again for that step."""


Pair = tuple[LoweringConfigAttr, LoweringConfigAttr | None]
"""A region's config and single-token config."""


@dataclass
class RegionResult:
    """How one region's configs were chosen."""

    label: str
    strategy: str
    config: LoweringConfigAttr
    single: LoweringConfigAttr | None
    source: str
    """``measured``, ``cache`` or ``heuristic`` (with ``note`` saying why)."""
    tried: list[Pair] = field(default_factory=list[Pair])
    """Candidates timed, the heuristic's first."""
    rejected: dict[str, str] = field(default_factory=dict[str, str])
    """Candidates (``describe``) that could not be lowered, built or checked, and why."""
    seconds: dict[str, float] = field(default_factory=dict[str, float])
    """The winner's median time per step."""
    default_seconds: dict[str, float] = field(default_factory=dict[str, float])
    """The heuristic's median time per step."""
    timings: int = 0
    """Times a candidate was timed on its steps: once per candidate tried, plus the rechecks."""
    note: str = ""


class Tuner:
    """Measured tuning of the dispatch regions of a module (the module docstring says how)."""

    def __init__(self, device: Device, cache: TuningCache | None, target: TargetDescription | None = None, prefill_length: int = 512,
                 repeats: int = 5, log: Callable[[str], None] | None = None, seed: int = 0) -> None:  # fmt: skip
        """``target``: the one the configs are for (default: the module's ``#rgpu.target``)."""
        self.runner = DeviceRunner(device, repeats)
        self.cache = cache
        self.target = target
        self.prefill_length = prefill_length
        self.adapter = device.identity
        self.log = log
        self.seed = seed
        self.results: list[RegionResult] = []

    @property
    def measurements(self) -> int:
        """Candidate timings taken so far (none when every region came from the cache)."""
        return self.runner.measurements

    def _say(self, message: str) -> None:
        if self.log is not None:
            self.log(message)

    def tune_module(self, module: ModuleOp) -> list[RegionResult]:
        """Find every region's configs (cache or search; identical regions once) and record the measured ones in the
        cache; the regions themselves are left as they are (``tune-workgroups{configs=...}`` applies the cache)."""
        target = self.target or module_target(module)
        host = HostScalars(module)
        done: dict[str, RegionResult] = {}
        results: list[RegionResult] = []
        for region in [op for op in module.walk() if isinstance(op, RegionOp)]:
            signature = region_signature(region, target)
            if signature not in done:
                done[signature] = self.tune_region(region, target, host, signature)
            results.append(done[signature])
        self.results += results
        return results

    def tune_region(self, region: RegionOp, target: TargetDescription, host: HostScalars, signature: str) -> RegionResult:
        """The configs of one region: from the cache, else measured, else (arguments unknown) the heuristic's."""
        ops = region_ops(region)
        label = region.label.data
        config, single = default_configs(ops, target)
        strategy = config.config.strategy
        entry = self.cache.get(signature) if self.cache is not None else None
        if entry is not None:
            try:
                cached = (
                    parse_config(entry["config"]),
                    parse_config(entry["single_token_config"]) if entry.get("single_token_config") else None,
                )
                return RegionResult(label, strategy, *cached, "cache", seconds=dict(entry.get("seconds", {})),
                                    default_seconds=dict(entry.get("default_seconds", {})))  # fmt: skip
            except Exception:  # a stale or hand-edited entry is tuned again
                pass
        start = time.perf_counter()
        result = self._search(region, target, host, strategy, (config, single))
        spent = time.perf_counter() - start
        if result.source == "measured":
            if self.cache is not None:
                self.cache.put(signature, {
                    "label": label, "strategy": strategy, "config": config_text(result.config),
                    "single_token_config": config_text(result.single), "adapter": self.adapter, "target": target.name,
                    "prefill_length": self.prefill_length, "seconds": result.seconds, "default_seconds": result.default_seconds,
                    "candidates": len(result.tried), "search_seconds": round(spent, 3),
                    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                })  # fmt: skip
            gains = ", ".join(
                f"{k} {result.default_seconds[k] / v:.2f}x" for k, v in result.seconds.items() if v > 0 and k in result.default_seconds
            )
            note = f"; {result.note}" if result.note else ""
            self._say(f"{label} ({strategy}): {len(result.tried)} candidates timed in {spent:.1f} s, {gains or 'no timing'} over the "
                      f"heuristic{note}: {describe(result.config)}" + (f", single token {describe(result.single)}" if result.single else ""))  # fmt: skip
        else:
            self._say(f"{label} ({strategy}): the heuristic's configs: {result.note}")
        return result

    def _search(self, region: RegionOp, target: TargetDescription, host: HostScalars, strategy: str, seed: Pair) -> RegionResult:
        label = region.label.data
        bench = RegionBenchmark(region, target)
        result = RegionResult(label, strategy, *seed, "heuristic")
        try:
            first = bench.lower(*seed)
        except RustyError as err:
            result.note = f"the heuristic's configs do not lower on their own ({err})"
            return result
        rows = self.prefill_length + 1
        steps: list[tuple[TimedStep, StepArgs]] = []
        try:
            for step in representative_steps(self.prefill_length):
                args = bench.step_args(step, host, rows, first)
                if all(args != seen for _, seen in steps):
                    steps.append((step, args))
        except (UnknownHostValue, RustyError) as err:
            result.note = f"cannot give its arguments representative values ({err})"
            return result
        rng = np.random.default_rng(self.seed)
        uploads = {step.name: self.runner.upload(args, rng, self.runner.copies_for(args)) for step, args in steps}
        # each config on the steps that run it: the single-token one on decode, the other on prefill
        phases = (
            [(0, steps)] if seed[1] is None else [(1, [s for s in steps if s[0].tokens == 1]), (0, [s for s in steps if s[0].tokens > 1])]
        )
        try:
            best = seed
            for which, phase in phases:
                if phase:
                    found = self._descend(bench, target, which, best, first if best == seed else None, phase, uploads, result)
                    if found is None:
                        return result
                    best = found
            result.config, result.single = best
            result.source = "measured"
            return result
        finally:
            for sets in uploads.values():
                for values in sets:
                    for v in values:
                        if hasattr(v, "destroy"):
                            v.destroy()

    def _descend(self, bench: RegionBenchmark, target: TargetDescription, which: int, seed: Pair, first: Lowered | None,
                 steps: list[tuple[TimedStep, StepArgs]], uploads: dict[str, list[list[DeviceArg]]], result: RegionResult) -> Pair | None:  # fmt: skip
        """Coordinate descent over config ``which`` (0: the config, 1: the single-token config) from ``seed``,
        timed on ``steps``; the best pair, or None when the seed itself does not run."""
        return _Descent(self.runner, bench, target, which, seed, steps, uploads, result).run(first)


class _Descent:
    """One coordinate descent of ``Tuner._descend``: the candidates measured so far (each lowered, built, timed on
    every step and its outputs checked against the seed's), the best times per step, the search along each axis
    of ``search_axes`` and the head-to-head recheck of a winner."""

    def __init__(self, runner: DeviceRunner, bench: RegionBenchmark, target: TargetDescription, which: int, seed: Pair,
                 steps: list[tuple[TimedStep, StepArgs]], uploads: dict[str, list[list[DeviceArg]]], result: RegionResult) -> None:  # fmt: skip
        self.runner, self.bench, self.target, self.which, self.seed = runner, bench, target, which, seed
        self.steps, self.uploads, self.result = steps, uploads, result
        self.timed: dict[Pair, dict[str, float] | None] = {}
        """Times per step of every candidate measured (None: rejected)."""
        self.runs_of: dict[Pair, dict[str, list[list[BoundLaunch]]]] = {}
        self.best_times: dict[str, float] = {}
        n_args = len(steps[0][1])
        self.results_at = range(n_args - len(bench.region.outputs), n_args)
        """The out-buffers of the region's results."""
        self.reference: dict[str, list[np.ndarray]] = {}
        """The seed's outputs per step, which every candidate's must match."""

    def config(self, pair: Pair) -> LoweringConfigAttr:
        """The config being searched of ``pair`` (a single-token one is searched only where the seed has one)."""
        config = pair[self.which]
        assert config is not None
        return config

    def with_(self, config: LoweringConfigAttr) -> Pair:
        return (config, self.seed[1]) if self.which == 0 else (self.seed[0], config)

    def time_runs(self, pair: Pair, cutoffs: bool = True) -> dict[str, float]:
        out: dict[str, float] = {}
        for step, _ in self.steps:
            cutoff = CUTOFF * self.best_times[step.name] if cutoffs and step.name in self.best_times else math.inf
            out[step.name] = self.runner.time(self.runs_of[pair][step.name], cutoff)
        self.result.timings += 1
        return out

    def measure(self, pair: Pair, lowered: Lowered | None = None) -> dict[str, float] | None:
        """The candidate's times per step, or None when it does not lower, build, fit or compute what the seed does."""
        if pair in self.timed:
            return self.timed[pair]
        self.timed[pair] = None
        runner, steps, uploads, target = self.runner, self.steps, self.uploads, self.target
        try:
            lowered = lowered or self.bench.lower(*pair)
            if lowered.workgroup_memory_bytes > target.max_workgroup_memory:
                raise RustyError(f"{lowered.workgroup_memory_bytes} bytes of workgroup memory > {target.max_workgroup_memory}")
            pipelines = runner.build(lowered)
            self.runs_of[pair] = {step.name: [runner.dispatches(lowered, pipelines, values, args) for values in uploads[step.name]]
                                  for step, args in steps}  # fmt: skip
            for step, args in steps:  # outputs poisoned, so what is read back is this candidate's
                runner.poison(uploads[step.name][0], args, self.results_at)
            times = self.time_runs(pair)
            for step, args in steps:
                got = runner.read(uploads[step.name][0], args, self.results_at)
                if step.name not in self.reference:
                    self.reference[step.name] = got
                else:
                    check_outputs(got, self.reference[step.name], step.name, loose=_loose(self.config(pair), self.config(self.seed)))
        except RustyError as err:
            self.result.rejected[describe(pair[self.which])] = str(err).splitlines()[0]
            return None
        self.result.tried.append(pair)
        self.timed[pair] = times
        return times

    def run(self, first: Lowered | None) -> Pair | None:
        """The seed measured (``first``: its lowering, when already made), then the search and the recheck."""
        seed, result = self.seed, self.result
        baseline = self.measure(seed, first)
        if baseline is None:
            result.note = f"the heuristic's configs do not run: {result.rejected.get(describe(seed[self.which]))}"
            return None
        best = self.search(baseline)
        return self.recheck(best, baseline)

    def search(self, baseline: dict[str, float]) -> Pair:
        """Along each axis in turn, from the best so far: a candidate whose times, relative to the seed's, sum to
        ``MIN_GAIN`` below the best's replaces it."""

        def score(times: dict[str, float]) -> float:
            return sum(t / baseline[k] if baseline[k] > 0 else 1.0 for k, t in times.items())

        best = self.seed
        self.best_times.update(baseline)
        for axis in search_axes(self.config(self.seed), self.target, contraction_weights(region_ops(self.bench.region))):
            for config in axis(self.config(best))[1:]:
                times = self.measure(self.with_(config))
                if times is not None and score(times) < score(self.best_times) * (1 - MIN_GAIN):
                    best = self.with_(config)
                    self.best_times.clear()
                    self.best_times.update(times)
        return best

    def recheck(self, best: Pair, baseline: dict[str, float]) -> Pair:
        """A winner other than the seed timed again against it, head to head, so that one noise picked is dropped;
        the winner's and the seed's times go into the result."""
        result, seed = self.result, self.seed
        best_times = self.best_times
        if best != seed:
            again_seed, again_best = self.time_runs(seed, cutoffs=False), self.time_runs(best, cutoffs=False)
            relative = sum(again_best[k] / again_seed[k] if again_seed[k] > 0 else 1.0 for k in again_seed) / len(again_seed)
            baseline = again_seed
            if relative > 1 - MIN_GAIN:
                best, best_times = seed, again_seed
                result.note = "the best candidate did not beat the heuristic when timed again"
            else:
                best_times = again_best
        result.seconds.update(best_times)
        result.default_seconds.update(baseline)
        return best


def _loose(config: LoweringConfigAttr, seed: LoweringConfigAttr) -> bool:
    """Whether a candidate computes with other rounding than the heuristic's (int8 activations, f16 tiles)."""
    return config.config.math != seed.config.math


OUTPUT_TOLERANCE = 1e-3
"""A candidate's outputs may differ from the heuristic config's by this much, relative to the largest of them."""


LOOSE_TOLERANCE = 2e-2
"""The same for a candidate with other arithmetic than the heuristic's (``math``: int8 activations, f16 tiles)."""


def check_outputs(got: Sequence[np.ndarray], want: Sequence[np.ndarray], step: str, loose: bool = False) -> None:
    """RustyError unless a candidate's outputs match the heuristic config's (summation order may differ; ``loose``:
    its arithmetic rounds differently)."""
    tol = LOOSE_TOLERANCE if loose else OUTPUT_TOLERANCE
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        if not np.issubdtype(w.dtype, np.floating):
            if not np.array_equal(g, w):
                raise RustyError(f"wrong results: {step} output #{k} differs from the heuristic config's")
            continue
        finite = np.isfinite(w)
        scale = float(np.abs(w[finite]).max()) if finite.any() else 0.0
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        if not np.allclose(g64, w64, rtol=tol, atol=tol * max(scale, 1e-30), equal_nan=True):
            diff = np.abs(g64 - w64)[finite]
            err = float(diff.max()) / max(scale, 1e-30) if diff.size and np.isfinite(diff).all() else math.inf
            raise RustyError(f"wrong results: {step} output #{k} differs from the heuristic config's (max rel err {err:.3g})")


_DEVICE: dict[str, Any] = {}
"""The process's measuring device (``device``, or None) and why there is none (``reason``)."""


def measuring_device() -> tuple[Device | None, str]:
    """The process's wgpu device for tuning (created once), or None and the reason there is none."""
    if "device" not in _DEVICE:
        try:
            from rusty_ir.backends.runtime import Device  # here: wgpu loads only when a compile measures

            _DEVICE["device"], _DEVICE["reason"] = Device(), ""
        except Exception as err:  # no driver, no adapter: tuning falls back to the heuristic
            _DEVICE["device"], _DEVICE["reason"] = None, f"{type(err).__name__}: {err}".splitlines()[0]
    return _DEVICE["device"], _DEVICE["reason"]


def stderr_log(message: str) -> None:
    print(f"tuning: {message}", file=sys.stderr, flush=True)


def tune_for_compile(module: ModuleOp, prefill_length: int, cache_root: Path, log: Callable[[str], None] = stderr_log) -> Path | None:
    """The driver's step before 'tuned': measure the module's regions on this machine's adapter into its cache
    file; that file (for ``tune-workgroups{configs=...}``), or None without an adapter (the heuristic then)."""
    device, reason = measuring_device()
    if device is None:
        log(f"no wgpu adapter to measure on ({reason}): using the {module_target(module).name} heuristic")
        return None
    path = cache_path(cache_root, device.identity)
    tuner = Tuner(device, TuningCache(path, warn=log), prefill_length=prefill_length, log=log)
    start = time.perf_counter()
    results = tuner.tune_module(module)
    distinct = {id(r): r for r in results}.values()
    counts = {s: sum(r.source == s for r in distinct) for s in ("measured", "cache", "heuristic")}
    log(f"{len(results)} regions, {len(distinct)} distinct, on {device.identity}: {counts['measured']} measured "
        f"({tuner.measurements} timings, {time.perf_counter() - start:.1f} s), {counts['cache']} from the cache, "
        f"{counts['heuristic']} heuristic")  # fmt: skip
    return path


__all__ = [
    "CACHE_FORMAT", "CUTOFF", "FUNCTION", "LOWERING", "MAX_COPIES", "MIN_GAIN", "ROTATE_BYTES", "THREADS", "TUNER_VERSION",
    "Axis", "BufferArg", "DeviceRunner", "HostScalars", "Lowered", "Pair", "RegionBenchmark", "RegionResult", "StepArgs",
    "TimedStep", "Tuner", "TuningCache", "UnknownHostValue", "cache_path", "check_outputs", "describe", "measuring_device",
    "outline", "random_array", "representative_steps", "search_axes", "stderr_log", "tune_for_compile",
]  # fmt: skip
