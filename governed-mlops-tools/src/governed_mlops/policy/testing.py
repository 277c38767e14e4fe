"""Run policy rules on a plain folder: the helper for fast rule unit tests.

    from governed_mlops.policy.testing import check_rule

    def test_coverage_floor():
        findings = check_rule("GOV107", {"pyproject.toml": "...", "tests/t.py": ""})
        assert [f.message for f in findings] == [...]

Files are written into a temporary folder (or the folder given is used as it
is); with ``git=True`` it becomes a repository with every file committed, for
rules that read what git tracks. Plugins test their own rules the same way.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Mapping, Optional, Union

from ..gitcmd import git
from .facts import Facts
from .model import Finding, NotApplicable, all_rules

Files = Union[Mapping[str, Union[str, bytes]], Path]

__all__ = ["NotApplicable", "check_rule", "facts_for", "write_files"]


def write_files(root: Path, files: Mapping[str, Union[str, bytes]]) -> Path:
    """Write ``{relative path: text or bytes}`` under ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def facts_for(root: Path, today: Optional[dt.date] = None) -> Facts:
    """The facts rules see in ``root``, with waivers parsed as a check does."""
    from . import waivers

    rules = list(all_rules())
    facts = Facts(root, today or dt.date.today())
    facts.waivers = waivers.parse(facts.tool("governance"), (r.id for r in rules))
    return facts


def _commit(root: Path) -> None:
    who = ["-c", "user.name=policy test", "-c", "user.email=policy@test"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "files"]):
        git(root, *who, *args)


def check_rule(
    rule_id: str,
    files: Files,
    *,
    today: Optional[dt.date] = None,
    git: bool = False,
) -> list[Finding]:
    """The findings of rule ``rule_id`` on ``files`` (empty: the rule passes).

    Raises :class:`NotApplicable` when the rule does not apply, as the rule
    itself does; a rule id that is not registered is a ``KeyError``.
    """
    rules = {rule.id: rule for rule in all_rules()}
    if rule_id not in rules:
        raise KeyError(f"no rule {rule_id}; registered: {', '.join(sorted(rules))}")
    if isinstance(files, Path):
        if git:
            _commit(files)
        return list(rules[rule_id].check(facts_for(files, today)))
    with tempfile.TemporaryDirectory(prefix="policy-") as folder:
        root = write_files(Path(folder), files)
        if git:
            _commit(root)
        return list(rules[rule_id].check(facts_for(root, today)))
