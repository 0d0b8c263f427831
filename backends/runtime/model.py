"""The model runtime: runs a host schedule's ``prefill`` and ``decode`` entries on a wgpu device. No xDSL.

    rt = ModelRuntime(schedule_json, wgsl_source, weight_store, context_length=512)
    token = rt.prefill(np.array(prompt_ids, np.int32), 0)
    token = rt.decode(token, len(prompt_ids))

At load (once):

1. Each entry is expanded symbolically: the host steps are interpreted with the step symbols ``S`` (tokens in the
   step: the length of the entry's token buffer) and ``pos`` (position of its first token); loops and calls are
   unrolled, weight names resolved per layer, so an entry becomes one flat list of launches whose grids and scalar
   arguments are expressions of ``S`` and ``pos``. Loop bounds, layer indices and ``memref.dim`` indices must come
   out as constants. An ``if`` whose condition is a constant (decode: ``S = 1``) keeps one branch; otherwise both
   branches' launches are kept with a guard expression, and each step runs those whose guard holds.
2. Pipelines are built for the kernels used; every weight the expansions bind is uploaded once straight from its
   (memory-mapped) bytes (with layer streaming, below, the layers' weights get slots instead); the KV caches are
   made (``kv_cache.py``: paged pools that grow with the sequence, or K and V buffers of ``context_length`` rows
   per layer); each slot gets one buffer as large as its largest alloc, evaluated at the largest step: ``S =
   max_prefill`` (default: the context length, at most ``DEFAULT_MAX_PREFILL``) for prefill and ``S = 1`` for
   decode, each at ``pos = 0`` and at the last position that fits (sizes are assumed monotone in ``S`` and
   ``pos``); an alloc under a guard is sized only at the points where its guard holds.
3. Scalar arguments are deduplicated: each distinct tuple of expressions gets its own slice of one uniform buffer
   per entry. Bind groups are built once.

Per step: evaluate the entry's few distinct expressions, write the token(s) and the uniform buffer, encode every
dispatch into one command encoder and compute pass, copy the 4-byte token id from ``out`` into a mappable buffer,
submit once, map and read it. A step the host waits for (not ``decode_stream``'s, whose encoding overlaps the step
before) is submitted in command buffers of ``plan.chunk_size`` dispatches (16, 32, 64, ...), so that the GPU
starts while the rest is encoded, or from the commands recorded while the step before ran (``expect``,
``ahead.py``: where no grid moves with the position, one command buffer finished ahead; the scalars of each plan's
first named step are written while the step before runs, so the one that comes may find them in place). A prompt longer
than ``max_prefill`` is run as several prefill steps of at most ``max_prefill`` tokens.

Layer streaming (``resident_layers=N``, for models larger than device memory): ``streaming.py``'s docstring.
Entries' signatures are checked at expansion (``expand._entry_io``; docs/compiler.md).

This module holds ``ModelRuntime`` and the per-step path; the load steps are their own modules: ``expand.py``
(step 1), ``upload.py`` (weights, step 2), ``buffers.py`` (slots and inputs/outputs, step 2), ``streaming.py``
(layer streaming's slots), ``plan.py`` (step 3), and ``profiling.py`` (``profile_step``'s timestamp queries).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import wgpu

from rusty_ir.backends.runtime.ahead import Ahead
from rusty_ir.backends.runtime.buffers import create_activation_buffers, row_logits_buffer
from rusty_ir.backends.runtime.device import Device, Kernel, MappedReader
from rusty_ir.backends.runtime.expand import ENTRIES, LOGITS_ENTRY, VERIFY_ENTRY, VERIFY_SAMPLE_ENTRY, BufferKey, expand
from rusty_ir.backends.runtime.offload import OffloadedKvCaches, device_budget, layer_switches, make_caches, memory_figures, memory_report
from rusty_ir.backends.runtime.plan import Values, _Plan, active, encode, make_plan, write_params
from rusty_ir.backends.runtime.profiling import QUERIES_PER_SET, timed_dispatches
from rusty_ir.backends.runtime.schedule import FEW_TOKEN_STEPS, Schedule, load_schedule
from rusty_ir.backends.runtime.streaming import STREAM_AHEAD, _Stream, make_stream, slot_of_layer
from rusty_ir.backends.runtime.upload import release_mapped_pages, upload_weights
from rusty_ir.errors import RustyError
from rusty_ir.sampling import SAMPLE_ENTRIES, SAMPLING_WORDS
from rusty_ir.weights import TensorView

MAX_VERIFY_TOKENS = 33
"""Tokens of a ``verify`` step at most (the last accepted token and up to 32 drafted ones): its activation slots
(every row's logits) are sized for this many rows, not for a prefill step's."""
DEFAULT_MAX_PREFILL = 512
"""Tokens per prefill step unless given: activation buffers are sized for the largest step, so this bounds them
(a 4096-token context would otherwise size every slot for a 4096-token step)."""

_Copy = tuple[wgpu.GPUBuffer, wgpu.GPUBuffer, int]
"""A copy a step makes after its dispatches: (source, destination, bytes from offset 0)."""


class ModelRuntime:
    """A compiled model on one wgpu device: the ``Backend`` protocol of ``rusty_ir.generate``."""

    name = "wgpu"

    def __init__(self, schedule: Schedule | str | bytes | Mapping[str, Any], wgsl_source: str, weights: Mapping[str, TensorView],
                 context_length: int, device: Device | None = None, *, max_prefill: int | None = None, resident_layers: int | None = None,
                 on_upload: Callable[[int], None] | None = None, kv_device_budget: int | None = None) -> None:  # fmt: skip
        """``resident_layers=N`` streams the layers' weights: only N layers' weights are on the device
        (N slots: the first N - 2 layers keep theirs, the others take turns in the last two), each
        streamed layer's written to its slot from the (memory-mapped) weights just before it runs,
        while the GPU runs the layer before; every other weight (embedding, output, final norm) stays
        resident. For models larger than device memory: every step uploads the layers beyond the first N - 2, so
        it is slower. None, or N at least the number of layers, keeps every layer resident. ``on_upload(nbytes)`` is told of each
        weight uploaded at load (for a progress bar). ``kv_device_budget`` (bytes; default ``offload.default_budget``:
        half the adapter's memory less the weights where it is known, else no limit): a KV cache that needs more for
        the context keeps its oldest blocks in host memory (``offload.py``); without a ``max_prefill``, prefill steps
        are then made small enough for their blocks to stay on the device within the budget."""
        start = time.perf_counter()
        self.schedule = load_schedule(schedule)
        self._expand_entries(context_length, max_prefill)
        self._upload(device, wgsl_source, weights, resident_layers, on_upload)
        self._make_caches(kv_device_budget, prefill_fixed=max_prefill is not None)
        slot_bytes, io_bytes, self._unshared_slot_bytes = create_activation_buffers(self.device, self._expansions.values(),
                                                                                    self._points, self._buffers)  # fmt: skip
        self._bytes["slots"] += slot_bytes
        self._bytes["io"] += io_bytes
        self._plans = self._make_plans()
        self._ahead = Ahead(self.device.device)
        self._reader.spin = self.device.info.get("adapter_type") != "CPU"
        self._token = np.zeros(1, np.int32)
        self._logits_staging: wgpu.GPUBuffer | None = None  # verify_logits' mappable buffer, made at its first call
        self.load_seconds = time.perf_counter() - start
        self.last_step_seconds: tuple[float, float, float] = (0.0, 0.0, 0.0)
        """(prepare, encode, submit + wait + read) of the last step."""

    # -- the Backend protocol ------------------------------------------------------

    def prefill(self, tokens: np.ndarray, pos: int) -> int:
        """Run ``tokens`` at positions ``pos ..`` (in chunks of ``max_prefill``); the greedy next token."""
        ids = np.ascontiguousarray(tokens, dtype=np.int32).reshape(-1)
        n = ids.size
        if n == 0:
            raise RustyError("prefill needs at least one token")
        if not self.offloading:
            self._reserve(n, pos)
        token = 0
        for start in range(0, n, self.max_prefill):
            chunk = ids[start : start + self.max_prefill]
            if self.offloading:  # a step's blocks must be on the device: one step's at a time
                self._reserve(chunk.size, pos + start)
            token = self._step(self._plans["prefill"], chunk, chunk.size, pos + start)
        return token

    def decode(self, token: int, pos: int) -> int:
        """Run one token at position ``pos``; the greedy next token."""
        self._reserve(1, pos)
        self._token[0] = token
        return self._step(self._plans["decode"], self._token, 1, pos)

    def prefill_logits(self, tokens: np.ndarray, pos: int = 0) -> np.ndarray:
        """The last row's logits after ``tokens`` (one step of at most ``max_prefill`` tokens)."""
        plan, _ = self._run_entry(LOGITS_ENTRY, "logits_entry", self.max_prefill, tokens, pos)
        return np.frombuffer(plan.result, np.float32).copy()

    def verify_logits(self, tokens: np.ndarray, pos: int) -> np.ndarray:
        """``verify``, returning every row's logits (float32, ``[len(tokens), vocab]``; numerics checks): the ``[S, vocab]``
        buffer its last kernel reads (``buffers.row_logits_buffer``), copied to a mappable one in the same command buffer."""
        if self._logits_at is None:
            raise RustyError("this schedule has no 'verify' entry whose logits can be read back (compile with verify_entry=True)")
        key, vocab = self._logits_at
        n = np.size(tokens)
        if self._logits_staging is None:
            self._logits_staging = self.device.device.create_buffer(
                size=4 * vocab * self.max_verify, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST, label="verify.logits"
            )
        staging, nbytes = self._logits_staging, 4 * vocab * max(n, 1)
        self._run_entry(VERIFY_ENTRY, "verify_entry", self.max_verify, tokens, pos, copies=((self._buffers[key], staging, nbytes),))
        return np.frombuffer(self._reader.read(staging, nbytes), np.float32).reshape(n, vocab)

    def verify(self, tokens: np.ndarray, pos: int) -> np.ndarray:
        """Run ``tokens`` (one step: at most ``max_verify``) at positions ``pos ..``, as a prefill step does (their
        KV-cache rows written); the greedy next token after each of them (int32, one per token): the
        verification step of speculative decoding. Only the token ids are read back."""
        plan, _ = self._run_entry(VERIFY_ENTRY, "verify_entry", self.max_verify, tokens, pos)
        return np.frombuffer(plan.result, np.int32)[: np.size(tokens)].copy()

    def verify_sample(self, tokens: np.ndarray, pos: int, words: np.ndarray) -> np.ndarray:
        """``verify`` with a token drawn after row ``i`` under ``words[i]`` (``[len(tokens), SAMPLING_WORDS]`` packed
        words, ``rusty_ir.sampling.pack``) by the GPU's sampling kernel: sampled speculation's verification step."""
        n, rows = np.size(tokens), np.ascontiguousarray(words, np.int32)
        if rows.shape != (n, SAMPLING_WORDS):
            raise RustyError(f"verify_sample takes {SAMPLING_WORDS} sampling words a token: {n} tokens, words {rows.shape}")
        plan, _ = self._run_entry(VERIFY_SAMPLE_ENTRY, "verify_entry=True and sampling_entries", self.max_verify, tokens, pos, rows)
        return np.frombuffer(plan.result, np.int32)[:n].copy()

    def _run_entry(self, entry: str, option: str, most: int, tokens: np.ndarray, pos: int,
                   words: np.ndarray | None = None, copies: Sequence[_Copy] = ()) -> tuple[_Plan, int]:  # fmt: skip
        """One step of the optional ``entry`` (compiled with ``option``) over at most ``most`` tokens, the packed
        sampling ``words`` written first for a sampling entry, ``copies`` made after its dispatches: its plan, and
        the token the step read back."""
        if entry not in self._plans:
            raise RustyError(f"this schedule has no '{entry}' entry (compile with {option}=True)")
        ids = np.ascontiguousarray(tokens, dtype=np.int32).reshape(-1)
        if not 1 <= ids.size <= most:
            raise RustyError(f"{entry} takes 1..{most} tokens, got {ids.size}")
        self._reserve(ids.size, pos)
        plan = self._plans[entry]  # new bind groups if the cache grew
        if words is not None:
            self._queue.write_buffer(plan.sampling, 0, np.ascontiguousarray(words, np.int32))
        return plan, self._step(plan, ids, ids.size, pos, copies)

    def truncate(self, length: int) -> None:
        """Keep the KV-cache rows of positions ``0 .. length - 1`` only: a paged cache's blocks past them go back
        to its pool through the block table (nothing is copied or cleared). Speculative decoding calls it after a
        verification step whose rejected tokens wrote rows past the accepted ones."""
        self._caches.truncate(length)

    def prefill_sample(self, tokens: np.ndarray, pos: int, words: np.ndarray) -> int:
        """``tokens`` (one step: at most ``max_prefill``) at positions ``pos ..``; the next token drawn under
        the packed sampling ``words`` (``rusty_ir.sampling.pack``). A longer prompt's earlier steps are ``prefill``'s."""
        return self._run_entry("prefill_sample", "sampling_entries", self.max_prefill, tokens, pos, words)[1]

    def decode_sample(self, token: int, pos: int, words: np.ndarray) -> int:
        """One token at position ``pos``; the next token drawn under the packed sampling ``words``."""
        self._reserve(1, pos)
        plan = self._sample_plan("decode_sample", words)
        self._token[0] = token
        return self._step(plan, self._token, 1, pos)

    def _sample_plan(self, entry: str, words: np.ndarray | None = None) -> _Plan:
        """A sampling entry's plan (after ``_reserve``, which may rebuild the plans), its words written."""
        plan = self._plans.get(entry)
        if plan is None:
            raise RustyError(f"this schedule has no '{entry}' entry (compile with sampling_entries=True)")
        if words is not None:
            self._queue.write_buffer(plan.sampling, 0, np.ascontiguousarray(words, np.int32))
        return plan

    def reset(self) -> None:
        """Start a new sequence: a paged cache's blocks go back to its pool. Nothing is cleared: a step
        writes the cache rows of positions ``pos .. pos+S-1`` before it reads them, and never reads
        rows past them (causal kernels)."""
        self._caches.reset()

    def weight_bindings(self, entry: str) -> dict[str, int]:
        """For one step of ``entry``: each weight it binds (by resolved name) and how many dispatches bind it."""
        x = expand(self.schedule, self.context_length, entry)
        counts: dict[str, int] = dict.fromkeys(x.weights, 0)
        for launch in x.launches:
            for name in {str(b.key[1]) for b in launch.buffers if b.key[0] == "weight"}:
                counts[name] += 1
        return counts

    def dispatches_per_step(self, entry: str, tokens: int | None = None) -> int:
        """Dispatches of one ``entry`` step of ``tokens`` tokens (default: the most it takes)."""
        plan = self._plans[entry]
        return len(active(plan, self._values(plan, tokens or plan.max_tokens, 0)))

    def kv_memory_report(self) -> dict[str, int | None]:
        """The KV cache's memory now: ``device_bytes`` (pools, tables), ``host_bytes`` (offloaded blocks' buffers),
        ``device_budget`` (None: no limit), ``positions_on_host`` and ``host_bytes_per_step`` (copied to the device
        by the next step)."""
        return memory_report(self._caches, self.kv_device_budget)

    def memory_figures(self) -> dict[str, Any]:
        """The memory of a long context, as ``rusty run --json``'s ``memory`` reports it: per use (``weights``,
        ``kv_cache``, ``activations``: the slots, step buffers and params, sized at load for a ``max_prefill``-token
        step) its ``device_bytes`` and ``host_bytes`` now, with the KV cache's budget and offload figures
        (``kv_memory_report``), and ``device_total_bytes``. Paged pools only grow within a sequence, so after a
        generation these are its peaks."""
        return memory_figures(self.kv_memory_report(), self._bytes, self.max_prefill)

    def memory_report(self) -> dict[str, int]:
        """Bytes of device memory by use now: weights, kv_cache (paged pools grow), slots, io, params, and total."""
        used = {**self._bytes, "kv_cache": self._caches.nbytes}
        return {**used, "total": sum(used.values())}

    def kv_cache_report(self) -> dict[str, dict[str, int]]:
        """Per paged KV cache: block size and blocks used by the sequence, allocated, and needed for the context."""
        return self._caches.report()

    def memory_planning_report(self) -> dict[str, int]:
        """What plan-memory's buffer sharing saves: the activation slots' bytes, against one buffer
        per allocated value (every alloc of the largest entry's expansion, layers unrolled)."""
        return {"slots": self._bytes["slots"], "one_buffer_per_value": self._unshared_slot_bytes}

    # -- profiling (not on the per-step path) ------------------------------------------

    QUERIES_PER_SET = QUERIES_PER_SET
    """wgpu's limit on the queries of one query set (``profiling.py``)."""

    def profile_step(self, entry: str, tokens: np.ndarray, pos: int) -> list[tuple[str, float]] | None:
        """GPU seconds of every dispatch of one ``entry`` step, in order: [(kernel name, seconds)].

        None when the device lacks the 'timestamp-query' feature (the device must be created with it:
        ``rusty_ir.bench.profiling_device``). Each dispatch runs in its own compute pass with timestamp writes at
        its beginning and end, so the step is slower than a normal one as a whole, but each kernel's time is its
        own. The step does what a normal step does (KV cache rows, ``out``) and takes at most the entry's step size
        of tokens (no chunking)."""
        if self._stream is not None:
            raise RustyError("profile_step runs a step as one command buffer; it does not support layer streaming (resident_layers)")
        if self.offloading:
            raise RustyError("profile_step does not support KV-cache offload (--kv-device-budget below the cache's size)")
        if "timestamp-query" not in self.device.features:
            return None
        plan = self._plans.get(entry)
        if plan is None:
            raise RustyError(f"no entry '{entry}' to profile (entries: {', '.join(self._plans)})")
        ids = np.ascontiguousarray(tokens, dtype=np.int32).reshape(-1)
        if not 1 <= ids.size <= plan.max_tokens:
            raise RustyError(f"profile_step: {entry} takes 1..{plan.max_tokens} tokens, got {ids.size}")
        self._reserve(ids.size, pos)
        plan = self._plans[entry]
        values, _ = self._write_inputs(plan, ids, ids.size, pos)
        runs = active(plan, values)
        ns = timed_dispatches(self.device, [d for _, d in runs], values)
        return [(plan.bound[i].kernel.interface.name, float(t) * 1e-9) for (i, _), t in zip(runs, ns, strict=True)]

    def _reserve(self, n: int, pos: int) -> None:
        """Refuse positions past the context; give the KV cache rows for positions up to ``pos + n``
        (rebuilding the plans' bind groups when a paged pool grew)."""
        if pos < 0 or pos + n > self.context_length:
            raise RustyError(f"{n} token{'s' if n > 1 else ''} at position {pos} exceed the context length {self.context_length}")
        if isinstance(self._caches, OffloadedKvCaches):
            self._caches.rewind(pos)
        if self._caches.reserve(pos + n):
            self._buffers.update(self._caches.buffers)
            self._plans = self._make_plans()
            self._ahead.clear()  # recorded with the old bind groups

    # -- one step: the hot path ------------------------------------------------------

    def _step(self, plan: _Plan, tokens: np.ndarray, S: int, pos: int, copies: Sequence[_Copy] = ()) -> int:
        t0 = time.perf_counter()
        t1, _ = self._submit(plan, tokens, S, pos, plan.staging, copies, chunked=True)
        t2 = time.perf_counter()
        token = self._read(plan, plan.staging, record=True)
        self.last_step_seconds = (t1 - t0, t2 - t1, time.perf_counter() - t2)
        return token

    def _submit(self, plan: _Plan, tokens: np.ndarray, S: int, pos: int, staging: wgpu.GPUBuffer,
                copies: Sequence[_Copy] = (), chunked: bool = False) -> tuple[float, int | None]:  # fmt: skip
        """Write the step's inputs, encode every dispatch into one command buffer, submit it; ``chunked`` (a step the
        host waits for): command buffers of ``plan.chunk_size`` dispatches, each submitted once encoded.
        ``copies`` (source, destination, bytes) are made after the dispatches. Returns the time the inputs were written
        (the rest is encoding) and the last submission's index (``MappedReader.submit``; None with layer streaming)."""
        if plan.groups is not None:
            return self._submit_streamed(plan, tokens, S, pos, staging, copies), None
        values, written = self._write_inputs(plan, tokens, S, pos)
        return written, self._reader.submit(self._encode(plan, values, False, staging, copies, chunked))

    def _encode(self, plan: _Plan, values: Values, gpu_token: bool, staging: wgpu.GPUBuffer, copies: Sequence[_Copy] = (),
                chunked: bool = False) -> wgpu.GPUCommandBuffer:  # fmt: skip
        """A step's commands at these values (no layer streaming), its input token copied from the last step's argmax
        where ``gpu_token``, ``copies`` and the copy of ``out`` into ``staging`` after its dispatches: the last command
        buffer. ``chunked`` submits the ones before as they are encoded; a step recorded ahead is submitted so."""
        ready = None if gpu_token else self._ahead.take(plan, values, whole=not copies and staging is plan.staging)
        if isinstance(ready, wgpu.GPUCommandBuffer):  # recorded whole and finished, the copy into staging included
            return ready
        encoder, dispatches = ready or (self.device.device.create_command_encoder(), plan.dispatches)
        if gpu_token:
            encoder.copy_buffer_to_buffer(plan.out, 0, plan.tokens, 0, 4)
        if isinstance(self._caches, OffloadedKvCaches):  # each layer's table and host blocks before its cache is used
            self._caches.encode_step(encoder, plan.dispatches, self._switches[plan.entry], lambda e, d: encode(e, d, values))
        else:
            encoder = encode(encoder, dispatches, values, self.device.device if chunked else None)
        for src, dst, nbytes in copies:
            encoder.copy_buffer_to_buffer(src, 0, dst, 0, nbytes)
        encoder.copy_buffer_to_buffer(plan.out, 0, staging, 0, staging.size)
        return encoder.finish()

    def _write_inputs(self, plan: _Plan, tokens: np.ndarray | None, S: int, pos: int) -> tuple[Values, float]:
        """Write a step's token(s) (unless None) and scalar arguments: its expression values, and when they were written."""
        values = self._values(plan, S, pos)
        if tokens is not None:
            self._queue.write_buffer(plan.tokens, 0, tokens)
        write_params(self._queue, plan, values)
        return values, time.perf_counter()

    def _submit_streamed(self, plan: _Plan, tokens: np.ndarray, S: int, pos: int, staging: wgpu.GPUBuffer,
                         copies: Sequence[_Copy] = ()) -> float:  # fmt: skip
        """``_submit`` with layer streaming: one command buffer per group of ``plan.groups``, each submitted once
        its layer's weights are written to its slot. A write issued after the previous group's submit lands after
        that group ran (the queue orders writes and submits), and the GPU runs that group meanwhile."""
        stream = self._stream
        assert stream is not None and plan.groups is not None
        values, written = self._write_inputs(plan, tokens, S, pos)
        dispatches, fences, held, last = plan.dispatches, stream.fences, stream.held, len(plan.groups) - 1
        for g, (start, end, layer) in enumerate(plan.groups):
            if layer is not None and held[stream.slot[layer]] != layer:
                if g >= STREAM_AHEAD:  # bound the writes waiting in staging memory (STREAM_AHEAD)
                    fence = fences[(g - STREAM_AHEAD) % len(fences)]
                    fence.map_sync(wgpu.MapMode.READ)
                    fence.unmap()
                for buf, data, tail, offset in stream.layers[layer]:
                    self._queue.write_buffer(buf, 0, data)
                    if tail:
                        self._queue.write_buffer(buf, offset, tail)
                held[stream.slot[layer]] = layer
            encoder = self.device.device.create_command_encoder()
            encode(encoder, dispatches[start:end], values)
            if g == last:
                for src, dst, nbytes in copies:
                    encoder.copy_buffer_to_buffer(src, 0, dst, 0, nbytes)
                encoder.copy_buffer_to_buffer(plan.out, 0, staging, 0, staging.size)
            encoder.clear_buffer(fences[g % len(fences)], 0, 4)
            self._queue.submit([encoder.finish()])
        return written

    @staticmethod
    def _values(plan: _Plan, S: int, pos: int) -> Values:
        """Every interned expression of ``plan`` at step size ``S`` and position ``pos``."""
        values = plan.table.base.copy()
        values[0] = S
        values[1] = pos
        try:
            for i, f, a, b in plan.table.code:
                values[i] = f(values[a], values[b])
        except ZeroDivisionError:
            raise RustyError(f"{plan.entry}: division by zero evaluating the schedule at S={S}, pos={pos}") from None
        return values

    def _read(self, plan: _Plan, staging: wgpu.GPUBuffer, after: int | None = None, record: bool = False) -> int:
        """Wait for the step that copied into ``staging`` (submission ``after``; None: everything submitted); its token
        (and ``plan.result``, the bytes). ``record``: nothing is queued behind it; record ``expect``'s steps meanwhile."""
        ahead = self._ahead
        for named, values in ahead.first_named() if record else ():  # queued behind the step read: the next one's
            write_params(self._queue, named, values)
        plan.result = self._reader.read(staging, staging.size, after, ahead.record if record and ahead.wanted else None)
        if record:
            ahead.promote()
        return int.from_bytes(plan.result[:4], "little", signed=True)

    def expect(self, steps: Sequence[tuple[int, int]], sampled: bool = False) -> None:
        """Name the steps likely to follow the next synchronous one, as (tokens, position): decode or verification steps
        (``sampled``: of the sampling entries), recorded while it runs for the one that comes (``ahead.py``)."""
        entries = ("decode_sample", VERIFY_SAMPLE_ENTRY) if sampled else ("decode", VERIFY_ENTRY)
        for S, pos in steps if self._reader.per_submission and self._stream is None and not self.offloading else ():
            plan = self._plans.get(entries[S > 1])
            if plan is not None and 1 <= S <= plan.max_tokens and 0 <= pos and pos + S <= self.context_length:
                self._ahead.expect(plan, self._values(plan, S, pos))

    def decode_stream(self, token: int, pos: int, count: int, sampling: Callable[[], np.ndarray] | None = None,
                      until: Callable[[int], bool] | None = None, hold: Callable[[], bool] | None = None) -> Iterator[int]:  # fmt: skip
        """Up to ``count`` greedy decode steps from ``token`` at ``pos``, yielding each next token; with
        ``sampling`` (a function giving each step's packed words, ``rusty_ir.sampling``) sampled ones.

        Step ``i + 1`` is encoded (its input token to be copied from step ``i``'s argmax on the GPU) while step ``i``
        runs, and submitted before step ``i``'s token is read, so the GPU runs on while the host reads it: the
        reader waits for step ``i``'s submission only (``MappedReader``; H200: 2.23 ms a llama3-8b token, against
        2.61 submitted after the read, BENCHMARKS.md, issue 15). While the last step runs, the steps named by
        ``expect`` are recorded. ``until`` is called with every token as it is read, before it is yielded; once it
        returns True the stream ends one token later, with the step already queued behind that one (``count`` still
        bounds it), so a caller that decides from each token whether to go on wastes no step. Closing the generator
        early leaves at most one extra step's KV row written, which the next step at that position overwrites.
        ``hold``, asked before each token but the last is read: where True, the next step waits for that token
        (submitted after the read, recorded where named), so a stream ``until`` ends there ends with it (a caller
        holds where the token might end the stream). Layer streaming or offload: one step at a time, ending alike."""
        if count <= 0:
            return
        if not self.offloading:
            self._reserve(count, pos)
        plan = self._plans["decode"] if sampling is None else self._sample_plan("decode_sample")

        def write_words() -> None:  # queued after the step running, before the next
            if sampling is not None:
                self._queue.write_buffer(plan.sampling, 0, np.ascontiguousarray(sampling(), np.int32))

        end = count  # steps 0 .. end - 1 run
        if plan.groups is not None or self.offloading:  # layer streaming, offload: one step at a time
            for i in range(count):
                if self.offloading:
                    self._reserve(1, pos + i)
                self._token[0] = token
                write_words()
                held = hold is not None and i + 1 < end and hold()
                token = self._step(plan, self._token, 1, pos + i)
                if until is not None and until(token):
                    end = min(end, i + 1 if held else i + 2)
                yield token
                if i + 1 == end:
                    return
            return
        if plan.spare_staging is None:
            plan.spare_staging = self.device.device.create_buffer(
                size=plan.staging.size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST, label="decode.out2"
            )
        stagings, reader = (plan.staging, plan.spare_staging), self._reader

        def start(first: int, at: int) -> int | None:  # a step from a token the host has: the first, or after a hold
            self._token[0] = first
            write_words()
            return self._submit(plan, self._token, 1, at, stagings[0], chunked=True)[1]  # from a recording where named

        index, at = start(token, pos), 0  # ``at``: step i's staging buffer
        for i in range(count):  # read step i's token, step i + 1 encoded first unless the stream ends at i or holds
            ahead, after = None, index
            held = hold is not None and i + 1 < end and hold()
            if i + 1 < end and not held:
                write_words()
                values, _ = self._write_inputs(plan, None, 1, pos + i + 1)
                ahead = self._encode(plan, values, True, stagings[1 - at])
                if reader.per_submission:  # queued behind step i, so the GPU goes on while its token is read
                    index, ahead = reader.submit(ahead), None
            token = self._read(plan, stagings[at], after, record=held or i + 1 == end)
            if ahead is not None:  # a read waits for the whole queue: submit after it
                index = reader.submit(ahead)
            if until is not None and until(token):
                end = min(end, i + 1 if held else i + 2)
            at = 1 - at
            if held and i + 1 < end:
                index, at = start(token, pos + i + 1), 0
            yield token
            if i + 1 == end:
                return

    # -- load time -------------------------------------------------------------------

    def _expand_entries(self, context_length: int, max_prefill: int | None) -> None:
        """Check the context and step sizes, and expand every entry of the schedule (step 1)."""
        if context_length <= 0:
            raise RustyError(f"the context length must be positive, got {context_length}")
        self.context_length = context_length
        self.max_prefill = min(context_length, DEFAULT_MAX_PREFILL) if max_prefill is None else max_prefill
        if not 1 <= self.max_prefill <= context_length:
            raise RustyError(f"max_prefill must be between 1 and the context length {context_length}, got {max_prefill}")
        optional = (LOGITS_ENTRY, *SAMPLE_ENTRIES, VERIFY_ENTRY, VERIFY_SAMPLE_ENTRY)
        entries = [*ENTRIES, *(e for e in optional if e in self.schedule.functions)]
        self._expansions = expansions = {e: expand(self.schedule, context_length, e) for e in entries}
        self.max_verify = min(context_length, MAX_VERIFY_TOKENS)
        """Tokens of one ``verify`` step at most."""
        self.fast_verify = min(self.max_verify, int(self.schedule.extra.get(FEW_TOKEN_STEPS, self.max_verify)))
        """Tokens of the largest ``verify`` step that runs the few-token kernels (the schedule's ``few_token_steps``):
        speculative decoding drafts at most one fewer, since a larger step takes the prefill's tiles (on an H200 a
        9-token Llama-3-8B step cost about as much as ten decode steps)."""
        self._steps = {"prefill": self.max_prefill, "decode": 1, LOGITS_ENTRY: self.max_prefill, "prefill_sample": self.max_prefill,
                       "decode_sample": 1, VERIFY_ENTRY: self.max_verify, VERIFY_SAMPLE_ENTRY: self.max_verify}  # fmt: skip
        self.can_verify = VERIFY_ENTRY in expansions
        """Whether the schedule has the ``verify`` entry (speculative decoding)."""
        self._logits_at = row_logits_buffer(expansions[VERIFY_ENTRY]) if self.can_verify else None
        """The buffer holding a verify step's logits (every row) and the vocabulary size: ``verify_logits``."""
        self.can_sample = all(e in expansions for e in SAMPLE_ENTRIES)
        """Whether the schedule has the sampling entries (``prefill_sample``, ``decode_sample``)."""
        self.can_verify_sample = VERIFY_SAMPLE_ENTRY in expansions
        """Whether the schedule has the ``verify_sample`` entry (sampled speculative decoding)."""

    def _upload(self, device: Device | None, wgsl_source: str, weights: Mapping[str, TensorView], resident_layers: int | None,
                on_upload: Callable[[int], None] | None) -> None:  # fmt: skip
        """Build the kernels used and upload the weights (step 2); with ``resident_layers`` below the number of
        layers, the layers' weights get streaming slots instead (``streaming.py``)."""
        if resident_layers is not None and (
            isinstance(resident_layers, bool) or not isinstance(resident_layers, int) or resident_layers < 1
        ):
            raise RustyError(f"resident_layers must be a whole number of layers, at least 1, got {resident_layers!r}")
        expansions = self._expansions
        layered = {name: tl for x in expansions.values() for name, tl in x.weight_layers.items()}
        self.num_layers = len({layer for _, layer in layered.values()})
        self.resident_layers = resident_layers if resident_layers is not None and resident_layers < self.num_layers else None
        """Layers whose weights the device holds when streaming; None when every layer is resident."""
        self._stream: _Stream | None = None
        self.device = device if device is not None else Device()
        self._queue = self.device.device.queue
        self._reader = MappedReader(self.device.device)
        shader = self.device.compile(wgsl_source, label="model")
        used = sorted({launch.kernel for x in expansions.values() for launch in x.launches})
        self._kernels: dict[str, Kernel] = {k: self.device.kernel(shader, self.schedule.kernels[k]) for k in used}
        self._buffers: dict[BufferKey, wgpu.GPUBuffer] = {}
        self._bytes = {"weights": 0, "slots": 0, "io": 0, "params": 0}
        streamed = layered if self.resident_layers else {}
        uploaded, views = upload_weights(self.device, weights, expansions.values(), self._kernels, streamed, self._buffers, on_upload)
        self._bytes["weights"] += uploaded
        if streamed:
            assert self.resident_layers is not None
            self._stream, slot_bytes = make_stream(self.device, streamed, views, self.resident_layers, self._buffers)
            self._bytes["weights"] += slot_bytes

    def _make_caches(self, kv_device_budget: int | None, *, prefill_fixed: bool) -> None:
        """The KV caches, on the device or offloading past the budget (``offload.make_caches``, which may make
        prefill steps smaller unless ``prefill_fixed``)."""
        self.kv_device_budget = device_budget(self.device, kv_device_budget, self._bytes["weights"])
        """The KV cache's device budget in bytes (None: no limit)."""
        self._caches, self.max_prefill = make_caches(
            self.device,
            self.schedule.kv_caches,
            self.context_length,
            self.kv_device_budget,
            self.max_prefill,
            prefill_fixed=prefill_fixed,
            max_verify=self.max_verify if self.can_verify else 1,
            streaming=self._stream is not None,
        )
        self._steps.update({e: self.max_prefill for e in ("prefill", LOGITS_ENTRY, "prefill_sample")})
        self.offloading = isinstance(self._caches, OffloadedKvCaches)
        """Whether the KV cache's oldest blocks go to host memory (it needs more than ``kv_device_budget``)."""
        self._switches = {e: layer_switches([[b.key for b in launch.buffers] for launch in x.launches])
                          for e, x in self._expansions.items()} if self.offloading else {}  # fmt: skip
        self._buffers.update(self._caches.buffers)

    def _points(self, entry: str) -> list[tuple[int, int]]:
        """(S, pos) pairs buffer sizes and grids are checked at (``_Expansion.points``)."""
        return self._expansions[entry].points(self._steps[entry], self.context_length)

    def _make_plans(self) -> dict[str, _Plan]:
        """Every entry's plan (its bind groups hold the current buffers)."""
        self._bytes["params"] = 0
        plans = {}
        for e, x in self._expansions.items():
            plans[e], params_bytes = make_plan(x, self.device, self._kernels, self._buffers, self._stream, self._points(e), self._steps[e])
            self._bytes["params"] += params_bytes
        return plans


__all__ = [
    "DEFAULT_MAX_PREFILL",
    "ENTRIES",
    "LOGITS_ENTRY",
    "MAX_VERIFY_TOKENS",
    "STREAM_AHEAD",
    "VERIFY_ENTRY",
    "VERIFY_SAMPLE_ENTRY",
    "ModelRuntime",
    "release_mapped_pages",
    "slot_of_layer",
]
