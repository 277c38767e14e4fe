"""What a policy rule is, what it finds, and the registry of all rules."""

from __future__ import annotations

import datetime as dt
import re
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
    # A requirement the rule gained in a later release, which projects have
    # until this day to meet: the finding warns until then (docs/maintainers.md).
    grace_until: Optional[dt.date] = None

    @property
    def where(self) -> str:
        if not self.path:
            return ""
        return f"{self.path}:{self.line}" if self.line else self.path


def line_of(text: str, offset: int) -> int:
    """The 1-based line of ``offset`` in ``text``, for a finding."""
    return text.count("\n", 0, offset) + 1


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

    def register(
        check: Callable[..., Iterable[Finding]],
    ) -> Callable[..., Iterable[Finding]]:
        builtin = check.__module__.startswith(__package__ + ".")
        if not RULE_ID.fullmatch(id):
            raise ValueError(
                f"rule id {id!r} must be letters and three digits, e.g. ORG101"
            )
        if id.startswith(BUILTIN_PREFIX) != builtin:
            raise ValueError(
                f"rule {id} in {check.__module__}: the {BUILTIN_PREFIX} ids are the "
                f"policy's own; a plugin takes its organisation's prefix, e.g. ORG101"
            )
        if id in RULES:
            raise ValueError(f"rule {id} is registered twice")
        RULES[id] = Rule(id, title, severity, since, rationale, fix, check, grace_until)
        return check

    return register


BUILTIN_PREFIX = "GOV"
RULE_ID = re.compile(r"[A-Z]{2,10}\d{3}")
# Packages add rules through this entry-point group: each entry names a
# module whose @rule functions register on import (docs/policies.md, plugins).
PLUGIN_GROUP = "governed_mlops.rules"


class PluginError(Exception):
    """A policy plugin that cannot be loaded; the message names it."""


def builtin_rules() -> Iterator[Rule]:
    """The policy's own rules (``GOVnnn``), by id."""
    from . import (  # noqa: F401 (each module registers its rules)
        rules_pipeline,
        rules_repository,
        rules_security,
        waivers,
    )

    yield from (RULES[k] for k in sorted(RULES) if k.startswith(BUILTIN_PREFIX))


_loaded: set[str] = set()


def load_plugins() -> None:
    """Import every installed plugin's module once (its rules register)."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        if entry.value in _loaded:
            continue
        try:
            entry.load()
        except Exception as error:  # a broken plugin is named, not a traceback
            raise PluginError(
                f"policy plugin {entry.name!r} ({entry.value}, entry point group "
                f"{PLUGIN_GROUP}) failed to load: {type(error).__name__}: {error}; "
                f"fix or uninstall it"
            ) from None
        _loaded.add(entry.value)


def all_rules() -> Iterator[Rule]:
    """Every rule: the policy's own and those of installed plugins, by id."""
    list(builtin_rules())
    load_plugins()
    yield from (RULES[key] for key in sorted(RULES))
