"""The rule catalogue as Markdown: docs/policies.md and ``mlops policy rules``."""

from __future__ import annotations

from .model import ERROR, all_rules
from .versions import OLDEST_SUPPORTED, POLICY_VERSION


def _severity(rule) -> str:
    if rule.grace_until is not None:
        return f"{rule.severity} (a warning until {rule.grace_until})"
    return rule.severity


def markdown() -> str:
    """Every rule with its severity, version, rationale and fix."""
    rules = list(all_rules())
    lines = [
        "# Policy rules",
        "",
        "<!-- Generated from the rule registry (governed_mlops/policy): do not",
        "     edit. Regenerate with `python tools/policy_docs.py`. -->",
        "",
        f"Policy version {POLICY_VERSION}; oldest supported template version "
        f"{OLDEST_SUPPORTED}. `mlops policy check` runs every rule; an error "
        "fails the check, a warning is reported only. Waive a rule in "
        "`[tool.governance]` of `pyproject.toml` (see the updating guide).",
        "",
        "| id | rule | severity | since |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| [{r.id}](#{r.id.lower()}) | {r.title} | {_severity(r)} | {r.since} |"
        for r in rules
    ]
    for rule in rules:
        lines += [
            "",
            f"## {rule.id}",
            "",
            f"**{rule.title}** ({_severity(rule)}, since {rule.since})",
            "",
            f"Why: {rule.rationale}",
            "",
            f"Fix: {rule.fix}",
        ]
    return "\n".join(lines) + "\n"


def table() -> str:
    """One line per rule, for the terminal."""
    return "".join(
        f"{r.id}  {'E' if r.severity == ERROR else 'W'}  {r.since:<7} {r.title}\n"
        for r in all_rules()
    )
