"""Golden kernels ("process replay"): per-kernel digests of what `rusty compile` emits for the bundled SmolLM2.

The golden file says what the emitters print for one fixed input, so a refactor of
an emitter (the shared C-like base, a target's table) that changes any kernel's
text fails ``tests/backends/test_golden_kernels.py``. It is not a statement that
the kernels are right: when the *generated IR* changes on purpose (codegen,
tuning, new passes), regenerate it with the one-line command

    python tests/backends/golden.py --update

and commit ``tests/data/golden/`` with that change. Each configuration stores a
sha256 per kernel (plus one for the module header: ``enable f16;``, helpers,
includes) and the full text of its smallest kernel as a readable excerpt.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = REPO_ROOT / "tests" / "data" / "golden"
GOLDEN_FILE = GOLDEN_DIR / "smollm2-kernels.json"
UPDATE_COMMAND = "python tests/backends/golden.py --update"

CONFIGS: dict[str, tuple[str, str]] = {
    # name: (tuning target, kernel language) -- the `rusty compile --target` choices
    "webgpu": ("webgpu", "wgsl"),
    "nvidia": ("nvidia", "wgsl"),
    "msl": ("apple", "msl"),
}
"""The configurations kept: the default WGSL, the nvidia-tuned WGSL (other kernels) and MSL (`--target msl`)."""

EXTENSIONS = {"wgsl": "wgsl", "msl": "metal"}

_KERNEL_BANNER = re.compile(r"^// gpu\.module @\S+ > gpu\.func @(\S+)$", re.MULTILINE)


@functools.cache
def compiled(config: str) -> str:
    """The kernel text `rusty compile --target <config>` writes for the bundled SmolLM2 (cached per process)."""
    from rusty_ir.driver import CompileOptions, compile_module
    from rusty_ir.importers import load_model
    from rusty_ir.importers.to_ir import build_module

    target, language = CONFIGS[config]
    model = load_model()
    module = build_module(model.config, model.weights)
    return compile_module(module, CompileOptions(target=target, language=language)).kernels


def split_kernels(source: str) -> dict[str, str]:
    """The text of each kernel by name, plus ``<header>``: everything before the first kernel banner."""
    marks = list(_KERNEL_BANNER.finditer(source))
    parts = {"<header>": source[: marks[0].start()] if marks else source}
    for k, mark in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(source)
        parts[mark.group(1)] = source[mark.start() : end]
    return parts


def digests(source: str) -> dict[str, str]:
    """sha256 of the whole text and of each part of ``split_kernels``."""
    out = {"<all>": hashlib.sha256(source.encode()).hexdigest()}
    out.update({name: hashlib.sha256(text.encode()).hexdigest() for name, text in split_kernels(source).items()})
    return out


def excerpt_path(config: str) -> Path:
    return GOLDEN_DIR / f"smollm2-{config}.excerpt.{EXTENSIONS[CONFIGS[config][1]]}"


def smallest_kernel(source: str) -> str:
    """The name of the shortest kernel: the excerpt kept in full beside the digests."""
    kernels = {k: v for k, v in split_kernels(source).items() if k != "<header>"}
    return min(kernels, key=lambda k: (len(kernels[k]), k))


def update() -> None:
    """Recompute every configuration and rewrite tests/data/golden/."""
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    configs: dict[str, object] = {}
    golden: dict[str, object] = {"regenerate": UPDATE_COMMAND, "configs": configs}
    for config, (target, language) in CONFIGS.items():
        source = compiled(config)
        name = smallest_kernel(source)
        configs[config] = {
            "target": target,
            "language": language,
            "excerpt": {"kernel": name, "file": excerpt_path(config).name},
            "sha256": digests(source),
        }
        excerpt_path(config).write_text(split_kernels(source)[name])
        print(f"{config}: {len(split_kernels(source)) - 1} kernels, excerpt @{name}", file=sys.stderr)
    GOLDEN_FILE.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--update", action="store_true", help="recompute the golden digests and excerpts")
    args = p.parse_args(argv)
    if not args.update:
        p.error("nothing to do: pass --update (the check itself is tests/backends/test_golden_kernels.py)")
    update()
    return 0


if __name__ == "__main__":
    sys.exit(main())
