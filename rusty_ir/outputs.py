"""Writing output files without ever costing the user a file: atomic, umask-respecting, refusing special files.

Every file a tool writes goes through here:

- ``write_file(path, data)``: one file, written beside its target and renamed into place, so a failed
  run leaves the old file (or nothing). A symbolic link is followed (the file it points to is
  replaced, the link stays); a directory, FIFO, device or socket is refused, never replaced.
  A new file gets the permissions the umask allows (``0o666 & ~umask``), a replaced one keeps its own.
- ``write_folder(folder, files, owned)``: the files of a compiled model into a folder that is new,
  empty, or holds only files this tool writes (``owned``: a previous output); any other content is
  refused before anything is written. Only the owned files are replaced, each as ``write_file`` does.
- ``replace_folder(folder, files)``: a folder that belongs to rusty-ir (a compile-cache entry),
  built whole beside it and renamed into place.

This module imports nothing from xDSL: the compile cache writes through it without loading the compiler.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from rusty_ir.errors import RustyError


def umask_mode(base: int = 0o666) -> int:
    """``base`` with the process's umask applied (what ``open()`` would give a new file). Reading the umask
    means setting it for an instant: the tools are single-threaded when they write."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_output_file(path: str | Path) -> None:
    """RustyError now, before any work, if ``write_file(path, ...)`` would refuse ``path``."""
    _regular_target(Path(path))


def check_output_folder(folder: Path, owned: frozenset[str]) -> None:
    """RustyError now, before any work, if ``write_folder(folder, ..., owned)`` would refuse ``folder``."""
    if folder.exists() and not folder.is_dir():
        raise RustyError(f"will not write into '{folder}': it is a file, not a folder")
    others = sorted(p.name for p in folder.iterdir() if p.name not in owned) if folder.exists() else []
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise RustyError(f"will not write into '{folder}': it holds files this command did not write ({shown}); give a new or empty folder")


def _regular_target(path: Path) -> tuple[Path, int | None]:
    """The file to replace (``path``, or what its symlinks point to) and its mode, None when it does not exist;
    RustyError when it exists and is not a regular file."""
    target = Path(os.path.realpath(path))
    try:
        st = target.stat()
    except FileNotFoundError:
        return target, None
    except OSError as err:
        raise RustyError(f"cannot write '{path}': {err.strerror or err}") from None
    if not stat.S_ISREG(st.st_mode):
        raise RustyError(f"will not write '{path}': it is {_kind(st.st_mode)}, not a regular file (give a file path, or '-' for stdout)")
    return target, stat.S_IMODE(st.st_mode)


def _write_temp(folder: Path, name: str, data: str | bytes, mode: int) -> Path:
    """``data`` in a new temporary file in ``folder`` (so that renaming it over ``name`` is atomic)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, mode)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_file(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring); RustyError for what cannot be written."""
    target, mode = _regular_target(Path(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_temp(target.parent, target.name, data, umask_mode() if mode is None else mode)
        try:
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as err:
        raise RustyError(f"cannot write '{path}': {err.strerror or err}") from None


def write_folder(folder: Path, files: Mapping[str, str | bytes], owned: frozenset[str]) -> None:
    """Write ``files`` (name -> content) into ``folder``: a new or empty folder, or one holding only names in
    ``owned`` (``files`` is a subset of them). Owned files not in ``files`` are removed (a previous output's
    stale kernels); nothing else is touched. RustyError, before anything is written, for any other folder."""
    check_output_folder(folder, owned)
    created = not folder.exists()
    temps: list[tuple[Path, Path]] = []  # (temporary file, the file it replaces)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            target, mode = _regular_target(folder / name)
            temps.append((_write_temp(target.parent, name, data, umask_mode() if mode is None else mode), target))
        # every file is complete before the first rename: a failure above leaves the folder as it was
        for tmp, target in temps:
            os.replace(tmp, target)
        for name in owned - set(files):
            (folder / name).unlink(missing_ok=True)
    except OSError as err:
        raise RustyError(f"cannot write '{folder}': {err.strerror or err}") from None
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def replace_folder(folder: Path, files: Mapping[str, str | bytes]) -> None:
    """Make ``folder`` hold exactly ``files``: built in a temporary folder beside it, then renamed into place
    (an older ``folder`` is moved aside and deleted). Only for folders rusty-ir owns, such as cache entries.
    Raises OSError."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        tmp.chmod(umask_mode(0o777))
        for name, data in files.items():
            (tmp / name).write_bytes(data.encode() if isinstance(data, str) else data)
            (tmp / name).chmod(umask_mode())
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
            os.replace(folder, old / "entry")
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
