"""An update's outcome, from its evidence."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

UP_TO_DATE = "up to date"
CLEAN = "updated clean"
CONFLICTS = "conflicts"
MIGRATION_FAILED = "migration failed"
TESTS_FAILED = "tests failed"
POLICY_FAILED = "policy failed"
NOT_GOVERNED = "not governed"
ERROR = "error"
OUTCOMES = (
    UP_TO_DATE,
    CLEAN,
    CONFLICTS,
    MIGRATION_FAILED,
    TESTS_FAILED,
    POLICY_FAILED,
    NOT_GOVERNED,
    ERROR,
)
# Outcomes a rerun keeps; ``--retry`` redoes the others.
SETTLED = (UP_TO_DATE, CLEAN, NOT_GOVERNED)


@dataclass
class Evidence:
    """What an update found, step by step (None: the step did not run)."""

    copier_ok: Optional[bool] = None
    copier_output: str = ""
    conflicts: list[str] = field(default_factory=list)
    tests_ok: Optional[bool] = None
    tests_output: str = ""
    policy_errors: list[str] = field(default_factory=list)


def classify(evidence: Evidence) -> str:
    """The first failure in the order a human must deal with them: a failed
    migration, then conflicts, then tests, then the policy."""
    if evidence.copier_ok is False:
        return MIGRATION_FAILED
    if evidence.conflicts:
        return CONFLICTS
    if evidence.tests_ok is False:
        return TESTS_FAILED
    if evidence.policy_errors:
        return POLICY_FAILED
    return CLEAN


def conflicted_files(unmerged: str, rejects: list[str], gov202: list[str]) -> list[str]:
    """``git ls-files -u`` output ∪ ``*.rej`` files ∪ GOV202's files, sorted."""
    names = {line.split("\t", 1)[1] for line in unmerged.splitlines() if "\t" in line}
    return sorted(names | set(rejects) | set(gov202))


def tail(text: str, lines: int = 30) -> str:
    """The end of a command's output: where a failure says what failed."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


# How uv says a package index refused it or could not be reached: the access
# of whoever runs the campaign to fix, not the project's code.
_NO_ACCESS = re.compile(
    r"401 Unauthorized|403 Forbidden|407 Proxy|Connection refused|dns error|"
    r"failed to lookup address|tcp connect error|error sending request|"
    r"operation timed out|certificate verify failed|invalid peer certificate",
    re.IGNORECASE,
)


def access_problem(output: str) -> Optional[str]:
    """The line of a uv command's output that says the package index refused
    or could not be reached (the last: uv's chain of causes ends with the
    root one); None when it failed for another reason."""
    found = [line.strip() for line in output.splitlines() if _NO_ACCESS.search(line)]
    return found[-1] if found else None
