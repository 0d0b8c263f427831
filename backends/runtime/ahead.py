"""Steps recorded ahead (``ModelRuntime.expect``): while the host waits for a synchronous step, it records the
commands of the steps likely to come next, so that the one that does come starts on the GPU without waiting for
its encoding.

A synchronous step (speculative decoding's verification step; the decode step that starts a stream after one)
cannot be encoded before the step it follows is read back: its tokens, position and size come from that step.
Encoding it then makes the GPU wait: on an H100 a synchronous Llama-3-8B decode step took 3.10 ms against 2.62 ms
a token in a decode stream, whose steps are encoded while the step before runs. Recorded ahead, synchronous steps
of 1-6 tokens took 0.09-0.15 ms less, and prompt lookup's replay of the recorded input-heavy answers ran 0.7-1.8%
faster, same process (BENCHMARKS.md, issue 15).

``expect`` names steps as (plan, values at their S and pos). During the next synchronous step's wait
(``MappedReader.read``'s ``meanwhile``), they are recorded ``SLICE`` dispatches at a time, in turn, between
non-blocking polls, so that the wait ends at most one slice after the result comes (or one ``finish``, below).
The plans are built once and the step's inputs and scalars are written before it is submitted, so a recording
stays right for any step of its signature (its grids and guards, ``signature``).

Where a plan is ``position_free`` (no grid or guard depends on the position: split-KV attention launches a fixed
number of partitions), a recording fits every step of its size, so it is kept until such a step comes, and once
recorded whole it is finished into one command buffer with the read-back's copy: that step is one submission
the GPU starts at once. On an H100 a Llama-3-8B decode step so submitted ran 2.63 ms of GPU time, against 2.60 in a
decode stream and 2.91 recorded in unfinished encoders of 32 dispatches (finished after the wait,
3.4 µs a dispatch) and 2.79 as seven command buffers finished ahead (BENCHMARKS.md, issue 15). Unfinished
recordings are kept too. Other plans' recordings (a sliding window's partitions move with the position) are
encoders of ``plan.chunk_size`` dispatches left unfinished and dropped after the next step: wgpu 0.32 frees an
unfinished encoder that is dropped, but not a finished command buffer that is never submitted (on llvmpipe, 300
unsubmitted SmolLM2 decode steps grew the process by 95 MB finished and by nothing unfinished). A kept finished
buffer is only dropped when the plans are rebuilt (the KV cache doubled), a few in a generation.

The runtime also writes the scalar arguments of each plan's first named step (``first_named``) before the wait,
queued behind the step it waits for (``plan.write_params`` skips a write of what the buffer holds): one
``queue.write_buffer`` less between the read and the next submission when that step comes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import wgpu

from rusty_ir.backends.runtime.device import PassEncoder
from rusty_ir.backends.runtime.plan import Dispatch, Values, _Plan, active, chunk_size

_Rest = tuple[wgpu.GPUCommandEncoder, list[Dispatch]]
"""A recording cut short: its last encoder (pass ended) and the dispatches still to encode."""

SLICE = 4
"""Dispatches recorded between two polls of the step being waited for: a few tens of µs at the 5-10 µs a dispatch
that the GPU machines' hosts take to encode (BENCHMARKS.md), so the result is read that much late at most."""


def signature(plan: _Plan, values: Values) -> tuple[Any, ...]:
    """What a step's commands depend on at these values: its grids and guards (``plan.shape``'s value indices)."""
    return tuple(values[i] for i in plan.shape)


@dataclass
class _Recording:
    """One expected step's commands, recorded so far."""

    plan: _Plan
    signature: tuple[Any, ...]
    values: Values
    active: list[Dispatch] | None = None
    """The dispatches whose guards hold at ``values``, in order: found when the recording starts, in the wait
    (``expect`` runs between a step's read and the next step's submission)."""
    encoders: list[wgpu.GPUCommandEncoder] = field(default_factory=list)
    compute: PassEncoder | None = None
    """The open compute pass of the last encoder."""
    count: int = 0
    """Dispatches in the last encoder."""
    done: int = 0
    """Dispatches recorded (``active[:done]``)."""
    finished: wgpu.GPUCommandBuffer | None = None
    """A kept recording recorded whole: its one command buffer, the copy of ``out`` into ``staging`` last."""

    @property
    def whole(self) -> bool:
        """Whether every dispatch is recorded."""
        return self.active is not None and self.done == len(self.active)

    @property
    def kept(self) -> bool:
        """Whether the recording is kept for any step of its size (one encoder, finished once whole)."""
        return self.plan.position_free

    def record(self, device: wgpu.GPUDevice, n: int) -> None:
        """Record the next ``n`` dispatches (fewer at the end), unless kept in encoders of ``chunk_size`` dispatches
        (as ``plan.encode`` submits a step encoded after the wait); a kept recording recorded whole is finished."""
        if self.active is None:
            self.active = [d for _, d in active(self.plan, self.values)]
        last = None if self.done == 0 else self.active[self.done - 1][0]
        for pipeline, group, gx, gy, gz, _ in self.active[self.done : self.done + n]:
            if self.compute is None or (not self.kept and self.count == chunk_size(len(self.encoders) - 1)):
                if self.compute is not None:
                    self.compute.end()
                encoder = device.create_command_encoder()
                self.encoders.append(encoder)
                self.compute, self.count, last = PassEncoder(encoder.begin_compute_pass()), 0, None
            values = self.values
            self.compute.dispatch(pipeline, group, values[gx], values[gy], values[gz], pipeline is last)
            last, self.count, self.done = pipeline, self.count + 1, self.done + 1
        if self.kept and self.whole and self.compute is not None:
            self.compute.end()
            (encoder,) = self.encoders
            staging = self.plan.staging
            encoder.copy_buffer_to_buffer(self.plan.out, 0, staging, 0, staging.size)
            self.finished, self.encoders, self.compute = encoder.finish(), [], None


class Ahead:
    """The steps named by ``ModelRuntime.expect`` (``wanted``, recorded during the next wait), those recorded for the
    next step (``ready``) and the kept ones (``kept``, by plan and signature); how many steps were submitted from a
    recording (``used``)."""

    def __init__(self, device: wgpu.GPUDevice) -> None:
        self.device = device
        self.wanted: list[_Recording] = []
        self.ready: list[_Recording] = []
        self.kept: dict[tuple[str, tuple[Any, ...]], _Recording] = {}
        self.named: list[tuple[_Plan, Values]] = []
        """The steps named for the next wait, at their own values (a kept recording's may be another position's)."""
        self._turn = 0
        self.used = 0
        """Steps submitted from a recording (a count for benchmarks)."""

    def expect(self, plan: _Plan, values: Values) -> None:
        """Name a step of ``plan`` at these values to record during the next wait (none twice)."""
        self.named.append((plan, values))
        key = signature(plan, values)
        if any(r.plan is plan and r.signature == key for r in self.wanted):
            return
        recording = self.kept.get((plan.entry, key))
        if recording is None:
            recording = _Recording(plan, key, values)
            if recording.kept:
                self.kept[plan.entry, key] = recording
        self.wanted.append(recording)

    def first_named(self) -> list[tuple[_Plan, Values]]:
        """Each plan's first named step (plan, values): the step whose scalar arguments can be written while the one
        before runs, in case it comes."""
        first: dict[int, tuple[_Plan, Values]] = {}
        for plan, values in self.named:
            first.setdefault(id(plan), (plan, values))
        return list(first.values())

    def record(self) -> bool:
        """Record ``SLICE`` more dispatches of the next wanted step not recorded whole (in turn, the first named
        first); whether any is left to record."""
        left = [r for r in self.wanted if not r.whole]
        if not left:
            return False
        left[self._turn % len(left)].record(self.device, SLICE)
        self._turn += 1
        return True

    def promote(self) -> None:
        """After the wait: the wanted steps are ready for the next step (the ready ones before them dropped)."""
        self.ready, self.wanted, self.named, self._turn = self.wanted, [], [], 0

    def take(self, plan: _Plan, values: Values, whole: bool) -> wgpu.GPUCommandBuffer | _Rest | None:
        """For a step of ``plan`` at these values: a kept recording's finished command buffer where the step copies
        ``out`` into ``plan.staging`` and nothing else (``whole``); else submit the recorded commands of a step of
        its signature but the last encoder's, and return that encoder (its pass ended) and the dispatches still to
        encode; None when no step matches. Every ready step not kept is dropped."""
        if not self.ready and not self.kept:  # the usual case outside speculative decoding: nothing to compare
            return None
        ready, self.ready = self.ready, []
        key = signature(plan, values)
        if not plan.position_free:
            match = next((r for r in ready if r.plan is plan and r.signature == key and r.encoders), None)
            if match is None:
                return None
        else:  # a position-free plan's recordings are all kept
            match = self.kept.get((plan.entry, key))
            if match is None or not (match.encoders or match.finished) or (match.finished and not whole):
                return None
            del self.kept[plan.entry, key]
            if match in self.wanted:  # named for the next step too: recorded anew
                again = self.wanted[self.wanted.index(match)] = _Recording(plan, key, match.values, match.active)
                self.kept[plan.entry, key] = again
        self.used += 1
        if match.finished is not None:
            return match.finished
        assert match.compute is not None and match.active is not None
        match.compute.end()
        queue = self.device.queue
        for encoder in match.encoders[:-1]:
            queue.submit([encoder.finish()])
        return match.encoders[-1], match.active[match.done :]

    def clear(self) -> None:
        """Drop every recording (the plans were rebuilt: recordings bind the old plans' bind groups)."""
        self.wanted, self.ready, self.kept, self.named = [], [], {}, []
