"""A version of the template rendered with a project's answers, by copier."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .._yaml import safe_load
from ..errors import CommandError
from ..gitcmd import git

ANSWERS = ".copier-answers.yml"


def parse_answers(text: str) -> dict[str, Any]:
    """The answers file's mapping (``_commit``, ``_src_path`` and the answers)."""
    import yaml

    from .._yaml import describe_error

    try:
        answers = safe_load(text)
    except yaml.YAMLError as error:
        raise CommandError(
            f"{ANSWERS}: not valid YAML: {describe_error(error)}; fix it (git diff "
            f"shows what changed) or take it back from git"
        ) from None
    if not isinstance(answers, dict):
        raise CommandError(f"{ANSWERS}: not a mapping of answers")
    return answers


def questions(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers to questions (copier's own ``_`` keys left out)."""
    return {key: value for key, value in answers.items() if not key.startswith("_")}


def has_commit(checkout: Path, commit: str) -> bool:
    """True when the git checkout ``checkout`` holds ``commit``."""
    try:
        git(checkout, "cat-file", "-e", f"{commit}^{{commit}}")
    except CommandError:
        return False
    return True


def source_for(checkout: Path | None, commit: str, answers: dict[str, Any]) -> str:
    """Where to render ``commit`` from: the template checkout being applied
    when it has that commit, else the answers' ``_src_path``."""
    if checkout is not None and checkout.is_dir() and has_commit(checkout, commit):
        return str(checkout)
    source = answers.get("_src_path")
    if not isinstance(source, str) or not source:
        raise CommandError(f"{ANSWERS}: no _src_path to render version {commit} from")
    return source


def render(source: str, ref: str, answers: dict[str, Any], dest: Path) -> Path:
    """Render the template at ``ref`` with the answers into ``dest`` (no tasks)."""
    try:
        from copier import run_copy
    except ImportError:
        raise CommandError(
            "copier is not installed here: `uv sync` (the dev group has it) or "
            "`pip install copier`"
        ) from None
    try:
        run_copy(
            source,
            str(dest),
            data=questions(answers),
            vcs_ref=ref,
            defaults=True,
            quiet=True,
            skip_tasks=True,
            unsafe=True,
        )
    except Exception as error:  # copier's errors share no public base class
        raise CommandError(
            f"copier could not render {source} at {ref}: "
            f"{type(error).__name__}: {error}"
        ) from None
    return dest


def verbatim_files(
    checkout: Path, commit: str, paths: list[str], dest: Path
) -> list[str]:
    """The ``paths`` (as a project has them) that ``commit`` of the template
    ships as they are: a plain file at that path under the template's
    ``_subdirectory``, neither a ``.jinja`` template nor under a templated
    name. Each is written into ``dest`` as copier copies it (the template
    repository's attributes applied, as in its checkout); the rest need a
    render."""
    if not checkout.is_dir() or not has_commit(checkout, commit):
        return []  # a URL: the render fetches it
    try:
        settings = git(checkout, "show", f"{commit}:copier.yml")
    except CommandError:
        return []  # copier.yaml or none: the render decides
    found = re.search(
        r"^_subdirectory:\s*['\"]?([^'\"\s#]+)", settings.decode("utf-8"), re.M
    )
    prefix = f"{found.group(1).strip('/')}/" if found else ""
    listed = git(checkout, "ls-tree", "-r", "-z", "--name-only", commit)
    shipped = set(filter(None, listed.decode("utf-8").split("\0")))
    done = []
    for path in paths:
        name = prefix + path
        if name not in shipped or name + ".jinja" in shipped:
            continue
        data = git(checkout, "cat-file", "--filters", f"{commit}:{name}")
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_bytes(data)
        done.append(path)
    return done


def rendered_files(root: Path) -> list[str]:
    """The files of a render, ``/``-separated, without copier's .git."""
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts[:1]
    )
