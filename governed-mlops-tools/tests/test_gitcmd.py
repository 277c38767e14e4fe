"""Running git: one runner for every module, with messages a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_project import commit

from governed_mlops import gitcmd
from governed_mlops.gitcmd import GitError, git, git_or_none, run_git


def test_stdout_is_bytes_as_git_prints_them(tmp_path: Path):
    (tmp_path / "café.txt").write_text("x\n", encoding="utf-8")
    commit(tmp_path, "files")
    listed = git(tmp_path, "ls-files", "-z")
    assert listed == "café.txt\0".encode("utf-8")


def test_a_failure_names_the_step_and_gits_last_line(tmp_path: Path):
    with pytest.raises(GitError) as raised:
        git(tmp_path, "-c", "user.name=x", "cat-file", "-e", "HEAD:missing")
    message = str(raised.value)
    assert message.startswith("git cat-file -e failed (")
    assert "not a git repository" in message


def test_a_failure_never_shows_arguments_after_the_first(tmp_path: Path):
    url = "https://user:s3cret@example.invalid/repo.git"  # pragma: allowlist secret
    with pytest.raises(GitError) as raised:
        git(tmp_path, "clone", "--quiet", url, str(tmp_path / "x"), timeout=60)
    assert "git clone --quiet failed" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_without_git_on_path_the_message_says_so(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(gitcmd.shutil, "which", lambda name: None)
    with pytest.raises(gitcmd.GitMissing, match="git is not installed or not on PATH"):
        git(tmp_path, "status")
    assert git_or_none(tmp_path, "status") is None


def test_git_or_none_is_none_outside_a_repository(tmp_path: Path):
    assert git_or_none(tmp_path, "rev-parse", "HEAD") is None
    commit_dir = tmp_path / "repo"
    commit_dir.mkdir()
    (commit_dir / "a").write_text("a", encoding="utf-8")
    commit(commit_dir, "files")
    head = git_or_none(commit_dir, "rev-parse", "HEAD")
    assert head is not None and len(head.strip()) == 40


def test_run_git_gives_the_exit_code_and_takes_stdin(tmp_path: Path):
    done = run_git(tmp_path, "hash-object", "--stdin", stdin=b"hello\n")
    assert done.returncode == 0
    # git's blob id of "hello\n", as `echo hello | git hash-object --stdin`.
    assert done.stdout.strip() == b"ce013625030ba8dba906f756967f9e9ca394464a"
    assert run_git(tmp_path, "rev-parse", "HEAD").returncode != 0
