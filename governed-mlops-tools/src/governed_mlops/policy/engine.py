"""Run every rule on a project and collect the outcome of each."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from . import secret_scan
from . import waivers as waivers_module
from .facts import Facts
from .model import (
    ERROR,
    WARNING,
    Finding,
    NotApplicable,
    PluginError,
    Rule,
    all_rules,
    builtin_rules,
)
from .versions import POLICY_VERSION

PASSED, FAILED, WAIVED, SKIPPED = "passed", "failed", "waived", "not applicable"


class PolicyInputError(Exception):
    """The check cannot run on this input (exit code 2)."""


@dataclass
class Outcome:
    """What one rule found on the project."""

    rule: Rule
    severity: str
    status: str
    findings: list[Finding] = field(default_factory=list)
    note: str = ""


@dataclass
class Report:
    root: Path
    today: dt.date
    outcomes: list[Outcome]
    policy_version: str = POLICY_VERSION

    def count(self, severity: str) -> int:
        return sum(
            1 for o in self.outcomes if o.status == FAILED and o.severity == severity
        )

    @property
    def exit_code(self) -> int:
        """0: no errors (warnings allowed); 1: at least one rule failed as an error."""
        return 1 if self.count(ERROR) else 0


def check(
    root: Path,
    today: Optional[dt.date] = None,
    *,
    plugins: bool = True,
    write_cache: bool = True,
    detect_secrets: bool = True,
) -> Report:
    """Check the project in ``root`` against every rule of the policy;
    ``write_cache=False`` writes nothing into the project (GOV201's cache);
    ``detect_secrets=False`` has GOV201 run its built-in patterns only."""
    root = root.resolve()
    if (
        not (root / "pyproject.toml").is_file()
        and not (root / ".copier-answers.yml").is_file()
    ):
        raise PolicyInputError(
            f"{root} is not a governed-mlops project (no pyproject.toml or "
            f".copier-answers.yml); run the check in the project's root"
        )
    try:
        rules = list(all_rules() if plugins else builtin_rules())
    except PluginError as error:
        raise PolicyInputError(str(error)) from None
    facts = Facts(root, today or dt.date.today())
    try:
        facts.waivers = waivers_module.parse(
            facts.tool("governance"), (r.id for r in rules), plugin_ids_ok=not plugins
        )
    except waivers_module.WaiverError as error:
        raise PolicyInputError(str(error)) from None
    waived = {w.rule: w for w in facts.waivers if not w.expired(facts.today)}
    token = secret_scan.WRITE_CACHE.set(write_cache)
    scanner = secret_scan.DETECT_SECRETS.set(detect_secrets)
    try:
        outcomes = [_outcome(rule, facts, waived.get(rule.id)) for rule in rules]
    finally:
        secret_scan.DETECT_SECRETS.reset(scanner)
        secret_scan.WRITE_CACHE.reset(token)
    return Report(root, facts.today, outcomes)


def _outcome(
    rule: Rule, facts: Facts, waiver: Optional[waivers_module.Waiver]
) -> Outcome:
    severity = rule.severity_on(facts.today)
    note = ""
    if severity != rule.severity:
        note = f"warning until {rule.grace_until}, an error after"
    try:
        findings = list(rule.check(facts))
    except NotApplicable as reason:
        return Outcome(rule, severity, SKIPPED, note=str(reason))
    except Exception as error:  # a broken check must not hide the others
        findings = [Finding(f"the check failed: {type(error).__name__}: {error}")]
        severity = ERROR
    if waiver is not None:
        note = f"waived until {waiver.expires}: {waiver.reason}"
        return Outcome(rule, WARNING, WAIVED, findings, note)
    graced = [f for f in findings if f.grace_until and facts.today <= f.grace_until]
    if graced and severity == ERROR:
        until = min(f.grace_until for f in graced if f.grace_until)
        if len(graced) == len(findings):
            severity = WARNING
            note = f"a new requirement: a warning until {until}, an error after"
        else:  # the rule fails on its older checks; say which part may wait
            findings = [
                (
                    replace(f, message=f"{f.message} (a warning until {f.grace_until})")
                    if f in graced
                    else f
                )
                for f in findings
            ]
    return Outcome(rule, severity, FAILED if findings else PASSED, findings, note)
