"""ACME's rules: registered on import through the ``governed_mlops.rules``
entry point."""

from __future__ import annotations

import re
from typing import Iterator

from governed_mlops.policy.facts import Facts
from governed_mlops.policy.model import Finding, NotApplicable, rule

OWNER = re.compile(r"(?m)^Owner: +\S")


@rule(
    "ACME101",
    "The README names the owning team",
    since="0.1.0",
    rationale="Every model in production has a team that answers for it.",
    fix="Add a line `Owner: <team>` to README.md.",
)
def owner_named(facts: Facts) -> Iterator[Finding]:
    text = facts.text("README.md")
    if text is None:
        raise NotApplicable("no README.md (GOV101 reports it)")
    if not OWNER.search(text):
        yield Finding("README.md has no 'Owner: <team>' line", "README.md")
