"""Atomic writes: a reader never sees half a file, a failed write keeps the old one."""

from __future__ import annotations

import os

import pytest

from governed_mlops import files


def test_a_write_that_fails_before_the_swap_keeps_the_previous_content(
    tmp_path, monkeypatch
):
    target = tmp_path / "state" / "index.json"
    files.write_json(target, {"stage": "train"})

    def refuse(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        files.write_json(target, {"stage": "eval"})
    assert '"train"' in target.read_text(encoding="utf-8")


def test_text_bytes_and_copies_arrive_whole(tmp_path):
    source = files.write_atomic(tmp_path / "a" / "notes.txt", "héllo\n")
    assert source.read_bytes() == "héllo\n".encode("utf-8")
    copy = files.copy_atomic(source, tmp_path / "b" / "copy.txt")
    assert copy.read_bytes() == source.read_bytes()
    assert files.write_atomic(tmp_path / "raw.bin", b"\x00\x01").read_bytes() == (
        b"\x00\x01"
    )
    assert not list(tmp_path.rglob("*.partial"))


def windows_unlink(monkeypatch):
    """``os.unlink`` as on Windows: a read-only file cannot be deleted."""
    import stat

    real = os.unlink

    def unlink(path, *, dir_fd=None):
        mode = os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mode
        if not mode & stat.S_IWRITE:
            raise PermissionError(13, "Access is denied", str(path))
        real(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "unlink", unlink)


def test_a_tree_with_read_only_files_is_removed_as_git_for_windows_leaves_them(
    tmp_path, monkeypatch
):
    import shutil

    clone = tmp_path / "churn"
    objects = clone / ".git" / "objects" / "pack"
    objects.mkdir(parents=True)
    for name in ("pack-1.idx", "pack-1.pack"):
        (objects / name).write_bytes(b"git")
        (objects / name).chmod(0o444)
    (clone / "README.md").write_text("x")
    windows_unlink(monkeypatch)
    with pytest.raises(PermissionError):  # what the fleet did before
        shutil.rmtree(clone)
    files.remove_tree(clone)
    assert not clone.exists()


def test_a_file_that_stays_in_use_is_an_error_unless_ignored(tmp_path, monkeypatch):
    held = tmp_path / "env" / "python.exe"
    held.parent.mkdir()
    held.write_bytes(b"")

    def in_use(path, *, dir_fd=None):
        raise PermissionError(13, "The process cannot access the file", str(path))

    monkeypatch.setattr(os, "unlink", in_use)
    with pytest.raises(PermissionError):
        files.remove_tree(held.parent)
    files.remove_tree(held.parent, ignore_errors=True)
    assert held.exists()


def test_only_a_refused_delete_is_retried(tmp_path, monkeypatch):
    """A folder that cannot be listed is the error itself, not a retry of a
    function that takes no path (os.open, os.scandir on a descriptor)."""
    folder = tmp_path / "clone"
    (folder / "sub").mkdir(parents=True)

    real = os.open

    def unreadable(path, flags, mode=0o777, *, dir_fd=None):  # as os.open
        if str(path).endswith("sub"):
            raise PermissionError(13, "Access is denied", str(path))
        return real(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", unreadable)
    with pytest.raises(PermissionError, match="Access is denied"):
        files.remove_tree(folder)
    files.remove_tree(folder, ignore_errors=True)
    monkeypatch.undo()
    assert folder.is_dir()
    files.remove_tree(folder)
    assert not folder.exists()
