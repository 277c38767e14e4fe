"""Known vulnerabilities in a project's locks, found by pip-audit.

Every lock is audited: the project's ``uv.lock`` (exported as pinned
requirements) and each stage lock in ``env_specs/locks/``. pip-audit asks an
OSV service (the public one, or an organisation's mirror: setting
``osv_url``) about each pinned package. The audit fails closed: a lock
pip-audit could not audit, or a package it skipped, makes the result
*unaudited*, never clean.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import CommandError
from ..project import Project
from .waivers import VulnerabilityWaiver

PUBLIC_OSV = "https://api.osv.dev/v1/query"
TIMEOUT = 15  # seconds per request to the service
PROJECT_LOCK = "uv.lock"
TOOLS_DISTRIBUTION = "governed-mlops-tools"
# How a lock pip-audit failed on is reported (the service away, mostly).
UNREACHABLE = "pip-audit could not audit it: "


@dataclass
class Vulnerability:
    id: str
    aliases: list[str]
    fixed: list[str]
    description: str
    waiver: Optional[VulnerabilityWaiver] = None

    def names(self) -> set[str]:
        return {self.id, *self.aliases}


@dataclass
class Package:
    name: str
    version: str
    line: int  # of its pin in the lock, 1-based; 0 when not found
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    skipped: str = ""  # why pip-audit could not audit it


@dataclass
class LockAudit:
    """One lock: what pip-audit found in it, or why it could not audit it."""

    lock: str  # relative to the project, POSIX
    packages: list[Package] = field(default_factory=list)
    error: str = ""

    @property
    def unaudited(self) -> list[str]:
        if self.error:
            return [f"{self.lock}: {self.error}"]
        return [
            f"{self.lock}: {p.name} {p.version}: {p.skipped}"
            for p in self.packages
            if p.skipped
        ]


@dataclass
class Audit:
    locks: list[LockAudit]
    today: dt.date

    def findings(self) -> list[tuple[LockAudit, Package, Vulnerability]]:
        return [
            (lock, package, vulnerability)
            for lock in self.locks
            for package in lock.packages
            for vulnerability in package.vulnerabilities
        ]

    def failing(self) -> list[tuple[LockAudit, Package, Vulnerability]]:
        """Findings no current waiver covers."""
        return [
            found
            for found in self.findings()
            if found[2].waiver is None or found[2].waiver.expired(self.today)
        ]

    @property
    def unaudited(self) -> list[str]:
        return [line for lock in self.locks for line in lock.unaudited]

    @property
    def audited(self) -> int:
        return sum(1 for lock in self.locks for p in lock.packages if not p.skipped)


def lock_files(project: Project) -> list[Path]:
    """The locks a project audits: ``uv.lock`` and every stage lock."""
    found = []
    if (project.root / PROJECT_LOCK).is_file():
        found.append(project.root / PROJECT_LOCK)
    if project.locks_dir.is_dir():
        found += sorted(project.locks_dir.glob("*.txt"))
    return found


def unlocked_stages(project: Project) -> list[LockAudit]:
    """A stage with no lock yet installs whatever its spec resolves to when
    CI builds it, which no audit saw: each is one NOT AUDITED entry."""
    from ..stages.spec_checks import declared_order

    missing = []
    for name in declared_order(project) or []:
        lock = project.lock_file(name)
        if not lock.is_file():
            relative = lock.relative_to(project.root).as_posix()
            missing.append(
                LockAudit(
                    relative,
                    error=f"no lock: stage {name} would install its spec's "
                    f"packages unaudited; run `mlops stage create {name}` and "
                    f"commit {relative}",
                )
            )
    return missing


def requirements_of(lock: Path, folder: Path) -> Path:
    """Pinned requirements pip-audit reads: a stage lock as it is; ``uv.lock``
    exported by uv (every group, without the project itself and the tools)."""
    if lock.name != PROJECT_LOCK:
        return lock
    from ..stages.installers import find_uv

    uv = find_uv()
    if uv is None:
        raise CommandError(
            f"{lock.name}: uv is needed to read it and was not found; install "
            f"the tools' pipeline extra (`uv sync`)"
        )
    target = folder / "uv-lock.txt"
    done = subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--no-hashes",
            "--no-emit-project",
            # Pinned by policy version, often from the template's git: not a
            # release an OSV service knows; its dependencies are audited.
            "--no-emit-package",
            TOOLS_DISTRIBUTION,
            "--all-groups",
            "--format",
            "requirements-txt",
            "--quiet",
            "--output-file",
            str(target),
        ],
        cwd=lock.parent,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CommandError(f"{lock.name}: uv could not export it: {last}")
    return target


def pip_audit_command(
    requirements: Path, report: Path, osv_url: str, cache: Path
) -> list[str]:
    return [
        sys.executable, "-m", "pip_audit",
        "--requirement", str(requirements),
        # The lock is complete and pinned: read it, resolve nothing.
        "--disable-pip", "--no-deps",
        "--vulnerability-service", "osv", "--osv-url", osv_url,
        "--timeout", str(TIMEOUT),
        "--format", "json", "--output", str(report),
        "--progress-spinner", "off",
        "--cache-dir", str(cache),
    ]  # fmt: skip


def pin_lines(path: Path) -> dict[str, int]:
    """Each pinned package's line in a requirements file or ``uv.lock``."""
    from packaging.utils import canonicalize_name

    lines: dict[str, int] = {}
    text = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(text, 1):
        stripped = line.strip()
        if path.name == PROJECT_LOCK:
            if stripped.startswith("name = "):
                name = stripped.split("=", 1)[1].strip().strip('"')
                lines.setdefault(str(canonicalize_name(name)), number)
        elif "==" in stripped and not stripped.startswith("#"):
            name = stripped.split("==", 1)[0].split("[")[0].strip()
            lines.setdefault(str(canonicalize_name(name)), number)
    return lines


def parse_report(data: dict[str, Any], lines: dict[str, int]) -> list[Package]:
    """pip-audit's JSON report as packages."""
    from packaging.utils import canonicalize_name

    packages = []
    for item in data.get("dependencies", []):
        name = str(item.get("name", ""))
        found = Package(
            name,
            str(item.get("version", "")),
            lines.get(str(canonicalize_name(name)), 0),
            skipped=str(item.get("skip_reason", "") or ""),
        )
        for vuln in item.get("vulns", []):
            found.vulnerabilities.append(
                Vulnerability(
                    str(vuln["id"]),
                    # pip-audit keeps them in a set: sorted, so output is stable.
                    sorted(str(a) for a in vuln.get("aliases", [])),
                    [str(v) for v in vuln.get("fix_versions", [])],
                    str(vuln.get("description", "")),
                )
            )
        packages.append(found)
    return packages


def audit_lock(project: Project, lock: Path, osv_url: str, cache: Path) -> LockAudit:
    """Run pip-audit over one lock."""
    relative = lock.relative_to(project.root).as_posix()
    result = LockAudit(relative)
    with tempfile.TemporaryDirectory(prefix="mlops-audit-") as folder:
        report = Path(folder) / "report.json"
        try:
            requirements = requirements_of(lock, Path(folder))
        except CommandError as error:
            result.error = str(error)
            return result
        done = subprocess.run(
            pip_audit_command(requirements, report, osv_url, cache),
            cwd=project.root,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        # 0: nothing found, 1: vulnerabilities found; anything else, or no
        # report, is pip-audit failing (the service away, a bad lock).
        if done.returncode not in (0, 1) or not report.is_file():
            result.error = UNREACHABLE + _last_error(done.stderr)
            return result
        data = json.loads(report.read_text(encoding="utf-8"))
    lines = pin_lines(lock)
    result.packages = parse_report(data, lines)
    if not result.packages and lines:
        result.error = "pip-audit audited no package of it"
    return result


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["no output"])[-1][:500]


def apply_waivers(audit: Audit, waivers: Sequence[VulnerabilityWaiver]) -> None:
    """Attach to each finding the waiver that names it (by id or alias)."""
    for _, _, vulnerability in audit.findings():
        for waiver in waivers:
            if waiver.id in vulnerability.names():
                vulnerability.waiver = waiver
                break


def audit_project(
    project: Project,
    osv_url: str,
    waivers: Sequence[VulnerabilityWaiver],
    today: dt.date,
    cache: Path,
    say: Any = None,
) -> Audit:
    """Audit every lock of ``project``."""
    import importlib.util

    if importlib.util.find_spec("pip_audit") is None:
        raise CommandError(
            f"pip-audit is not installed in {sys.prefix}: run `uv sync` (the "
            f"project's dev group has it)"
        )
    locks = lock_files(project)
    if not locks:
        raise CommandError(
            f"{project.root}: no lock to audit (uv.lock, env_specs/locks/*.txt); "
            f"run `uv lock` and `mlops stage create --all`"
        )
    if say is not None:
        from ..tracking.config import redact_uri, uri_secrets

        say(f"auditing {len(locks)} lock(s) against {redact_uri(osv_url)}")
        if uri_secrets(osv_url):
            say(
                "the OSV URL holds a password or token, which pip-audit's command "
                "line shows to every process listing: give the mirror's login in "
                "a netrc file instead (NETRC=<file>; pip-audit's requests reads it)"
            )
    # One pip-audit process a lock, side by side: most of each is start-up.
    with ThreadPoolExecutor(max_workers=min(4, len(locks))) as pool:
        found = list(
            pool.map(lambda lock: audit_lock(project, lock, osv_url, cache), locks)
        )
    audit = Audit(found + unlocked_stages(project), today)
    apply_waivers(audit, waivers)
    return audit
