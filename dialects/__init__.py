"""The IR levels of rusty-ir, one folder per dialect, and their lazy registry.

``DIALECTS`` maps a dialect name to a factory that imports and returns it; the
tools register these with xDSL's ``Context`` so nothing loads until it is used.
Keep the registry alphabetical.
"""

from collections.abc import Callable

from xdsl.ir import Dialect


def _quant() -> Dialect:
    from rusty_ir.dialects.quant import Quant

    return Quant


def _rgpu() -> Dialect:
    from rusty_ir.dialects.gpu import RGpu

    return RGpu


def _tfm() -> Dialect:
    from rusty_ir.dialects.transformer import Transformer

    return Transformer


DIALECTS: dict[str, Callable[[], Dialect]] = {
    "quant": _quant,
    "rgpu": _rgpu,
    "tfm": _tfm,
}
