"""Copier's task after ``copier copy`` (and ``recopy``), in one process.

In order: make the project a git repository (``init_git``), record a template
source that updates can use (``source_path``), have git merge its notebooks
with nbdime (``merge_notebooks``), print the policy report
(``policy_report``). One interpreter for the three, as a copy should cost no
more than it must.

    after_copy.py [ANSWERS_FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import init_git  # noqa: E402
import policy_report  # noqa: E402
import source_path  # noqa: E402


def merge_notebooks(project: Path) -> None:
    """What `mlops setup` does in a clone, done for the copy: git merges its
    notebooks with nbdime (the template checkout's tools, as the report)."""
    sys.path.insert(0, str(policy_report.TOOLS))
    try:
        from governed_mlops.gitcmd import GitError
        from governed_mlops.notebook_merge import configure
    except ImportError:
        return
    try:
        configure(project)
    except GitError:  # no git, or not a repository: `mlops setup` says so later
        pass


def main(argv: list[str]) -> int:
    project = Path.cwd().resolve()
    init_git.main(project)
    source_path.main(argv)
    merge_notebooks(project)
    # A fresh render: the template's text and validated answers. detect-secrets
    # (a second of every copy) runs at the first commit, in the project's hook.
    return policy_report.report(project, detect_secrets=False)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
