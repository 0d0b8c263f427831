"""lit configuration for rusty-ir's FileCheck tests (run: lit -v lit_tests/)."""

import os
import shutil

import lit.formats

config.name = "rusty-ir"  # noqa: F821 - `config` is provided by lit
config.test_format = lit.formats.ShTest(execute_external=False)  # noqa: F821
config.suffixes = [".mlir"]  # noqa: F821
config.test_source_root = os.path.dirname(__file__)  # noqa: F821
config.excludes = ["Inputs", "plugins"]  # noqa: F821
config.environment["PATH"] = os.environ.get("PATH", "")  # noqa: F821 - the venv's bin: rusty-opt, filecheck
for var in ("HOME", "XDG_CACHE_HOME", "VK_ICD_FILENAMES", "VK_DRIVER_FILES", "WGPU_BACKEND_TYPE", "RUSTY_CACHE_DIR"):
    if var in os.environ:
        config.environment[var] = os.environ[var]  # noqa: F821

for tool in ("rusty-opt", "rusty-translate", "filecheck"):
    if shutil.which(tool, path=config.environment["PATH"]) is None:  # noqa: F821
        lit_config.fatal(f"'{tool}' is not on PATH; install the project first (see README)")  # noqa: F821

# Round trip through the generic form: print generic, re-parse, print pretty, check.
config.substitutions.append(  # noqa: F821
    ("%roundtrip", "rusty-opt %s --split-input-file --print-op-generic | rusty-opt --split-input-file | filecheck %s")
)
