"""Where upstream xDSL's custom syntax differs from MLIR's, and the fix the tools apply.

``linalg.generic`` with several results: MLIR prints and parses ``} -> (T1, T2)``
(an arrow type list). xDSL 0.74 prints the same, but its parser reads only
``} -> T1, T2``, so IR printed after ``linalg-fuse-siblings`` did not parse back.
``fix_linalg_generic`` makes the parser take both spellings; the registry applies
it when the ``linalg`` dialect is first loaded (``rusty_ir.registry.build_registry``).
"""

from __future__ import annotations

from typing import Any

from xdsl.dialects import linalg
from xdsl.dialects.linalg.ops import GenericOp
from xdsl.ir import Dialect
from xdsl.parser import Parser
from xdsl.utils.mlir_lexer import MLIRTokenKind

_fixed = False


def fix_linalg_generic() -> None:
    """Let ``linalg.generic``'s custom parser read ``-> (T1, T2)`` as well as ``-> T1, T2`` (idempotent)."""
    global _fixed  # patch once per process
    if _fixed:
        return
    upstream = GenericOp.parse.__func__  # type: ignore[attr-defined]  # the classmethod's function; typed as bound

    def parse(cls: type[GenericOp], parser: Parser) -> Any:
        # Upstream reads the result types last, with parse_comma_separated_list(NONE, parse_attribute): when that
        # list opens with '(', read it as a parenthesized list instead. Other lists (ins/outs types) are untouched.
        plain = parser.parse_comma_separated_list

        def results_list(delimiter: Parser.Delimiter, element: Any, context_msg: str = "") -> list[Any]:
            if (
                delimiter is Parser.Delimiter.NONE
                and element == parser.parse_attribute
                and parser._current_token.kind is MLIRTokenKind.L_PAREN
            ):  # the next token
                delimiter = Parser.Delimiter.PAREN
            return plain(delimiter, element, context_msg)

        outer = parser.__dict__.get("parse_comma_separated_list")  # a generic nested in this one's region
        parser.parse_comma_separated_list = results_list  # type: ignore[assignment, method-assign]  # this parser, this parse only
        try:
            return upstream(cls, parser)
        finally:
            if outer is None:
                del parser.parse_comma_separated_list
            else:
                parser.parse_comma_separated_list = outer  # type: ignore[method-assign]  # the enclosing generic's patch back

    GenericOp.parse = classmethod(parse)  # type: ignore[method-assign,assignment]  # xDSL has no parser hook
    _fixed = True


def linalg_dialect() -> Dialect:
    """Upstream's ``linalg`` dialect with ``fix_linalg_generic`` applied."""
    fix_linalg_generic()
    return linalg.Linalg
