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
