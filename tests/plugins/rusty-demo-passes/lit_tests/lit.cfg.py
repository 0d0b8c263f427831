"""lit configuration of the plugin's tests: rusty-opt, with the plugin installed, runs them (lit lit_tests/)."""

import os
import shutil

import lit.formats

config.name = "rusty-demo-passes"  # noqa: F821 - `config` is provided by lit
config.test_format = lit.formats.ShTest(execute_external=False)  # noqa: F821
config.suffixes = [".mlir"]  # noqa: F821
config.test_source_root = os.path.dirname(__file__)  # noqa: F821
for var in ("PATH", "PYTHONPATH", "HOME"):  # PYTHONPATH: where the plugin is installed, if not site-packages
    if var in os.environ:
        config.environment[var] = os.environ[var]  # noqa: F821
for tool in ("rusty-opt", "filecheck"):
    if shutil.which(tool, path=config.environment.get("PATH", "")) is None:  # noqa: F821
        lit_config.fatal(f"'{tool}' is not on PATH: install rusty-ir[test] and this plugin first")  # noqa: F821
