"""``mlops mlproject``: the entry points of the project's ``MLproject``.

``mlflow run -P KEY=VALUE`` appends each parameter its entry point does not
declare as ``--KEY VALUE``. The template's entry points declare none and call
this command, so every notebook parameter passes to `mlops stage run` or
`mlops pipeline run` as ``-p KEY=VALUE``, typed and checked there, and a
stage spec's values hold where ``-P`` gives none.
"""

from __future__ import annotations

import argparse

from . import Subparsers
from ..errors import CommandError

PIPELINE = "main"


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "mlproject",
        help="run an MLproject entry point (what `mlflow run` calls)",
        description="Run a stage (`mlops stage run STAGE`) or, for main, the "
        "pipeline (`mlops pipeline run`), each --KEY VALUE that `mlflow run -P "
        "KEY=VALUE` appends given as -p KEY=VALUE (a pipeline's as STAGE.KEY "
        "for one stage).",
    )
    parser.add_argument(
        "entry", metavar="ENTRY", help=f"a stage's name, or {PIPELINE}: the pipeline"
    )
    parser.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        metavar="--KEY VALUE",
        help="a parameter, as mlflow run passes -P KEY=VALUE; repeatable",
    )
    parser.set_defaults(handler=run, terminable=True)


def assignments(options: list[str]) -> list[str]:
    """``--seed 7 --label=x`` as ``["seed=7", "label=x"]``."""
    found = []
    rest = list(options)
    while rest:
        option = rest.pop(0)
        if not option.startswith("--") or option == "--":
            raise CommandError(
                f"mlproject: {option!r} is no --KEY VALUE pair (mlflow run passes "
                f"-P KEY=VALUE so)"
            )
        key, equals, value = option[2:].partition("=")
        if not equals:
            if not rest:
                raise CommandError(f"mlproject: --{key} has no value")
            value = rest.pop(0)
        found.append(f"{key}={value}")
    return found


def run(args: argparse.Namespace) -> int:
    from . import build_parser

    params = [arg for pair in assignments(args.options) for arg in ("-p", pair)]
    if args.entry == PIPELINE:
        argv = ["pipeline", "run", *params]
    else:
        argv = ["stage", "run", args.entry, *params]
    command = build_parser().parse_args(argv)
    return int(command.handler(command) or 0)
