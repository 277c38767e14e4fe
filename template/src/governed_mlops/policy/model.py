"""What a policy rule is, what it finds, and the registry of all rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One violation: where it is and what is wrong (the rule says how to fix)."""

    message: str
    path: str = ""
    line: Optional[int] = None

    @property
    def where(self) -> str:
        if not self.path:
            return ""
        return f"{self.path}:{self.line}" if self.line else self.path


class NotApplicable(Exception):
    """Raised by a check when the rule does not apply to this project."""


@dataclass(frozen=True)
class Rule:
    """A policy rule ``GOVnnn``: the check yields one ``Finding`` per violation."""

    id: str
    title: str
    severity: str
    since: str
    rationale: str
    fix: str
    check: Callable[..., Iterable[Finding]] = field(repr=False, compare=False)
    grace_until: Optional[dt.date] = None

    def severity_on(self, today: dt.date) -> str:
        """The severity today: an error rule in its grace period warns."""
        if self.grace_until is not None and today <= self.grace_until:
            return WARNING
        return self.severity


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    title: str,
    *,
    severity: str = ERROR,
    since: str,
    rationale: str,
    fix: str,
    grace_until: Optional[dt.date] = None,
) -> Callable[[Callable[..., Iterable[Finding]]], Callable[..., Iterable[Finding]]]:
    """Register a check function as rule ``id`` (ids are stable: never reuse)."""

    def register(check: Callable[..., Iterable[Finding]]):
        if id in RULES:
            raise ValueError(f"rule {id} is registered twice")
        RULES[id] = Rule(id, title, severity, since, rationale, fix, check, grace_until)
        return check

    return register


def all_rules() -> Iterator[Rule]:
    """Every registered rule, by id."""
    from . import (  # noqa: F401 (each module registers its rules)
        rules_pipeline,
        rules_repository,
        rules_security,
        waivers,
    )

    yield from (RULES[key] for key in sorted(RULES))
