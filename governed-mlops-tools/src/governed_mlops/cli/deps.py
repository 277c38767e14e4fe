"""``mlops deps``: known vulnerabilities in every lock of the project
(``audit``) and CycloneDX SBOMs of its envs (``sbom``)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from . import Subparsers, add_group
from ..errors import CheckFailed, CommandError
from ..files import output_file
from ..project import Project, find_project


class Vulnerable(CheckFailed):
    """A finding no current waiver covers (exit code 1)."""


def register(subparsers: Subparsers) -> None:
    _, commands = add_group(
        subparsers,
        "deps",
        help="the project's dependencies: known vulnerabilities, SBOMs",
        description="Check the project's dependencies against a vulnerability "
        "database, and describe its envs as CycloneDX SBOMs.",
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
    audit.add_argument(
        "--junit", type=output_file, metavar="FILE", help="write JUnit XML"
    )
    audit.add_argument("--sarif", type=Path, metavar="FILE", help="write SARIF 2.1.0")
    audit.set_defaults(handler=run_audit)

    sbom = commands.add_parser(
        "sbom",
        help="CycloneDX SBOMs of the project env and of every stage env",
        description="Write a CycloneDX JSON SBOM (cyclonedx-bom) of the env "
        "running mlops (project.cdx.json) and of each stage env "
        "(stage-<name>.cdx.json). A stage env's SBOM is the one written when it "
        "was built, or a new one if its packages changed since. Stage envs must "
        "exist (`mlops stage create`).",
    )
    sbom.add_argument(
        "stages",
        nargs="*",
        metavar="STAGE",
        help="stages to describe (default: every stage)",
    )
    sbom.add_argument(
        "--output-dir",
        type=Path,
        default=Path("reports") / "sbom",
        metavar="DIR",
        help="where to write them, relative to the project (default: %(default)s)",
    )
    sbom.add_argument("--no-stages", action="store_true", help="the project env only")
    sbom.set_defaults(handler=run_sbom)


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
    from ..stages.installers import redact
    from ..supply import reports, scan, waivers
    from ..tracking.config import uri_secrets

    project = find_project()
    governance = project.pyproject.get("tool", {}).get("governance", {})
    waived = waivers.parse(governance if isinstance(governance, dict) else {})
    url = osv_url(project.root, args.osv_url)
    say = Progress("deps audit")
    cache = project.state_dir / "pip-audit"
    result = scan.audit_project(project, url, waived, dt.date.today(), cache, say)
    hide = uri_secrets(url)
    for line in reports.text(result):
        print(redact(line, hide))
    if args.junit:
        reports.write(args.junit, redact(reports.junit(result), hide))
    if args.sarif:
        reports.write(args.sarif, redact(reports.sarif(result), hide))
    failing = result.failing()
    summary = (
        f"{result.audited} package pin(s) in "
        f"{sum(1 for lock in result.locks if not lock.error)} lock(s) audited: "
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
        message = (
            f"{len(result.unaudited)} lock(s) or pin(s) NOT AUDITED (listed "
            f"above), so not known to be safe"
        )
        if any(lock.error.startswith(scan.UNREACHABLE) for lock in result.locks):
            message += (
                f"; check that {url} answers (the organisation's mirror: setting "
                f"{_prefix(project)}OSV_URL)"
            )
        message += "; --allow-unaudited goes on without them (offline work)"
        raise CommandError(redact(message, hide))
    return 0


def _prefix(project: Project) -> str:
    """The project's settings prefix (``CHURN_``), where it can be read."""
    from ..settings import env_prefix

    try:
        return env_prefix(project)
    except ImportError:
        return "<PACKAGE>_"


def run_sbom(args: argparse.Namespace) -> int:
    import json
    import platform
    import sys
    from ..extras import require_pipeline

    require_pipeline("deps sbom")

    from ..files import copy_atomic, unwritable_folder
    from ..progress import Progress
    from ..stages import env as stage_env
    from ..stages.specs import survey
    from ..supply import sbom

    if args.no_stages and args.stages:
        raise CommandError("name stages, or pass --no-stages, not both")
    project = find_project()
    folder = (
        args.output_dir
        if args.output_dir.is_absolute()
        else (project.root / args.output_dir)
    )
    problem = unwritable_folder(folder)
    if problem:
        raise CommandError(f"--output-dir {args.output_dir}: {problem}")
    say = Progress("deps sbom")
    stages = []
    if not args.no_stages:
        found = survey(project)
        stages = found.require(
            found.lookup(args.stages) if args.stages else found.order
        )
        for stage in stages:
            stage_env.require_env(stage)
    written = []
    subject = sbom.Subject(
        project.name,
        project.version or "0",
        f"the project env of {project.name} (runs mlops)",
        {"python": platform.python_version()},
    )
    say("describing the project env")
    target = folder / "project.cdx.json"
    sbom.write_sbom(Path(sys.executable), subject, target)
    written.append(target)
    for stage in stages:
        kept = stage_env.current_sbom(stage)
        if kept is None:
            say(f"{stage.name}: its packages changed since it was built: describing it")
            kept = stage_env.write_stage_sbom(stage)
        written.append(copy_atomic(kept, folder / f"stage-{stage.name}.cdx.json"))
    for path in written:
        count = len(json.loads(path.read_text(encoding="utf-8")).get("components", []))
        print(f"{_shown(path, project.root)}: {count} components")
    return 0


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
