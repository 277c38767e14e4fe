"""Waivers: ``[[tool.governance.waivers]]`` in pyproject.toml, each with a
rule id, a reason and an expiry date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .facts import Facts
from .model import BUILTIN_PREFIX, RULE_ID, Finding, rule

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


@dataclass(frozen=True)
class Entry:
    """One checked ``[[tool.governance.<key>]]`` table: what it waives, why and
    until when."""

    subject: str
    reason: str
    expires: dt.date


def read_entries(
    table: dict[str, Any],
    key: str,
    subject_key: str,
    check_subject: Callable[[Any, str], str],
    *,
    example: str,
    lapse: str,
) -> list[Entry]:
    """The waiver tables under ``key``, each with ``subject_key`` (checked and
    normalised by ``check_subject(value, where)``), a reason and an expiry date;
    an incomplete one raises WaiverError naming the entry and the key. ``lapse``
    says what happens after the expiry date."""
    where_all = f"pyproject.toml: [tool.governance] {key}"
    entries = table.get(key, [])
    if not isinstance(entries, list):
        raise WaiverError(f"{where_all} must be a list of tables; {example}")
    allowed = (subject_key, "reason", "expires")
    found = []
    for index, entry in enumerate(entries):
        where = f"{where_all}[{index}]"
        if not isinstance(entry, dict):
            raise WaiverError(f"{where} must be a table; {example}")
        unknown = sorted(set(entry) - set(allowed))
        if unknown:
            raise WaiverError(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(allowed)}"
            )
        subject = check_subject(entry.get(subject_key), f"{where}.{subject_key}")
        reason = str(entry.get("reason", "")).strip()
        if not reason:
            raise WaiverError(
                f"{where}.reason: a waiver of {subject} needs a reason (why it "
                f"does not apply, and who decided)"
            )
        if "expires" not in entry:
            raise WaiverError(
                f"{where}.expires: a waiver of {subject} needs an expiry date "
                f"(YYYY-MM-DD), after which {lapse}"
            )
        found.append(Entry(subject, reason, expiry_date(entry["expires"], where)))
    return found


def _which(rule: str) -> str:
    """What to do about a waiver of a rule nothing registers."""
    if RULE_ID.fullmatch(rule) and not rule.startswith(BUILTIN_PREFIX):
        return (
            "no installed policy plugin registers it. If the plugin that had "
            "it was dropped from the answer policy_plugins, delete the waiver; "
            "else install the plugin (`uv sync`). See `mlops policy rules`"
        )
    return "see `mlops policy rules` (e.g. GOV105)"


def foreign_rules(table: dict[str, Any]) -> list[str]:
    """The rule ids of waivers that name an organisation's rule (a plugin's,
    not ``GOV``), in the order written; entries that are not tables skipped."""
    entries = table.get("waivers")
    found = []
    for entry in entries if isinstance(entries, list) else []:
        rule = (
            str(entry.get("rule") or "").strip().upper()
            if isinstance(entry, dict)
            else ""
        )
        if RULE_ID.fullmatch(rule) and not rule.startswith(BUILTIN_PREFIX):
            found.append(rule)
    return found


def parse(
    table: dict[str, Any], known: Iterable[str], *, plugin_ids_ok: bool = False
) -> list[Waiver]:
    """The rule waivers of a ``[tool.governance]`` table; refuses incomplete
    ones."""
    known = set(known)

    def check_rule(value: Any, where: str) -> str:
        rule = str(value or "").strip().upper()
        # Without the plugins loaded, a plugin rule's waiver is taken on trust.
        foreign = plugin_ids_ok and bool(RULE_ID.fullmatch(rule))
        if rule not in known and not (foreign and not rule.startswith(BUILTIN_PREFIX)):
            raise WaiverError(
                f"{where}: {value!r} is not a policy rule; {_which(rule)}"
            )
        return rule

    entries = read_entries(
        table,
        "waivers",
        "rule",
        check_rule,
        example=EXAMPLE,
        lapse="the rule applies again",
    )
    return [Waiver(e.subject, e.reason, e.expires) for e in entries]


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
