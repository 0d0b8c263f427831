"""``rusty serve`` with the official ``openai`` client as the client, over real HTTP (uvicorn on a free
port, in a thread), on the session's SmolLM2 on the wgpu adapter."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn

from rusty_ir.serve import Engine, make_app

NAME = "smollm2"
HI = [{"role": "user", "content": "Hi"}]


@contextmanager
def serving(engine: Engine) -> Iterator[int]:
    """``engine``'s app served by uvicorn on a free port, in a thread; the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(make_app(engine), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.close()


@pytest.fixture(scope="module")
def server(smollm2_api: Any) -> Iterator[tuple[Engine, int]]:
    engine = Engine(smollm2_api, NAME, max_queue=8)
    with serving(engine) as port:
        yield engine, port


@pytest.fixture
def client(server: tuple[Engine, int]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server[1]}/v1", api_key="unused", max_retries=0)


def raw(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_models(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [NAME]


def test_chat_streams_what_a_plain_request_returns(client: openai.OpenAI, smollm2_api: Any) -> None:
    want = smollm2_api.chat(HI, max_tokens=5)
    whole = client.chat.completions.create(model=NAME, messages=HI, max_tokens=5)
    assert whole.choices[0].message.content == want.text and whole.choices[0].finish_reason == "length"
    assert whole.usage.prompt_tokens == len(want.prompt_ids) and whole.usage.completion_tokens == 5
    assert whole.usage.prompt_tokens_details.cached_tokens == len(want.prompt_ids) - 1  # the same prompt again
    chunks = list(client.chat.completions.create(model=NAME, messages=HI, max_tokens=5, stream=True,
                                                 stream_options={"include_usage": True}))  # fmt: skip
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == want.text and len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.total_tokens == len(want.prompt_ids) + 5


def test_completions_sampling_and_stop(client: openai.OpenAI) -> None:
    r = client.completions.create(model=NAME, prompt="The capital of France is", max_tokens=6, stop=["\n"])
    assert r.choices[0].text == " Paris." and r.choices[0].finish_reason == "stop"
    seeded = [client.completions.create(model=NAME, prompt="Once upon a time", max_tokens=3, temperature=1.3, seed=11,
                                        extra_body={"top_k": 50}).choices[0].text for _ in range(2)]  # fmt: skip
    assert seeded[0] == seeded[1]
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=NAME, prompt="Once upon a time", max_tokens=3, temperature=1.3, seed=11, extra_body={"top_k": 50}, stream=True))  # fmt: skip
    assert streamed == seeded[0]


def test_bad_requests_get_4xx(client: openai.OpenAI, server: tuple[Engine, int]) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=NAME, messages=HI, max_tokens=1000)
    assert err.value.code == "context_length_exceeded" and "context holds 512 tokens" in err.value.message
    with pytest.raises(openai.BadRequestError, match="temperature must be a number >= 0"):
        client.chat.completions.create(model=NAME, messages=HI, temperature=-1)
    with pytest.raises(openai.BadRequestError, match="only n = 1"):
        client.chat.completions.create(model=NAME, messages=HI, n=2)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4", messages=HI)
    port = server[1]
    status, body = raw(port, "POST", "/v1/chat/completions", b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = raw(port, "POST", "/v1/completions", json.dumps({"prompt": [], "max_tokens": 2}).encode())
    assert status == 400 and "prompt" in body["error"]["message"]
    status, body = raw(port, "GET", "/v1/nothing")
    assert status == 404 and "error" in body


def test_concurrent_clients_all_complete(client: openai.OpenAI, smollm2_api: Any) -> None:
    want = smollm2_api.generate("One, two,", max_tokens=3).text
    results: list[str] = []

    def one() -> None:
        stream = client.completions.create(model=NAME, prompt="One, two,", max_tokens=3, stream=True)
        results.append("".join(c.choices[0].text for c in stream))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert results == [want] * 3


def test_a_client_that_leaves_cancels_its_request(server: tuple[Engine, int], client: openai.OpenAI) -> None:
    engine, port = server
    before = engine.cancelled
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = {"model": NAME, "prompt": "Count: 1, 2, 3,", "max_tokens": 400, "stream": True, "stop": ["zzz"]}
    conn.request("POST", "/v1/completions", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200 and response.readline().startswith(b"data: ")  # generation has started
    conn.close()  # the client goes away
    deadline = time.monotonic() + 120
    while engine.cancelled == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert engine.cancelled == before + 1
    assert client.completions.create(model=NAME, prompt="Hi", max_tokens=1).choices[0].finish_reason == "length"


def test_a_model_loaded_to_speculate_serves_what_plain_decoding_gives(tmp_path: Path) -> None:
    """``rusty serve --speculate lookup`` loads the model as ``rusty_ir.load(speculate="lookup")`` does: requests are
    decoded speculatively (the log says how many drafts were kept) and answer what plain greedy decoding gives. A tiny
    model on the reference backend, whose text after these ids falls into a loop that prompt lookup drafts."""
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    import rusty_ir

    cfg = tiny_config("llama")
    model = rusty_ir.load(write_tiny_gguf(tmp_path / "tiny.gguf", cfg, random_weights(cfg, seed=3)), backend="reference",
                          context_length=64, speculate="lookup")  # fmt: skip
    ids = [5, 6, 7, 8] * 3
    plain = model.generate(ids, max_tokens=16, speculate=False)
    logs: list[str] = []
    with serving(Engine(model, "tiny", max_queue=2, log=logs.append)) as port:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        got = client.completions.create(model="tiny", prompt=ids, max_tokens=16)
    assert got.choices[0].text == plain.text and got.usage.completion_tokens == len(plain.generated_ids) == 16
    assert "drafted tokens accepted" in logs[-1], logs


def test_a_greedy_only_model_refuses_sampling_with_a_400(tmp_path: Path) -> None:
    """A model compiled without the sampling entries (a ``rusty compile`` folder without ``--sampling``) answers a
    request that asks to sample with a 400 naming the fields and the flag, and greedy requests as usual."""
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    from rusty_ir.api import LoadOptions, open_model
    from rusty_ir.progress import Progress

    cfg = tiny_config("llama")
    path = write_tiny_gguf(tmp_path / "tiny.gguf", cfg, random_weights(cfg, seed=3))
    model = open_model(path, LoadOptions(backend="reference", context_length=64, sampling=False), Progress(quiet=True))
    with serving(Engine(model, "tiny", max_queue=2)) as port:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError, match="built without the sampling entries.*drop temperature, top_p, or .*--sampling"):
            client.completions.create(model="tiny", prompt=[5, 6, 7], max_tokens=4, temperature=0.7, top_p=0.9)
        assert client.completions.create(model="tiny", prompt=[5, 6, 7], max_tokens=4).usage.completion_tokens == 4
