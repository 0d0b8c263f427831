"""Process replay: the kernels `rusty compile` emits for SmolLM2 match tests/data/golden (see golden.py).

A failure means an emitter printed different text for the same IR, or the IR changed.
If the change is intended (codegen, tuning), regenerate: ``python tests/backends/golden.py --update``.
"""

from __future__ import annotations

import difflib
import json

import pytest
from golden import (
    CONFIGS,
    GOLDEN_FILE,
    UPDATE_COMMAND,
    compiled,
    digests,
    excerpt_path,
    split_kernels,
)


def _golden() -> dict[str, dict]:
    return json.loads(GOLDEN_FILE.read_text())["configs"]


def test_golden_file_covers_every_configuration() -> None:
    assert sorted(_golden()) == sorted(CONFIGS), f"tests/data/golden is out of date: run `{UPDATE_COMMAND}`"


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_kernels_match_golden(config: str) -> None:
    golden = _golden().get(config)
    assert golden is not None, f"no golden for '{config}': run `{UPDATE_COMMAND}`"
    source = compiled(config)
    got = digests(source)
    want = golden["sha256"]
    if got == want:
        return
    changed = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k) and k != "<all>")
    message = [f"{config}: the emitted kernels differ from tests/data/golden in: {', '.join(changed)}"]
    name = golden["excerpt"]["kernel"]
    old = excerpt_path(config).read_text()
    new = split_kernels(source).get(name, "")
    if old != new:
        diff = difflib.unified_diff(old.splitlines(), new.splitlines(), "golden", "now", lineterm="", n=2)
        message.append(f"diff of the excerpt @{name}:\n" + "\n".join(list(diff)[:60]))
    message.append(f"if the IR changed on purpose, regenerate with `{UPDATE_COMMAND}`")
    pytest.fail("\n".join(message), pytrace=False)
