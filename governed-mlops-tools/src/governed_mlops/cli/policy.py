"""``mlops policy``: check the project against the governance policy."""

from __future__ import annotations

import argparse

from . import Subparsers, add_group


def register(subparsers: Subparsers) -> None:
    from ..policy import EXIT_CODES, POLICY_VERSION, add_check_arguments, run_check

    _, commands = add_group(
        subparsers,
        "policy",
        help="check the project against the governance policy",
        description=f"The governance policy (version {POLICY_VERSION}) as code.",
    )
    check = commands.add_parser(
        "check",
        help="report every rule the project violates, with its fix",
        description="Run every policy rule (GOVnnn) on the project and report "
        "the violations with their fixes; waivers come from [tool.governance] "
        "in pyproject.toml.",
        epilog=EXIT_CODES,
    )
    add_check_arguments(check)
    check.set_defaults(handler=run_check)
    rules = commands.add_parser(
        "rules",
        help="list the rules (id, E/W severity, version, title)",
        description="List every rule of the policy.",
    )
    rules.add_argument(
        "--markdown", action="store_true", help="the full catalogue as Markdown"
    )
    rules.set_defaults(handler=run_rules)


def run_rules(args: argparse.Namespace) -> int:
    from ..errors import CommandError
    from ..policy.catalog import markdown, table
    from ..policy.model import PluginError

    try:
        print(markdown() if args.markdown else table(), end="")
    except PluginError as error:
        raise CommandError(str(error)) from None
    return 0
