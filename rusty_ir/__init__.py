"""rusty-ir: an MLIR-style multi-level IR compiler for running LLMs on consumer GPUs.

The subpackages map onto the repository's top-level folders:
``rusty_ir.dialects`` (dialects/), ``rusty_ir.passes`` (passes/) and
``rusty_ir.backends`` (backends/). The tools and the compile driver live here.
"""

__version__ = "0.1.0"
