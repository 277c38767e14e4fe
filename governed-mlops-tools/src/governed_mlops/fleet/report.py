"""``mlops fleet report``: every project's facts, the fleet's totals, and the
three renderings (terminal, JSON, one self-contained HTML page)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .inspect import ProjectFacts, inspect
from .sources import Source, renamed

NOT_GOVERNED = "not governed"
EXPIRY_WINDOW = dt.timedelta(days=30)


@dataclass(frozen=True)
class ExpiringWaiver:
    project: str
    rule: str
    expires: dt.date
    days_left: int  # negative: expired


@dataclass
class Totals:
    versions: dict[str, int] = field(default_factory=dict)
    rules: list[tuple[str, int]] = field(default_factory=list)  # rule, projects
    expiring: list[ExpiringWaiver] = field(default_factory=list)


@dataclass
class FleetReport:
    today: dt.date
    policy_version: str
    projects: list[ProjectFacts]
    errors: dict[str, str] = field(default_factory=dict)  # project: why unread

    @property
    def totals(self) -> Totals:
        return totals(self.projects, self.today)


def totals(projects: Sequence[ProjectFacts], today: dt.date) -> Totals:
    """Projects per version (newest first), the rules failing in the most
    projects, and the waivers expiring within 30 days (or expired)."""
    from packaging.version import InvalidVersion, Version

    versions = Counter(p.version if p.governed else NOT_GOVERNED for p in projects)

    def version(text: str) -> Optional[Version]:
        try:
            return Version(text.lstrip("v").split("-")[0])
        except InvalidVersion:
            return None

    # Newest first, then what is no version (not governed, a commit).
    parsed = [(version(v), v, n) for v, n in versions.items()]
    known = sorted(((at, v, n) for at, v, n in parsed if at), reverse=True)
    ordered = [(v, n) for _, v, n in known]
    ordered += sorted((v, n) for at, v, n in parsed if at is None)
    rules = Counter(
        rule.rule for p in projects if p.policy is not None for rule in p.policy.failed
    )
    expiring = [
        ExpiringWaiver(p.name, w.rule, w.expires, (w.expires - today).days)
        for p in projects
        for w in p.waivers
        if w.expires - today <= EXPIRY_WINDOW
    ]
    return Totals(
        versions=dict(ordered),
        rules=sorted(rules.items(), key=lambda item: (-item[1], item[0])),
        expiring=sorted(expiring, key=lambda w: (w.expires, w.project)),
    )


def gather(
    sources: Sequence[Source],
    workdir: Path,
    *,
    jobs: int,
    today: Optional[dt.date] = None,
    progress: Callable[[str], None] = lambda line: None,
) -> FleetReport:
    """Inspect every source, ``jobs`` at a time: local work trees as they are,
    URLs in shallow clones under ``workdir``."""
    from ..policy import POLICY_VERSION
    from .clones import clone

    day = today or dt.date.today()
    report = FleetReport(day, POLICY_VERSION, [])

    def one(source: Source) -> ProjectFacts:
        root = Path(source.location)
        if source.is_url:
            root = clone(source.location, workdir / source.name, shallow=True)
        return inspect(root, source.name, source.location, day)

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = [(s, pool.submit(one, s)) for s in sources]
        for number, (source, future) in enumerate(futures, 1):
            try:
                facts = future.result()
            except Exception as error:  # one project must not stop the report
                report.errors[source.name] = f"{type(error).__name__}: {error}"
                progress(f"[{number}/{len(sources)}] {source.name}: {error}")
                continue
            report.projects.append(facts)
            progress(f"[{number}/{len(sources)}] {source.name}: {summary(facts)}")
    return report


def summary(facts: ProjectFacts) -> str:
    if not facts.governed:
        return f"{NOT_GOVERNED} ({facts.why_not})"
    policy = facts.policy
    result = (
        f"policy: {policy.problem}"
        if policy and policy.problem
        else f"{policy.errors} error(s), {policy.warnings} warning(s)" if policy else ""
    )
    return f"{facts.version}, {result}"


def to_data(report: FleetReport) -> dict[str, Any]:
    """The report as plain data (JSON's and the HTML page's input)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    sums = report.totals
    data: dict[str, Any] = plain(
        {
            "date": report.today,
            "checked_by_policy": report.policy_version,
            "projects": [asdict(p) for p in report.projects],
            "unreadable": report.errors,
            "totals": {
                "projects": len(report.projects),
                "versions": sums.versions,
                "rules": [{"rule": r, "projects": n} for r, n in sums.rules],
                "expiring_waivers": [asdict(w) for w in sums.expiring],
            },
        }
    )
    return data


def to_json(report: FleetReport) -> str:
    return json.dumps(to_data(report), indent=2) + "\n"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        for row in rows
    ]


def terminal(report: FleetReport) -> str:
    """One line a project, then the totals; with a ``source`` column when two
    projects share a folder name."""
    located = renamed((p.name, p.source) for p in report.projects)
    head = ["project", "version", "release", "tools pin", "errors", "warnings"]
    rows = [head + (["source"] if located else [])]
    for p in report.projects:
        where = [p.source] if located else []
        if not p.governed:
            rows.append([p.name, NOT_GOVERNED, "", "", "", p.why_not, *where])
            continue
        policy = p.policy
        rows.append(
            [
                p.name,
                p.version,
                "yes" if p.release else "no",
                p.tools_pin or ("copy in src/" if p.tools_copy else "none"),
                str(policy.errors) if policy else "",
                str(policy.warnings) if policy else "",
                *where,
            ]
        )
    sums = report.totals
    lines = [
        f"fleet report {report.today}: {len(report.projects)} project(s), checked "
        f"by governed-mlops policy {report.policy_version} (built-in rules)",
        "",
        *_table(rows),
        "",
        "projects per version: "
        + ", ".join(f"{v} {n}" for v, n in sums.versions.items()),
    ]
    if sums.rules:
        lines.append(
            "rules most violated: "
            + ", ".join(f"{r} ({n} project(s))" for r, n in sums.rules[:10])
        )
    for w in sums.expiring:
        what = f"expiring in {w.days_left} days" if w.days_left >= 0 else "EXPIRED"
        lines.append(f"waiver {what}: {w.project} {w.rule} on {w.expires}")
    for name, error in report.errors.items():
        lines.append(f"not read: {name}: {error}")
    return "\n".join(lines) + "\n"


# One page, inline style, no scripts: it opens from disk and from a CI artifact.
PAGE = Path(__file__).with_name("templates") / "report.html"


def html(report: FleetReport) -> str:
    """One self-contained page (inline style, no scripts), autoescaped."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    template = env.from_string(PAGE.read_text(encoding="utf-8"))
    return template.render(r=to_data(report))


RENDERERS: dict[str, Callable[[FleetReport], str]] = {
    "terminal": terminal,
    "json": to_json,
    "html": html,
}
