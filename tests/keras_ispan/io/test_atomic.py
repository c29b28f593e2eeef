"""keras_ispan.io.atomic: atomic writes whose files and folders get the umask's modes (issue 12)."""

import doctest
import json
import os
import pathlib
import stat
import tempfile

import pytest

from keras_ispan.io import atomic
from keras_ispan.io.atomic import (
    atomic_dir,
    atomic_path,
    current_umask,
    publish_dir,
    set_default_modes,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)

# umask -> (file mode, folder mode)
MODES = {0o022: (0o644, 0o755), 0o027: (0o640, 0o750), 0o077: (0o600, 0o700)}


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    """Sets the process umask for one test and restores the previous one."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def names(folder):
    return sorted(p.name for p in pathlib.Path(folder).iterdir())


def test_docstring_examples():
    result = doctest.testmod(atomic, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_current_umask_reads_the_umask_and_leaves_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask  # reading did not change it
    assert os.umask(umask) == umask


def test_current_umask_without_proc(umask, monkeypatch):
    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc/self/status")

    monkeypatch.setattr(atomic, "open", no_proc, raising=False)
    assert current_umask() == umask
    assert os.umask(umask) == umask  # the fallback put the umask back


WRITERS = {
    "write_text_atomic": lambda p: write_text_atomic(p, "text\n"),
    "write_bytes_atomic": lambda p: write_bytes_atomic(p, b"\x00bytes"),
    "write_json_atomic": lambda p: write_json_atomic(p, {"a": 1}),
    "atomic_path": lambda p: _write_with_atomic_path(p),
}


def _write_with_atomic_path(path):
    with atomic_path(path) as tmp:
        assert tmp.parent == pathlib.Path(path).parent
        tmp.write_text("via atomic_path")


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_new_file_gets_the_umask_mode(writer, umask, tmp_path):
    target = tmp_path / "out.dat"
    WRITERS[writer](target)
    assert mode(target) == MODES[umask][0]
    assert names(tmp_path) == ["out.dat"]  # no temporary file left


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_replaced_file_gets_the_umask_mode(writer, umask, tmp_path):
    target = tmp_path / "out.dat"
    target.write_text("old")
    os.chmod(target, 0o600)
    WRITERS[writer](target)
    assert target.read_bytes() != b"old"
    assert mode(target) == MODES[umask][0]
    assert names(tmp_path) == ["out.dat"]


def test_missing_parent_folders_get_the_umask_mode(umask, tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    write_text_atomic(target, "x")
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == MODES[umask][1]
    assert mode(target) == MODES[umask][0]


def test_contents(tmp_path):
    write_text_atomic(tmp_path / "t.txt", "é\n")
    assert (tmp_path / "t.txt").read_bytes() == "é\n".encode()
    write_bytes_atomic(tmp_path / "b.bin", b"\xff\x00")
    assert (tmp_path / "b.bin").read_bytes() == b"\xff\x00"
    write_json_atomic(tmp_path / "j.json", {"b": 1, "a": [1]})
    assert (tmp_path / "j.json").read_text() == json.dumps({"b": 1, "a": [1]}, indent=2) + "\n"
    write_json_atomic(tmp_path / "s.json", {"b": 1, "a": 2}, indent=None, sort_keys=True)
    assert (tmp_path / "s.json").read_text() == '{"a": 2, "b": 1}\n'


def test_atomic_path_suffix(tmp_path):
    with atomic_path(tmp_path / "model.keras", suffix=".keras") as tmp:
        assert tmp.name.endswith(".keras") and tmp.name.startswith(".model.keras.")
        tmp.write_text("m")
    with atomic_path(tmp_path / "clip.mp4") as tmp:
        assert tmp.name.endswith(".mp4.tmp")
        tmp.write_text("v")
    assert names(tmp_path) == ["clip.mp4", "model.keras"]


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_error_leaves_the_target_untouched_and_no_temp(existing, umask, tmp_path):
    target = tmp_path / "out.txt"
    if existing:
        target.write_text("old")
        os.chmod(target, 0o600)
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    if existing:
        assert target.read_text() == "old" and mode(target) == 0o600
        assert names(tmp_path) == ["out.txt"]
    else:
        assert names(tmp_path) == []


def test_json_error_leaves_the_target_untouched(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("{}\n")
    with pytest.raises(TypeError):
        write_json_atomic(target, {"x": object()})
    assert target.read_text() == "{}\n"
    assert names(tmp_path) == ["out.json"]


def _private_tree(root):
    """What mkdtemp / mkstemp make: a 0o700 folder holding a 0o700 folder and 0o600 files."""
    sub = pathlib.Path(tempfile.mkdtemp(dir=root))
    fd, name = tempfile.mkstemp(dir=sub)
    os.close(fd)
    fd, top = tempfile.mkstemp(dir=root)
    os.close(fd)
    script = pathlib.Path(root) / "run.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o700)
    return sub, pathlib.Path(name), pathlib.Path(top), script


def test_set_default_modes(umask, tmp_path):
    root = pathlib.Path(tempfile.mkdtemp(dir=tmp_path))
    assert mode(root) == 0o700
    sub, nested, top, script = _private_tree(root)
    (root / "link").symlink_to(top)
    set_default_modes(root)
    file_mode, folder_mode = MODES[umask]
    assert mode(root) == mode(sub) == folder_mode
    assert mode(nested) == mode(top) == file_mode
    assert mode(script) == folder_mode  # executable by its owner: stays executable
    assert os.path.islink(root / "link")


def test_publish_dir(umask, tmp_path):
    tmp = pathlib.Path(tempfile.mkdtemp(dir=tmp_path))
    sub, nested, top, _ = _private_tree(tmp)
    final = publish_dir(tmp, tmp_path / "v1")
    assert final == tmp_path / "v1" and not tmp.exists()
    file_mode, folder_mode = MODES[umask]
    assert mode(final) == mode(final / sub.name) == folder_mode
    assert mode(final / sub.name / nested.name) == mode(final / top.name) == file_mode


def test_publish_dir_never_replaces_a_folder(tmp_path):
    tmp = pathlib.Path(tempfile.mkdtemp(dir=tmp_path))
    (tmp / "new").write_text("new")
    (tmp_path / "v1").mkdir()  # even an empty one, which os.rename would replace
    with pytest.raises(FileExistsError, match="v1"):
        publish_dir(tmp, tmp_path / "v1")
    assert names(tmp_path / "v1") == []
    assert names(tmp) == ["new"]


def test_atomic_dir(umask, tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        assert tmp.parent == tmp_path and mode(tmp) == 0o700
        _private_tree(tmp)
        (tmp / "plain.txt").write_text("x")
    file_mode, folder_mode = MODES[umask]
    assert names(tmp_path) == ["model"]
    for folder, _dirs, files in os.walk(target):
        assert mode(folder) == folder_mode
        for name in files:
            expected = folder_mode if name == "run.sh" else file_mode
            assert mode(os.path.join(folder, name)) == expected, name


def test_atomic_dir_error_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), atomic_dir(tmp_path / "model") as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert names(tmp_path) == []


def test_atomic_dir_refuses_an_existing_target(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "old.txt").write_text("old")
    with pytest.raises(FileExistsError), atomic_dir(tmp_path / "model") as tmp:
        (tmp / "new.txt").write_text("new")
    assert names(tmp_path) == ["model"]
    assert names(tmp_path / "model") == ["old.txt"]


def test_files_are_published_only_through_keras_ispan_io_atomic():
    """One implementation of an atomic write: no other module of the tree renames or replaces a
    file itself (`benchmarks/video_memory.py` renamed its own `.partial.mp4`)."""
    import re

    root = pathlib.Path(__file__).resolve().parents[3]
    renames = re.compile(r"\.rename\(|\bos\.replace\(|\bshutil\.move\(")
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("keras_ispan", "training", "serving", "benchmarks")
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "keras_ispan" / "io" / "atomic.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if renames.search(line)
    ]
    assert not found, found
