"""``copier update`` in worker processes that import copier once.

A campaign runs one update a project; started as ``python -m copier``, each
one imported copier anew (most of a second, more without ``.pyc``). The
workers are processes, not threads: copier changes the working directory of
its process while it renders. Each update's output (copier's, the
migrations') goes to the project's log through the worker's file
descriptors 1 and 2, as a subprocess's would."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Iterator, Mapping

# ProcessPoolExecutor refuses more workers than this on Windows.
WINDOWS_MOST = 61


def workers(jobs: int, windows: bool = os.name == "nt") -> int:
    """How many worker processes ``--jobs`` gets (more updates than that
    wait for a worker)."""
    return min(max(1, jobs), WINDOWS_MOST) if windows else max(1, jobs)


def pool(jobs: int, env: Mapping[str, str]) -> Executor:
    """Worker processes for ``jobs`` updates at once, with ``env`` set."""
    return ProcessPoolExecutor(
        workers(jobs),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(dict(env),),
    )


def _start(env: dict[str, str]) -> None:
    os.environ.pop("VIRTUAL_ENV", None)
    os.environ.update(env)


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def update(project: str, version: str, log: str) -> int:
    """Run in a worker: the update of ``project`` to ``version``; its exit
    code as copier's command line gives it (0 done, 1 failed)."""
    with _output_to(Path(log)):
        try:
            from copier import run_update
            from copier.errors import UserMessageError
        except ImportError as error:
            print(f"copier is not installed here: {error}", file=sys.stderr)
            return 1
        try:
            # As `copier update --trust --defaults --skip-answered` runs it.
            run_update(
                project,
                vcs_ref=version,
                defaults=True,
                skip_answered=True,
                overwrite=True,
                unsafe=True,
            )
        except UserMessageError as error:
            print(error.message, file=sys.stderr)
            return 1
        except Exception:  # a failed migration or task, or copier's own error
            traceback.print_exc()
            return 1
    return 0
