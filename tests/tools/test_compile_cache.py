"""The compile cache (issue 16, defect 3): keyed by the model's content, entries checksummed, never served corrupt."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from rusty_ir.driver import (
    CHECKSUM_FILE,
    MANIFEST_FILE,
    SCHEDULE_FILE,
    CompileOptions,
    cache_key,
    compile_model,
    load_cache_entry,
)
from rusty_ir.errors import RustyError
from rusty_ir.importers import load_model


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    cfg = tiny_config("qwen2")
    return write_tiny_gguf(tmp_path / "tiny.gguf", cfg, random_weights(cfg))


def _edit_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Change bytes of a file keeping its size and modification time (what the old path+size+mtime key missed)."""
    stat = path.stat()
    data = path.read_bytes()
    assert len(old) == len(new) and data.count(old) == 1
    path.write_bytes(data.replace(old, new))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_the_key_is_the_models_content(tiny: Path, tmp_path: Path) -> None:
    import struct

    options = CompileOptions()
    copy = tmp_path / "elsewhere.gguf"
    copy.write_bytes(tiny.read_bytes())
    assert cache_key(load_model(tiny), options, "a") == cache_key(load_model(copy), options, "a")  # the path is no part
    before = cache_key(load_model(tiny), options, "a")
    _edit_in_place(tiny, struct.pack("<f", 1e-6), struct.pack("<f", 1e-5))  # epsilon is baked into the kernels
    assert cache_key(load_model(tiny), options, "a") != before
    assert cache_key(load_model(tiny), options, "a") != cache_key(load_model(tiny), options, "b")


def test_an_edited_model_is_compiled_again_and_a_corrupt_entry_never_served(tiny: Path, tmp_path: Path, monkeypatch) -> None:
    import struct

    monkeypatch.setenv("RUSTY_CACHE_DIR", str(tmp_path / "cache"))
    first = compile_model(load_model(tiny))
    assert not first.cache_hit and first.folder is not None
    assert compile_model(load_model(tiny)).cache_hit
    # the reporter's case: RoPE theta edited in place, same size and mtime: a cache hit served stale kernels
    _edit_in_place(tiny, struct.pack("<f", 1e6), struct.pack("<f", 5e5))
    edited = compile_model(load_model(tiny))
    assert not edited.cache_hit and edited.artifact.kernels != first.artifact.kernels

    (edited.folder / SCHEDULE_FILE).write_text((edited.folder / SCHEDULE_FILE).read_text().replace("256", "128", 1))
    notes: list[str] = []
    again = compile_model(load_model(tiny), progress=notes.append)
    assert not again.cache_hit and again.artifact.schedule == edited.artifact.schedule
    assert any(f"warning: the compile cache entry {edited.folder} is unusable" in n and "does not match its checksum" in n for n in notes)
    assert compile_model(load_model(tiny)).cache_hit  # the entry was written again, whole


def _corruptions() -> dict[str, Callable[[Path], None]]:
    def edit(name: str, fn: Callable[[str], str]) -> Callable[[Path], None]:
        return lambda folder: (folder / name).write_text(fn((folder / name).read_text()))

    def manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
        def apply(folder: Path) -> None:
            m = json.loads((folder / MANIFEST_FILE).read_text())
            change(m)
            (folder / MANIFEST_FILE).write_text(json.dumps(m))

        return apply

    return {
        "kernels missing": lambda f: (f / "kernels.wgsl").unlink(),
        "kernels edited": edit("kernels.wgsl", lambda t: t.replace("fn ", "fn  ", 1)),
        "schedule truncated": edit(SCHEDULE_FILE, lambda t: t[: len(t) // 2]),
        "manifest not JSON": edit(MANIFEST_FILE, lambda t: t[:-3]),
        "manifest options null": manifest(lambda m: m.update(options=None)),
        "manifest quantized weights edited": manifest(lambda m: m.update(quantized_weights={"blk.{}.attn_q.weight": "q4_0"})),
        "checksums missing": lambda f: (f / CHECKSUM_FILE).unlink(),
        "checksums garbage": edit(CHECKSUM_FILE, lambda _t: "\x00\xff not a checksum\n"),
        "an empty folder": lambda f: [p.unlink() for p in f.iterdir()],
    }


@pytest.mark.parametrize("kind", list(_corruptions()))
def test_every_kind_of_corrupt_entry_is_refused(tiny: Path, tmp_path: Path, monkeypatch, kind: str) -> None:
    """Seven kinds of corrupt entry failed on every run instead of recompiling; an edited one gave wrong tokens."""
    from rusty_ir.driver import Artifact, save_cache_entry

    artifact = Artifact(
        "fn main() {}\n", json.dumps({"format": "rusty-schedule"}), {"options": {"language": "wgsl"}, "quantized_weights": {}}
    )
    entry = tmp_path / "entry"
    save_cache_entry(entry, artifact)
    assert load_cache_entry(entry).kernels == artifact.kernels
    _corruptions()[kind](entry)
    with pytest.raises(RustyError):
        load_cache_entry(entry)
