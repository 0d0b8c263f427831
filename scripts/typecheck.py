"""Type-check the rusty_ir package with mypy (run by scripts/setup.sh test and by pre-commit).

The package is spread over four top-level folders (setup.py's PACKAGE_DIRS: dialects/ imports as
rusty_ir.dialects, ...), which the editable install maps at import time but a static checker cannot
see. So this lays out the package as it imports, as symbolic links under build/typecheck/, runs mypy
on it (configured in pyproject.toml, [tool.mypy]) and reports paths as they are in the repository.

    python scripts/typecheck.py          # exit status 0 when clean, 1 on errors
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"
# setup.py's PACKAGE_DIRS less the root package: the folders that import as rusty_ir.<name>
SUBPACKAGES = {"dialects": "dialects", "passes": "passes", "backends": "backends"}


def link_tree() -> Path:
    """build/typecheck/rusty_ir/: a link to each entry of rusty_ir/ and to each mapped folder."""
    package = TREE / "rusty_ir"
    shutil.rmtree(TREE, ignore_errors=True)
    package.mkdir(parents=True)
    for entry in (ROOT / "rusty_ir").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in SUBPACKAGES.items():
        (package / name).symlink_to(ROOT / folder, target_is_directory=True)
    return package


def main() -> int:
    package = link_tree()
    os.chdir(ROOT)
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), str(package.relative_to(ROOT))])
    prefix = f"{package.relative_to(ROOT)}/"
    for name, folder in SUBPACKAGES.items():
        stdout = stdout.replace(f"{prefix}{name}/", f"{folder}/")
    stdout = stdout.replace(prefix, "rusty_ir/")
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
