"""Atomic writes of files and folders whose modes follow the user's umask (standard library only).

A file is written to a temporary file beside its target (same folder, so the same filesystem) and moved onto
the target with `os.replace`: a reader sees the old file or the new one, never half of one, and an error
leaves the target untouched and no temporary file behind. A folder is built under a temporary name beside
its target and renamed into place.

`tempfile.mkstemp` creates files with mode 0o600 and `tempfile.mkdtemp` folders with mode 0o700 (owner
only, whatever the umask). Everything published here is given the modes an ordinary `open` / `mkdir` would
have given it instead: files `0o666 & ~umask` (0o644 under the usual umask 0o022), folders
`0o777 & ~umask` (0o755), so other users, a TF Serving container or a web server can read what we wrote
exactly when they could read a file written without these helpers.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_json_atomic(folder / "a.json", {"b": 1}, indent=None)
    >>> (folder / "a.json").read_text()
    '{"b": 1}\\n'
    >>> oct((folder / "a.json").stat().st_mode & 0o777) == oct(0o666 & ~current_umask())
    True
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import stat
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

__all__ = [
    "atomic_dir",
    "atomic_path",
    "current_umask",
    "file_mode",
    "folder_mode",
    "publish_dir",
    "set_default_modes",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    The umask can only be *set* portably: `os.umask(new)` returns the old value, so the classic way to read
    it is `mask = os.umask(0); os.umask(mask)`. Between those two calls the process-wide umask is 0, and a
    file or folder another thread creates in that window gets mode 0o666 / 0o777 (world-writable). On Linux
    (since 4.7) the kernel reports the umask in `/proc/self/status` (`Umask:` line), which reads it without
    any window, so it is tried first. Elsewhere the `os.umask` pair is the fallback, made less harmful:
    the value set for the instant is 0o077 (owner only, so a file created meanwhile by another thread is too
    private rather than world-writable) and the pair runs under a lock (which orders the callers of this
    function, not other code creating files at that instant).

    Example:
        >>> 0 <= current_umask() <= 0o777
        True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)  # the most restrictive safe value while the real one is read
        os.umask(mask)
    return mask


def file_mode(umask: int | None = None) -> int:
    """The mode `open()` gives a new file: `0o666 & ~umask` (the current umask when None).

    Example:
        >>> oct(file_mode(0o027))
        '0o640'
    """
    return 0o666 & ~(current_umask() if umask is None else umask)


def folder_mode(umask: int | None = None) -> int:
    """The mode `os.mkdir()` gives a new folder: `0o777 & ~umask` (the current umask when None).

    Example:
        >>> oct(folder_mode(0o022))
        '0o755'
    """
    return 0o777 & ~(current_umask() if umask is None else umask)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[pathlib.Path]:
    """Yields a temporary file path beside `path` to write; on success it is published as `path`.

    On a normal exit the temporary file gets mode `0o666 & ~umask` and is moved onto `path` with
    `os.replace` (an existing file is replaced atomically). On an exception it is removed and `path` is
    left untouched. The parent folder is created when missing.

    Args:
        path: the target file.
        suffix: the temporary file's suffix; default `<suffix of path>.tmp`. Writers that choose the
            format from the name need the real one last (`.keras` for `model.save`, `.tmp.mp4` for PyAV).

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("hello")
        >>> target.read_text()
        'hello'
        >>> sorted(p.name for p in target.parent.iterdir())
        ['x.txt']
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=path.suffix + ".tmp" if suffix is None else suffix,
        dir=path.parent,
    )  # fmt: skip
    os.close(fd)
    tmp = pathlib.Path(name)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` atomically (see `atomic_path`).

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
        >>> write_bytes_atomic(target, b"\\x00\\x01")
        >>> target.read_bytes()
        b'\\x00\\x01'
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Writes `text` to `path` atomically (see `atomic_path`).

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> write_text_atomic(target, "two\\nlines\\n")
        >>> target.read_text()
        'two\\nlines\\n'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_json_atomic(
    path: str | os.PathLike, obj: Any, indent: int | None = 2, sort_keys: bool = False
) -> None:
    """Writes `obj` as JSON (and a final newline) to `path` atomically (see `atomic_path`).

    Example:
        >>> import json, pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.json"
        >>> write_json_atomic(target, {"b": [1, 2], "a": None}, sort_keys=True)
        >>> print(target.read_text(), end="")
        {
          "a": null,
          "b": [
            1,
            2
          ]
        }
    """
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n")


def set_default_modes(root: str | os.PathLike) -> None:
    """Gives `root` and everything under it the modes `open` / `mkdir` would have given them.

    Folders get `0o777 & ~umask`; files `0o666 & ~umask`, or `0o777 & ~umask` when the owner may execute
    them. Needed before publishing a folder made by `tempfile.mkdtemp` (0o700) or holding files made by
    `tempfile.mkstemp` (0o600). Symbolic links are neither followed nor changed.

    Example:
        >>> import os, pathlib, tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "f").write_text("x"); os.chmod(root / "f", 0o600)
        >>> set_default_modes(root)
        >>> (root.stat().st_mode & 0o777, (root / "f").stat().st_mode & 0o777) == (
        ...     folder_mode(), file_mode())
        True
    """
    mask = current_umask()
    root = pathlib.Path(root)
    os.chmod(root, folder_mode(mask))
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            child = os.path.join(folder, name)
            if not os.path.islink(child):
                os.chmod(child, folder_mode(mask))
        for name in files:
            child = os.path.join(folder, name)
            mode = os.lstat(child).st_mode
            if stat.S_ISREG(mode):
                os.chmod(child, folder_mode(mask) if mode & stat.S_IXUSR else file_mode(mask))


def publish_dir(tmp_dir: str | os.PathLike, final: str | os.PathLike) -> pathlib.Path:
    """Gives `tmp_dir` the default modes (`set_default_modes`) and renames it to `final`.

    `final` must not exist (a folder is never replaced); `tmp_dir` should be in the same folder as `final`
    so the rename is atomic.

    Raises:
        FileExistsError: `final` exists (also when another process took it first).

    Example:
        >>> import pathlib, tempfile
        >>> parent = pathlib.Path(tempfile.mkdtemp())
        >>> tmp = pathlib.Path(tempfile.mkdtemp(dir=parent))
        >>> _ = (tmp / "a.txt").write_text("x")
        >>> publish_dir(tmp, parent / "v1").joinpath("a.txt").read_text()
        'x'
        >>> oct((parent / "v1").stat().st_mode & 0o777) == oct(folder_mode())
        True
    """
    final = pathlib.Path(final)
    set_default_modes(tmp_dir)
    if final.exists():
        raise FileExistsError(f"Folder already exists: {final}")
    try:
        os.rename(tmp_dir, final)  # replaces an empty folder on POSIX: checked above and below
    except OSError as error:
        if final.exists():
            raise FileExistsError(f"Folder already exists: {final}") from error
        raise
    return final


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yields a new temporary folder beside `path` to fill; on success it is published as `path`.

    On a normal exit the folder and its contents get the default modes and the folder is renamed to `path`
    (`publish_dir`); on an exception (or when `path` exists by then) it is removed, with its contents, and
    `path` is left untouched.

    Raises:
        FileExistsError: `path` exists when the folder is published.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "model"
        >>> with atomic_dir(target) as tmp:
        ...     _ = (tmp / "weights.bin").write_bytes(b"1")
        >>> sorted(p.name for p in target.iterdir())
        ['weights.bin']
    """
    import shutil

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        publish_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


FAULT_ENV = "KERAS_ISPAN_FAULT"


def fault_point(name: str, epoch: int | None = None) -> None:
    """Test hook: SIGKILLs this process when the environment variable `KERAS_ISPAN_FAULT` is `name` or
    `name:epoch`. Fault-injection tests set it to kill a command at a chosen moment (a half-written
    export, a resume backup being written); unset, as always outside those tests, it does nothing."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and wanted in (name, f"{name}:{epoch}"):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
