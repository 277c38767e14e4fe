"""Vulnerability waivers: ``[[tool.governance.vulnerability-waivers]]`` in
pyproject.toml, each with a vulnerability id (or alias), a reason and an
expiry date, checked as the policy's rule waivers are."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..errors import CommandError
from ..policy.waivers import WaiverError, read_entries

KEY = "vulnerability-waivers"
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

    def check_id(value: Any, where: str) -> str:
        ident = str(value or "").strip()
        if not ident:
            raise WaiverError(
                f"{where}: the vulnerability's id or alias is needed "
                f"(PYSEC-..., GHSA-..., CVE-...); {EXAMPLE}"
            )
        return ident

    try:
        entries = read_entries(
            table,
            KEY,
            "id",
            check_id,
            example=EXAMPLE,
            lapse="the finding fails the audit again",
        )
    except WaiverError as error:
        raise CommandError(str(error)) from None
    return [VulnerabilityWaiver(e.subject, e.reason, e.expires) for e in entries]
