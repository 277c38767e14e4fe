"""Rules on the repository's tooling: files, formatters, hooks, Python, tests, CI."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path
from typing import Iterator, Optional

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..template_source import is_relative, is_remote
from .facts import Facts
from .model import WARNING, Finding, NotApplicable, rule
from .versions import (
    OLDEST_SUPPORTED,
    TOOLS,
    is_release,
    template_version,
    tools_pin,
    tools_requirements,
)

REQUIRED_FILES = (
    "README.md",
    "pyproject.toml",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".flake8",
    ".python-version",
    "MLproject",
    "env_specs/stage.schema.json",
)
# Hook ids the policy requires besides black and flake8 (GOV102), with the
# argument a hook must have to do its job.
REQUIRED_HOOKS = {
    "check-merge-conflict": "--assume-in-merge",
    "detect-private-key": None,
    "check-added-large-files": None,
    "nbstripout": None,
    "bandit": None,
    # Never sends a secret it finds to the service that issued it.
    "detect-secrets": "--no-verify",
    "no-rej-files": None,
    "governance": None,
}
MIN_COVERAGE = 80


@rule(
    "GOV101",
    "Required files are present",
    since="1.0.0",
    rationale="Every governed project has the same skeleton, so tools, CI and "
    "people find the configuration where the policy says it is.",
    fix="A missing file: restore it from the template, `mlops template recopy "
    "--restore-deleted` (your version and answers; your own files are never "
    "written), then review `git diff`. A file that cannot be read: fix what "
    "the finding names (an update's conflict markers, the encoding), or take "
    "it back from git (`git checkout HEAD -- FILE`).",
)
def required_files(facts: Facts) -> Iterator[Finding]:
    for name in REQUIRED_FILES:
        if not facts.exists(name):
            yield Finding(f"{name} is missing", name)
    facts.pyproject  # noqa: B018 (parsed here so a broken file is reported)
    for name, problem in sorted(facts.problems.items()):
        yield Finding(f"{name} cannot be read: {problem}", name)


def _line_length(facts: Facts) -> int:
    value = facts.tool("black").get("line-length", 88)
    return value if isinstance(value, int) else 88


@rule(
    "GOV102",
    "black and flake8 are configured and run by pre-commit",
    since="1.0.0",
    rationale="One formatter and one linter with agreeing settings keep "
    "reviews about behaviour, not style.",
    fix="Keep [tool.black] in pyproject.toml, .flake8 with black's "
    "max-line-length and extend-ignore E203, and the black and flake8 hooks in "
    ".pre-commit-config.yaml.",
)
def black_and_flake8(facts: Facts) -> Iterator[Finding]:
    if "black" not in facts.pyproject.get("tool", {}):
        yield Finding("pyproject.toml has no [tool.black] table", "pyproject.toml")
    flake8 = facts.ini_section(".flake8", "flake8")
    if flake8 is None:
        yield Finding(".flake8 has no [flake8] section", ".flake8")
    else:
        length = flake8.get("max-line-length", "79").strip()
        if length != str(_line_length(facts)):
            yield Finding(
                f"flake8 max-line-length is {length}, black's line-length is "
                f"{_line_length(facts)}",
                ".flake8",
            )
        ignored = flake8.get("extend-ignore", "") + flake8.get("ignore", "")
        if "E203" not in ignored:
            yield Finding(
                "flake8 does not ignore E203, which black's formatting triggers",
                ".flake8",
            )
    unreadable = _unreadable_hooks(facts)
    if unreadable is not None:
        yield unreadable
        return
    for hook in ("black", "flake8"):
        if hook not in facts.hooks:
            yield Finding(
                f"pre-commit hook {hook!r} is missing", ".pre-commit-config.yaml"
            )


def _unreadable_hooks(facts: Facts) -> Optional[Finding]:
    """One finding when .pre-commit-config.yaml does not parse (conflict
    markers an update left, say), rather than every hook called missing."""
    facts.precommit  # parsed once; a failure lands in facts.problems
    problem = facts.problems.get(".pre-commit-config.yaml")
    if problem is None:
        return None
    return Finding(
        f".pre-commit-config.yaml is not valid YAML ({problem}), so no hook in it "
        f"can be read: resolve the conflict markers an update left (GOV202) or "
        f"fix the YAML",
        ".pre-commit-config.yaml",
    )


@rule(
    "GOV103",
    "The required pre-commit hooks are present",
    since="1.0.0",
    rationale="Secrets, unresolved update conflicts, notebook outputs, large "
    "files and insecure code are stopped before they are committed.",
    fix="Restore .pre-commit-config.yaml from the template (it is template-"
    "owned): `copier update --trust` or `mlops template recopy`.",
)
def required_hooks(facts: Facts) -> Iterator[Finding]:
    unreadable = _unreadable_hooks(facts)
    if unreadable is not None:
        yield unreadable
        return
    for hook_id, argument in REQUIRED_HOOKS.items():
        hook = facts.hooks.get(hook_id)
        if hook is None:
            yield Finding(
                f"pre-commit hook {hook_id!r} is missing", ".pre-commit-config.yaml"
            )
        elif argument and argument not in (hook.get("args") or []):
            yield Finding(
                f"pre-commit hook {hook_id!r} lacks the argument {argument}",
                ".pre-commit-config.yaml",
            )


def project_python(facts: Facts) -> str:
    """The project's Python as ``X.Y`` from .python-version ('' when unknown)."""
    text = (facts.text(".python-version") or "").strip().splitlines()
    match = re.match(r"(\d+\.\d+)", text[0]) if text else None
    return match.group(1) if match else ""


def _lowest(specifier: str) -> str:
    try:
        specs = SpecifierSet(specifier)
    except InvalidSpecifier:
        return ""
    for spec in specs:
        if spec.operator in (">=", "~=", "=="):
            try:
                release = Version(spec.version.rstrip(".*")).release
            except InvalidVersion:
                return ""
            return ".".join(map(str, release[:2]))
    return ""


@rule(
    "GOV104",
    "One Python version across pyproject.toml, .python-version and CI",
    since="1.0.0",
    rationale="Code is tested, linted and run on the Python it is deployed "
    "on; disagreeing files mean CI checks a different interpreter.",
    fix="Set the same X.Y in .python-version, requires-python (>=X.Y), "
    "[tool.black] target-version (pyXY) and the CI files (python-version-file: "
    ".python-version).",
)
def one_python(facts: Facts) -> Iterator[Finding]:
    version = project_python(facts)
    if not version:
        yield Finding(".python-version does not name a Python X.Y", ".python-version")
        return
    requires = str(facts.pyproject.get("project", {}).get("requires-python", ""))
    if _lowest(requires) != version:
        yield Finding(
            f"requires-python is {requires!r}, expected '>={version}' "
            f"(.python-version says {version})",
            "pyproject.toml",
        )
    targets = facts.tool("black").get("target-version")
    wanted = "py" + version.replace(".", "")
    if targets is not None and sorted(targets)[:1] != [wanted]:
        yield Finding(
            f"[tool.black] target-version is {targets}, expected [{wanted!r}]",
            "pyproject.toml",
        )
    pattern = re.compile(r"python-version:\s*['\"]?(\d+\.\d+)")
    for name in facts.files:
        if not name.startswith(".github/") or not name.endswith((".yml", ".yaml")):
            continue
        for number, line in enumerate((facts.text(name) or "").splitlines(), 1):
            found = pattern.search(line)
            if found and found.group(1) != version:
                yield Finding(
                    f"CI uses Python {found.group(1)}, the project {version}",
                    name,
                    number,
                )


@rule(
    "GOV105",
    "Stage specs use the project's Python",
    severity=WARNING,
    since="1.1.0",
    rationale="A stage on another interpreter is tested less than the "
    "project; it should be a deliberate, recorded choice.",
    fix="Set `python:` to the project's X.Y in the stage spec, or waive GOV105 "
    "in [tool.governance] with the reason the stage needs another Python.",
)
def stage_python(facts: Facts) -> Iterator[Finding]:
    version = project_python(facts)
    pattern = re.compile(r"^\s*python(?:_exe)?:\s*['\"]?(\d+\.\d+)['\"]?\s*(#.*)?$")
    for name in facts.files:
        if not re.fullmatch(r"env_specs/stage_[^/]+\.yaml", name):
            continue
        for number, line in enumerate((facts.text(name) or "").splitlines(), 1):
            found = pattern.match(line)
            if found and version and found.group(1) != version:
                yield Finding(
                    f"stage Python {found.group(1)}, project Python {version}",
                    name,
                    number,
                )


@rule(
    "GOV106",
    "The dependency lock file is committed",
    since="1.1.0",
    grace_until=dt.date(2027, 3, 31),
    rationale="uv.lock pins every dependency with hashes, so CI, colleagues "
    "and the pipeline install exactly what was tested.",
    fix="Run `uv lock` (or `uv sync`) and commit uv.lock: `git add uv.lock`.",
)
def lock_file(facts: Facts) -> Iterator[Finding]:
    tracked = facts.tracked
    if "uv.lock" not in facts.files:
        yield Finding("uv.lock is missing or git-ignored", "uv.lock")
    elif tracked is not None and "uv.lock" not in tracked:
        yield Finding(
            "uv.lock exists but is not committed (git add uv.lock)", "uv.lock"
        )


@rule(
    "GOV107",
    "Tests run with a coverage threshold",
    since="1.0.0",
    rationale="Every change is tested in CI, and coverage cannot silently "
    "drop below the organisation's floor.",
    fix=f"Keep tests in tests/test_*.py, `--cov` in [tool.pytest.ini_options] "
    f"addopts and [tool.coverage.report] fail_under >= {MIN_COVERAGE}.",
)
def tests_and_coverage(facts: Facts) -> Iterator[Finding]:
    if not any(re.fullmatch(r"tests/(.+/)?test_[^/]+\.py", n) for n in facts.files):
        yield Finding("no tests/test_*.py files", "tests")
    addopts = facts.tool("pytest").get("ini_options", {}).get("addopts", "")
    if not coverage_enabled(addopts):
        yield Finding(
            "[tool.pytest.ini_options] addopts does not enable coverage (--cov)",
            "pyproject.toml",
        )
    threshold = facts.tool("coverage").get("report", {}).get("fail_under")
    if not isinstance(threshold, (int, float)) or threshold < MIN_COVERAGE:
        yield Finding(
            f"[tool.coverage.report] fail_under is {threshold}, at least "
            f"{MIN_COVERAGE} is required",
            "pyproject.toml",
        )


def coverage_enabled(addopts: object) -> bool:
    """Whether pytest's ``addopts`` (a string or a list) turn pytest-cov on:
    ``--cov`` or ``--cov=SOURCE`` as an option of its own (``--cov-report``
    alone measures nothing), and no ``--no-cov``."""
    if isinstance(addopts, str):
        try:
            options = shlex.split(addopts)
        except ValueError:
            options = addopts.split()
    elif isinstance(addopts, list):
        options = [str(option) for option in addopts]
    else:
        return False
    enabled = any(o == "--cov" or o.startswith("--cov=") for o in options)
    return enabled and "--no-cov" not in options


CI_FILES = {
    "github": (".github/workflows/ci.yml", r"scripts/ci\.(sh|bat) {step}\b"),
    "jenkins": ("Jenkinsfile", r"mlops\s*\(?\s*'{step}'"),
}
CI_STEPS = ("lint", "test")


@rule(
    "GOV108",
    "CI is configured for the chosen provider",
    since="1.0.0",
    rationale="Lint and tests run on every change on the organisation's CI, "
    "not only on developers' machines.",
    fix="Restore the CI files from the template (`copier update --trust`); "
    "to change provider, `copier update --trust --vcs-ref=:current: --data "
    "ci_provider=<name>`.",
)
def ci_configured(facts: Facts) -> Iterator[Finding]:
    yield from _ci_runs(facts, CI_STEPS)


def _ci_runs(facts: Facts, steps: tuple[str, ...]) -> Iterator[Finding]:
    """A finding for each of ``steps`` the chosen CI's files do not run."""
    provider = (facts.answers or {}).get("ci_provider")
    if provider == "none":
        raise NotApplicable("ci_provider is none")
    if provider is None:
        provider = "jenkins" if facts.exists("Jenkinsfile") else "github"
    wanted = ["github", "jenkins"] if provider == "both" else [provider]
    for name in wanted:
        if name not in CI_FILES:
            yield Finding(f"unknown ci_provider {name!r}", ".copier-answers.yml")
            continue
        path, call = CI_FILES[name]
        text = facts.text(path)
        if text is None:
            yield Finding(f"{path} is missing (ci_provider: {provider})", path)
            continue
        for step in steps:
            if not re.search(call.format(step=step), text):
                yield Finding(f"{path} does not run the {step!r} step", path)


@rule(
    "GOV111",
    "Dependencies are audited in CI",
    since="1.3.0",
    rationale="A locked package with a known vulnerability ships unless "
    "something looks: the `audit` step checks uv.lock and every stage lock "
    "against the vulnerability database on every change, failing closed.",
    fix="Restore the CI files from the template (`copier update --trust`), "
    "which run `mlops ci audit`; waive a finding with a reason and expiry in "
    "[[tool.governance.vulnerability-waivers]], never by removing the step.",
)
def dependencies_audited(facts: Facts) -> Iterator[Finding]:
    yield from _ci_runs(facts, ("audit",))


@rule(
    "GOV109",
    "Static security scanning is configured",
    since="1.0.0",
    rationale="bandit finds insecure code (shell injection, unsafe YAML, "
    "hard-coded passwords) before review.",
    fix="Keep the bandit hook with `-c pyproject.toml` in "
    ".pre-commit-config.yaml and a [tool.bandit] table in pyproject.toml.",
)
def security_scanning(facts: Facts) -> Iterator[Finding]:
    if "bandit" not in facts.pyproject.get("tool", {}):
        yield Finding("pyproject.toml has no [tool.bandit] table", "pyproject.toml")
    hook = facts.hooks.get("bandit")
    if hook is not None and "pyproject.toml" not in (hook.get("args") or []):
        yield Finding(
            "the bandit hook does not read pyproject.toml (-c pyproject.toml)",
            ".pre-commit-config.yaml",
        )


@rule(
    "GOV401",
    "The project follows a supported template version",
    since="1.1.0",
    rationale="Projects on an unsupported policy version miss fixes and "
    "rules; `copier update` needs the answers file to know where to start.",
    fix="Keep .copier-answers.yml (never edit it by hand) and run `copier "
    "update --trust` to reach the current policy version.",
)
def template_version_supported(facts: Facts) -> Iterator[Finding]:
    answers = facts.answers
    if answers is None:
        yield Finding(
            ".copier-answers.yml is missing or unreadable: `copier update` cannot "
            "run without it",
            ".copier-answers.yml",
        )
        return
    commit = answers.get("_commit")
    version = template_version(commit)
    if version is None:
        # A development copy (e.g. from a template clone without tags): there
        # is no version to compare, and `copier update` still works.
        raise NotApplicable(f"_commit {commit!r} is not a release tag of the template")
    if version < Version(OLDEST_SUPPORTED):
        yield Finding(
            f"template version {version} is older than the oldest supported "
            f"policy version {OLDEST_SUPPORTED}",
            ".copier-answers.yml",
        )


@rule(
    "GOV404",
    "The project follows a release of the template",
    severity=WARNING,
    since="1.2.0",
    rationale="An update runs the migrations of the versions it crosses, "
    "counted from the project's _commit: a copy of a commit between releases "
    "(a hash, or 1.2.0-3-gabc1234) skips those up to its base release.",
    fix="Update to a release: `uv run copier update --trust --skip-answered` "
    "(the newest) or with `--vcs-ref <version>`.",
)
def release_followed(facts: Facts) -> Iterator[Finding]:
    answers = facts.answers
    if answers is None:
        raise NotApplicable(".copier-answers.yml is missing (GOV401 reports it)")
    commit = str(answers.get("_commit") or "")
    if not is_release(commit):
        yield Finding(
            f"_commit {commit!r} is not a release: migrations will not run until "
            f"you update to a release",
            ".copier-answers.yml",
        )


@rule(
    "GOV112",
    "The tools are pinned at the project's policy version",
    since="1.3.0",
    rationale="The `mlops` command, the policy check and the stage runner are "
    "the governed-mlops-tools release the project pins; a pin older than the "
    "policy version (a conflict of the update resolved for the old line), or "
    "none, runs another policy than the one the project claims.",
    fix="In pyproject.toml's pipeline group, pin the tools as a fresh copy of "
    "your policy version does: `governed-mlops-tools[pipeline]==X` with a "
    "package index, else `governed-mlops-tools[pipeline] @ git+<template "
    "URL>@X#subdirectory=governed-mlops-tools`; then `uv lock` (a newer patch "
    "release of the tools is fine).",
)
def tools_pinned(facts: Facts) -> Iterator[Finding]:
    commit = str((facts.answers or {}).get("_commit") or "")
    if not is_release(commit):
        raise NotApplicable("_commit is not a release (GOV401, GOV404 report it)")
    if not facts.pyproject:
        raise NotApplicable("pyproject.toml is missing or unreadable (GOV101)")
    wanted = template_version(commit)
    if not tools_requirements(facts.pyproject):
        yield Finding(
            f"the dependency groups do not hold {TOOLS}: `mlops` (the policy "
            f"check, the stage runner) is not installed at policy {wanted}",
            "pyproject.toml",
        )
        return
    pinned = tools_pin(facts.pyproject)
    if pinned is None:
        yield Finding(f"{TOOLS} is not pinned to a release", "pyproject.toml")
        return
    version = template_version(pinned)
    if version is None:
        raise NotApplicable(f"the tools are pinned at {pinned!r}, not a release")
    if wanted is not None and version < wanted:
        yield Finding(
            f"{TOOLS} is pinned at {pinned}, older than the project's policy "
            f"version {commit} (.copier-answers.yml)",
            "pyproject.toml",
        )


@rule(
    "GOV110",
    "The project holds no copy of the tools",
    since="1.2.0",
    rationale="The tools run from the pinned governed-mlops-tools package, so "
    "every project of a policy version checks and runs the same way; an edited "
    "copy in src/governed_mlops/ is either dead code or a weakened policy.",
    fix="Move each change to its extension point (the 1.2.0 migration listed "
    "them: a policy plugin, a waiver, a stage spec, the settings), then delete "
    "src/governed_mlops/ and commit.",
)
def no_tools_copy(facts: Facts) -> Iterator[Finding]:
    if (facts.tool("governed-mlops") or {}).get("package") == "governed_mlops":
        raise NotApplicable("the project's own package is governed_mlops")
    copied = [name for name in facts.files if name.startswith("src/governed_mlops/")]
    if copied:
        yield Finding(
            f"a copy of the tools ({len(copied)} files), which the pinned "
            f"governed-mlops-tools replaces",
            "src/governed_mlops",
        )


def _local_source(facts: Facts) -> Optional[str]:
    """``_src_path`` when it names a local folder (None for URLs or no answers)."""
    source = str((facts.answers or {}).get("_src_path") or "")
    return None if not source or is_remote(source) else source


@rule(
    "GOV402",
    "The template source is not a relative path",
    since="1.2.0",
    rationale="Copier resolves _src_path again on every update, from the "
    "directory it runs in: a relative path (`copier copy . ../project`) "
    "points at the wrong folder and `copier update` fails.",
    fix="Set _src_path in .copier-answers.yml to the template's git URL (or "
    "its absolute path), commit, then run `copier update --trust`.",
)
def source_not_relative(facts: Facts) -> Iterator[Finding]:
    source = _local_source(facts)
    if source is not None and is_relative(source):
        yield Finding(
            f"_src_path {source!r} is relative: copier resolves it from where "
            f"it runs, not from the template",
            ".copier-answers.yml",
        )


@rule(
    "GOV403",
    "The template source can be reached from this machine",
    severity=WARNING,
    since="1.2.0",
    rationale="`copier update` and `mlops ci template-update` read the "
    "template from _src_path; a folder on another machine cannot be read here.",
    fix="Set _src_path in .copier-answers.yml to the template's git URL, which "
    "every machine (and CI) can reach.",
)
def source_reachable(facts: Facts) -> Iterator[Finding]:
    source = _local_source(facts)
    if source is None or is_relative(source):
        raise NotApplicable("_src_path is a URL, relative (GOV402) or absent")
    if not Path(source).expanduser().is_dir():
        yield Finding(
            f"_src_path {source!r} is not a folder on this machine",
            ".copier-answers.yml",
        )
