"""Waivers: ``[[tool.governance.waivers]]`` in pyproject.toml, each with a
rule id, a reason and an expiry date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable

from .facts import Facts
from .model import BUILTIN_PREFIX, RULE_ID, Finding, rule

WHERE = "pyproject.toml: [tool.governance] waivers"
EXAMPLE = (
    'e.g. [[tool.governance.waivers]] rule = "GOV105", reason = "why", '
    "expires = 2027-06-30"
)


class WaiverError(Exception):
    """A waiver the policy refuses (exit code 2)."""


@dataclass(frozen=True)
class Waiver:
    rule: str
    reason: str
    expires: dt.date

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


def expiry_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise WaiverError(
            f"{where}.expires: {value!r} is not a date; write YYYY-MM-DD"
        ) from None


def parse(
    table: dict[str, Any], known: Iterable[str], *, plugin_ids_ok: bool = False
) -> list[Waiver]:
    """The waivers of a ``[tool.governance]`` table; refuses incomplete ones."""
    known = set(known)
    entries = table.get("waivers", [])
    if not isinstance(entries, list):
        raise WaiverError(f"{WHERE} must be a list of tables; {EXAMPLE}")
    waivers = []
    for index, entry in enumerate(entries):
        where = f"{WHERE}[{index}]"
        if not isinstance(entry, dict):
            raise WaiverError(f"{where} must be a table; {EXAMPLE}")
        unknown = sorted(set(entry) - {"rule", "reason", "expires"})
        if unknown:
            raise WaiverError(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: rule, "
                f"reason, expires"
            )
        rule = str(entry.get("rule", "")).strip().upper()
        # Without the plugins loaded, a plugin rule's waiver is taken on trust.
        foreign = plugin_ids_ok and bool(RULE_ID.fullmatch(rule))
        if rule not in known and not (foreign and not rule.startswith(BUILTIN_PREFIX)):
            raise WaiverError(
                f"{where}.rule: {entry.get('rule')!r} is not a policy rule; "
                f"see `mlops policy rules` (e.g. GOV105)"
            )
        reason = str(entry.get("reason", "")).strip()
        if not reason:
            raise WaiverError(
                f"{where}.reason: a waiver of {rule} needs a reason (why the "
                f"rule does not apply, and who decided)"
            )
        if "expires" not in entry:
            raise WaiverError(
                f"{where}.expires: a waiver of {rule} needs an expiry date "
                f"(YYYY-MM-DD), after which the rule applies again"
            )
        waivers.append(Waiver(rule, reason, expiry_date(entry["expires"], where)))
    return waivers


@rule(
    "GOV001",
    "Waivers are current",
    since="1.1.0",
    rationale="A waiver is a decision with an end date; once it has expired "
    "the rule applies again and the decision must be taken anew.",
    fix="Fix what the waived rule reports and delete the waiver, or renew it "
    "with a new reason and expiry date in [tool.governance] of pyproject.toml.",
)
def waivers_current(facts: Facts) -> list[Finding]:
    return [
        Finding(
            f"the waiver of {waiver.rule} expired on {waiver.expires} "
            f"(reason given: {waiver.reason})",
            "pyproject.toml",
        )
        for waiver in facts.waivers
        if waiver.expired(facts.today)
    ]
