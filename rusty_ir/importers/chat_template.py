"""Rendering a checkpoint's Jinja chat template in a sandbox with limits on size, time and recursion.

A chat template is code that came with the checkpoint. Jinja's ``ImmutableSandboxedEnvironment`` already
refuses escapes (private attributes, mutating lists, ranges over 100,000 items); this module adds the
limits it lacks, so a hostile or broken template costs neither the user's memory nor their time:

1. **Size**: no value made by ``*``, ``+``, ``%``, a call, a filter or a namespace assignment, and no value
   printed, may hold more than ``max_chars`` characters and items (containers counted with what they hold),
   and neither may the output; a number argument (a width, a repeat count) above
   ``max_chars`` is refused before the call, and an integer past ``MAX_INT_BITS`` bits is refused.
2. **Time**: rendering stops after ``seconds`` of wall time, checked on every line of the compiled
   template (``sys.settrace``, only while the template runs and only on its own frames).
3. **Failures**: whatever the template raises (a syntax error, ``{{ 1 + 'a' }}``, recursion without end,
   ``raise_exception``) becomes one ``RustyError`` saying the chat template failed, and why.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from functools import update_wrapper
from typing import Any

from rusty_ir.errors import RustyError, printable

MAX_OUTPUT_CHARS = 1 << 20
"""Characters a template may produce (or hold in one value) beyond twice its messages' own text."""
TIME_LIMIT_SECONDS = 5.0
"""Wall time a template may take to render."""
MAX_INT_BITS = 4096
"""The largest integer a template may compute (``2 ** 10 ** 9`` would take minutes)."""

_NUMBER = re.compile(r"\d+")


class TemplateLimitError(Exception):
    """A template went past a limit (size, time)."""


def _size(value: Any, limit: int) -> int:
    """Characters and items of ``value``, containers walked (what printing it would make); the walk stops
    once the total passes ``limit``."""
    total, stack = 0, [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str | bytes):
            total += len(v)
        elif isinstance(v, list | tuple | set | frozenset):
            total += len(v)
            stack.extend(v)
        elif isinstance(v, dict):
            total += len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
    return total


def _environment(max_chars: int, filters: Mapping[str, Any], globals_: Mapping[str, Any]) -> Any:
    """A sandbox that enforces the size limits of the module docstring, with these extra filters and globals."""
    from jinja2.environment import Environment  # jinja2 only when a template is used
    from jinja2.runtime import Context, EvalContext
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import Namespace

    def check(value: Any) -> Any:
        if _size(value, max_chars) > max_chars:
            raise TemplateLimitError(f"a value of more than {max_chars} characters and items")
        if type(value) is int and value.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(f"an integer of more than {MAX_INT_BITS} bits")
        return value

    def check_args(args: tuple[Any, ...], kwargs: Mapping[str, Any], fmt: Any = None) -> None:
        for arg in (*args, *kwargs.values()):
            check(arg)
            if type(arg) is int and abs(arg) > max_chars:
                raise TemplateLimitError(f"an argument of {arg}, more than the limit of {max_chars}")
        if isinstance(fmt, str) and any(len(n) > 9 or int(n) > max_chars for n in _NUMBER.findall(fmt)):
            raise TemplateLimitError(f"a format with a width of more than {max_chars}")

    class BoundedNamespace(Namespace):
        def __setitem__(self, name: str, value: Any) -> None:  # `{% set ns.x = ... %}`
            super().__setitem__(name, check(value))

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*" and {type(left), type(right)} & {int, bool}:
                count, seq = (left, right) if type(left) in (int, bool) else (right, left)
                if _size(seq, max_chars) * max(count, 0) > max_chars:
                    raise TemplateLimitError(f"a repetition {count} times, more than the limit of {max_chars} characters and items")
            if operator == "**" and type(left) is int and type(right) is int and right > 0:
                if max(left.bit_length(), 1) * right > MAX_INT_BITS:
                    raise TemplateLimitError(f"an integer of more than {MAX_INT_BITS} bits")
            if operator == "%" and isinstance(left, str):
                check_args(right if isinstance(right, tuple) else (right,), {}, left)
            return check(super().call_binop(context, operator, left, right))

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # jinja's signature
            method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
            fmt = getattr(method, "__self__", None) if getattr(method, "__name__", "") in ("format", "format_map") else None
            check_args(args, kwargs, fmt)
            return check(super().call(__context, __obj, *args, **kwargs))

    def bounded_filter(fn: Callable[..., Any], is_format: bool) -> Any:
        """A filter with its arguments and result checked (filters are called without ``env.call``)."""

        def bounded(*args: Any, **kwargs: Any) -> Any:
            values = [a for a in args if not isinstance(a, Environment | Context | EvalContext)]  # jinja's own arguments
            check_args(tuple(values), kwargs, values[0] if is_format and values else None)
            return check(fn(*args, **kwargs))

        return update_wrapper(bounded, fn)  # keeps jinja's pass_context/pass_environment markers

    # finalize sees every {{ value }} before it is turned into text
    env = BoundedSandbox(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"], finalize=check)
    env.filters.update(filters)
    env.filters = {name: bounded_filter(fn, name == "format") for name, fn in env.filters.items()}
    env.globals.update(globals_, namespace=BoundedNamespace)
    return env


def render_chat_template(
    template: str,
    variables: Mapping[str, Any],
    source: str,
    *,
    max_chars: int | None = None,
    seconds: float = TIME_LIMIT_SECONDS,
) -> str:
    """Render ``template`` with ``variables`` under the module's limits; RustyError naming ``source`` on any
    failure. ``max_chars`` defaults to ``MAX_OUTPUT_CHARS`` plus twice the characters of the variables."""
    try:
        import jinja2
    except ImportError:
        raise RustyError("chat templates need the 'jinja2' package: pip install jinja2") from None
    if max_chars is None:
        max_chars = MAX_OUTPUT_CHARS + 2 * len(json.dumps(variables, ensure_ascii=False, default=str))

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt: str) -> str:
        import datetime

        return datetime.datetime.now().strftime(fmt)

    env = _environment(max_chars, {"tojson": tojson}, {"raise_exception": raise_exception, "strftime_now": strftime_now})
    deadline = time.monotonic() + seconds
    parts: list[str] = []
    size = 0

    def trace(frame: Any, event: str, _arg: Any) -> Any:
        # only the template's own code is traced line by line: loops without output or calls still end
        if frame.f_code.co_filename != "<template>":
            return None
        if time.monotonic() > deadline:
            raise TemplateLimitError(f"rendering took more than {seconds:g} s")
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        for piece in env.from_string(template).generate(**variables):
            size += len(piece)
            if size > max_chars:
                raise TemplateLimitError(f"the output passed the limit of {max_chars} characters")
            parts.append(piece)
    except TemplateLimitError as e:
        raise RustyError(f"{source}: chat template stopped: {e}") from None
    except RecursionError:
        raise RustyError(f"{source}: chat template failed: it recurses without end (a macro calling itself?)") from None
    except Exception as e:  # anything the checkpoint's template raises is the template's failure
        what = str(e) if isinstance(e, jinja2.exceptions.TemplateError) else f"{type(e).__name__}: {e}"
        raise RustyError(f"{source}: chat template failed: {printable(what, 300)}") from None
    finally:
        sys.settrace(previous)
    return "".join(parts)
