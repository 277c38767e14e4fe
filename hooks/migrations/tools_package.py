"""Migration to 1.2.0: the tools are a pinned package, not a copy in the project.

Up to 1.1.0 every project held the ``mlops`` tooling in ``src/governed_mlops/``;
from 1.2.0 it installs ``governed-mlops-tools`` at the policy version, and the
template no longer renders the folder, so copier's merge deletes it. This
runs after the merge:

- When every file of the project's copy (read from ``HEAD``: update starts
  from a clean, committed tree) is byte-identical to one release's copy
  (``tooling_manifest.json``), the copy is gone for good.
- Otherwise the whole copy is put back as it was, and each changed file is
  listed with its diff against the released file and the extension point
  that replaces such a change; policy rule GOV110 fails while the copy is
  there, so the change is not lost and not silently kept either.
- Then what referred to the copy is rewritten: ``[tool.poetry] packages``
  and ``[project.scripts]`` in ``pyproject.toml``, and imports of
  ``governed_mlops.project`` in notebooks and Python files, which now take
  the settings from the project's own package.

Idempotent: a second run finds nothing to do.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

from _gate import applies, read, write

VERSION = "1.2.0"
COPY = "src/governed_mlops"
MANIFEST = Path(__file__).with_name("tooling_manifest.json")
CHECKOUT = Path(__file__).resolve().parents[2]  # the template being applied
# What replaces a change to each part of the old copy (first match wins).
EXTENSION_POINTS = (
    (
        "policy/",
        "organisation rules belong in a policy plugin package (entry point "
        "group governed_mlops.rules); a rule that does not fit the project is "
        "waived in [tool.governance] with a reason and an expiry",
    ),
    (
        (
            "specs.py",
            "spec_checks.py",
            "stage_env.py",
            "installers.py",
            "locks.py",
            "kernels.py",
            "pythons.py",
            "venvs.py",
            "cli_stage.py",
        ),
        "stage environments are configured in env_specs/stage_<name>.yaml "
        "(python, packages, constraints, index_url, find_links)",
    ),
    (
        (
            "runner.py",
            "store.py",
            "tracking.py",
            "audit.py",
            "notebook.py",
            "gitinfo.py",
            "cli_pipeline.py",
            "cli_audit.py",
            "cli_tracking.py",
        ),
        "runs are configured by the settings in src/<package>/config.py (MLflow "
        "URI, experiment, paths) and by notebook parameters",
    ),
    (
        "project.py",
        "the tools read [tool.governed-mlops] in pyproject.toml",
    ),
)
OTHERWISE = (
    "ask the platform team for the change in governed-mlops-tools: a new tools "
    "release reaches the project as a pin bump"
)


def git(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, check=check)


def head_copy(project: Path) -> dict[str, bytes]:
    """``{path under src/governed_mlops: content}`` of the copy in ``HEAD``."""
    listed = git(project, "ls-tree", "-r", "-z", "HEAD", COPY + "/", check=False)
    found = {}
    for entry in filter(None, listed.stdout.decode("utf-8").split("\0")):
        meta, path = entry.split("\t", 1)
        blob = git(project, "cat-file", "blob", meta.split()[2]).stdout
        found[path[len(COPY) + 1 :]] = blob
    return found


def closest_release(copy: dict[str, bytes], manifest: dict) -> tuple[str, list[str]]:
    """The release whose copy differs least, and the files that differ."""
    best = ("", sorted(copy))
    for version, release in manifest.items():
        files = release["files"]
        changed = sorted(
            name
            for name, content in copy.items()
            if files.get(name) != hashlib.sha256(content).hexdigest()
        )
        if len(changed) < len(best[1]) or not best[0]:
            best = (version, changed)
    return best


def extension_point(name: str) -> str:
    for match, text in EXTENSION_POINTS:
        if (isinstance(match, str) and name.startswith(match)) or name in match:
            return text
    return OTHERWISE


def released_text(manifest: dict, version: str, name: str) -> str | None:
    """The released file, from the template checkout's history if it has it."""
    commit = manifest.get(version, {}).get("commit")
    if not commit:
        return None
    shown = git(
        CHECKOUT, "show", f"{commit}:template/src/governed_mlops/{name}", check=False
    )
    return shown.stdout.decode("utf-8") if shown.returncode == 0 else None


def keep_modified_copy(project: Path, copy: dict[str, bytes], manifest: dict) -> None:
    version, changed = closest_release(copy, manifest)
    for name, content in copy.items():
        target = project / COPY / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    print(
        f"migration {VERSION}: {COPY}/ kept: {len(changed)} file(s) differ from "
        f"the tools released in {version or 'any release'}. The pinned "
        f"governed-mlops-tools is what runs now; policy rule GOV110 fails until "
        f"you move each change and delete {COPY}/:"
    )
    for name in changed:
        print(f"\n  {COPY}/{name}: {extension_point(name)}")
        before = released_text(manifest, version, name)
        if before is None:
            print("    (not in the release: a file you added)")
            continue
        after = copy[name].decode("utf-8", errors="replace")
        diff = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"{version}/{name}",
            f"yours/{name}",
        )
        print("".join(f"    {line}" for line in diff).rstrip("\n"))


def remove_copy(project: Path) -> None:
    """What copier's merge left of the folder (caches, empty folders)."""
    folder = project / COPY
    if not folder.is_dir():
        return
    leftovers = [p for p in folder.rglob("*") if p.is_file()]
    if all("__pycache__" in p.parts for p in leftovers):
        for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()


def rewrite_pyproject(project: Path) -> None:
    path = project / "pyproject.toml"
    if not path.is_file():
        return
    text = read(path)
    include = r'\{ *include *= *"governed_mlops" *, *from *= *"src" *\},?'
    new = re.sub(rf"(?m)^[ \t]*{include}[ \t]*\r?\n", "", text)
    new = re.sub(r'(?m)^mlops *= *"governed_mlops\.cli:main"[ \t]*\r?\n', "", new)
    # A [project.scripts] table left empty goes too.
    new = re.sub(r"(?m)^\[project\.scripts\][ \t]*\r?\n(?=\s*(\[|\Z))", "", new)
    if new != text:
        write(path, new)
        print(
            f"migration {VERSION}: pyproject.toml: the wheel no longer ships "
            f"governed_mlops or the mlops script (the tools package does)"
        )


IMPORT = re.compile(r"from governed_mlops\.project import project_settings")


def rewrite_imports(project: Path, package: str) -> None:
    """Notebooks and Python files take the settings from the project's package."""
    candidates = [
        *project.glob("notebooks/**/*.ipynb"),
        *project.glob("src/*/**/*.py"),
        *project.glob("tests/**/*.py"),
        *project.glob("scripts/**/*.py"),
    ]
    for path in sorted(set(candidates)):
        if COPY in path.as_posix():
            continue
        text = read(path)
        if "governed_mlops" not in text:
            continue
        new = IMPORT.sub(f"from {package}.config import get_settings", text)
        if new != text:
            new = re.sub(r"\bproject_settings\(\)", "get_settings()", new)
            write(path, new)
            print(
                f"migration {VERSION}: {path.relative_to(project).as_posix()}: "
                f"settings from {package}.config instead of governed_mlops"
            )
        for number, line in enumerate(new.splitlines(), 1):
            if re.search(r"\b(from|import) governed_mlops\b", line):
                print(
                    f"migration {VERSION}: {path.relative_to(project).as_posix()}:"
                    f"{number} still imports governed_mlops, which stage envs "
                    f"and the project's wheel no longer have; use "
                    f"{package}.config, or the tools' public API from the "
                    f"project env only"
                )


def project_package(project: Path) -> str:
    text = (project / "pyproject.toml").read_text(encoding="utf-8")
    table = re.search(r"(?ms)^\[tool\.governed-mlops\](.*?)(^\[|\Z)", text)
    if table is None:
        return ""
    found = re.search(r'(?m)^package *= *"([^"]+)"', table.group(1))
    return found.group(1) if found else ""


def main(project: Path) -> int:
    if not applies(VERSION):
        return 0
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    copy = head_copy(project)
    if copy:
        _, changed = closest_release(copy, manifest)
        if changed:
            keep_modified_copy(project, copy, manifest)
        else:
            remove_copy(project)
            print(
                f"migration {VERSION}: {COPY}/ removed: it was the released "
                f"tooling, unchanged; the pinned governed-mlops-tools replaces it"
            )
    rewrite_pyproject(project)
    package = project_package(project)
    if package:
        rewrite_imports(project, package)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()))
