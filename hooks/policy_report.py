"""Copier hook: what changed in the policy, then the project's policy report.

Runs with copier's own Python in the real destination: as a task after
``copier copy`` (and ``recopy``), and as an unversioned ``after`` migration
after ``copier update``, once the merge and the migrations are done (copier's
``_tasks`` run during an update before the user's changes are merged back,
and again in temporary renders). Read-only, so it is idempotent; it never
fails the copy or update: the report is for the user to act on.

    policy_report.py [--changes-from V --changes-to V --changelog FILE]
                     [--patterns-only] [PROJECT]

With ``GOVERNED_MLOPS_SKIP_POLICY_REPORT=1`` in the environment the report is
skipped: ``mlops fleet update`` sets it, as it checks the policy itself (the
report costs about a second of each project's update).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

HEADING = re.compile(r"^## +(\S+)", re.MULTILINE)


def changelog_entries(text: str, old: str, new: str) -> list[str]:
    """The ``## <version>`` entries with old < version <= new, newest first."""
    from packaging.version import InvalidVersion, Version

    low, high = Version(old), Version(new)
    heads = list(HEADING.finditer(text))
    entries = []
    for i, head in enumerate(heads):
        try:
            version = Version(head.group(1))
        except InvalidVersion:
            continue
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        if low < version <= high:
            entries.append(text[head.start() : end].strip())
    return entries


def print_changes(changelog: Path, old: str, new: str) -> None:
    if not changelog.is_file():
        print(f"policy changelog not found at {changelog}")
        return
    from packaging.version import InvalidVersion

    try:
        entries = changelog_entries(changelog.read_text(encoding="utf-8"), old, new)
    except InvalidVersion as error:
        print(f"policy changelog: not a PEP 440 version ({error})")
        return
    if not entries:
        print(f"No policy change between {old} and {new}.")
        return
    print(f"Policy changes from {old} to {new} (the template's changelog):\n")
    print("\n\n".join(entries) + "\n")


# The checker of the template checkout being applied: no network, no project
# code (copier's Python has pyyaml, pydantic and packaging).
TOOLS = Path(__file__).resolve().parents[1] / "governed-mlops-tools" / "src"


SKIP_VARIABLE = "GOVERNED_MLOPS_SKIP_POLICY_REPORT"


def report(project: Path, detect_secrets: bool = True) -> int:
    """Print the policy report; always 0 (a report, not a gate).
    ``detect_secrets=False``: GOV201 runs its built-in patterns only."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        print(f"Policy report of {project}: skipped ({SKIP_VARIABLE}=1).")
        return 0
    print(f"Policy report of {project}:", flush=True)
    sys.path.insert(0, str(TOOLS))
    try:
        from governed_mlops import policy
        from governed_mlops.policy.engine import SKIPPED
        from governed_mlops.policy.reports import terminal
    except ImportError as error:
        print(f"  skipped: the template has no policy checker at {TOOLS} ({error}).")
        return 0
    try:
        checked = policy.check(project, plugins=False, detect_secrets=detect_secrets)
        sys.stdout.write(terminal(checked))
        for outcome in checked.outcomes:  # a partial secret scan says so
            if outcome.rule.id == "GOV201" and outcome.status == SKIPPED:
                print(f"\nGOV201 {outcome.rule.title}: {outcome.note}.")
        plugins = answered_plugins(project)
        if plugins:  # installed with the project's env, which is not synced yet
            print(
                f"\nThe organisation's rules ({', '.join(plugins)}) are not in "
                f"this report: `uv run mlops policy check` runs them once `uv sync` "
                f"has installed them."
            )
        else:
            orphaned(project)
    except (Exception, SystemExit) as error:  # a report never undoes the copy
        print(f"  failed: {type(error).__name__}: {error}")
        print("  Run `mlops policy check` in the project to see the report.")
    return 0


def orphaned(project: Path) -> None:
    """Name the waivers of organisation rules when the answers install no
    plugin: `mlops policy check` refuses them (exit 2) until they are gone."""
    import datetime as dt

    from governed_mlops.policy.facts import Facts
    from governed_mlops.policy.waivers import foreign_rules

    rules = foreign_rules(Facts(project, dt.date.today()).tool("governance"))
    if rules:
        print(
            f"\nWaivers in pyproject.toml name {', '.join(rules)}, rules of a policy "
            f"plugin, but the answer policy_plugins installs none: `mlops policy "
            f"check` refuses them. Delete those waivers, or answer policy_plugins "
            f"with the plugin."
        )


def answered_plugins(project: Path) -> list[str]:
    """The answer ``policy_plugins`` of the project's answers file."""
    import yaml

    try:
        answers = yaml.safe_load(
            (project / ".copier-answers.yml").read_text(encoding="utf-8")
        )
    except (OSError, ValueError, yaml.YAMLError):
        return []
    plugins = answers.get("policy_plugins") if isinstance(answers, dict) else None
    return [str(p) for p in plugins] if isinstance(plugins, list) else []


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", default=".", type=Path)
    parser.add_argument("--changes-from", metavar="VERSION")
    parser.add_argument("--changes-to", metavar="VERSION")
    parser.add_argument("--changelog", type=Path)
    parser.add_argument(
        "--patterns-only",
        action="store_true",
        help="GOV201 with its built-in patterns only, as the report after a copy",
    )
    args = parser.parse_args(argv)
    if args.changes_from and args.changes_to and args.changelog:
        print_changes(args.changelog, args.changes_from, args.changes_to)
    return report(args.project.resolve(), detect_secrets=not args.patterns_only)


if __name__ == "__main__":
    raise SystemExit(main())
