"""Vulnerability waivers: ``[[tool.governance.vulnerability-waivers]]`` in
pyproject.toml, each with a vulnerability id (or alias), a reason and an
expiry date, checked as the policy's rule waivers are."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..errors import CommandError
from ..policy.waivers import WaiverError, expiry_date

KEY = "vulnerability-waivers"
WHERE = f"pyproject.toml: [tool.governance] {KEY}"
EXAMPLE = (
    f'e.g. [[tool.governance.{KEY}]] id = "PYSEC-2023-74", reason = "why, and '
    'who decided", expires = 2027-06-30'
)


@dataclass(frozen=True)
class VulnerabilityWaiver:
    id: str
    reason: str
    expires: dt.date

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


def parse(table: dict[str, Any]) -> list[VulnerabilityWaiver]:
    """The vulnerability waivers of a ``[tool.governance]`` table; an
    incomplete one is refused, naming the entry and the key."""
    entries = table.get(KEY, [])
    if not isinstance(entries, list):
        raise CommandError(f"{WHERE} must be a list of tables; {EXAMPLE}")
    found = []
    for index, entry in enumerate(entries):
        where = f"{WHERE}[{index}]"
        if not isinstance(entry, dict):
            raise CommandError(f"{where} must be a table; {EXAMPLE}")
        unknown = sorted(set(entry) - {"id", "reason", "expires"})
        if unknown:
            raise CommandError(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: id, "
                f"reason, expires"
            )
        ident = str(entry.get("id", "")).strip()
        if not ident:
            raise CommandError(
                f"{where}.id: the vulnerability's id or alias is needed "
                f"(PYSEC-..., GHSA-..., CVE-...); {EXAMPLE}"
            )
        reason = str(entry.get("reason", "")).strip()
        if not reason:
            raise CommandError(
                f"{where}.reason: a waiver of {ident} needs a reason (why it "
                f"does not apply, and who decided)"
            )
        if "expires" not in entry:
            raise CommandError(
                f"{where}.expires: a waiver of {ident} needs an expiry date "
                f"(YYYY-MM-DD), after which the finding fails the audit again"
            )
        try:
            expires = expiry_date(entry["expires"], where)
        except WaiverError as error:
            raise CommandError(str(error)) from None
        found.append(VulnerabilityWaiver(ident, reason, expires))
    return found
