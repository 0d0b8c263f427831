"""Issue 15's measurements in one run: speculative decoding's step costs and bounds, KV-cache offload, long prefill.

On synthetic random-weight models (``rusty_ir.synthetic``; no checkpoint needed), compiled for this adapter (cached):

(a) ``--shapes``: the time of one verification step of k tokens against a 1-token decode step (k in
    ``--verify-k``), and decode tokens/s plain, with an *oracle* draft that replays the model's own greedy output
    (every draft accepted: the upper bound) and with a draft that never agrees (every round one token: the
    overhead), at ``--draft-tokens`` K per round. The two drafters live here (test-only, not in the product).
(b) ``--offload-shape``: decode tokens/s after a prompt of each ``--contexts`` length with KV device budgets that
    leave each of ``--offload-fractions`` of the cache on the host (0: everything on the device); timed on a
    second generation that continues the first (a fresh runtime's first steps record their commands), whose speed
    is reported as ``first_decode_tok_s``.
(c) ``--prefill-shape``: prefill tokens/s and the peak device memory (``memory_figures``) for prompts of each
    ``--prefill-lengths`` (in steps of ``--max-prefill``).
(d) ``--replay FILE`` (default none: skipped): decode tokens/s of ``--replay-shape`` plain and with prompt lookup (K in
    ``--replay-k``) on real text recorded by ``--record-text`` (``Replay``: every step is the shape's real work, the
    tokens are the recording's, so the drafter hits and misses as it did with the real model), per prompt and in
    all: the measured speed-up on input-heavy tasks. ``scripts/data/acceptance_text.json`` is SmolLM2-135M-Instruct's.

Each case is skipped (and says so) once ``--time-limit`` seconds have passed. JSON per section in ``--out``, a
markdown table on stdout. ``--acceptance`` instead measures prompt lookup's (or with ``--draft``, a draft model's)
acceptance rate with a real checkpoint (``--model``, default the bundled SmolLM2) on input-heavy prompts (summary,
typo fixes, a code edit, extraction; ``--prompt-set held-out`` for others);
``--record-text FILE`` records that checkpoint's greedy answers to them (token ids, JSON) for (d).

    python scripts/bench_long.py --out bench-out                                   # the GPU run (defaults)
    python scripts/bench_long.py --out /tmp/b --shapes smollm2-135m --offload-shape smollm2-135m \\
        --prefill-shape smollm2-135m --contexts 128,256 --prefill-lengths 256 --decode-tokens 8   # a quick check
    python scripts/bench_long.py --acceptance --backend reference --out /tmp/acc   # prompt lookup on real text
    python scripts/bench_long.py --acceptance --model /tmp/pair/target.gguf --draft /tmp/pair/draft.gguf --out /tmp/d
                                             # a draft model's (scripts/make_draft_pair.py makes a pair)
    python scripts/bench_long.py --record-text scripts/data/acceptance_text.json --out /tmp/rec   # record it (CPU)
    python scripts/bench_long.py --out bench-out --replay scripts/data/acceptance_text.json        # the GPU run with (d)
    python scripts/bench_long.py --out /tmp/r --shapes none --offload-shape none --prefill-shape none \\
        --replay scripts/data/acceptance_text.json --replay-shape smollm2-135m --replay-k 4 --replay-repeats 1   # (d) quickly
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from rusty_ir.generate import Session
from rusty_ir.speculative import SpeculativeOptions, Speculator

ACCEPTANCE_PROMPTS = {
    "summarize": ("Summarize the following paragraph in two sentences, reusing its wording.\n\n"
                  "The city council met on Tuesday evening to discuss the new public library. After two hours of debate, "
                  "the council voted to fund the library with a mix of state grants and local taxes. Construction will "
                  "begin in the spring and the library is expected to open in the autumn of next year. The mayor said the "
                  "library would include a children's room, a computer lab and a community garden."),
    "fix_typos": ("Rewrite this paragraph with the spelling mistakes fixed, changing nothing else.\n\n"
                  "The quick brown fox jumpd over the lazy dog. Every mornng the dog slept in the sun while the fox "
                  "watched from the edge of the forrest. One day the dog woke up and chased the fox acros the field, "
                  "but the fox was to fast and disapeared into the trees."),
    "rename_code": ("Rename the variable `total` to `running_sum` in this Python function and show the whole function.\n\n"
                    "def add_all(values):\n    total = 0\n    for value in values:\n        total = total + value\n"
                    "    if total > 100:\n        print('large total', total)\n    return total\n"),
    "extract": ("List every person's name and city from this text, one per line as 'name - city'.\n\n"
                "Alice Martin moved from Paris to Lyon last year. Her brother Bob Martin still lives in Paris. "
                "Their friend Carol Smith works in London, and Carol's colleague David Jones commutes from Oxford."),
}  # fmt: skip

HELD_OUT_PROMPTS = {
    "summarize_bridge": ("Summarize the following paragraph in two sentences, reusing its wording.\n\n"
                         "The regional transport authority announced on Monday that the old river bridge will close for repairs "
                         "in March. Engineers found cracks in two of its steel supports during an inspection last winter. While "
                         "the bridge is closed, buses will use the northern crossing and a free ferry will run every twenty "
                         "minutes. The authority expects the bridge to reopen before the end of the summer."),
    "fix_grammar": ("Rewrite this paragraph with the grammar mistakes fixed, changing nothing else.\n\n"
                    "My sister have a small garden behind her house. Every spring she plant tomatoes, beans and carrots, "
                    "and she water them every evening. Last year the tomatoes was very big, but the rabbits eats most of "
                    "the carrots before she could picked them."),
    "add_parameter": ("Add a parameter `scale` with default 1 to this Python function, multiply each value by it, and show "
                      "the whole function.\n\n"
                      "def normalize(values):\n    largest = max(values)\n    result = []\n    for value in values:\n"
                      "        result.append(value / largest)\n    return result\n"),
    "while_to_for": ("Rewrite this Python function to use a for loop instead of the while loop, and show the whole "
                     "function.\n\n"
                     "def count_vowels(text):\n    count = 0\n    i = 0\n    while i < len(text):\n"
                     "        if text[i] in 'aeiou':\n            count = count + 1\n        i = i + 1\n    return count\n"),
    "extract_dates": ("List every event and its date from this text, one per line as 'event - date'.\n\n"
                      "The school concert takes place on 12 May. Parents are invited to the sports day on 3 June, and the "
                      "science fair opens on 17 June. The summer holidays begin on 24 July."),
    "to_json": ("Convert this list of people into a JSON array of objects with the keys name, age and city.\n\n"
                "Anna, 34, Berlin\nTom, 28, Madrid\nLucy, 45, Dublin\nMark, 51, Vienna"),
    "bullet_points": ("Rewrite this paragraph as a bulleted list, one sentence per bullet, keeping its wording.\n\n"
                      "Preheat the oven to 200 degrees. Mix the flour, the sugar and the butter in a large bowl. Add two eggs "
                      "and stir until the dough is smooth. Pour the dough into a tin and bake it for thirty minutes."),
    "quote_answer": ("Read the text and answer the question with a sentence quoted from the text.\n\n"
                     "Text: The museum is open from Tuesday to Sunday. Tickets cost twelve euros for adults and are free for "
                     "children under sixteen. The museum is closed on Mondays and on public holidays.\n\n"
                     "Question: How much does a ticket cost for an adult?"),
}  # fmt: skip
"""Input-heavy prompts not used to tune the drafting rules: ``--record-text --prompt-set held-out`` records them
(``scripts/data/held_out_text.json``), so a change to prompt lookup can be checked on text it was not chosen on."""
PROMPT_SETS = {"acceptance": ACCEPTANCE_PROMPTS, "held-out": HELD_OUT_PROMPTS}


class Oracle:
    """Drafts the model's own greedy continuation of the prompt (recorded by a plain run): every draft agrees."""

    def __init__(self, prompt: list[int], greedy: list[int]) -> None:
        self.text = [*prompt, *greedy]

    def propose(self, seq: list[int], k: int) -> list[int]:
        return self.text[len(seq) : len(seq) + k] if seq == self.text[: len(seq)] else []


class Contrary(Oracle):
    """Drafts tokens the model will not choose (the greedy token plus one): every round keeps one token."""

    def __init__(self, prompt: list[int], greedy: list[int], vocab: int) -> None:
        super().__init__(prompt, greedy)
        self.vocab = vocab

    def propose(self, seq: list[int], k: int) -> list[int]:
        return [(t + 1) % self.vocab for t in super().propose(seq, k)]


class Replay:
    """A runtime (``ModelRuntime``) whose steps return a recorded text's tokens: speculative decoding's real step
    costs of a shape, with the drafter's hits and misses of real text.

    ``text`` is a recording's ``prompt_ids + generated_ids`` (``--record-text``: a real checkpoint's greedy answer).
    Every call runs the runtime's own step, so the device does the work of the shape (a synthetic model: its weights
    are random and the tokens it computes are discarded), and returns what the recording has next: ``prefill(tokens,
    pos)`` the token at ``pos + len(tokens)``, ``decode(token, pos)`` the one at ``pos + 1``, ``decode_stream(token,
    pos, count, until=...)`` those at ``pos + 1 ..`` (the runtime's stream read lazily, ``until`` given the recorded
    tokens), ``verify(tokens, pos)`` the ``len(tokens)`` tokens from ``pos + 1``. So a greedy ``Session`` generates the recorded text, and
    ``PromptLookup``, the adaptive draft length and the back-off draft, accept, reject and back off exactly as they
    did with the real model, while each step costs what it costs the shape (it runs the same tokens and positions;
    only a decode stream's later steps take the random model's own argmax on the device, the same work). Everything
    else (``truncate``, ``reset``, ``context_length``, ``max_verify``, ``can_verify``, ``max_prefill``, ``name``, ...)
    is the runtime's. Greedy only: a sampling step would return the random model's draw.
    """

    def __init__(self, runtime: Any, text: Sequence[int]) -> None:
        self.runtime = runtime
        self.text = [int(t) for t in text]
        self.walls: dict[int, list[float]] = {}
        """Tokens of a synchronous step (``decode``: 1, ``verify``: its tokens) -> each such step's wall seconds."""

    def _timed(self, tokens: int, step: Callable[..., Any], *args: Any) -> None:
        t = time.perf_counter()
        step(*args)
        self.walls.setdefault(tokens, []).append(time.perf_counter() - t)

    def __getattr__(self, name: str) -> Any:
        if name == "runtime":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.runtime, name)

    def _after(self, pos: int, tokens: Sequence[int]) -> int:
        """Where the recording goes on after ``tokens`` run at ``pos ..``; ValueError unless they are its tokens there."""
        end = pos + len(tokens)
        if self.text[pos:end] != [int(t) for t in tokens]:
            raise ValueError(f"replay: the {len(tokens)} token(s) run at {pos} are not the recorded text's")
        return end

    def _token(self, at: int) -> int:
        if at >= len(self.text):
            raise ValueError(f"replay: position {at} is past the recording's {len(self.text)} tokens")
        return self.text[at]

    def prefill(self, tokens: np.ndarray, pos: int) -> int:
        self.runtime.prefill(tokens, pos)
        return self._token(self._after(pos, np.asarray(tokens).reshape(-1).tolist()))

    def decode(self, token: int, pos: int) -> int:
        self._timed(1, self.runtime.decode, token, pos)
        return self._token(self._after(pos, [token]))

    def decode_stream(self, token: int, pos: int, count: int, sampling: Callable[[], np.ndarray] | None = None,
                      until: Callable[[int], bool] | None = None, hold: Callable[[], bool] | None = None) -> Iterator[int]:  # fmt: skip
        if sampling is not None:
            raise ValueError("replay is greedy only")
        at = self._after(pos, [token])
        read = iter(range(at, at + count))  # ``until`` sees the recorded token, not the random model's
        steps = self.runtime.decode_stream(token, pos, count, until=None if until is None else lambda _: until(self._token(next(read))),
                                           hold=hold)  # fmt: skip
        try:
            for i, _ in enumerate(steps):
                yield self._token(at + i)
        finally:
            steps.close()

    def verify(self, tokens: np.ndarray, pos: int) -> np.ndarray:
        """The recorded tokens after each of ``tokens`` (drafts past the first may be wrong); rows past the recording's
        end -1 (a generation that ends there, at its EOS or length, never reads them: the round ends before)."""
        ids = np.asarray(tokens).reshape(-1)
        self._timed(ids.size, self.runtime.verify, tokens, pos)
        at = self._after(pos, [int(ids[0])])
        rows = self.text[at : at + ids.size]
        return np.asarray(rows + [-1] * (ids.size - len(rows)), np.int32)


class Recording:
    """A ``--record-text`` recording of ``path`` (its ``prompts``), generated again over a runtime with ``model``'s
    tokenizer (``Replay``): (d) and ``scripts/replay_trace.py``."""

    def __init__(self, path: str | Path, model: Any) -> None:
        recorded = json.loads(Path(path).read_text())
        self.prompts: dict[str, dict[str, Any]] = recorded["prompts"]
        self.max_tokens: int = recorded["max_tokens"]
        self.texts = {name: [*r["prompt_ids"], *r["generated_ids"]] for name, r in self.prompts.items()}
        # generation ends as the recorded chat did: at the recorded model's EOS (kept in the text) or at max_tokens
        self.tokenizer: Any = SimpleNamespace(eos_token_ids=recorded["eos_token_ids"], stream=model.tokenizer.stream)

    @property
    def context(self) -> int:
        """A runtime context that holds every prompt and its answer."""
        return max(len(r["prompt_ids"]) for r in self.prompts.values()) + self.max_tokens + 40

    def generate(self, rt: Any, name: str, k: int | None) -> tuple[Any, dict[int, list[float]]]:
        """One greedy generation of prompt ``name``'s recorded answer over ``rt``, plain (k None) or prompt lookup with
        K = k, and its synchronous steps' walls (``Replay.walls``)."""
        r = self.prompts[name]
        rt.reset()
        spec = None if k is None else Speculator(SpeculativeOptions("lookup", k))
        backend = Replay(rt, self.texts[name])
        got = Session(backend, self.tokenizer).generate(r["prompt_ids"], self.max_tokens, speculative=spec)
        if got.generated_ids != r["generated_ids"]:
            log(f"(d) {name} k={k}: the generated tokens are not the recorded ones")
        return got, backend.walls


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from rusty_ir.backends.runtime import Device

        self.args = args
        self.start = time.perf_counter()
        self.device = Device()
        self.models: dict[str, tuple[Any, Any]] = {}

    def time_left(self) -> bool:
        return time.perf_counter() - self.start < self.args.time_limit

    def compiled(self, shape: str) -> tuple[Any, Any]:
        """(loaded synthetic model, artifact with the verify entry), compiled through the cache."""
        if shape not in self.models:
            self.models[shape] = compile_synthetic(self.device, shape, self.args.quantize, self.args.kv_cache)
        return self.models[shape]

    def runtime(self, shape: str, context: int, **kwargs: Any) -> Any:
        from rusty_ir.backends.runtime.model import ModelRuntime

        model, artifact = self.compiled(shape)
        return ModelRuntime(artifact.schedule, artifact.wgsl, artifact.runtime_weights(model.weights), context, self.device, **kwargs)


def compile_synthetic(device: Any, shape: str, quantize: str = "q4_0", kv_cache: str = "f32", use_cache: bool = True,
                      sampling: bool = False, target: str | None = None) -> tuple[Any, Any]:  # fmt: skip
    """(loaded synthetic model of ``shape``, its artifact with the verify entry for ``device``, and with ``sampling``
    the sampling ones), through the cache unless ``use_cache`` is false (a probe that patches the compiler). With
    ``target`` (a target's name) it is compiled for that target, and ``device`` may be None."""
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.importers import load_model
    from rusty_ir.synthetic import synthetic_model_path
    from rusty_ir.targets import target_for_adapter

    path, _ = synthetic_model_path(shape, quantize, 0, None, lambda m: log(m))
    model = load_model(path)
    options = CompileOptions(target=target or target_for_adapter(device.info), verify_entry=True, kv_cache=kv_cache,
                             sampling_entries=sampling)  # fmt: skip
    t = time.perf_counter()
    result = compile_model(model, options, adapter=device.identity if device is not None else "", use_cache=use_cache)
    log(f"{shape}: compiled in {time.perf_counter() - t:.1f} s (cache hit: {result.cache_hit})")
    return model, result.artifact


def log(message: str) -> None:
    print(f"[bench_long] {message}", file=sys.stderr, flush=True)


def prompt_of(n: int, vocab: int, seed: int = 0) -> list[int]:
    return [int(t) for t in np.random.default_rng(seed).integers(3, min(vocab, 30000), n)]


def median_seconds(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def verification(b: Bench) -> list[dict[str, Any]]:
    """(a): step costs and decode speeds per shape."""
    a = b.args
    rows = []
    for shape in a.shapes:
        if not b.time_left():
            rows.append({"shape": shape, "skipped": "time limit"})
            continue
        model, _ = b.compiled(shape)
        prompt = prompt_of(a.spec_prompt, model.config.vocab)
        rt = b.runtime(shape, a.spec_prompt + a.decode_tokens + 40)
        rt.prefill(np.asarray(prompt, np.int32), 0)
        pos = len(prompt)
        row: dict[str, Any] = {"shape": shape, "prompt_tokens": len(prompt)}
        row["decode_step_ms"] = 1e3 * median_seconds(lambda rt=rt, pos=pos: rt.decode(7, pos), a.repeats)
        for k in a.verify_k:
            ids = np.asarray(prompt[:k], np.int32)
            ms = 1e3 * median_seconds(lambda ids=ids, rt=rt, pos=pos: rt.verify(ids, pos), a.repeats)
            row[f"verify_{k}_ms"] = ms
            row[f"verify_{k}_vs_decode"] = ms / row["decode_step_ms"]
            row[f"verify_{k}_expected_speedup"] = k / row[f"verify_{k}_vs_decode"]  # k tokens a step when all k - 1 drafts agree
        tok = model.tokenizer
        for _ in range(2):  # the first generation warms up: a runtime's first stream records its commands
            rt.reset()
            plain = Session(rt, tok).generate(prompt, a.decode_tokens, stop_at_eos=False)
        row["plain_decode_tok_s"] = plain.timings.decode_tokens_per_s
        greedy = plain.generated_ids
        for name, drafter in (("oracle", Oracle(prompt, greedy)), ("contrary", Contrary(prompt, greedy, model.config.vocab))):
            spec = Speculator(SpeculativeOptions("lookup", a.draft_tokens))
            spec.options = SpeculativeOptions("draft", a.draft_tokens)
            spec.draft = drafter  # type: ignore[assignment]  # a test-only drafter: anything with propose(seq, k)
            rt.reset()
            got = Session(rt, tok).generate(prompt, a.decode_tokens, stop_at_eos=False, speculative=spec)
            if got.generated_ids != greedy:
                log(f"{shape} {name}: speculative tokens differ from plain greedy (verify rounding)")
            row[f"{name}_decode_tok_s"] = got.timings.decode_tokens_per_s
            row[f"{name}_stats"] = got.speculative
            row[f"{name}_speedup"] = got.timings.decode_tokens_per_s / row["plain_decode_tok_s"]
        log(f"(a) {shape}: {json.dumps({k: v for k, v in row.items() if not k.endswith('stats')})}")
        rows.append(row)
    return rows


def budget_for(rt_caches: Any, context: int, positions: int, fraction: float) -> int:
    """The device budget that leaves ``fraction`` of ``positions``' blocks on the host (context ``context``)."""
    from rusty_ir.backends.runtime.offload import _costs

    fixed, per_column = _costs(rt_caches, context)
    block = min(c.block_size for c in rt_caches)
    resident = max(1, int(np.ceil((1 - fraction) * -(-positions // block))))
    return fixed + per_column * resident


def offload(b: Bench) -> list[dict[str, Any]]:
    """(b): decode tok/s against context length and the share of the cache on the host."""
    from rusty_ir.backends.runtime.offload import full_bytes

    a = b.args
    rows = []
    model, artifact = b.compiled(a.offload_shape)
    from rusty_ir.backends.runtime.schedule import load_schedule

    caches = load_schedule(artifact.schedule).kv_caches
    for n in a.contexts:
        prompt = prompt_of(n, model.config.vocab)
        positions = n + 2 * a.decode_tokens  # a first, cold run, then the timed one continues it
        context = positions + 1
        for fraction in a.offload_fractions:
            row: dict[str, Any] = {"shape": a.offload_shape, "context": n, "host_fraction_asked": fraction}
            if not b.time_left():
                rows.append({**row, "skipped": "time limit"})
                continue
            budget = full_bytes(caches, context) + 1 if fraction == 0 else budget_for(caches, context, positions, fraction)
            try:
                rt = b.runtime(a.offload_shape, context, kv_device_budget=budget)
                t = time.perf_counter()
                session = Session(rt, model.tokenizer)
                cold = session.generate(prompt, a.decode_tokens, stop_at_eos=False)  # a fresh runtime's first steps
                warm = session.generate([*prompt, *cold.generated_ids], a.decode_tokens, stop_at_eos=False)  # continues the cache
                mem = rt.kv_memory_report()
                row.update(budget=budget, offloading=rt.offloading, max_prefill=rt.max_prefill, prefill_s=cold.timings.prefill_s,
                           first_decode_tok_s=cold.timings.decode_tokens_per_s, decode_tok_s=warm.timings.decode_tokens_per_s,
                           seconds=time.perf_counter() - t, kv_device_bytes=mem["device_bytes"], kv_host_bytes=mem["host_bytes"],
                           host_fraction=(mem["positions_on_host"] or 0) / (positions - 1),
                           host_bytes_per_step=mem["host_bytes_per_step"])  # fmt: skip
                del rt
            except Exception as err:  # a budget the adapter refuses (binding size): recorded, the run goes on
                row["error"] = str(err).splitlines()[0]
            log(f"(b) {json.dumps(row)}")
            rows.append(row)
    return rows


def prefill(b: Bench) -> list[dict[str, Any]]:
    """(c): prefill tok/s and peak device memory per prompt length."""
    a = b.args
    rows = []
    model, _ = b.compiled(a.prefill_shape)
    for n in a.prefill_lengths:
        row: dict[str, Any] = {"shape": a.prefill_shape, "prompt_tokens": n, "max_prefill": a.max_prefill}
        if not b.time_left():
            rows.append({**row, "skipped": "time limit"})
            continue
        try:
            rt = b.runtime(a.prefill_shape, n + 1, max_prefill=min(a.max_prefill, n))
            ids = np.asarray(prompt_of(n, model.config.vocab), np.int32)
            t = time.perf_counter()
            rt.prefill(ids, 0)
            seconds = time.perf_counter() - t
            mem = rt.memory_figures()
            row.update(prefill_s=seconds, prefill_tok_s=n / seconds, peak_device_bytes=mem["device_total_bytes"],
                       kv_device_bytes=mem["kv_cache"]["device_bytes"], activation_bytes=mem["activations"]["device_bytes"],
                       weight_bytes=mem["weights"]["device_bytes"])  # fmt: skip
            del rt
        except Exception as err:
            row["error"] = str(err).splitlines()[0]
        log(f"(c) {json.dumps(row)}")
        rows.append(row)
    return rows


def acceptance(a: argparse.Namespace) -> list[dict[str, Any]]:
    """The acceptance rate of prompt lookup, or of the draft model ``--draft``, with a real checkpoint on the prompts
    of ``--prompt-set``, greedy, per K."""
    import rusty_ir

    rows = []
    for k in a.acceptance_k:
        model = rusty_ir.load(a.model, backend=a.backend, speculate="draft" if a.draft else "lookup", draft=a.draft,
                              draft_tokens=k, context_length=1024)  # fmt: skip
        for name, prompt in PROMPT_SETS[a.prompt_set].items():
            model.reset()
            r = model.chat(prompt, max_tokens=a.acceptance_tokens)
            steps = (r.speculative or {}).get("verify_steps", 0) + (r.speculative or {}).get("plain_steps", 0)
            rows.append({"prompt": name, "k": k, "prompt_tokens": len(r.prompt_ids), "generated": len(r.generated_ids),
                         **(r.speculative or {}), "tokens_per_model_step": (len(r.generated_ids) - 1) / max(steps, 1)})  # fmt: skip
            log(f"acceptance {json.dumps(rows[-1])}")
    return rows


def record_text(a: argparse.Namespace) -> dict[str, Any]:
    """``--record-text``: a real checkpoint's greedy chat answer to each prompt of ``--prompt-set`` (up to
    ``--acceptance-tokens``, ending at EOS as chat does), as token ids for ``--replay``."""
    import rusty_ir

    model = rusty_ir.load(a.model, backend=a.backend, context_length=1024)
    prompts = {}
    for name, prompt in PROMPT_SETS[a.prompt_set].items():
        model.reset()
        r = model.chat(prompt, max_tokens=a.acceptance_tokens)
        prompts[name] = {"prompt_ids": r.prompt_ids, "generated_ids": r.generated_ids, "text": r.text}
        log(f"record {name}: {len(r.prompt_ids)} prompt tokens, {len(r.generated_ids)} generated ({r.finish_reason})")
    source = a.model if a.model is not None else Path(str(model.model.source)).name
    eos = [int(t) for t in model.tokenizer.eos_token_ids]
    return {"model": str(source), "backend": a.backend, "max_tokens": a.acceptance_tokens, "eos_token_ids": eos, "prompts": prompts}


def replay(b: Bench) -> list[dict[str, Any]]:
    """(d): plain and speculative (prompt lookup, K in ``--replay-k``) decode of ``--replay-shape`` on the recorded
    real text of ``--replay`` (``Replay``); median decode seconds of ``--replay-repeats`` alternating runs. Drafted,
    accepted and the steps are ``--acceptance``'s with that checkpoint (its reference backend). Each K's "all" row
    also has the median wall time of the speculative runs' synchronous steps per size (``step_ms``: 1 a decode step)
    and their decode time outside those steps (``outside_steps_s``, a run's: plain decode streams and the host's
    work between steps), to set beside the isolated step costs of (a)."""
    a = b.args
    model, _ = b.compiled(a.replay_shape)
    recorded = Recording(a.replay, model)
    recording = recorded.prompts
    if max(max(t) for t in recorded.texts.values()) >= model.config.vocab:
        raise SystemExit(f"{a.replay}: token ids past {a.replay_shape}'s vocabulary of {model.config.vocab}")
    rt = b.runtime(a.replay_shape, recorded.context)
    repeats = max(1, a.replay_repeats)

    first = next(iter(recording))
    for k in [None, *a.replay_k]:  # warm-up: first use of each step size
        recorded.generate(rt, first, k)
    rows: list[dict[str, Any]] = []
    totals = {k: [0, 0.0, 0.0] for k in a.replay_k}  # decode tokens, plain seconds, speculative seconds
    walls: dict[int, dict[int, list[float]]] = {k: {} for k in a.replay_k}  # K -> step tokens -> step walls (all runs)
    outside = {k: 0.0 for k in a.replay_k}  # K -> speculative decode seconds outside the synchronous steps (all runs)
    for name, r in recording.items():
        if not b.time_left():
            rows += [{"prompt": name, "k": k, "skipped": "time limit"} for k in a.replay_k]
            continue
        times: dict[int | None, list[float]] = {k: [] for k in [None, *a.replay_k]}
        stats: dict[int, Any] = {}
        for _ in range(repeats):  # alternating, so that a drift of the device's clock affects both alike
            for k in [None, *a.replay_k]:
                got, step_walls = recorded.generate(rt, name, k)
                times[k].append(got.timings.decode_s)
                if k is not None:
                    stats[k] = got.speculative
                    for size, seconds in step_walls.items():
                        walls[k].setdefault(size, []).extend(seconds)
                    outside[k] += (got.timings.decode_s - sum(map(sum, step_walls.values()))) / repeats
        n = len(r["generated_ids"])
        plain = statistics.median(times[None])
        for k in a.replay_k:
            spec = statistics.median(times[k])
            s = stats[k]
            rows.append({"prompt": name, "k": k, "prompt_tokens": len(r["prompt_ids"]), "tokens": n, "plain_decode_s": plain,
                         "spec_decode_s": spec, "plain_decode_tok_s": (n - 1) / plain, "spec_decode_tok_s": (n - 1) / spec,
                         "speedup": plain / spec, "drafted": s["drafted"], "accepted": s["accepted"],
                         "acceptance_rate": s["acceptance_rate"], "verify_steps": s["verify_steps"], "plain_steps": s["plain_steps"],
                         "tokens_per_model_step": (n - 1) / max(1, s["verify_steps"] + s["plain_steps"])})  # fmt: skip
            totals[k][0] += n - 1
            totals[k][1] += plain
            totals[k][2] += spec
            log(f"(d) {json.dumps(rows[-1])}")
    for k, (tokens, plain, spec) in totals.items():
        if tokens:
            mine = [r for r in rows if r["k"] == k and "skipped" not in r]
            drafted, accepted = sum(r["drafted"] for r in mine), sum(r["accepted"] for r in mine)
            steps = sum(r["verify_steps"] + r["plain_steps"] for r in mine)
            rows.append({"prompt": "all", "k": k, "tokens": sum(r["tokens"] for r in mine), "plain_decode_s": plain, "spec_decode_s": spec,
                         "plain_decode_tok_s": tokens / plain, "spec_decode_tok_s": tokens / spec, "speedup": plain / spec,
                         "drafted": drafted, "accepted": accepted, "acceptance_rate": round(accepted / drafted, 4) if drafted else None,
                         "verify_steps": sum(r["verify_steps"] for r in mine), "plain_steps": sum(r["plain_steps"] for r in mine),
                         "tokens_per_model_step": tokens / max(1, steps), "outside_steps_s": outside[k],
                         "step_ms": {size: round(1e3 * statistics.median(w), 3) for size, w in sorted(walls[k].items())}})  # fmt: skip
    return [{"shape": a.replay_shape, **r} for r in rows]


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for the JSON results")
    p.add_argument("--shapes", default="smollm2-135m,tinyllama-1.1b,llama3-8b", help="(a) synthetic shapes, comma-separated")
    p.add_argument("--verify-k", type=ints, default=[2, 4, 8], help="(a) tokens per verification step (default 2,4,8)")
    p.add_argument("--draft-tokens", type=int, default=4, help="(a) K drafted per round for the oracle/contrary runs (default 4)")
    p.add_argument("--spec-prompt", type=int, default=256, help="(a) prompt tokens before the timed steps (default 256)")
    p.add_argument("--offload-shape", default="llama3-8b", help="(b) shape (default llama3-8b; 'none' skips)")
    p.add_argument("--contexts", type=ints, default=[1024, 4096, 8192], help="(b) prompt lengths (default 1024,4096,8192)")
    p.add_argument("--offload-fractions", default="0,0.5,0.75", help="(b) shares of the cache on the host (default 0,0.5,0.75)")
    p.add_argument("--prefill-shape", default="llama3-8b", help="(c) shape (default llama3-8b; 'none' skips)")
    p.add_argument("--prefill-lengths", type=ints, default=[2048, 8192, 32768], help="(c) prompt lengths (default 2048,8192,32768)")
    p.add_argument("--max-prefill", type=int, default=512, help="(c) tokens per prefill step (default 512)")
    p.add_argument("--decode-tokens", type=int, default=32, help="tokens generated per decode measurement (default 32)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats of a step (median; default 5)")
    p.add_argument("--replay-repeats", type=int, default=3,
                   help="(d): alternating plain / speculative runs of each recorded answer (median; default 3; one prompt's "
                        "speed-up moved by up to 10%% between runs on an H200)")  # fmt: skip
    p.add_argument("--quantize", default="q4_0", help="synthetic weights (default q4_0)")
    p.add_argument("--kv-cache", default="f32", help="KV cache element type: f32 (default), f16, q8_0")
    p.add_argument("--time-limit", type=float, default=480, help="skip cases once this many seconds have passed (default 480)")
    p.add_argument("--acceptance", action="store_true",
                   help="only measure prompt lookup's (or --draft's) acceptance on real text (--model)")  # fmt: skip
    p.add_argument("--draft", default=None, metavar="MODEL", help="--acceptance: a draft model's instead of prompt lookup's")
    p.add_argument("--model", default=None, help="--acceptance, --record-text: the checkpoint (default: the bundled SmolLM2)")
    p.add_argument("--backend", default="reference", help="--acceptance, --record-text: reference (default) or wgpu")
    p.add_argument("--acceptance-k", type=ints, default=[4, 8], help="--acceptance: draft tokens per round (default 4,8)")
    p.add_argument("--acceptance-tokens", type=int, default=96, help="--acceptance, --record-text: new tokens per prompt (default 96)")
    p.add_argument("--record-text", default=None, metavar="FILE", help="only record --model's greedy answers to the prompts for --replay")
    p.add_argument("--prompt-set", choices=sorted(PROMPT_SETS), default="acceptance",
                   help="--acceptance, --record-text: the prompts (default acceptance; held-out: ones the drafting rules were not tuned on)")  # fmt: skip
    p.add_argument("--replay", default=None, metavar="FILE", help="(d) a --record-text recording (default none: (d) skipped)")
    p.add_argument("--replay-shape", default="llama3-8b", help="(d) shape that replays the recording (default llama3-8b)")
    p.add_argument("--replay-k", type=ints, default=[4, 8], help="(d) prompt lookup's draft tokens per round (default 4,8)")
    a = p.parse_args(argv)
    a.shapes = [s for s in a.shapes.split(",") if s and s != "none"]
    a.offload_fractions = [float(x) for x in a.offload_fractions.split(",") if x]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.acceptance:
        rows = acceptance(a)
        (out / "acceptance.json").write_text(json.dumps(rows, indent=1))
        print(table(rows, ["prompt", "k", "prompt_tokens", "generated", "drafted", "accepted", "acceptance_rate", "tokens_per_model_step"]))
        return 0
    if a.record_text:
        recording = record_text(a)
        ids_on_one_line = re.sub(r"\[[\d,\s]*\]", lambda m: json.dumps(json.loads(m.group())), json.dumps(recording, indent=1))
        Path(a.record_text).write_text(ids_on_one_line + "\n")
        print(table([{"prompt": name, "prompt_tokens": len(r["prompt_ids"]), "generated": len(r["generated_ids"])}
                     for name, r in recording["prompts"].items()], ["prompt", "prompt_tokens", "generated"]))  # fmt: skip
        return 0
    b = Bench(a)
    sections: dict[str, list[dict[str, Any]]] = {}
    if a.shapes:
        sections["verification"] = verification(b)
        (out / "verification.json").write_text(json.dumps(sections["verification"], indent=1))
    if a.offload_shape != "none":
        sections["offload"] = offload(b)
        (out / "offload.json").write_text(json.dumps(sections["offload"], indent=1))
    if a.prefill_shape != "none":
        sections["prefill"] = prefill(b)
        (out / "prefill.json").write_text(json.dumps(sections["prefill"], indent=1))
    if a.replay:
        sections["replay"] = replay(b)
        (out / "replay.json").write_text(json.dumps(sections["replay"], indent=1))
    info = {"adapter": b.device.info, "seconds": time.perf_counter() - b.start, "args": {k: v for k, v in vars(a).items()}}
    (out / "run.json").write_text(json.dumps(info, indent=1, default=str))
    if "verification" in sections:
        ks = [f"verify_{k}_vs_decode" for k in a.verify_k]
        print("## (a) verification step cost and speculative decode bounds\n")
        print(table(sections["verification"], ["shape", "decode_step_ms", *ks, "plain_decode_tok_s", "oracle_decode_tok_s", "oracle_speedup",
                                               "contrary_decode_tok_s", "contrary_speedup", "skipped"]))  # fmt: skip
    if "offload" in sections:
        print("\n## (b) decode with the KV cache partly on the host\n")
        print(table(sections["offload"], ["shape", "context", "host_fraction_asked", "host_fraction", "kv_device_bytes", "kv_host_bytes",
                                          "host_bytes_per_step", "first_decode_tok_s", "decode_tok_s", "prefill_s", "error", "skipped"]))  # fmt: skip
    if "prefill" in sections:
        print("\n## (c) long prefill\n")
        print(table(sections["prefill"], ["shape", "prompt_tokens", "max_prefill", "prefill_tok_s", "peak_device_bytes", "kv_device_bytes",
                                          "activation_bytes", "error", "skipped"]))  # fmt: skip
    if "replay" in sections:
        print("\n## (d) prompt lookup on recorded real text\n")
        print(table(sections["replay"], ["shape", "prompt", "k", "tokens", "plain_decode_tok_s", "spec_decode_tok_s", "speedup", "drafted",
                                         "accepted", "verify_steps", "plain_steps", "skipped"]))  # fmt: skip
    print(f"\n{info['seconds']:.0f} s on {b.device.info.get('device')}")
    return 0


__all__ = ["Contrary", "Oracle", "Replay", "compile_synthetic", "ints", "main", "median_seconds"]

if __name__ == "__main__":
    sys.exit(main())
