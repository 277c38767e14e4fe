"""An audit's results for people and for CI: the terminal, JUnit XML (Jenkins)
and SARIF 2.1.0 (GitHub code scanning)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # nosec B405 # writes XML, parses none
from pathlib import Path
from typing import Any

from .. import __version__
from .scan import Audit, LockAudit, Package, Vulnerability

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _fixed(vulnerability: Vulnerability) -> str:
    if not vulnerability.fixed:
        return "no fixed version yet"
    return "fixed in " + ", ".join(vulnerability.fixed)


def finding_text(package: Package, vulnerability: Vulnerability) -> str:
    aliases = f" ({', '.join(vulnerability.aliases)})" if vulnerability.aliases else ""
    return (
        f"{package.name} {package.version}: {vulnerability.id}{aliases}, "
        f"{_fixed(vulnerability)}"
    )


def text(audit: Audit) -> list[str]:
    """The lines the terminal shows."""
    lines = []
    failing = {id(v) for _, _, v in audit.failing()}
    for lock, package, vulnerability in audit.findings():
        where = f"{lock.lock}:{package.line}" if package.line else lock.lock
        shown = f"  {where}: {finding_text(package, vulnerability)}"
        waiver = vulnerability.waiver
        if id(vulnerability) not in failing and waiver is not None:
            shown += f" [waived until {waiver.expires}: {waiver.reason}]"
        elif waiver is not None:
            shown += f" [its waiver expired on {waiver.expires}]"
        lines.append(shown)
    lines += [f"  NOT AUDITED {line}" for line in audit.unaudited]
    return lines


def junit(audit: Audit) -> str:
    """One test case a lock and package with findings, one a lock audited
    clean or not audited: what Jenkins' JUnit step shows."""
    suite = ET.Element("testsuite", name="dependency audit")
    failing = {id(v) for _, _, v in audit.failing()}
    count = failures = skipped = 0
    for lock in audit.locks:
        cases = _lock_cases(lock, failing)
        if not cases:
            case = ET.Element("testcase", classname=lock.lock, name="audit")
            if lock.unaudited:
                ET.SubElement(case, "failure", message="not audited").text = "\n".join(
                    lock.unaudited
                )
            cases = [case]
        for case in cases:
            count += 1
            failures += case.find("failure") is not None
            skipped += case.find("skipped") is not None
            suite.append(case)
    suite.set("tests", str(count))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    return ET.tostring(suite, encoding="unicode") + "\n"


def _lock_cases(lock: LockAudit, failing: set[int]) -> list[ET.Element]:
    cases = []
    for package in lock.packages:
        for vulnerability in package.vulnerabilities:
            case = ET.Element(
                "testcase",
                classname=lock.lock,
                name=f"{package.name} {package.version} {vulnerability.id}",
            )
            message = finding_text(package, vulnerability)
            if id(vulnerability) in failing:
                failure = ET.SubElement(case, "failure", message=message)
                failure.text = vulnerability.description
            else:
                waiver = vulnerability.waiver
                assert waiver is not None  # nosec B101 # not failing: waived
                ET.SubElement(
                    case,
                    "skipped",
                    message=f"waived until {waiver.expires}: {waiver.reason}",
                )
            cases.append(case)
    if lock.unaudited and lock.packages:
        case = ET.Element("testcase", classname=lock.lock, name="not audited")
        ET.SubElement(case, "failure", message="not audited").text = "\n".join(
            lock.unaudited
        )
        cases.append(case)
    return cases


def sarif(audit: Audit) -> str:
    """SARIF 2.1.0: a rule a vulnerability, a result a finding at its pin;
    waived findings carry a suppression with the waiver's reason."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    failing = {id(v) for _, _, v in audit.failing()}
    for lock, package, vulnerability in audit.findings():
        rules.setdefault(
            vulnerability.id,
            {
                "id": vulnerability.id,
                "shortDescription": {"text": f"{vulnerability.id} in {package.name}"},
                "fullDescription": {"text": vulnerability.description or "-"},
                "helpUri": f"https://osv.dev/vulnerability/{vulnerability.id}",
                "properties": {"aliases": vulnerability.aliases},
            },
        )
        result: dict[str, Any] = {
            "ruleId": vulnerability.id,
            "level": "error",
            "message": {"text": finding_text(package, vulnerability)},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": lock.lock},
                        "region": {"startLine": max(package.line, 1)},
                    }
                }
            ],
        }
        waiver = vulnerability.waiver
        if id(vulnerability) not in failing and waiver is not None:
            result["suppressions"] = [
                {
                    "kind": "external",
                    "justification": f"waived until {waiver.expires}: "
                    f"{waiver.reason}",
                }
            ]
        results.append(result)
    notifications = [
        {"level": "error", "message": {"text": f"not audited: {line}"}}
        for line in audit.unaudited
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "mlops ci audit (pip-audit)",
                "version": __version__,
                "informationUri": "https://pypi.org/project/pip-audit/",
                "rules": list(rules.values()),
            }
        },
        "results": results,
        "invocations": [
            {
                "executionSuccessful": not audit.unaudited,
                "toolExecutionNotifications": notifications,
            }
        ],
    }
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=1) + "\n"


def write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
