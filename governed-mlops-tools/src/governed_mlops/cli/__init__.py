"""The ``mlops`` command: one entry point for stages, pipelines and policy.

Each sub-command group is a module of this package (``cli/<group>.py``)
exposing ``register(subparsers)``, which adds its parser and sets
``handler``. Modules import heavy dependencies inside their handlers so
``mlops --help`` and ``mlops policy check`` start fast.
Expected failures raise :class:`CommandError` and end with a message and its
exit code (2, or 1 for a failed stage), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Sequence, TypeAlias

from .. import __version__
from ..errors import CommandError
from ..project import ProjectError

_PACKAGE_DIR = Path(__file__).resolve().parent
# What ``register`` receives; generic only to type checkers, hence the string.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def command_modules() -> list[str]:
    """The command group modules of this package, in name order."""
    return sorted(
        f"{__name__}.{info.name}"
        for info in pkgutil.iter_modules([str(_PACKAGE_DIR)])
        if not info.name.startswith("_")
    )


def port(text: str, lowest: int = 1) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not lowest <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: give a whole number from {lowest} to 65535"
            + (" (0: any free port)" if lowest == 0 else "")
        )
    return value


def positive(text: str) -> int:
    """An argparse type: a whole number, 1 or more (``--jobs``)."""
    return int(_number(text, int, 1, "a whole number, 1 or more"))


def seconds(text: str) -> float:
    """An argparse type: a time in seconds, more than 0."""
    return _number(text, float, 0, "a number of seconds over 0", strictly=True)


def _number(
    text: str, kind: type, lowest: float, wanted: str, strictly: bool = False
) -> float:
    try:
        value = kind(text)
    except ValueError:
        value = None
    # NaN is neither above nor at a bound: refused too.
    if value is None or not (value > lowest or (value == lowest and not strictly)):
        raise argparse.ArgumentTypeError(f"{text!r}: give {wanted}")
    return float(value) if kind is float else value


def port_or_any(text: str) -> int:
    """An argparse type: a TCP port, or 0 for any free one."""
    return port(text, lowest=0)


def add_group(
    subparsers: Subparsers, name: str, help: str, description: str
) -> tuple[argparse.ArgumentParser, Subparsers]:
    """A command group (``mlops <name> COMMAND``) that prints its help when
    called alone; returns the group's parser and its subparsers."""
    group = subparsers.add_parser(name, help=help, description=description)

    def show_help(args: argparse.Namespace) -> int:
        group.print_help()
        return 0

    group.set_defaults(handler=show_help)
    return group, group.add_subparsers(title="commands", metavar="COMMAND")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="Governed MLOps project tooling: stage environments, "
        "notebook pipelines with an MLflow audit trail, and policy checks.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module_name in command_modules():
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mlops``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    from contextlib import nullcontext

    from ._pipes import tolerant_output
    from ..termination import EXIT_CODE, Terminated, terminable

    # Commands that record runs end them on SIGTERM; the others die at once.
    graceful = terminable() if getattr(args, "terminable", False) else nullcontext()
    with tolerant_output(), graceful:
        try:
            return int(handler(args) or 0)
        except (CommandError, ProjectError) as error:
            print(f"mlops: error: {error}", file=sys.stderr)
            return getattr(error, "exit_code", 2)
        except Terminated:
            print("mlops: terminated (SIGTERM)", file=sys.stderr)
            return EXIT_CODE
        except KeyboardInterrupt:
            print("mlops: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    raise SystemExit(main())
