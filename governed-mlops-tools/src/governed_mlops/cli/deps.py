"""``mlops deps audit``: known vulnerabilities in every lock of the project."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from . import Subparsers, add_group
from ..errors import CheckFailed, CommandError
from ..project import find_project


class Vulnerable(CheckFailed):
    """A finding no current waiver covers (exit code 1)."""


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "deps",
        help="the project's dependencies: known vulnerabilities",
        description="Check the project's dependencies against a vulnerability "
        "database.",
    )
    audit = commands.add_parser(
        "audit",
        help="scan uv.lock and every stage lock with pip-audit",
        description="Audit uv.lock and each env_specs/locks/*.txt with pip-audit "
        "against an OSV service: the public one, or the organisation's mirror "
        "(setting OSV_URL, or --osv-url). Fails closed: a lock or package that "
        "could not be audited (the service unreachable) fails the audit unless "
        "--allow-unaudited. Waive a finding with [[tool.governance."
        "vulnerability-waivers]] (id, reason, expires) in pyproject.toml. Exits "
        "0 when nothing is found, 1 when a vulnerability is not waived, 2 when "
        "something could not be audited.",
    )
    audit.add_argument(
        "--osv-url",
        metavar="URL",
        help="the OSV query endpoint (default: the setting OSV_URL, else "
        "https://api.osv.dev/v1/query)",
    )
    audit.add_argument(
        "--allow-unaudited",
        action="store_true",
        help="offline work only: report what could not be audited as a "
        "warning instead of failing",
    )
    audit.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    audit.add_argument("--sarif", type=Path, metavar="FILE", help="write SARIF 2.1.0")
    audit.set_defaults(handler=run_audit)


def osv_url(project_root: Path, given: str | None) -> str:
    """The service: ``--osv-url``, the project's setting, or the public one."""
    from ..project import project_settings
    from ..supply.scan import PUBLIC_OSV

    if given:
        return given
    try:
        settings = project_settings(project_root)
    except Exception:  # noqa: BLE001 - settings are optional for the audit
        return PUBLIC_OSV
    return str(getattr(settings, "osv_url", "") or PUBLIC_OSV)


def run_audit(args: argparse.Namespace) -> int:
    from ..progress import Progress
    from ..supply import reports, scan, waivers

    project = find_project()
    governance = project.pyproject.get("tool", {}).get("governance", {})
    waived = waivers.parse(governance if isinstance(governance, dict) else {})
    url = osv_url(project.root, args.osv_url)
    say = Progress("deps audit")
    cache = project.state_dir / "pip-audit"
    result = scan.audit_project(project, url, waived, dt.date.today(), cache, say)
    for line in reports.text(result):
        print(line)
    if args.junit:
        reports.write(args.junit, reports.junit(result))
    if args.sarif:
        reports.write(args.sarif, reports.sarif(result))
    failing = result.failing()
    summary = (
        f"{result.audited} package pin(s) in {len(result.locks)} lock(s) audited: "
        f"{len(failing)} vulnerability(ies)"
    )
    waived_count = len(result.findings()) - len(failing)
    if waived_count:
        summary += f", {waived_count} waived"
    if result.unaudited:
        summary += f", {len(result.unaudited)} NOT AUDITED"
    print(summary)
    if failing:
        ids = sorted({v.id for _, _, v in failing})
        raise Vulnerable(
            f"known vulnerabilities: {', '.join(ids)}; upgrade to a fixed version "
            f"(`uv lock --upgrade-package NAME`, `mlops stage create --all "
            f"--upgrade`) or waive it with a reason and expiry in "
            f"[[tool.governance.vulnerability-waivers]]"
        )
    if result.unaudited and not args.allow_unaudited:
        raise CommandError(
            f"not audited, so not known to be safe: {result.unaudited[0]}"
            + (
                f" (and {len(result.unaudited) - 1} more)"
                if len(result.unaudited) > 1
                else ""
            )
            + f"; if the service is away, check that {url} answers, or pass "
            f"--allow-unaudited for offline work"
        )
    return 0
