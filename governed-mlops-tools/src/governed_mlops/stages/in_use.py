"""One `mlops` command at a time per stage: two runs of a stage write the
same outputs (each left the other's model file half-written), and a build
replaces the env a run is using. ``stage run``, ``pipeline run`` and
``stage create`` hold a lock on ``.mlops/locks/<stage>.lock`` for each stage
they use; the operating system drops it when the process dies."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Iterator, Sequence

from ..errors import CommandError
from ..locking import try_lock
from .specs import Stage

LOCKS_DIR = "locks"


@contextmanager
def using(stages: Sequence[Stage]) -> Iterator[None]:
    """Hold every stage of ``stages`` for this process while the block runs;
    refused, naming the first stage another command holds, before anything."""
    with ExitStack() as held:
        for stage in stages:
            path = stage.project.state_dir / LOCKS_DIR / f"{stage.name}.lock"
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = held.enter_context(path.open("a+", encoding="utf-8"))
            if not try_lock(handle):
                raise CommandError(
                    f"stage {stage.name} is in use by another mlops command (a "
                    f"stage run, pipeline run or stage create of it): wait for it "
                    f"to end, then run this again"
                )
        yield
