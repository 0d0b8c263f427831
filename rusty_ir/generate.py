"""Greedy generation over any backend that runs a model's ``@prefill`` and ``@decode`` entries.

A backend is anything with the ``Backend`` protocol: ``prefill(tokens, pos)`` and
``decode(token, pos)`` return the next token id (argmax on the device), ``reset()``
starts a new sequence, ``context_length`` is the number of KV-cache positions it
holds and ``name`` says what it is. ``ReferenceBackend`` runs the transformer-level
IR on the numpy reference interpreter; the wgpu backend implements the same
protocol. ``generate`` is the loop the ``rusty run`` CLI uses::

    model = load_model(path)
    backend = ReferenceBackend(build_module(model.config, model.weights), model.weights, 512)
    result = generate(backend, model.tokenizer, model.tokenizer.encode("Hello"), max_tokens=16,
                      on_text=lambda s: print(s, end="", flush=True))
    result.generated_ids, result.text, result.timings.decode_tokens_per_s
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rusty_ir.errors import RustyError
from rusty_ir.weights import TensorView

__all__ = ["Backend", "GenerationResult", "ReferenceBackend", "Timings", "check_fits", "generate"]


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


class _TokenizerLike(Protocol):
    eos_token_ids: Sequence[int]

    def stream(self, skip_special_tokens: bool = False) -> Any: ...

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str: ...


class ReferenceBackend:
    """The numpy reference interpreter behind the ``Backend`` protocol.

    ``module`` is a transformer-level module (``build_module``). If it has a
    ``@prefill_logits`` entry and ``keep_logits`` is true, ``prefill`` runs that
    entry instead and keeps the logits of the last prompt position in
    ``last_logits`` (for numerical checks); the token is their argmax, as
    ``tfm.argmax`` computes it.
    """

    name = "reference"

    def __init__(
        self, module: Any, weights: Mapping[str, TensorView], context_length: int, *, keep_logits: bool = False
    ) -> None:
        from rusty_ir.dialects.transformer.interp import ReferenceInterpreter  # noqa: PLC0415 - xDSL only when used

        if context_length <= 0:
            raise RustyError(f"the context length must be positive, got {context_length}")
        self.context_length = context_length
        self.interpreter = ReferenceInterpreter(module, weights, max_context=context_length)
        self.keep_logits = keep_logits
        self.last_logits: np.ndarray | None = None

    def prefill(self, tokens: np.ndarray, pos: int) -> int:
        ids = np.asarray(tokens, dtype=np.int32).reshape(-1)
        if self.keep_logits:
            logits = np.asarray(self.interpreter.call("prefill_logits", ids, pos), dtype=np.float32)
            self.last_logits = logits
            return int(np.argmax(logits))
        return int(self.interpreter.prefill(ids, pos))

    def decode(self, token: int, pos: int) -> int:
        return int(self.interpreter.decode(token, pos))

    def reset(self) -> None:
        self.interpreter.reset()
        self.last_logits = None


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
    """The decoded text of ``generated_ids`` (special tokens kept, as streamed)."""
    timings: Timings = field(default_factory=Timings)
    stopped_at_eos: bool = False

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
            f"prompt of {prompt_tokens} tokens + {max_tokens} new tokens exceeds the context length "
            f"{context_length} (--context-length)"
        )


def generate(
    backend: Backend,
    tokenizer: _TokenizerLike,
    prompt_ids: Sequence[int],
    max_tokens: int,
    *,
    stop_at_eos: bool = True,
    on_text: Callable[[str], None] | None = None,
    stream_special_tokens: bool = True,
) -> GenerationResult:
    """Greedy decoding: prefill the prompt, then decode until ``max_tokens`` or an EOS token.

    The fit in the context length is checked before any compute. ``on_text``
    receives the text as it is generated, token by token (multi-byte characters
    are held back until complete). With ``stop_at_eos`` an EOS token ends the
    generation and is kept in ``generated_ids``. ``stream_special_tokens=False``
    leaves control tokens (``<|im_end|>``) out of what ``on_text`` receives;
    ``result.text`` always keeps them. The backend is reset first, so every call
    starts a new sequence. A backend with ``decode_stream(token, pos, count)``
    (an iterator of next tokens that may run ahead by a step) is driven through
    it; otherwise ``decode`` is called step by step.
    """
    prompt = [int(t) for t in prompt_ids]
    check_fits(len(prompt), max_tokens, backend.context_length)
    eos = set(tokenizer.eos_token_ids) if stop_at_eos else set()
    stream = tokenizer.stream(skip_special_tokens=not stream_special_tokens)
    timings = Timings()
    generated: list[int] = []
    stopped = False

    def emit(token: int) -> None:
        generated.append(token)
        piece = stream.push(token)
        if piece and on_text is not None:
            on_text(piece)

    start = time.perf_counter()
    backend.reset()
    if max_tokens > 0:
        token = backend.prefill(np.asarray(prompt, dtype=np.int32), 0)
        timings.prefill_s = time.perf_counter() - start
        timings.time_to_first_token_s = timings.prefill_s
        emit(token)
        stopped = token in eos
        decode_start = time.perf_counter()
        stream_steps = getattr(backend, "decode_stream", None)
        if stream_steps is not None and not stopped and max_tokens > 1:
            # the backend keeps one step in flight; stop it at EOS or the token budget
            steps = stream_steps(token, len(prompt), max_tokens - 1)
            for token in steps:
                emit(token)
                stopped = token in eos
                if stopped:
                    steps.close()
                    break
        while not stopped and len(generated) < max_tokens:
            token = backend.decode(token, len(prompt) + len(generated) - 1)
            emit(token)
            stopped = token in eos
        timings.decode_s = time.perf_counter() - decode_start
        timings.decode_tokens = len(generated) - 1
        if timings.decode_tokens and timings.decode_s > 0:
            timings.decode_tokens_per_s = timings.decode_tokens / timings.decode_s
    tail = stream.flush()
    if tail and on_text is not None:
        on_text(tail)
    timings.total_s = time.perf_counter() - start
    return GenerationResult(prompt, generated, tokenizer.decode(generated), timings, stopped)
