"""The few git operations the update guard and recopy need."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import CommandError
from ..gitcmd import GitError, git, run_git


def head_blobs(project: Path) -> dict[str, str]:
    """The files tracked in ``HEAD`` (``/``-separated) and their blob ids."""
    listed = git(project, "ls-tree", "-r", "-z", "HEAD").decode("utf-8")
    blobs = {}
    for entry in filter(None, listed.split("\0")):
        meta, name = entry.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind == "blob":
            blobs[name] = sha
    return blobs


def raw_blob_ids(project: Path, files: list[Path]) -> list[str]:
    """The blob ids of ``files`` as they are, no filter applied: one git
    process for all of them."""
    if not files:
        return []
    listed = git(
        project,
        "hash-object",
        "--no-filters",
        "--stdin-paths",
        stdin="".join(f"{file}\n" for file in files).encode("utf-8"),
    )
    return listed.decode("ascii").split()


def at_head(project: Path, path: str) -> bytes | None:
    """The file as a checkout of ``HEAD`` writes it (the project's
    .gitattributes applied), or None when HEAD has no such file."""
    try:
        return git(project, "cat-file", "--filters", f"HEAD:{path}")
    except GitError:
        return None


def same_as_head(project: Path, path: str, file: Path) -> bool:
    """True when ``file`` is what ``HEAD`` holds at ``path``, compared as git
    stores both (line endings normalised by the project's attributes)."""
    stored = git(project, "hash-object", f"--path={path}", "--", str(file))
    return stored.strip() == git(project, "rev-parse", f"HEAD:{path}").strip()


def unmerged_paths(project: Path) -> list[str]:
    """The files left in conflict (with stages in the index), sorted."""
    listed = git(project, "ls-files", "-u", "-z").decode("utf-8")
    return sorted(
        {entry.split("\t", 1)[1] for entry in listed.split("\0") if "\t" in entry}
    )


def stages(project: Path, path: str) -> dict[int, bytes]:
    """The index stages of a conflicted file: 1 old render, 2 the project's
    version, 3 the new render (copier records them so)."""
    listed = git(project, "ls-files", "-u", "-z", "--", path).decode("utf-8")
    found: dict[int, bytes] = {}
    for entry in filter(None, listed.split("\0")):
        _mode, sha, stage = entry.split("\t", 1)[0].split()
        found[int(stage)] = git(project, "cat-file", "blob", sha)
    return found


def mark_resolved(project: Path, path: str) -> None:
    """Clear the file's conflict: stage it as it is in the working tree."""
    git(project, "add", "--", path)


def mark_unmerged(
    project: Path, path: str, base: bytes | None, ours: bytes, theirs: bytes
) -> None:
    """Record the file as in conflict, as copier does for the files it merges,
    so ``git diff --name-only --diff-filter=U`` lists it."""
    lines = [f"0 {'0' * 40}\t{path}"]
    for stage, data in ((1, base), (2, ours), (3, theirs)):
        if data is not None:
            sha = git(project, "hash-object", "-w", "--stdin", stdin=data)
            lines.append(f"100644 {sha.decode().strip()} {stage}\t{path}")
    git(project, "update-index", "--index-info", stdin="\n".join(lines).encode())


def is_clean(project: Path) -> bool:
    """True when nothing is staged, changed or untracked (ignored files aside)."""
    return not git(project, "status", "--porcelain").strip()


def merge_text(
    ours: str, base: str, theirs: str, labels: tuple[str, str, str]
) -> tuple[str, bool]:
    """``git merge-file`` of three texts: (result, True when it conflicts)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            paths.append(Path(tmp, name))
            paths[-1].write_bytes(text.encode("utf-8"))
        labelled = [arg for label in labels for arg in ("-L", label)]
        done = run_git(Path(tmp), "merge-file", "-p", *labelled, *map(str, paths))
    # The exit code is the number of conflicts; a negative one is an error.
    if not 0 <= done.returncode <= 127:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise CommandError(f"git merge-file failed: {message}")
    return done.stdout.decode("utf-8"), done.returncode > 0
