"""``rusty chat``: an interactive, multi-turn chat in the terminal.

The conversation (an optional system prompt, then user and assistant turns) goes through the
model's chat template every turn; the ``Session`` keeps the KV cache, so a turn prefills only
the tokens the previous turns did not leave there (its own message and the template's markers).
The answer streams as it is generated; Ctrl-C stops the answer and keeps the session. Lines
starting with ``/`` are commands (``/help``). When stdin is not a terminal, each line is one
message (or command), so a conversation can be piped in.

After each answer one line on stderr says what it cost (``-q`` leaves it out)::

    rusty: 9 tokens (stop); prompt 61 tokens: 48 from the cache, 13 prefilled; 4.1 tokens/s
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from collections.abc import Callable
from typing import Any

from rusty_ir.errors import RustyError
from rusty_ir.progress import Progress
from rusty_ir.sampling import SamplingParams, cannot_sample
from rusty_ir.speculative import describe

HELP = """commands:
  /help              this list
  /reset             forget the conversation (the system prompt stays)
  /system [TEXT]     set the system prompt (none: the template's default) and start over
  /settings          the sampling options, token budget and context use
  /set NAME VALUE    change an option: max_tokens, or a sampling option (temperature, top_k, top_p, min_p,
                     repetition_penalty, presence_penalty, frequency_penalty, penalty_last_n, seed; 'none' for no seed)
  /quit              leave (also Ctrl-D)
Ctrl-C stops an answer; the conversation keeps what was said."""


class Chat:
    """A conversation with one model: the messages, the options, and the session holding the KV cache."""

    def __init__(self, session: Any, *, system: str | None, sampling: SamplingParams, max_tokens: int,
                 stop: list[str], ignore_eos: bool, speculative: Any = None) -> None:  # fmt: skip
        self.session = session
        self.speculative = speculative
        """The ``rusty_ir.speculative.Speculator`` of ``--speculate`` (None: off)."""
        self.tokenizer = session.tokenizer
        self.system = system
        self.sampling = sampling
        self.max_tokens = max_tokens
        self.stop = stop
        self.ignore_eos = ignore_eos
        self.messages: list[dict[str, str]] = []

    def prompt_ids(self, text: str) -> list[int]:
        """The token ids of the conversation with ``text`` as the next user message, ready for the answer."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return self.tokenizer.encode_chat([*head, *self.messages, {"role": "user", "content": text}])

    def send(self, text: str, on_text: Callable[[str], None], cancel: Callable[[], bool]) -> Any:
        """Answer ``text`` (streaming to ``on_text`` until done or ``cancel()``); the ``GenerationResult``.
        The answer's budget is ``max_tokens``, less where the context has less room left."""
        ids = self.prompt_ids(text)
        room = self.session.backend.context_length - len(ids)
        if room <= 0:
            raise RustyError(f"the conversation ({len(ids)} tokens) fills the context of {self.session.backend.context_length}; "
                             "/reset to start over (or a larger --context-length)")  # fmt: skip
        result = self.session.generate(ids, min(self.max_tokens, room), sampling=self.sampling, stop=self.stop,
                                       stop_at_eos=not self.ignore_eos, special_tokens=False, on_text=on_text, cancel=cancel,
                                       speculative=self.speculative)  # fmt: skip
        self.messages += [{"role": "user", "content": text}, {"role": "assistant", "content": result.text}]
        return result

    def command(self, line: str) -> str | None:
        """Run a ``/command``; what to print (None: leave)."""
        name, _, rest = line[1:].strip().partition(" ")
        rest = rest.strip()
        if name in ("quit", "exit", "q"):
            return None
        if name == "help":
            return HELP
        if name == "reset":
            self.messages = []
            return "(conversation cleared)"
        if name == "system":
            self.system = rest or None
            self.messages = []
            return f"(system prompt {'set' if rest else 'cleared'}; conversation cleared)"
        if name == "settings":
            used = len(self.session.tokens)
            options = " ".join(f"{k}={v}" for k, v in dataclasses.asdict(self.sampling).items())
            return (f"max_tokens={self.max_tokens} {options}\nstop={self.stop} system={self.system!r}\n"
                    f"context: {used} of {self.session.backend.context_length} positions hold the conversation")  # fmt: skip
        if name == "set":
            key, _, value = rest.partition(" ")
            return self._set(key.strip(), value.strip())
        return f"unknown command '/{name}' (/help lists them)"

    def _set(self, key: str, value: str) -> str:
        if key == "max_tokens":
            number = _number(value, key)
            if not isinstance(number, int) or number < 1:
                raise RustyError(f"max_tokens must be a whole number >= 1, got {value!r}")
            self.max_tokens = number
        elif key in SamplingParams.field_names():
            parsed: Any = None if value.lower() == "none" else _number(value, key)  # the field's own check follows
            self.sampling = dataclasses.replace(self.sampling, **{key: parsed})
        else:
            raise RustyError(f"unknown option '{key}' (/help lists them)")
        return f"({key} = {value})"


def _number(text: str, key: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise RustyError(f"{key} needs a number, got {text!r}") from None


class _Interrupts:
    """Ctrl-C while an answer streams sets a flag the generation polls (after each token), instead of
    raising somewhere inside a GPU call; outside answers Ctrl-C behaves as usual."""

    def __init__(self) -> None:
        self.hit = False

    def __enter__(self) -> _Interrupts:
        self.hit = False
        self._old = signal.signal(signal.SIGINT, self._on_signal)
        return self

    def _on_signal(self, *_: Any) -> None:
        self.hit = True

    def __exit__(self, *_: Any) -> None:
        signal.signal(signal.SIGINT, self._old)


def _read(interactive: bool) -> str | None:
    """The next line of input (None at the end); at a terminal, Ctrl-C clears the line."""
    while True:
        try:
            if interactive:
                return input("> ")
            line = sys.stdin.readline()
            return line.rstrip("\n") if line else None
        except EOFError:
            return None
        except KeyboardInterrupt:
            if not interactive:
                raise
            print()


def chat_main(args: argparse.Namespace) -> int:
    """``rusty chat``: load the model, then read messages until /quit or the end of input."""
    from rusty_ir.api import build_backend, build_speculator, context_length_for, load_checkpoint
    from rusty_ir.generate import Session
    from rusty_ir.tools.options import load_options, sampling_from_args

    if args.max_tokens < 1:
        raise RustyError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    sampling = sampling_from_args(args)
    options = load_options(args, sampling=True)
    progress = Progress(args.quiet)
    model = load_checkpoint(args.model, progress)
    if not model.tokenizer.chat_template:
        raise RustyError(f"{model.source}: rusty chat needs a chat template, and this model has none (rusty run --no-chat)")
    speculator = build_speculator(model, options, context_length_for(model, options.context_length), progress)
    backend, _, _ = build_backend(model, options, progress)
    refusal = cannot_sample(backend, sampling)  # before the first turn, not at each
    if refusal:
        raise RustyError(refusal)
    chat = Chat(Session(backend, model.tokenizer, progress), system=args.system, sampling=sampling,
                max_tokens=args.max_tokens, stop=args.stop, ignore_eos=args.ignore_eos, speculative=speculator)  # fmt: skip
    interactive = sys.stdin.isatty()
    if interactive:
        print("rusty chat: type a message; /help for commands, Ctrl-C stops an answer, Ctrl-D leaves", file=sys.stderr)
    while (line := _read(interactive)) is not None:
        if not line.strip():
            continue
        try:
            if line.startswith("/"):
                out = chat.command(line)
                if out is None:
                    break
                print(out, flush=True)
                continue
            with _Interrupts() as interrupts:
                result = chat.send(line, lambda piece: print(piece, end="", flush=True), lambda: interrupts.hit)
        except RustyError as err:
            print(f"rusty: error: {err}", file=sys.stderr, flush=True)
            continue
        print(flush=True)
        if not args.quiet:
            t = result.timings
            print(f"rusty: {len(result.generated_ids)} tokens ({result.finish_reason}); prompt {len(result.prompt_ids)} tokens: "
                  f"{result.cached_tokens} from the cache, {result.prefilled_tokens} prefilled; {t.decode_tokens_per_s:.1f} tokens/s{describe(result.speculative)}",
                  file=sys.stderr, flush=True)  # fmt: skip
    return 0
