"""rusty-ir: an MLIR-style multi-level IR compiler for running LLMs on consumer GPUs.

The subpackages map onto the repository's top-level folders:
``rusty_ir.dialects`` (dialects/), ``rusty_ir.passes`` (passes/) and
``rusty_ir.backends`` (backends/). The tools and the compile driver live here.

The Python API (docs/python.md)::

    import rusty_ir
    model = rusty_ir.load()                  # rusty_ir.api.load: a Model with generate, stream and chat
    print(model.chat("Hello!").text)

``load``, ``Model``, ``SamplingParams`` and ``RustyError`` are imported on first use, so that
``import rusty_ir`` stays cheap.
"""

from typing import Any

__version__ = "0.1.0"

_API = {"load": "rusty_ir.api", "Model": "rusty_ir.api", "SamplingParams": "rusty_ir.sampling", "RustyError": "rusty_ir.errors"}


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'rusty_ir' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = ["Model", "RustyError", "SamplingParams", "__version__", "load"]
