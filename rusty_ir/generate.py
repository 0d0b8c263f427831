"""Generation over any backend that runs a model's entries: greedy or sampled, stop strings, a kept KV cache.

A backend is anything with the ``Backend`` protocol: ``prefill(tokens, pos)`` and
``decode(token, pos)`` return the next token id (argmax on the device), ``reset()``
starts a new sequence, ``context_length`` is the number of KV-cache positions it
holds and ``name`` says what it is. A backend that can sample also has
``prefill_sample(tokens, pos, words)`` and ``decode_sample(token, pos, words)``
(``words``: ``rusty_ir.sampling.pack``). ``ReferenceBackend`` runs the transformer-level
IR on the numpy reference interpreter; the wgpu runtime implements the same protocol.

A ``Session`` owns one backend's KV cache across calls: a prompt that starts with tokens
the cache already holds (the conversation so far, or a prefix shared with the previous
request) prefills only the rest. ``generate`` is one call on a fresh session, the loop
the ``rusty run`` CLI uses::

    model = load_model(path)
    backend = ReferenceBackend(build_module(model.config, model.weights), model.weights, 512)
    result = generate(backend, model.tokenizer, model.tokenizer.encode("Hello"), max_tokens=16,
                      on_text=lambda s: print(s, end="", flush=True))
    result.generated_ids, result.text, result.finish_reason, result.timings.decode_tokens_per_s
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np

from rusty_ir.errors import RustyError
from rusty_ir.progress import Progress
from rusty_ir.sampling import SAMPLE_ENTRIES, Sampler, SamplingParams, cannot_sample, streams
from rusty_ir.speculative import SpeculativeStats, Speculator, common_prefix
from rusty_ir.weights import TensorView

__all__ = ["Backend", "GenerationResult", "ReferenceBackend", "Session", "Timings", "check_fits", "generate"]


@runtime_checkable
class Backend(Protocol):
    """What ``generate`` needs from a compiled (or interpreted) model."""

    name: str
    """Short name of the backend, e.g. ``"reference"`` or ``"wgpu"``."""
    context_length: int
    """KV-cache positions: prompt plus generated tokens must fit."""

    def prefill(self, tokens: np.ndarray, pos: int) -> int:
        """Run ``tokens`` (int32) at positions ``pos ..``; the greedy next token."""
        ...

    def decode(self, token: int, pos: int) -> int:
        """Run one token at position ``pos``; the greedy next token."""
        ...

    def reset(self) -> None:
        """Forget the KV cache: the next call starts a new sequence."""
        ...


class _SamplingBackend(Protocol):
    """A backend built with the sampling entries (its ``can_sample`` is true): it samples on the device."""

    def prefill_sample(self, tokens: np.ndarray, pos: int, words: np.ndarray) -> int: ...

    def decode_sample(self, token: int, pos: int, words: np.ndarray) -> int: ...


def _sampling(backend: Backend) -> _SamplingBackend:
    """``backend`` as one that samples: ``Session._checked`` checked its ``can_sample`` before generating."""
    return cast(_SamplingBackend, backend)


class _TokenizerLike(Protocol):
    eos_token_ids: Sequence[int]

    def stream(self, skip_special_tokens: bool = False) -> Any: ...


class ReferenceBackend:
    """The numpy reference interpreter behind the ``Backend`` protocol.

    ``module`` is a transformer-level module (``build_module``). If it has a
    ``@prefill_logits`` entry and ``keep_logits`` is true, ``prefill`` runs that
    entry instead and keeps the logits of the last prompt position in
    ``last_logits`` (for numerical checks); the token is their argmax, as
    ``tfm.argmax`` computes it. With the sampling entries (``build_module(...,
    sampling_entries=True)``) it samples through ``tfm.sample``.
    """

    name = "reference"

    def __init__(self, module: Any, weights: Mapping[str, TensorView], context_length: int, *, keep_logits: bool = False) -> None:
        from rusty_ir.dialects.transformer.interp import ReferenceInterpreter  # xDSL only when used

        if context_length <= 0:
            raise RustyError(f"the context length must be positive, got {context_length}")
        self.context_length = context_length
        self.interpreter = ReferenceInterpreter(module, weights, max_context=context_length)
        self.keep_logits = keep_logits
        self.last_logits: np.ndarray | None = None
        names = {getattr(getattr(op, "sym_name", None), "data", None) for op in module.ops}
        self.can_sample = all(e in names for e in SAMPLE_ENTRIES)
        """Whether the module has the sampling entries (``build_module(..., sampling_entries=True)``)."""
        self.can_verify = "verify" in names
        """Whether the module has ``@verify`` (``build_module(..., verify_entry=True)``): speculative decoding."""
        self.can_verify_sample = "verify_sample" in names
        """Whether the module has ``@verify_sample`` (both options above): sampled speculative decoding."""
        self.max_verify = context_length
        self._row_logits: Any = None

    def prefill(self, tokens: np.ndarray, pos: int) -> int:
        ids = np.asarray(tokens, dtype=np.int32).reshape(-1)
        if self.keep_logits:
            logits = np.asarray(self.interpreter.call("prefill_logits", ids, pos), dtype=np.float32)
            self.last_logits = logits
            return int(np.argmax(logits))
        return int(self.interpreter.prefill(ids, pos))

    def decode(self, token: int, pos: int) -> int:
        return int(self.interpreter.decode(token, pos))

    def prefill_sample(self, tokens: np.ndarray, pos: int, words: np.ndarray) -> int:
        return int(self.interpreter.call("prefill_sample", np.asarray(tokens, dtype=np.int32).reshape(-1), pos, words))

    def decode_sample(self, token: int, pos: int, words: np.ndarray) -> int:
        return int(self.interpreter.call("decode_sample", np.asarray([token], dtype=np.int32), pos, words))

    def verify(self, tokens: np.ndarray, pos: int) -> np.ndarray:
        """``tokens`` at positions ``pos ..``; the greedy next token after each (speculative decoding)."""
        return np.asarray(self.interpreter.call("verify", np.asarray(tokens, dtype=np.int32).reshape(-1), pos), np.int32).reshape(-1)

    def verify_sample(self, tokens: np.ndarray, pos: int, words: np.ndarray) -> np.ndarray:
        """``verify`` with a token drawn after row ``i`` under ``words[i]`` (``tfm.row_sample``): sampled speculation."""
        ids = np.asarray(tokens, dtype=np.int32).reshape(-1)
        return np.asarray(self.interpreter.call("verify_sample", ids, pos, np.asarray(words, np.int32)), np.int32).reshape(-1)

    def verify_logits(self, tokens: np.ndarray, pos: int) -> np.ndarray:
        """``verify``, returning every row's logits (float32, ``[len(tokens), vocab]``; numerics checks).
        The logits are the ``tfm.row_argmax`` operand of ``@verify``, kept by an implementation of that op that
        records it (registered over the interpreter's on first use)."""
        if self._row_logits is None:
            self._row_logits = _keep_row_logits(self.interpreter)
        self.verify(tokens, pos)
        assert self._row_logits.logits is not None
        return self._row_logits.logits

    def truncate(self, length: int) -> None:
        """Keep the KV cache's positions ``0 .. length - 1`` only."""
        self.interpreter.truncate(length)

    def reset(self) -> None:
        self.interpreter.reset()
        self.last_logits = None


def _keep_row_logits(interpreter: Any) -> Any:
    """Register, over ``interpreter``'s, a ``tfm.row_argmax`` that also keeps its operand (``.logits``); the object."""
    from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls

    from rusty_ir.dialects.transformer import RowArgmaxOp

    @register_impls
    class KeepRowLogits(InterpreterFunctions):
        logits: np.ndarray | None = None

        @impl(RowArgmaxOp)
        def run_row_argmax(self, interp: Interpreter, op: RowArgmaxOp, args: PythonValues) -> PythonValues:
            self.logits = np.array(args[0], np.float32, copy=True)
            return (np.argmax(self.logits, axis=-1).astype(np.int32),)

    kept = KeepRowLogits()
    interpreter.interpreter.register_implementations(kept, override=True)
    return kept


@dataclass
class Timings:
    """Wall-clock seconds of one generation."""

    prefill_s: float = 0.0
    """The prompt's prefill (which also yields the first new token)."""
    decode_s: float = 0.0
    """All decode steps together."""
    decode_tokens: int = 0
    """Decode steps run (generated tokens minus the one prefill gave)."""
    decode_tokens_per_s: float = 0.0
    """decode_tokens / decode_s (0 when there were none)."""
    time_to_first_token_s: float = 0.0
    """From the start of ``generate`` to the first new token."""
    total_s: float = 0.0


@dataclass
class GenerationResult:
    prompt_ids: list[int]
    generated_ids: list[int]
    text: str
    """What was streamed: the decoded ``generated_ids`` (special tokens as ``special_tokens`` said),
    cut before a stop string."""
    timings: Timings = field(default_factory=Timings)
    stopped_at_eos: bool = False
    finish_reason: str = "length"
    """Why it ended: ``stop`` (an EOS token or a stop string), ``length`` (``max_tokens``) or ``cancelled``."""
    stop: str | None = None
    """The stop string that ended the text, if one did."""
    cached_tokens: int = 0
    """Prompt tokens whose KV-cache rows a previous call of the session left (not prefilled again)."""
    seed: int | None = None
    """The seed the draws used (None when greedy): the same seed repeats the run."""
    speculative: dict[str, Any] | None = None
    """With speculative decoding: ``rusty_ir.speculative.SpeculativeStats.to_dict()`` (drafted, accepted,
    acceptance rate, tokens per verification step); None without."""

    @property
    def prefilled_tokens(self) -> int:
        """Prompt tokens this call ran through prefill."""
        return len(self.prompt_ids) - self.cached_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_fits(prompt_tokens: int, max_tokens: int, context_length: int) -> None:
    """RustyError unless a prompt plus ``max_tokens`` new tokens fit the context length."""
    if prompt_tokens == 0:
        raise RustyError("the prompt is empty (it encodes to no tokens)")
    if max_tokens < 0:
        raise RustyError(f"--max-tokens must not be negative, got {max_tokens}")
    # The last generated token is never fed back, so the cache holds prompt + max_tokens - 1 positions;
    # we still ask for prompt + max_tokens so that the rule is easy to state.
    if prompt_tokens + max_tokens > context_length:
        raise RustyError(
            f"prompt of {prompt_tokens} tokens + {max_tokens} new tokens exceeds the context length {context_length} (--context-length)"
        )


class _Text:
    """The generated text as it is streamed: incremental detokenization, then stop strings.

    Text that could be the start of a stop string is held back until it is known not to be;
    a stop string ends the text just before it. ``take()`` returns what became final since.
    """

    def __init__(self, tokenizer: _TokenizerLike, special_tokens: bool, stop: Sequence[str]) -> None:
        self.decoder = tokenizer.stream(skip_special_tokens=not special_tokens)
        self.stops = [s for s in stop if s]
        self.held = ""
        self.text = ""
        self.taken = 0
        self.stop: str | None = None
        """The stop string that matched."""

    def push(self, token: int) -> bool:
        """Add a token's text; True when a stop string completed."""
        return self._add(self.decoder.push(token), final=False)

    def flush(self) -> None:
        if self.stop is None:
            self._add(self.decoder.flush(), final=True)

    def take(self) -> str:
        """The final text added since the last call."""
        piece, self.taken = self.text[self.taken :], len(self.text)
        return piece

    def _add(self, piece: str, final: bool) -> bool:
        self.held += piece
        hits = [(self.held.find(s), s) for s in self.stops if s in self.held]
        if hits:
            at, self.stop = min(hits)
            self.text += self.held[:at]
            self.held = ""
            return True
        keep = 0 if final else max((n for s in self.stops for n in range(1, len(s)) if self.held.endswith(s[:n])), default=0)
        self.text += self.held[: len(self.held) - keep]
        self.held = self.held[len(self.held) - keep :]
        return False


def _finish_reason(stopped: bool, token: int, eos: set[int], generated: int, max_tokens: int,
                   cancel: Callable[[], bool] | None) -> str | None:  # fmt: skip
    """Why ``Session.stream`` ends after ``token``, its ``generated``-th (None: it goes on): a stop string or an EOS
    token, the length, or ``cancel()``, which is asked only when nothing else ends it."""
    if stopped or token in eos:
        return "stop"
    if generated == max_tokens:
        return "length"
    if cancel is not None and cancel():
        return "cancelled"
    return None


def _finish_timings(timings: Timings, decode_tokens: int, start: float, decode_start: float) -> None:
    """The decode and total times of a generation that started at ``start`` and began decoding at ``decode_start``."""
    timings.decode_s = time.perf_counter() - decode_start
    timings.decode_tokens = decode_tokens
    if timings.decode_tokens and timings.decode_s > 0:
        timings.decode_tokens_per_s = timings.decode_tokens / timings.decode_s
    timings.total_s = time.perf_counter() - start


class Session:
    """One backend's KV cache across generations (a chat, or a server's requests).

    ``tokens`` are the ids whose cache rows are valid, at positions ``0 ..``. A new
    prompt reuses the longest prefix it shares with them and prefills only the rest
    (at least its last token, whose logits give the first new token).
    """

    def __init__(self, backend: Backend, tokenizer: _TokenizerLike, progress: Progress | None = None) -> None:
        """``progress`` shows a bar for prompts longer than one prefill step (``backend.max_prefill``)."""
        self.backend = backend
        self.tokenizer = tokenizer
        self.progress = progress
        self.tokens: list[int] = []

    def reset(self) -> None:
        """Forget the cache: the next generation prefills its whole prompt."""
        self.tokens = []
        self.backend.reset()

    def generate(self, prompt_ids: Sequence[int], max_tokens: int, *, on_text: Callable[[str], None] | None = None,
                 **options: Any) -> GenerationResult:  # fmt: skip
        """``stream`` to the end, giving each piece of text to ``on_text``; the result."""
        pieces = self.stream(prompt_ids, max_tokens, **options)
        while True:
            try:
                piece = next(pieces)
            except StopIteration as done:
                return done.value
            if on_text is not None:
                on_text(piece)

    def stream(
        self,
        prompt_ids: Sequence[int],
        max_tokens: int,
        *,
        sampling: SamplingParams | None = None,
        stop: Sequence[str] = (),
        stop_at_eos: bool = True,
        special_tokens: bool = True,
        cancel: Callable[[], bool] | None = None,
        speculative: Speculator | None = None,
    ) -> Generator[str, None, GenerationResult]:
        """Prefill what the cache lacks of the prompt, then decode until ``max_tokens``, an EOS token,
        a stop string or ``cancel()``; yields the text as it is generated and returns the result.

        The fit in the context length is checked before any compute. The text comes
        token by token, multi-byte characters held back until complete and text that
        may begin a stop string until it does not; ``special_tokens=False`` leaves
        control tokens (``<|im_end|>``) out of it. With ``stop_at_eos`` an EOS token
        ends the generation and is kept in ``generated_ids``. ``sampling`` (default
        greedy) chooses each token; it needs a backend with the sampling entries
        unless it is greedy. ``cancel`` is asked after every token (or close the
        generator: the cache stays consistent either way). A backend with
        ``decode_stream(token, pos, count[, sampling])`` (an iterator of next tokens
        that may run ahead by a step) is driven through it unless penalties make each
        draw depend on the token before. ``speculative`` makes the tokens after the
        prefill's in rounds of drafted tokens checked by one ``verify`` step each (``rusty_ir.speculative``):
        greedy, the same tokens; sampled, the same distribution (the rejection rule), in fewer steps;
        ``result.speculative`` says how it went.
        """
        prompt, sampler, stats = self._checked(prompt_ids, max_tokens, sampling, speculative)
        eos = set(self.tokenizer.eos_token_ids) if stop_at_eos else set()
        text = _Text(self.tokenizer, special_tokens, stop)
        timings = Timings()
        generated: list[int] = []
        result = GenerationResult(prompt, generated, "", timings, seed=None if sampler is None else sampler.seed)
        if max_tokens == 0:
            return result
        cached = min(common_prefix(self.tokens, prompt), len(prompt) - 1)
        self.tokens = []  # unknown until the prefill is done
        start = time.perf_counter()
        if cached == 0:
            self.backend.reset()
        token = self._prefill(prompt, cached, sampler)
        timings.prefill_s = timings.time_to_first_token_s = time.perf_counter() - start
        decode_start = time.perf_counter()
        steps = self._decode_steps(prompt, token, max_tokens - 1, sampler, speculative, stats)
        consistent = False  # whether the cache holds exactly the rows of prompt + generated[:-1]
        try:
            while True:
                generated.append(token)
                if sampler is not None:
                    sampler.accept(token)
                stopped = text.push(token)
                consistent = True
                if piece := text.take():
                    yield piece
                finish = _finish_reason(stopped, token, eos, len(generated), max_tokens, cancel)
                if finish is not None:
                    break
                consistent = False  # a step that fails midway leaves its rows unknown
                token = next(steps)
        finally:
            self._settle(steps, prompt, generated, consistent, speculative)
        text.flush()
        if piece := text.take():
            yield piece
        _finish_timings(timings, len(generated) - 1, start, decode_start)
        result.text, result.stop, result.cached_tokens, result.finish_reason = text.text, text.stop, cached, finish
        result.stopped_at_eos = generated[-1] in eos
        result.speculative = stats.to_dict() if stats is not None else None
        return result

    def _decode_steps(self, prompt: list[int], token: int, count: int, sampler: Sampler | None, speculative: Speculator | None,
                      stats: SpeculativeStats | None) -> Generator[int, None, None]:  # fmt: skip
        """``stream``'s tokens after the prefill's ``token``, up to ``count``: in speculative rounds, or one decode step
        each (``_next_tokens``); close it to stop early."""
        if speculative is not None and stats is not None:
            return speculative.tokens(self.backend, prompt, token, count, stats, sampler)
        return self._next_tokens(token, len(prompt), count, sampler)

    def _settle(self, steps: Generator[int, None, None], prompt: list[int], generated: list[int], consistent: bool,
                speculative: Speculator | None) -> None:  # fmt: skip
        """``stream``'s end, however it ends: stop the steps and record what the cache holds (``consistent``: exactly
        the rows of ``prompt + generated[:-1]``; otherwise unknown, so nothing is reused)."""
        steps.close()  # a backend running a step ahead stops it
        self.tokens = prompt + generated[:-1] if consistent else []  # the last token was never run
        if speculative is not None and consistent and hasattr(self.backend, "truncate"):
            self.backend.truncate(len(self.tokens))  # a round may have run past the tokens taken

    def _checked(self, prompt_ids: Sequence[int], max_tokens: int, sampling: SamplingParams | None,
                 speculative: Speculator | None) -> tuple[list[int], Sampler | None, SpeculativeStats | None]:  # fmt: skip
        """``stream``'s checks before any compute: the prompt (as ints), the sampler (None: greedy) and the
        speculative decoding statistics (None without it)."""
        prompt = [int(t) for t in prompt_ids]
        backend = self.backend
        check_fits(len(prompt), max_tokens, backend.context_length)
        params = sampling if sampling is not None else SamplingParams()
        sampler = None if params.greedy else Sampler(params)
        stats = None
        if speculative is not None:
            speculative.check(backend, sampled=not params.greedy)
            stats = SpeculativeStats(speculative.options.mode, speculative.options.draft_tokens)
        refusal = cannot_sample(backend, params)
        if refusal:
            raise RustyError(refusal)
        return prompt, sampler, stats

    def _prefill(self, prompt: list[int], start: int, sampler: Sampler | None) -> int:
        """Run ``prompt[start:]`` at positions ``start ..`` in steps of ``backend.max_prefill`` tokens
        (all at once without one); the token after the last step."""
        rest = np.asarray(prompt[start:], dtype=np.int32)
        step = getattr(self.backend, "max_prefill", None) or rest.size
        bar = self.progress.bar(rest.size, "prefill", "tok") if self.progress is not None and rest.size > step else nullcontext(None)
        with bar as advance:
            for first in range(0, rest.size, step):
                chunk, pos = rest[first : first + step], start + first
                if first + step < rest.size or sampler is None:  # only the last step's token is used
                    token = self.backend.prefill(chunk, pos)
                else:
                    token = _sampling(self.backend).prefill_sample(chunk, pos, sampler.words())
                if advance is not None:
                    advance(chunk.size)
        return token

    def _next_tokens(self, token: int, pos: int, count: int, sampler: Sampler | None) -> Generator[int, None, None]:
        """The tokens after ``token`` (run at ``pos``), up to ``count``; close it to stop early. Without a stream
        (a backend without one, or penalties, which need each token before the next step), one synchronous step
        each, naming the next to a backend with ``expect`` (the wgpu runtime records it while the step runs)."""
        backend = self.backend
        if streams(backend, sampler):
            steps = cast(Any, backend).decode_stream(token, pos, count, sampling=None if sampler is None else sampler.words)
            try:
                yield from steps
            finally:
                steps.close()
            return
        expect = getattr(backend, "expect", None)  # the wgpu runtime records a named step while the one before runs
        for i in range(count):
            if expect is not None and i + 1 < count:
                expect([(1, pos + i + 1)], sampler is not None)
            token = backend.decode(token, pos + i) if sampler is None else _sampling(backend).decode_sample(token, pos + i, sampler.words())
            yield token


def generate(
    backend: Backend,
    tokenizer: _TokenizerLike,
    prompt_ids: Sequence[int],
    max_tokens: int,
    **options: Any,
) -> GenerationResult:
    """One generation on a fresh ``Session`` (the backend is reset first); ``options`` as ``Session.generate``."""
    return Session(backend, tokenizer).generate(prompt_ids, max_tokens, **options)
