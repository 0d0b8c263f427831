"""Chat templates render with limits on size, time and recursion (issue 16, defect 7)."""

from __future__ import annotations

import resource
import time

import pytest

from rusty_ir.errors import RustyError
from rusty_ir.importers.chat_template import render_chat_template

MESSAGES = {"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": True}


def _fails(template: str, *fragments: str, seconds: float = 5.0) -> str:
    with pytest.raises(RustyError) as e:
        render_chat_template(template, MESSAGES, "model.gguf", seconds=seconds)
    msg = str(e.value)
    assert msg.startswith("model.gguf: chat template") and "\n" not in msg, msg
    for f in fragments:
        assert f in msg, msg
    return msg


def test_a_real_template_renders() -> None:
    template = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}" \
               "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"  # fmt: skip
    assert render_chat_template(template, MESSAGES, "m") == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'a' * 3000000000 }}", "a repetition 3000000000 times"),  # took 6 GB in 7 s
        ("{{ [1] * 10 ** 9 }}", "a repetition 1000000000 times"),
        ("{{ 'a'|center(1000000000) }}", "an argument of 1000000000"),
        ("{{ 'a'.ljust(1000000000) }}", "an argument of 1000000000"),
        ("{{ '%1000000000s' % 'a' }}", "a format with a width"),
        ("{{ '{:>1000000000}'.format('a') }}", "a format with a width"),
        ("{% set ns = namespace(x='a') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}", "a value of more than"),
        ("{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('a') }}", "a value of more than"),
        ("{% set s = 'a' * 1000000 %}{{ [s, s, s] }}", "a value of more than"),  # printed, not computed
        ("{{ 7 ** 100000 }}", "an integer of more than 4096 bits"),
    ],
)
def test_size_limits(template: str, message: str) -> None:
    start = time.perf_counter()
    _fails(template, "chat template stopped", message)
    assert time.perf_counter() - start < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 < 2**31


def test_time_limit_stops_loops_that_print_nothing() -> None:
    """Nested loops ran past 60 s."""
    start = time.perf_counter()
    _fails("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
           "rendering took more than 0.5 s", seconds=0.5)  # fmt: skip
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "it recurses without end"),  # was an internal error
        ("{{ 1 + 'a' }}", "TypeError: unsupported operand type(s) for +: 'int' and 'str'"),  # was an internal error
        ("{{ raise_exception('no system role') }}", "chat template failed: no system role"),
        ("{% for m in messages %}", "chat template failed: Unexpected end of template"),
        ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ messages[0]['content'].\x1b }}", "\\x1b"),
    ],
)
def test_failures_are_template_errors(template: str, message: str) -> None:
    assert "\x1b" not in _fails(template, "chat template failed", message)


def test_the_output_limit_grows_with_the_messages() -> None:
    long = {"messages": [{"role": "user", "content": "x" * 3_000_000}]}
    out = render_chat_template("{% for m in messages %}{{ m['content'] }}{{ m['content'] }}{% endfor %}", long, "m")
    assert len(out) == 6_000_000


def test_a_checkpoint_template_goes_through_the_limits(tmp_path) -> None:
    from rusty_ir.importers import load_model

    from .tiny import random_weights, tiny_bpe_vocab, tiny_config, write_tiny_gguf

    tokens, merges, types = tiny_bpe_vocab()
    tok = {
        "model": "gpt2",
        "pre": "qwen2",
        "tokens": tokens,
        "merges": merges,
        "token_type": types,
        "chat_template": "{{ 'a' * 3000000000 }}",
    }
    cfg = tiny_config("qwen2")
    model = load_model(write_tiny_gguf(tmp_path / "t.gguf", cfg, random_weights(cfg), tokenizer=tok))
    with pytest.raises(RustyError, match="t.gguf: chat template stopped: a repetition"):
        model.tokenizer.encode_chat([{"role": "user", "content": "Hi"}])
