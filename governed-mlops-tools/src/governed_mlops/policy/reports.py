"""The check's report in each format: terminal, JSON, JUnit XML and SARIF."""

from __future__ import annotations

import json
from typing import Any, Callable

from .engine import FAILED, PASSED, SKIPPED, WAIVED, Outcome, Report
from .model import ERROR, WARNING, Finding

TOOL = "governed-mlops-policy"
# Findings about the project as a whole are reported on this file.
DEFAULT_PATH = "pyproject.toml"


def _summary(report: Report) -> dict[str, int]:
    statuses = [o.status for o in report.outcomes]
    return {
        "errors": report.count(ERROR),
        "warnings": report.count(WARNING),
        "waived": statuses.count(WAIVED),
        "passed": statuses.count(PASSED),
        "not_applicable": statuses.count(SKIPPED),
    }


def _placed(finding: Finding) -> str:
    """A finding as ``where: message`` (the message alone without a place)."""
    return f"{finding.where}: {finding.message}" if finding.where else finding.message


def terminal(report: Report, verbose: bool = False) -> str:
    """Failed rules grouped by severity, each finding with its place and the
    fix; ``verbose`` adds each failed rule's rationale, and the rules that
    passed or do not apply (with the reason)."""
    counts = _summary(report)
    lines = [
        f"governed-mlops policy {report.policy_version}: {counts['errors']} "
        f"error(s), {counts['warnings']} warning(s), {counts['waived']} waived, "
        f"{counts['passed']} passed ({report.root})"
    ]
    for severity in (ERROR, WARNING):
        for outcome in report.outcomes:
            if outcome.status != FAILED or outcome.severity != severity:
                continue
            note = f" ({outcome.note})" if outcome.note else ""
            lines += [
                "",
                f"{severity.upper()} {outcome.rule.id} {outcome.rule.title}{note}",
            ]
            lines += [f"  {_placed(finding)}" for finding in outcome.findings]
            lines.append(f"  fix: {outcome.rule.fix}")
            if verbose:
                lines.append(f"  why: {outcome.rule.rationale}")
    waived = [o for o in report.outcomes if o.status == WAIVED]
    if waived:
        lines.append("")
    for outcome in waived:
        # What the waiver hides now: a waiver covers its rule everywhere.
        lines.append(f"waived {outcome.rule.id} {outcome.rule.title}: {outcome.note}")
        lines += [f"  hides: {_placed(finding)}" for finding in outcome.findings]
        if not outcome.findings:
            lines.append("  hides nothing now: the rule passes; delete the waiver")
    if verbose:
        lines += _passed_and_skipped(report)
    if counts["errors"]:
        lines += ["", "The project violates the policy: fix the errors above."]
    return "\n".join(lines) + "\n"


def _passed_and_skipped(report: Report) -> list[str]:
    """One line per rule that passed or does not apply, in catalogue order."""
    lines = []
    for outcome in report.outcomes:
        rule = outcome.rule
        if outcome.status == PASSED:
            lines.append(f"passed {rule.id} {rule.title}")
        elif outcome.status == SKIPPED:
            lines.append(f"not applicable {rule.id} {rule.title}: {outcome.note}")
    return [""] + lines if lines else []


def _rule_data(outcome: Outcome) -> dict[str, Any]:
    rule = outcome.rule
    return {
        "id": rule.id,
        "title": rule.title,
        "severity": rule.severity,
        "effective_severity": outcome.severity,
        "status": outcome.status,
        "since": rule.since,
        "grace_until": rule.grace_until.isoformat() if rule.grace_until else None,
        "rationale": rule.rationale,
        "fix": rule.fix,
        "note": outcome.note,
        "findings": [
            {"message": f.message, "path": f.path or None, "line": f.line}
            for f in outcome.findings
        ],
    }


def to_json(report: Report) -> str:
    """Every rule's outcome, for scripts and dashboards."""
    data = {
        "tool": TOOL,
        "policy_version": report.policy_version,
        "project": str(report.root),
        "date": report.today.isoformat(),
        "exit_code": report.exit_code,
        "summary": _summary(report),
        "rules": [_rule_data(o) for o in report.outcomes],
    }
    return json.dumps(data, indent=2) + "\n"


def junit(report: Report) -> str:
    """One test case per rule: errors fail, waived and inapplicable rules are
    skipped, warnings pass with their findings in system-out (Jenkins ``junit``)."""
    # Only this format needs it; it writes XML and never parses any.
    import xml.etree.ElementTree as ET  # nosec B405

    counts = _summary(report)
    suites = ET.Element("testsuites", name="governance")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"governance policy {report.policy_version}",
        tests=str(len(report.outcomes)),
        failures=str(counts["errors"]),
        errors="0",
        skipped=str(counts["waived"] + counts["not_applicable"]),
        timestamp=report.today.isoformat(),
    )
    for outcome in report.outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="governance",
            name=f"{outcome.rule.id} {outcome.rule.title}",
        )
        details = "\n".join(
            f"{f.where + ': ' if f.where else ''}{f.message}" for f in outcome.findings
        )
        if outcome.status in (WAIVED, SKIPPED):
            ET.SubElement(case, "skipped", message=outcome.note or outcome.status)
        elif outcome.status == FAILED and outcome.severity == ERROR:
            failure = ET.SubElement(
                case,
                "failure",
                type=outcome.rule.id,
                message=f"{len(outcome.findings)} finding(s); fix: {outcome.rule.fix}",
            )
            failure.text = details
        elif outcome.status == FAILED:
            ET.SubElement(case, "system-out").text = f"warning:\n{details}"
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def sarif(report: Report) -> str:
    """SARIF 2.1.0 for GitHub code scanning; waived findings are suppressed."""
    outcomes = report.outcomes
    rules = [
        {
            "id": o.rule.id,
            "name": o.rule.title,
            "shortDescription": {"text": o.rule.title},
            "fullDescription": {"text": o.rule.rationale},
            "help": {"text": o.rule.fix},
            "defaultConfiguration": {
                "level": "error" if o.rule.severity == ERROR else "warning"
            },
            "properties": {"since": o.rule.since},
        }
        for o in outcomes
    ]
    results = []
    for index, outcome in enumerate(outcomes):
        if outcome.status not in (FAILED, WAIVED):
            continue
        for finding in outcome.findings:
            location: dict[str, Any] = {
                "artifactLocation": {
                    "uri": finding.path or DEFAULT_PATH,
                    "uriBaseId": "PROJECTROOT",
                }
            }
            if finding.line:
                location["region"] = {"startLine": finding.line}
            result: dict[str, Any] = {
                "ruleId": outcome.rule.id,
                "ruleIndex": index,
                "level": "error" if outcome.severity == ERROR else "warning",
                "message": {"text": f"{finding.message}. Fix: {outcome.rule.fix}"},
                "locations": [{"physicalLocation": location}],
            }
            if outcome.status == WAIVED:
                result["suppressions"] = [
                    {"kind": "external", "justification": outcome.note}
                ]
            results.append(result)
    data = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL,
                        "version": report.policy_version,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {
                    "PROJECTROOT": {"uri": report.root.as_uri() + "/"}
                },
                "results": results,
            }
        ],
    }
    return json.dumps(data, indent=2) + "\n"


# One renderer per name in governed_mlops.policy.FORMATS.
RENDERERS: dict[str, Callable[[Report], str]] = {
    "terminal": terminal,
    "json": to_json,
    "junit": junit,
    "sarif": sarif,
}
