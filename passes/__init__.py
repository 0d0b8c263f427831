"""Every rusty-ir pass, in one lazy registry.

``PASSES`` maps a pipeline name to a factory returning the pass class; each
pass lives in a file named after its pipeline name (``convert-a-to-b`` in
``conversion/a_to_b.py``, others under ``passes/<area>/``). Keep it alphabetical.
"""

from collections.abc import Callable

from xdsl.passes import ModulePass



def _convert_transformer_to_tensor() -> type[ModulePass]:
    from rusty_ir.passes.conversion.transformer_to_tensor import ConvertTransformerToTensorPass

    return ConvertTransformerToTensorPass


PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "convert-transformer-to-tensor": _convert_transformer_to_tensor,
}
