"""The facts of one project the fleet reports: template version, tools pin,
policy result and waivers; read without writing anything into the project."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .._toml import toml
from .._yaml import safe_load
from ..policy.versions import is_release, tools_pin

ANSWERS = ".copier-answers.yml"
# Questions every version of this template asked (a project from another
# Copier template has answers, but not these).
OWN_QUESTIONS = ("project_name", "project_slug", "package_name", "ci_provider")


@dataclass(frozen=True)
class RuleCount:
    """A rule that failed on a project: id, effective severity, findings."""

    rule: str
    severity: str
    findings: int


@dataclass(frozen=True)
class WaiverFacts:
    rule: str
    reason: str
    expires: dt.date


@dataclass
class PolicyResult:
    """A policy check's result, with the version of the checker that ran."""

    checked_by: str
    errors: int = 0
    warnings: int = 0
    failed: list[RuleCount] = field(default_factory=list)
    problem: str = ""  # the check could not run (a refused waiver)

    def error_rules(self) -> list[str]:
        return [r.rule for r in self.failed if r.severity == "error"]

    def warning_rules(self) -> list[str]:
        return [r.rule for r in self.failed if r.severity != "error"]


@dataclass
class ProjectFacts:
    name: str
    source: str
    governed: bool
    why_not: str = ""  # why the project is not from this template
    version: str = ""  # ``_commit``
    release: bool = False
    tools_pin: Optional[str] = None
    tools_copy: bool = False
    policy: Optional[PolicyResult] = None
    waivers: list[WaiverFacts] = field(default_factory=list)


def read_answers(root: Path) -> tuple[Optional[dict[str, Any]], str]:
    """The answers of this template, or None and why not."""
    path = root / ANSWERS
    if not path.is_file():
        return None, f"no {ANSWERS}"
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except Exception as error:  # any YAML or decoding error
        return None, f"{ANSWERS} unreadable: {str(error).splitlines()[0]}"
    if not isinstance(data, dict) or not all(q in data for q in OWN_QUESTIONS):
        return None, f"{ANSWERS} has not this template's questions"
    return data, ""


def read_pyproject(root: Path) -> dict[str, Any]:
    try:
        data = toml.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_waivers(pyproject: dict[str, Any]) -> list[WaiverFacts]:
    """``[[tool.governance.waivers]]`` as written (complete entries only: the
    policy check reports the others)."""
    from ..policy.waivers import WaiverError, expiry_date

    table = pyproject.get("tool", {}).get("governance", {})
    entries = table.get("waivers", []) if isinstance(table, dict) else []
    found = []
    for index, entry in enumerate(entries if isinstance(entries, list) else ()):
        if not isinstance(entry, dict) or "expires" not in entry:
            continue
        try:
            expires = expiry_date(entry["expires"], f"waivers[{index}]")
        except WaiverError:
            continue
        found.append(
            WaiverFacts(
                str(entry.get("rule", "")).upper(),
                str(entry.get("reason", "")),
                expires,
            )
        )
    return found


def check_policy(root: Path, today: dt.date) -> PolicyResult:
    """This tools package's policy, built-in rules, in process, read-only."""
    from ..policy import POLICY_VERSION, check
    from ..policy.engine import FAILED, PolicyInputError

    result = PolicyResult(checked_by=POLICY_VERSION)
    try:
        report = check(root, today, plugins=False, write_cache=False)
    except PolicyInputError as error:
        result.problem = str(error)
        return result
    for outcome in report.outcomes:
        if outcome.status == FAILED:
            result.failed.append(
                RuleCount(outcome.rule.id, outcome.severity, len(outcome.findings))
            )
    result.errors = sum(1 for r in result.failed if r.severity == "error")
    result.warnings = len(result.failed) - result.errors
    return result


def inspect(root: Path, name: str, source: str, today: dt.date) -> ProjectFacts:
    """The facts of the project in ``root`` (a work tree; left as found)."""
    answers, why_not = read_answers(root)
    if answers is None:
        return ProjectFacts(name, source, governed=False, why_not=why_not)
    commit = str(answers.get("_commit", ""))
    pyproject = read_pyproject(root)
    return ProjectFacts(
        name,
        source,
        governed=True,
        version=commit,
        release=is_release(commit),
        tools_pin=tools_pin(pyproject),
        tools_copy=(root / "src" / "governed_mlops").is_dir(),
        policy=check_policy(root, today),
        waivers=read_waivers(pyproject),
    )
