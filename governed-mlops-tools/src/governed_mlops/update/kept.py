"""Edited files an update deletes or renames are kept.

Copier deletes every file the old version rendered and the new one does not,
whatever the project changed in it. Here each file deleted by the update
(tracked in ``HEAD``, missing now) that differs from what the old version
rendered is put back: under its new name with the template's changes merged
when the rename table declares the rename, else in place, as the project's.
"""

from __future__ import annotations

from pathlib import Path

from ..gitcmd import git
from . import gitio, notebooks

LABELS = ("before updating", "last update", "after updating")


def deleted_files(project: Path) -> list[str]:
    """Tracked in ``HEAD`` and missing from the working tree now."""
    return [
        name
        for name in gitio.head_blobs(project)
        if not (project / name).exists() and not (project / name).is_symlink()
    ]


def keep_edits(
    project: Path, deleted: list[str], old_render: Path, moves: dict[str, str]
) -> list[str]:
    """Put back the edited files among ``deleted``; one line per file kept.
    ``old_render``: the old version rendered with the project's answers;
    ``moves``: the renames the update crosses."""
    head = gitio.head_blobs(project)
    # Not the template's files (a migration's business) are left alone.
    ours_and_base = [p for p in deleted if p in head and (old_render / p).is_file()]
    raw = gitio.raw_blob_ids(project, [old_render / p for p in ours_and_base])
    done = []
    for path, render_id in zip(ours_and_base, raw):
        if render_id == head[path]:
            continue  # byte for byte the old render: copier's deletion stands
        base_file = old_render / path
        if gitio.same_as_head(project, path, base_file):
            continue  # equal once the project's attributes apply (line endings)
        ours = gitio.at_head(project, path)
        if ours is None:
            continue
        base = base_file.read_bytes()
        new = moves.get(path)
        if new and new not in head and (project / new).is_file():
            done.append(_move(project, path, new, base, ours))
        else:
            git(project, "checkout", "HEAD", "--", path)  # with its mode
            done.append(f"{path}: kept, yours now (the template no longer has it)")
    return done


def _move(project: Path, old: str, new: str, base: bytes, ours: bytes) -> str:
    target = project / new
    # Run again after a conflict, the template's file is the index's stage 3.
    theirs = gitio.stages(project, new).get(3) or target.read_bytes()
    if new.endswith(".ipynb"):
        merged, conflict, note = _merge_notebook(base, ours, theirs)
    else:
        text, conflict = gitio.merge_text(
            ours.decode("utf-8"), base.decode("utf-8"), theirs.decode("utf-8"), LABELS
        )
        merged, note = text.encode("utf-8"), ""
    target.write_bytes(merged)
    if conflict:
        gitio.mark_unmerged(project, new, base, ours, theirs)
        what = note or "resolve the <<<<<<< markers"
        return f"{old} -> {new}: moved with your changes, CONFLICT: {what}"
    return f"{old} -> {new}: moved with your changes merged"


def _merge_notebook(base: bytes, ours: bytes, theirs: bytes) -> tuple[bytes, bool, str]:
    """(content, conflicted, what to do) of a renamed notebook."""
    if not notebooks.nbdime_available():
        return (
            ours,
            True,
            "your notebook kept, the template's changes not merged "
            f"(no nbdime: run `{notebooks.WITH_NBDIME}`)",
        )
    try:
        result = notebooks.merge(
            base.decode("utf-8"), ours.decode("utf-8"), theirs.decode("utf-8")
        )
    except ValueError as error:
        return ours, True, f"your notebook kept, not merged ({error})"
    note = "resolve the <<<<<<< markers inside the cells" if result.conflicts else ""
    return result.text.encode("utf-8"), bool(result.conflicts), note
