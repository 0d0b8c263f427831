"""``rusty serve``: an OpenAI-compatible HTTP server (Starlette on uvicorn; ``pip install 'rusty-ir[serve]'``).

Endpoints, as OpenAI's API: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (with
``"stream": true`` the answer comes as server-sent events, ``data: {chunk}`` lines ending with
``data: [DONE]``), ``GET /v1/models``, and ``GET /health``. Requests take ``max_tokens`` (or
``max_completion_tokens``), ``stop``, ``seed``, ``temperature``, ``top_p``, ``presence_penalty``,
``frequency_penalty`` and, beyond OpenAI's, ``top_k``, ``min_p``, ``repetition_penalty`` and
``penalty_last_n`` (``rusty_ir.sampling``); without ``temperature`` a request decodes greedily
(OpenAI's default is 1). Responses carry ``usage`` (``prompt_tokens_details.cached_tokens``: the prompt
tokens whose KV cache a previous request left, not prefilled again).

How requests share the one model (``Engine``):

1. The handler validates the request (an HTTP 400 with OpenAI's error object for anything wrong,
   including a prompt plus ``max_tokens`` that does not fit the context, and what is not supported:
   ``n > 1``, logprobs, tools), tokenizes it, and queues a job; past ``max_queue`` waiting jobs it
   answers 503.
2. One worker thread runs the jobs in arrival order (first come, first served), each through the
   model's ``Session``: a prompt that shares a prefix with what the cache holds (the previous
   request's prompt and answer: a chat's next turn, a repeated system prompt) prefills only the rest.
3. Text goes back to the handler's event loop as it is generated. A client that disconnects
   cancels its job: a queued job is skipped, a running one stops after its current token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rusty_ir.errors import RustyError
from rusty_ir.sampling import SamplingParams, asked_to_sample, cannot_sample
from rusty_ir.speculative import describe

if TYPE_CHECKING:
    from rusty_ir.api import LoadOptions

COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""``/v1/completions`` without ``max_tokens``: OpenAI's default. Chat without one may fill the context."""


class RequestError(Exception):
    """A request the server refuses: HTTP ``status`` with OpenAI's error object."""

    def __init__(self, message: str, status: int = 400, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.param, self.code = status, param, code

    def body(self) -> dict[str, Any]:
        kind = {400: "invalid_request_error", 404: "not_found_error", 503: "server_overloaded"}.get(self.status, "server_error")
        return {"error": {"message": str(self), "type": kind, "param": self.param, "code": self.code}}


# --- requests -------------------------------------------------------------------------------------

_SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty",
                    "frequency_penalty", "penalty_last_n", "seed")  # fmt: skip
_UNSUPPORTED = {
    "logprobs": "logprobs are not supported",
    "top_logprobs": "logprobs are not supported",
    "echo": "echo is not supported",
    "suffix": "suffix is not supported",
    "tools": "tools are not supported",
    "functions": "functions are not supported",
    "logit_bias": "logit_bias is not supported",
    "best_of": "best_of is not supported",
}


@dataclass
class Job:
    """One request's work and the way back to its handler."""

    prompt_ids: list[int]
    max_tokens: int
    sampling: SamplingParams
    stop: list[str]
    deliver: Callable[[tuple[str, Any]], object]
    """Called from the worker thread with ("text", piece), ("done", result) or ("error", message)."""
    cancelled: threading.Event = field(default_factory=threading.Event)


def _parse_request(body: Any, chat: bool, model: Any, served_name: str) -> Job:
    """A validated job (``deliver`` still to set) from a request body; RequestError for a bad one."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    name = body.get("model")
    if name is not None and name != served_name:
        raise RequestError(f"the model '{name}' does not exist; this server serves '{served_name}'", 404, "model", "model_not_found")
    for key, why in _UNSUPPORTED.items():
        if body.get(key):  # absent, null, false, 0 and [] ask for nothing
            raise RequestError(why, param=key)
    if body.get("n") not in (None, 1):
        raise RequestError("only n = 1 is supported", param="n")
    ids = _chat_ids(body, model) if chat else _completion_ids(body, model)
    stop = body.get("stop")
    stops = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > 4:
        raise RequestError("stop must be a string or a list of at most 4 strings", param="stop")
    options = {k: body[k] for k in _SAMPLING_FIELDS if body.get(k) is not None}
    try:
        sampling = SamplingParams(**options)
    except RustyError as err:
        raise RequestError(str(err), param=str(err).split()[0]) from None
    refusal = cannot_sample(model.backend, sampling)
    if refusal:
        raise RequestError(refusal, param=asked_to_sample(sampling)[0])
    context = model.context_length
    limit = body.get("max_completion_tokens") if chat and body.get("max_completion_tokens") is not None else body.get("max_tokens")
    if limit is None:
        limit = max(1, context - len(ids)) if chat else COMPLETIONS_DEFAULT_MAX_TOKENS
    elif not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise RequestError("max_tokens must be a whole number >= 1", param="max_tokens")
    if len(ids) + limit > context:
        raise RequestError(
            f"this model's context holds {context} tokens; the request needs {len(ids) + limit} "
            f"({len(ids)} in the prompt, {limit} to generate): shorten the prompt or lower max_tokens",
            param="messages" if chat else "prompt", code="context_length_exceeded",
        )  # fmt: skip
    return Job(ids, limit, sampling, stops, deliver=lambda _event: None)


def _chat_ids(body: dict[str, Any], model: Any) -> list[int]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list", param="messages")
    plain = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise RequestError("each message must be an object with a 'role'", param="messages")
        content = m.get("content")
        if isinstance(content, list):  # content parts: text only
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
                raise RequestError("only text content parts are supported", param="messages")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise RequestError("a message's content must be a string (or text parts)", param="messages")
        plain.append({"role": m["role"], "content": content})
    if not model.tokenizer.chat_template:
        raise RequestError("this model has no chat template: use /v1/completions", param="messages")
    try:
        return model.tokenizer.encode_chat(plain)
    except Exception as err:  # a template may reject a conversation (roles out of order)
        raise RequestError(f"the chat template refused these messages: {err}", param="messages") from None


def _completion_ids(body: dict[str, Any], model: Any) -> list[int]:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]  # one prompt in a list
    if isinstance(prompt, str):
        ids = model.tokenizer.encode(prompt)
    elif isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        vocab = model.config.vocab
        if not all(0 <= t < vocab for t in prompt):
            raise RequestError(f"token ids must be in 0..{vocab - 1}", param="prompt")
        ids = list(prompt)
    else:
        raise RequestError("prompt must be a string, or a list of token ids (one prompt per request)", param="prompt")
    if not ids:
        raise RequestError("the prompt is empty (it encodes to no tokens)", param="prompt")
    return ids


# --- the engine -----------------------------------------------------------------------------------


class Engine:
    """The model, a FIFO of jobs and the one thread that runs them (module docstring)."""

    def __init__(self, model: Any, name: str, max_queue: int = 64, log: Callable[[str], None] | None = None) -> None:
        self.model = model
        self.name = name
        self.max_queue = max_queue
        self.log = log
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.served = 0
        self.cancelled = 0
        """Jobs that stopped (or never started) because their client went away."""
        self._worker = threading.Thread(target=self._run, name="rusty-serve-engine", daemon=True)
        self._worker.start()

    def submit(self, job: Job) -> None:
        if self.jobs.qsize() >= self.max_queue:
            raise RequestError(f"the server is busy ({self.max_queue} requests waiting); retry later", 503)
        self.jobs.put(job)

    def close(self) -> None:
        self.jobs.put(None)
        self._worker.join(timeout=60)

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if job.cancelled.is_set():
                self.cancelled += 1
                continue
            try:
                result = self._generate(job)
            except Exception as err:  # reported to the client as a 500, the server keeps running
                job.deliver(("error", f"{type(err).__name__}: {err}" if not isinstance(err, RustyError) else str(err)))
                continue
            self.served += 1
            if result.finish_reason == "cancelled":
                self.cancelled += 1
            if self.log is not None:
                self.log(f"{len(result.prompt_ids)} prompt tokens ({result.cached_tokens} cached), "
                         f"{len(result.generated_ids)} generated ({result.finish_reason}) in {result.timings.total_s:.2f} s{describe(result.speculative)}")  # fmt: skip
            job.deliver(("done", result))

    def _generate(self, job: Job) -> Any:
        pieces = self.model.stream(job.prompt_ids, max_tokens=job.max_tokens, stop=job.stop, cancel=job.cancelled.is_set,
                                   **job.sampling.to_dict())  # fmt: skip
        while True:
            try:
                piece = next(pieces)
            except StopIteration as done:
                return done.value
            job.deliver(("text", piece))


# --- HTTP -----------------------------------------------------------------------------------------


def _usage(result: Any) -> dict[str, Any]:
    prompt, completion = len(result.prompt_ids), len(result.generated_ids)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": result.cached_tokens}}  # fmt: skip


def make_app(engine: Engine) -> Any:
    """The Starlette application of ``engine``."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    created = int(time.time())

    def error(err: RequestError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status)

    async def models(_request: Request) -> JSONResponse:
        return JSONResponse(
            {"object": "list", "data": [{"id": engine.name, "object": "model", "created": created, "owned_by": "rusty-ir"}]}
        )

    device = getattr(engine.model.backend, "device", None)
    adapter = (device.info.get("device") or device.info.get("description")) if device is not None else engine.model.backend.name

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": engine.name, "adapter": adapter, "waiting": engine.jobs.qsize(),
                             "served": engine.served, "cancelled": engine.cancelled})  # fmt: skip

    async def completions(request: Request, chat: bool) -> Any:
        try:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise RequestError("the request body is not valid JSON") from None
            job = _parse_request(body, chat, engine.model, engine.name)
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise RequestError("stream must be true or false", param="stream")
            options = body.get("stream_options") or {}
            if not isinstance(options, dict):
                raise RequestError("stream_options must be an object", param="stream_options")
        except RequestError as err:
            return error(err)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        job.deliver = lambda event: loop.call_soon_threadsafe(events.put_nowait, event)
        try:
            engine.submit(job)
        except RequestError as err:
            return error(err)
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        if stream:
            return StreamingResponse(
                _sse(job, events, chat, ident, engine.name, bool(options.get("include_usage"))), media_type="text/event-stream"
            )
        return await _whole(request, job, events, chat, ident, engine.name)

    async def chat_completions(request: Request) -> Any:
        return await completions(request, chat=True)

    async def text_completions(request: Request) -> Any:
        return await completions(request, chat=False)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return error(RequestError(str(exc.detail), exc.status_code))

    routes = [
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", text_completions, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def _chunk(chat: bool, ident: str, name: str, text: str | None, finish: str | None, first: bool = False) -> dict[str, Any]:
    if chat:
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else ({} if text is None else {"content": text})
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
    else:
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
    kind = "chat.completion.chunk" if chat else "text_completion"
    return {"id": ident, "object": kind, "created": int(time.time()), "model": name, "choices": [choice]}


async def _sse(job: Job, events: asyncio.Queue[tuple[str, Any]], chat: bool, ident: str, name: str, usage: bool) -> AsyncIterator[str]:
    """The server-sent events of a streamed answer; a client that goes away cancels the job."""

    def line(payload: Any) -> str:
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    try:
        if chat:
            yield line(_chunk(chat, ident, name, None, None, first=True))
        while True:
            kind, value = await events.get()
            if kind == "text":
                yield line(_chunk(chat, ident, name, value, None))
            elif kind == "error":
                yield line(RequestError(value, 500).body())
                break
            else:
                finish = "length" if value.finish_reason == "length" else "stop"
                yield line(_chunk(chat, ident, name, None, finish))
                if usage:
                    yield line({**_chunk(chat, ident, name, None, None), "choices": [], "usage": _usage(value)})
                break
        yield "data: [DONE]\n\n"
    finally:
        job.cancelled.set()  # a no-op once the job is done; otherwise the client left


async def _whole(request: Any, job: Job, events: asyncio.Queue[tuple[str, Any]], chat: bool, ident: str, name: str) -> Any:
    """The answer as one JSON response, cancelling the job if the client disconnects while it waits."""
    from starlette.responses import JSONResponse

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watch = asyncio.ensure_future(disconnected())
    parts: list[str] = []
    try:
        while True:
            getter = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait({getter, watch}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                job.cancelled.set()
                return JSONResponse(RequestError("the client disconnected", 499).body(), status_code=499)
            kind, value = getter.result()
            if kind == "text":
                parts.append(value)
            elif kind == "error":
                return JSONResponse(RequestError(value, 500).body(), status_code=500)
            else:
                break
    finally:
        watch.cancel()
    result, text = value, "".join(parts)
    finish = "length" if result.finish_reason == "length" else "stop"
    if chat:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
    body = {"id": ident, "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": name, "choices": [choice], "usage": _usage(result)}  # fmt: skip
    return JSONResponse(body)


# --- the command ----------------------------------------------------------------------------------


def require_stack() -> None:
    """RustyError naming the extra to install when Starlette or uvicorn is missing."""
    try:
        import starlette  # noqa: F401 - imported only to see that it is installed
        import uvicorn  # noqa: F401 - likewise
    except ImportError as err:
        raise RustyError(f"rusty serve needs the serve extra ({err.name} is missing): pip install 'rusty-ir[serve]'") from None


def served_name(model: Any, given: str | None) -> str:
    """The model id clients use: ``given``, else the checkpoint's file name without ``.gguf``, or its folder's name."""
    source = model.model.source
    return given or (source.stem if source.suffix == ".gguf" else source.name)


def serve_main(args: argparse.Namespace, options: LoadOptions) -> int:
    """``rusty serve``: load the model (``options``: what the command's model flags ask for, from
    ``rusty_ir.tools.options.load_options``), then serve until interrupted."""
    require_stack()
    import uvicorn

    from rusty_ir.api import open_model
    from rusty_ir.progress import Progress

    if args.max_queue < 1:
        raise RustyError(f"--max-queue must be at least 1, got {args.max_queue}")
    if not 0 <= args.port < 65536:
        raise RustyError(f"--port must be in 0..65535, got {args.port}")
    progress = Progress(args.quiet)
    model = open_model(args.model, options, progress)
    log = None if args.quiet else (lambda m: print(f"rusty: {m}", file=sys.stderr, flush=True))
    engine = Engine(model, served_name(model, args.model_name), args.max_queue, log)
    config = uvicorn.Config(make_app(engine), log_level="warning" if args.quiet else "info")
    listener = socket.create_server((args.host, args.port))  # bound here, so that port 0 can say which port it got
    host, port = listener.getsockname()[:2]
    print(f"rusty: serving '{engine.name}' (context {model.context_length} tokens) on http://{host}:{port}/v1 (Ctrl-C stops)",
          file=sys.stderr, flush=True)  # even with -q: where to connect  # fmt: skip
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        engine.close()
        listener.close()
    return 0


__all__ = ["Engine", "Job", "RequestError", "make_app", "require_stack", "serve_main", "served_name"]
