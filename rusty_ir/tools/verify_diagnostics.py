"""``--verify-diagnostics``: check the diagnostics of a run against ``expected-*`` annotations, as mlir-opt does.

An annotation is a comment anywhere on a line::

    // expected-(error|warning|remark|note)(-re)? (@+N | @-N | @above | @below | @unknown)? {{text}}

- no designator: the diagnostic is expected on the annotation's own line;
  ``@+N``/``@-N``: N lines below/above it; ``@below``: on the next line that
  holds no annotation; ``@above``: on the closest line above that holds none
  (several annotations can stack up on one target line); ``@unknown``: a
  diagnostic with no location.
- ``text`` must occur in the diagnostic's message. With ``-re``, parts of the
  text written ``{{regex}}`` are regular expressions (Python's ``re``; the
  rest is matched literally), e.g. ``expected-error-re {{op @{{.*}} returns}}``.
  Without ``-re`` the text is literal, braces included. ``text`` runs from the
  first ``{{`` to the last ``}}`` of the line.

Every diagnostic (an error with its notes, warnings and remarks from passes)
must be expected: a diagnostic no annotation expects is reported as
``unexpected <kind>: ...`` at its line; one whose text matches an annotation of
another kind as ``'<kind>' diagnostic emitted when expecting a '<kind>'`` at the
annotation; an annotation no diagnostic matched as ``expected <kind> "text" was
not produced`` at the annotation. With the level ``only-expected``
(``--verify-diagnostics=only-expected``), diagnostics nobody expects are let
through and only missing ones fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rusty_ir.errors import Diagnostic

_ANNOTATION = re.compile(
    r"expected-(?P<kind>error|note|remark|warning)(?P<re>-re)? *(?:@(?P<where>[+-]\d+|above|below|unknown))? *"
    r"\{\{(?P<text>.*)\}\}\s*$"
)
_MALFORMED = re.compile(r"expected-(error|note|remark|warning)(-re)?\s*(@|\{\{)")
"""An annotation that did not parse (a bad designator, no closing braces): reported, never silently ignored."""

LEVELS = ("all", "only-expected")


@dataclass
class Expected:
    """One ``expected-*`` annotation."""

    kind: str
    line: int | None
    """The line the diagnostic is expected on (None: ``@unknown``)."""
    text: str
    pattern: re.Pattern[str] | None
    at: Diagnostic
    """Where the annotation itself is (to report it)."""
    matched: bool = False

    def matches(self, message: str) -> bool:
        return bool(self.pattern.search(message)) if self.pattern is not None else self.text in message


def _regex(text: str) -> str:
    """The regular expression of a ``-re`` text: ``{{...}}`` blocks as given, the rest escaped."""
    out: list[str] = []
    rest = text
    while rest:
        start = rest.find("{{")
        if start < 0:
            out.append(re.escape(rest))
            break
        out.append(re.escape(rest[:start]))
        end = rest.find("}}", start + 2)
        if end < 0:
            raise ValueError("a '{{' with no '}}' closing the regex")
        out.append(f"(?:{rest[start + 2 : end]})")
        rest = rest[end + 2 :]
    return "".join(out)


def parse_expectations(name: str, text: str, line_offset: int = 0) -> tuple[list[Expected], list[Diagnostic]]:
    """The annotations of one chunk (lines numbered in the whole file), and problems with the annotations themselves."""
    expected: list[Expected] = []
    problems: list[Diagnostic] = []
    below: list[Expected] = []  # @below annotations waiting for a line without annotations
    last_plain: int | None = None
    lines = text.split("\n")
    for i, line_text in enumerate(lines):
        line = line_offset + i + 1
        m = _ANNOTATION.search(line_text)
        if m is None:
            near = _MALFORMED.search(line_text)
            if near is not None:
                problems.append(Diagnostic(f"'expected-{near.group(1)}' annotation not understood: write "
                                           "expected-<kind>[-re] [@+N|@-N|@above|@below|@unknown] {{text}}",
                                           name, line, near.start() + 1, snippet=line_text))  # fmt: skip
                continue
            last_plain = line
            for e in below:
                e.line = line
            below.clear()
            continue
        at = Diagnostic("", name, line, m.start() + 1, snippet=line_text)
        body = m.group("text")
        try:
            pattern = re.compile(_regex(body)) if m.group("re") else None
        except (ValueError, re.error) as err:
            problems.append(_at(at, f"invalid regex in expected-{m.group('kind')}-re: {err}"))
            continue
        e = Expected(m.group("kind"), line, body, pattern, at)
        where = m.group("where")
        if where == "unknown":
            e.line = None
        elif where == "above":
            if last_plain is None:
                problems.append(_at(at, "expected-* @above with no line above it that holds no annotation"))
                continue
            e.line = last_plain
        elif where == "below":
            below.append(e)
        elif where is not None:
            e.line = line + int(where)
            if not line_offset < e.line <= line_offset + len(lines):
                problems.append(_at(at, f"expected-* @{where} points at line {e.line}, outside this input"))
                continue
        expected.append(e)
    for e in below:
        problems.append(_at(e.at, "expected-* @below with no line below it that holds no annotation"))
        expected.remove(e)
    return expected, problems


def check(expected: list[Expected], emitted: Iterable[Diagnostic], level: str = "all") -> list[Diagnostic]:
    """Match the emitted diagnostics (notes included) with the annotations; what is wrong, in the order found."""
    problems: list[Diagnostic] = []
    for diag in _flatten(emitted):
        candidates = [e for e in expected if e.line == diag.line and e.matches(diag.message)]
        same_kind = [e for e in candidates if e.kind == diag.severity]
        if same_kind:
            # an annotation not yet matched first, so that two identical annotations need two diagnostics
            next((e for e in same_kind if not e.matched), same_kind[0]).matched = True
            continue
        if level == "only-expected":
            continue
        if candidates:
            problems.append(_at(candidates[-1].at, f"'{diag.severity}' diagnostic emitted when expecting a '{candidates[-1].kind}'"))
        else:
            problems.append(Diagnostic(f"unexpected {diag.severity}: {diag.message}", diag.source, diag.line, diag.col,
                                       snippet=diag.snippet))  # fmt: skip
    for e in expected:
        if not e.matched:
            problems.append(_at(e.at, f'expected {e.kind} "{e.text}" was not produced'))
    return problems


def _flatten(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for d in diags:
        out.append(d)
        out.extend(_flatten(d.notes))
    return out


def _at(where: Diagnostic, message: str) -> Diagnostic:
    return Diagnostic(message, where.source, where.line, where.col, snippet=where.snippet)
