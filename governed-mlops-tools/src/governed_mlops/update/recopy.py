"""``mlops template recopy``: the template's files back as a version renders
them, the project's files left alone.

``copier recopy --overwrite`` renders again over everything: it replaces the
project's ``config.py``, notebooks and ``pyproject.toml`` and brings back
files the project deleted. Here the render goes to a temporary folder and
only template-owned files (:mod:`.ownership`) are written, on a clean tree,
so ``git diff`` shows exactly what changed.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CommandError
from . import gitio
from .ownership import owner
from .render import ANSWERS, parse_answers, render, rendered_files, source_for


@dataclass
class Recopy:
    """What a recopy did (or would do, dry)."""

    written: list[str] = field(default_factory=list)  # template's, replaced
    created: list[str] = field(default_factory=list)  # new in the version
    restored: list[str] = field(default_factory=list)  # deleted, brought back
    yours: list[str] = field(default_factory=list)  # differ, not touched
    deleted: list[str] = field(default_factory=list)  # deleted, left so
    # Rendered from another version than the project records: the answers
    # file keeps the recorded one (``copier update`` moves a project).
    recorded: str = ""
    rendered: str = ""

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would write" if dry_run else "written"
        rows = [f"{verb}: {path}" for path in self.written]
        rows += [
            f"{'would create' if dry_run else 'created'}: {p}" for p in self.created
        ]
        rows += [
            f"{'would restore' if dry_run else 'restored'}: {p}" for p in self.restored
        ]
        rows += [f"yours: not touched: {path}" for path in self.yours]
        rows += [
            f"deleted by you: not brought back (--restore-deleted): {path}"
            for path in self.deleted
        ]
        if self.recorded != self.rendered:
            rows.append(
                f"note: the template's files are {self.rendered}'s; "
                f"{ANSWERS} still records {self.recorded} (its migrations "
                f"have not run): `copier update --trust --vcs-ref "
                f"{self.rendered}` moves the project"
            )
        return rows or ["nothing to do: the template's files are as rendered"]


def recopy(
    project: Path,
    ref: str | None = None,
    *,
    restore_deleted: bool = False,
    dry_run: bool = False,
) -> Recopy:
    """Render the project's version (or ``ref``) with its answers and write
    the template-owned files that differ; raises :class:`CommandError`."""
    answers_file = project / ANSWERS
    if not answers_file.is_file():
        raise CommandError(f"{project}: no {ANSWERS}: not a project copier made")
    if not dry_run and not gitio.is_clean(project):
        raise CommandError(
            "the git tree has changes: commit or stash them first, so `git diff` "
            "shows what recopy did"
        )
    answers = parse_answers(answers_file.read_text(encoding="utf-8"))
    recorded = str(answers.get("_commit") or "")
    version = ref or recorded
    if not version:
        raise CommandError(f"{ANSWERS}: no _commit: pass --vcs-ref")
    source = source_for(None, version, answers)
    result = Recopy(recorded=recorded, rendered=version)
    with tempfile.TemporaryDirectory(prefix="mlops-recopy-") as tmp:
        fresh = render(source, version, answers, Path(tmp, "render"))
        before = set(rendered_files(fresh))
        if recorded and recorded != version:
            before = set(
                rendered_files(render(source, recorded, answers, Path(tmp, "old")))
            )
        for path in rendered_files(fresh):
            if path == ANSWERS and version != recorded:
                continue  # the project stays at the version it records
            _plan(project, fresh, path, path in before, restore_deleted, result)
        if not dry_run:
            for path in result.written + result.created + result.restored:
                target = project / path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fresh / path, target)
                shutil.copymode(fresh / path, target)
    return result


def _plan(
    project: Path,
    fresh: Path,
    path: str,
    rendered_before: bool,
    restore_deleted: bool,
    result: Recopy,
) -> None:
    target = project / path
    whose = owner(path)
    if not target.is_file():
        if not rendered_before:
            result.created.append(path)  # new in this version: nothing to lose
        elif restore_deleted and whose != "answers":
            result.restored.append(path)
        else:
            result.deleted.append(path)
        return
    if target.read_bytes() == (fresh / path).read_bytes():
        return
    if whose == "project":
        result.yours.append(path)
    else:
        result.written.append(path)
