"""Outputs never cost the user a file (issue 16, defects 1 and 2): ``rusty_ir.outputs`` and the tools' ``-o``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rusty_ir.errors import RustyError
from rusty_ir.outputs import replace_folder, write_file, write_folder
from rusty_ir.tools import rusty

OWNED = frozenset({"kernels.wgsl", "kernels.metal", "schedule.json", "manifest.json"})


@pytest.fixture
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    cfg = tiny_config("qwen2")
    return write_tiny_gguf(tmp_path_factory.mktemp("model") / "tiny.gguf", cfg, random_weights(cfg))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: what `-o .` and `-o ~/project` deleted."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print('hi')\n")
    (tmp_path / "README").write_text("mine\n")
    return tmp_path


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_write_folder_refuses_a_folder_with_other_files(project: Path) -> None:
    before = _tree(project)
    with pytest.raises(RustyError, match=r"holds files this command did not write \(README, src\); give a new or empty folder"):
        write_folder(project, {"manifest.json": "{}"}, OWNED)
    assert _tree(project) == before


def test_write_folder_replaces_only_its_own_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_folder(out, {"kernels.metal": "msl", "manifest.json": "1"}, OWNED)
    write_folder(out, {"kernels.wgsl": "wgsl", "manifest.json": "2"}, OWNED)  # a later compile for another language
    assert _tree(out) == {"kernels.wgsl": "wgsl", "manifest.json": "2"}
    assert not list(tmp_path.glob("out/.*"))  # no temporary file left beside them


def test_write_folder_into_an_empty_or_new_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_folder(tmp_path / "empty", {"manifest.json": "{}"}, OWNED)
    write_folder(tmp_path / "a" / "b", {"manifest.json": "{}"}, OWNED)
    assert (tmp_path / "empty" / "manifest.json").is_file() and (tmp_path / "a" / "b" / "manifest.json").is_file()
    (tmp_path / "file").write_text("x")
    with pytest.raises(RustyError, match="it is a file, not a folder"):
        write_folder(tmp_path / "file", {"manifest.json": "{}"}, OWNED)


def test_write_file_refuses_special_files(tmp_path: Path) -> None:
    """`rusty import -o /dev/null` turned /dev/null into a regular file when run as root."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, kind in ((fifo, "a FIFO"), (Path(os.devnull), "a device"), (tmp_path, "a folder")):
        with pytest.raises(RustyError, match=f"it is {kind}, not a regular file"):
            write_file(target, "text")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_write_file_follows_symlinks_and_keeps_modes(tmp_path: Path) -> None:
    target = tmp_path / "real.mlir"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.mlir"
    link.symlink_to(target)
    write_file(link, "new")
    assert link.is_symlink() and target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    """Every output was 0600 whatever the umask."""
    old = os.umask(umask)
    try:
        write_file(tmp_path / "f.txt", "x")
        write_folder(tmp_path / "d", {"manifest.json": "{}"}, OWNED)
        replace_folder(tmp_path / "cache" / "entry", {"manifest.json": "{}"})
    finally:
        os.umask(old)
    for path in (tmp_path / "f.txt", tmp_path / "d" / "manifest.json", tmp_path / "cache" / "entry" / "manifest.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    assert stat.S_IMODE((tmp_path / "cache" / "entry").stat().st_mode) == 0o777 & ~umask


def test_replace_folder_swaps_the_whole_entry(tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    replace_folder(entry, {"a": "1", "b": "2"})
    replace_folder(entry, {"a": "3"})
    assert _tree(entry) == {"a": "3"} and [p.name for p in tmp_path.iterdir()] == ["entry"]


# --- the tools ------------------------------------------------------------------------------------------------


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert rusty.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("rusty: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_compile_into_a_users_folder_is_refused_before_any_work(tiny_gguf: Path, project: Path, capsys, monkeypatch) -> None:
    """`rusty compile -o .` wiped the current folder; `-o ~/project` left only the compiled files."""
    before = _tree(project)
    monkeypatch.chdir(project)
    for out in (".", str(project)):
        err = _error(capsys, ["compile", str(tiny_gguf), "-o", out])
        assert "holds files this command did not write" in err and "loading" not in err
    assert _tree(project) == before


def test_compile_replaces_an_earlier_output(tiny_gguf: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert rusty.main(["compile", str(tiny_gguf), "-q", "-o", str(out), "--target", "msl"]) == 0
    assert rusty.main(["compile", str(tiny_gguf), "-q", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["kernels.wgsl", "manifest.json", "schedule.json"]


def test_import_to_a_folder_or_fifo_is_a_clean_error(tiny_gguf: Path, tmp_path: Path, capsys) -> None:
    """`rusty import -o EXISTING_DIR` was an internal error."""
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    assert "it is a folder" in _error(capsys, ["import", str(tiny_gguf), "-q", "-o", str(tmp_path / "dir")])
    assert "it is a FIFO" in _error(capsys, ["import", str(tiny_gguf), "-q", "-o", str(tmp_path / "fifo")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo"]
