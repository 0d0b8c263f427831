"""Load test of ``rusty serve``: N concurrent streaming clients, every answer checked, latency and tokens/s.

    python scripts/load_test.py --launch [--clients 8] [--requests 4] [--max-tokens 64] [--json] [-- SERVE ARGS...]
    python scripts/load_test.py --url http://127.0.0.1:8000/v1 ...

``--launch`` starts ``rusty serve --port 0`` (with the arguments after ``--``: a MODEL, --context-length,
...) and stops it at the end; ``--url`` uses a running server. A benchmark, not a test: it needs the
``openai`` client (the test extra) and a GPU to say anything about speed.

1. Reference answers: each prompt once, alone, not streamed (greedy, so an answer is fixed).
2. The load: ``--clients`` tasks at once, each streaming ``--requests`` chat completions over the
   prompts in turn (``stream_options.include_usage``), timing the first content chunk and the end.
3. Checks, per response: it finished (a finish reason, then usage), its streamed chunks put together
   are the reference answer (complete and in order), and it generated as many tokens. Any failure is
   an error; the exit status is 1 if there was one.
4. Report: clients, requests, errors, completion tokens, wall time, aggregate completion tokens/s,
   p50/p95 of the request latency and of the time to first token, and the server's model and adapter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

PROMPTS = [
    "What is the capital of France?",
    "Give me three words that rhyme with 'light'.",
    "Explain in one sentence what a GPU is.",
    "Write a haiku about autumn.",
    "How many legs does a spider have?",
    "Name a famous painting.",
]


@dataclass
class Outcome:
    prompt: int
    ok: bool
    latency_s: float
    first_token_s: float | None
    completion_tokens: int
    error: str = ""


@dataclass
class Report:
    url: str
    model: str
    adapter: str
    clients: int
    requests: int
    max_tokens: int
    errors: int
    completion_tokens: int
    wall_s: float
    tokens_per_s: float
    latency_p50_s: float
    latency_p95_s: float
    first_token_p50_s: float
    first_token_p95_s: float
    error_samples: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def reference(client: Any, model: str, prompt: str, max_tokens: int) -> tuple[str, int]:
    r = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens)
    return r.choices[0].message.content, r.usage.completion_tokens


async def one_request(client: Any, model: str, index: int, max_tokens: int, want: tuple[str, int]) -> Outcome:
    start = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    finish, usage = None, None
    try:
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPTS[index]}], max_tokens=max_tokens, stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    first = first if first is not None else time.perf_counter() - start
                    parts.append(choice.delta.content)
                finish = choice.finish_reason or finish
    except Exception as err:  # every failure is counted and reported
        return Outcome(index, False, time.perf_counter() - start, first, 0, f"{type(err).__name__}: {err}")
    latency = time.perf_counter() - start
    text, tokens = "".join(parts), usage.completion_tokens if usage else 0
    problems = [
        (finish is None, "no finish reason"),
        (usage is None, "no usage chunk"),
        (text != want[0], f"streamed text differs from the reference answer: {text!r} vs {want[0]!r}"),
        (usage is not None and tokens != want[1], f"{tokens} completion tokens, the reference has {want[1]}"),
    ]
    error = "; ".join(why for bad, why in problems if bad)
    return Outcome(index, not error, latency, first, tokens, error)


async def run(url: str, clients: int, requests: int, max_tokens: int) -> Report:
    from openai import AsyncOpenAI  # the test extra

    client = AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, timeout=3600)
    model = (await client.models.list()).data[0].id
    with urllib.request.urlopen(url.removesuffix("/v1") + "/health") as health:  # the server under test
        adapter = json.load(health).get("adapter") or "?"
    wants = [await reference(client, model, p, max_tokens) for p in PROMPTS]

    async def worker(c: int) -> list[Outcome]:
        return [
            await one_request(client, model, (c + r) % len(PROMPTS), max_tokens, wants[(c + r) % len(PROMPTS)]) for r in range(requests)
        ]

    start = time.perf_counter()
    outcomes = [o for batch in await asyncio.gather(*(worker(c) for c in range(clients))) for o in batch]
    wall = time.perf_counter() - start
    await client.close()
    done = [o for o in outcomes if o.ok]
    tokens = sum(o.completion_tokens for o in done)
    firsts = [o.first_token_s for o in done if o.first_token_s is not None]
    return Report(
        url=url, model=model, adapter=adapter, clients=clients, requests=len(outcomes), max_tokens=max_tokens,
        errors=len(outcomes) - len(done), completion_tokens=tokens, wall_s=round(wall, 3),
        tokens_per_s=round(tokens / wall, 2) if wall > 0 else 0.0,
        latency_p50_s=round(percentile([o.latency_s for o in done], 50), 3),
        latency_p95_s=round(percentile([o.latency_s for o in done], 95), 3),
        first_token_p50_s=round(percentile(firsts, 50), 3), first_token_p95_s=round(percentile(firsts, 95), 3),
        error_samples=[o.error for o in outcomes if not o.ok][:5],
    )  # fmt: skip


def launch(serve_args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """``rusty serve --port 0 ...``; the process and its URL, once it listens."""
    # -P: not the working directory first on sys.path, where a source checkout's rusty_ir/ (without the
    # dialects/, passes/ and backends/ the install maps into it) would shadow the installed package
    cmd = [sys.executable, "-P", "-m", "rusty_ir.tools.rusty", "serve", "--port", "0", *serve_args]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)  # our own tool
    assert proc.stderr is not None
    for line in proc.stderr:
        sys.stderr.write(line)
        found = re.search(r"on (http://\S+/v1)", line)
        if found:
            return proc, found.group(1)
    raise SystemExit(f"rusty serve exited ({proc.wait()}) before it listened")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running server's base URL (…/v1)")
    where.add_argument("--launch", action="store_true", help="start rusty serve --port 0 with the arguments after --")
    p.add_argument("--clients", type=int, default=8, help="concurrent streaming clients (default 8)")
    p.add_argument("--requests", type=int, default=4, help="requests per client, one after another (default 4)")
    p.add_argument("--max-tokens", type=int, default=64, help="max_tokens of each request (default 64)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("serve_args", nargs="*", help="after --: arguments of rusty serve (with --launch)")
    args = p.parse_args()
    if min(args.clients, args.requests, args.max_tokens) < 1:
        p.error("--clients, --requests and --max-tokens must be at least 1")
    proc = None
    url = args.url
    if args.launch:
        proc, url = launch(args.serve_args)
    try:
        report = asyncio.run(run(url, args.clients, args.requests, args.max_tokens))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
    if args.json:
        print(json.dumps(asdict(report), indent=1))
    else:
        print(f"{report.model} on {report.adapter} at {report.url}: {report.clients} clients, {report.requests} streamed requests "
              f"(max_tokens {report.max_tokens}), {report.errors} errors")  # fmt: skip
        print(f"  {report.completion_tokens} completion tokens in {report.wall_s:.1f} s: {report.tokens_per_s:.1f} tokens/s")
        print(f"  latency p50 {report.latency_p50_s:.2f} s, p95 {report.latency_p95_s:.2f} s; "
              f"first token p50 {report.first_token_p50_s:.2f} s, p95 {report.first_token_p95_s:.2f} s")  # fmt: skip
        for sample in report.error_samples:
            print(f"  error: {sample}")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
