"""A test plugin for lit_tests/tools: the pass ``test-emit-diagnostics`` reports what unregistered ``test.*`` ops ask.

- ``"test.warning"() {message = "..."}``: a warning at the op (``rusty_ir.diagnostics.emit_warning``);
  with ``note = "..."``, a note at the enclosing op;
- ``"test.remark"() {message = "..."}``: a remark at the op;
- ``"test.many"() {remarks = ["...", ...]}``: a remark at the op for each string;
- ``"test.fail"() {message = "..."}``: the pass fails with that error at the op, and a note at the enclosing op;
- ``"test.fail_unlocated"() {message = "..."}``: the pass fails with an error that names no op.

Run with ``--allow-unregistered-dialect --load-pass-plugin=%S/Inputs/diagnostics_plugin.py``.
"""

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr
from xdsl.passes import ModulePass

from rusty_ir.diagnostics import emit_remark, emit_warning
from rusty_ir.errors import RustyError


def _text(op, key: str) -> str | None:  # an xDSL op
    attr = op.attributes.get(key)
    return attr.data if isinstance(attr, StringAttr) else None


@dataclass(frozen=True)
class TestEmitDiagnostics(ModulePass):
    """Emits the warnings, remarks and errors that test.* ops ask for (a test of the tools' diagnostics)."""

    name = "test-emit-diagnostics"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for inner in list(op.walk()):
            name = getattr(inner, "op_name", None)  # an unregistered op's name
            if not isinstance(name, StringAttr):
                continue
            name = name.data
            remarks = inner.attributes.get("remarks")
            if name == "test.many" and isinstance(remarks, ArrayAttr):
                for remark in remarks.data:
                    emit_remark(inner, remark.data)
            message = _text(inner, "message")
            if message is None:
                continue
            if name == "test.warning":
                note = _text(inner, "note")
                emit_warning(inner, message, [(note, inner.parent_op())] if note else ())
            elif name == "test.remark":
                emit_remark(inner, message)
            elif name == "test.fail":
                raise RustyError(message, inner, notes=[("in this function", inner.parent_op())])
            elif name == "test.fail_unlocated":
                raise RustyError(message)


PASSES = [TestEmitDiagnostics]
