"""The pull-request text of an update: versions, changelog entries crossed,
and the policy before and after."""

from __future__ import annotations

import re
from typing import Sequence

HEADING = re.compile(r"^## +(\S+)", re.MULTILINE)


def changelog_entries(text: str, old: str, new: str) -> list[str]:
    """The ``## <version>`` entries of a changelog with old < version <= new,
    in the changelog's order (newest first)."""
    from packaging.version import InvalidVersion, Version

    def version(text: str) -> Version | None:
        try:
            return Version(text.lstrip("v").split("-")[0])
        except InvalidVersion:
            return None

    low, high = version(old), version(new)
    heads = list(HEADING.finditer(text))
    found = []
    for i, head in enumerate(heads):
        at = version(head.group(1))
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        if (
            at is not None
            and high is not None
            and at <= high
            and (low is None or at > low)
        ):
            found.append(text[head.start() : end].strip())
    return found


def title(new: str) -> str:
    return f"Update to governed-mlops {new}"


def policy_line(errors: Sequence[str], warnings: Sequence[str]) -> str:
    if not errors and not warnings:
        return "no failed rule"
    parts = []
    if errors:
        parts.append(f"errors: {', '.join(errors)}")
    if warnings:
        parts.append(f"warnings: {', '.join(warnings)}")
    return "; ".join(parts)


def description(
    project: str,
    old: str,
    new: str,
    entries: Sequence[str],
    before: tuple[Sequence[str], Sequence[str]],
    after: tuple[Sequence[str], Sequence[str]],
    checked_by: tuple[str, str],
) -> str:
    """Markdown for the pull request; ``before``/``after``: (errors, warnings)
    rule ids of the policy check, by the policy versions ``checked_by``."""
    changes = "\n\n".join(
        re.sub(r"^## ", "### ", entry, flags=re.MULTILINE) for entry in entries
    )
    return (
        f"{title(new)}\n\n"
        f"`{project}` moves from governed-mlops **{old}** to **{new}** "
        f"(`copier update`, migrations run, `uv.lock` refreshed; made by "
        f"`mlops fleet update`).\n\n"
        f"## Policy\n\n"
        f"| project at | checked by policy | rules failed |\n| --- | --- | --- |\n"
        f"| before ({old}) | {checked_by[0]} | {policy_line(*before)} |\n"
        f"| after ({new}) | {checked_by[1]} | {policy_line(*after)} |\n\n"
        f"## Changes crossed\n\n{changes or 'The changelog names none.'}\n"
    )
