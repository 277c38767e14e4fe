"""This repository follows the policy it enforces, and its docs match the code."""

from __future__ import annotations

import re
import sys

import pytest
import yaml

from conftest import REPO, run

LINTED = ["governed-mlops-tools", "template/src", "template/tests", "tests", "tools"]
LINTED += [p for p in ("hooks", "benchmarks") if (REPO / p).is_dir()]


def questions() -> dict:
    text = (REPO / "copier.yml").read_text(encoding="utf-8").split("---\n", 1)[1]
    return {
        name: spec
        for name, spec in yaml.safe_load(text).items()
        if not name.startswith("_")
        and isinstance(spec, dict)
        and spec.get("when") is not False
    }


def test_repository_is_black_formatted():
    run([sys.executable, "-m", "black", "--check", "--quiet", *LINTED], cwd=REPO)


def test_repository_is_flake8_clean():
    run([sys.executable, "-m", "flake8", *LINTED], cwd=REPO)


def test_tools_pass_mypy_strict():
    """mypy --strict on the tools (configured in their pyproject.toml): the
    command of the `mypy` pre-commit hook; .mypy_cache keeps reruns quick."""
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text("utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    entry = hooks["mypy"]["entry"].split()
    assert entry[:3] == ["python", "-m", "mypy"], entry
    result = run([sys.executable, *entry[1:]], cwd=REPO)
    assert result.stdout.startswith("Success: no issues found"), result.stdout


def test_precommit_config_is_valid():
    run(["pre-commit", "validate-config", ".pre-commit-config.yaml"], cwd=REPO)


def test_repository_holds_no_secret_by_its_own_hook():
    """The `detect-secrets` hook (GOV201's settings) over every tracked file,
    as `pre-commit run --all-files` runs it: a credential written in a URL in
    a docstring or test fails it."""
    run(["pre-commit", "run", "detect-secrets", "--all-files"], cwd=REPO)


def test_reserved_names_are_current():
    run([sys.executable, "tools/reserved_names.py", "--check"], cwd=REPO)


def reserved_names_tool():
    sys.path.insert(0, str(REPO / "tools"))
    import reserved_names

    return reserved_names


def test_reserved_names_check_does_not_depend_on_the_machine(monkeypatch, capsys):
    """With one interpreter found, the committed list (every supported Python's
    names) still passes; a name really missing still fails."""
    tool = reserved_names_tool()
    here = {v: exe for v, exe in tool.interpreters().items() if v == "3.11"}
    assert here, "the suite runs on Python 3.11"
    names = tool.committed()
    assert "binhex" in names  # 3.10 only: a list from 3.11 alone would lose it
    assert tool.check(here, names) == []
    assert tool.check(here, [n for n in names if n != "json"]) == [
        "missing names: json"
    ]
    monkeypatch.setattr(tool, "interpreters", lambda: here)
    assert tool.main(["--check"]) == 0
    assert "Python 3.10, 3.12, 3.13 not found here" in capsys.readouterr().out
    assert tool.main([]) == 2  # writing would drop the missing versions' names
    assert "refusing to write" in capsys.readouterr().err


def test_tools_pin_is_current():
    """includes/tools.yml carries the one version, from the tools' pyproject."""
    run([sys.executable, "tools/tools_pin.py", "--check"], cwd=REPO)


def tools_pin(source: str) -> str:
    """copier.yml's tools_pin, rendered as copier renders it."""
    import jinja2
    from jinja2_ansible_filters import AnsibleCoreFiltersExtension

    class Loader(yaml.SafeLoader):  # copier.yml's !include lines: not needed
        pass

    Loader.add_constructor("!include", lambda loader, node: None)
    documents = yaml.load_all((REPO / "copier.yml").read_text(), Loader=Loader)
    (expression,) = [d["tools_pin"] for d in documents if d and "tools_pin" in d]
    env = jinja2.Environment(extensions=[AnsibleCoreFiltersExtension])
    return env.from_string(expression["default"]).render(
        package_index_url="",
        tools_version="1.3.0",
        _copier_answers={"_src_path": source, "_commit": "1.3.0"},
        _copier_conf={"vcs_ref_hash": "c0ffee"},
    )


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("gh:acme/governed-mlops", "https://github.com/acme/governed-mlops.git"),
        ("git@git.acme.com:ml/tmpl.git", "ssh://git@git.acme.com/ml/tmpl.git"),
        ("https://git.acme.com/ml/tmpl.git", "https://git.acme.com/ml/tmpl.git"),
        ("/srv/templates/governed-mlops", "file:///srv/templates/governed-mlops"),
        # A PEP 508 URL ends at a space: it is written %20 (uv and pip read it).
        ("/home/John Doe/tmpl", "file:///home/John%20Doe/tmpl"),
        ("C:\\Users\\John Doe\\tmpl", "file:///C:/Users/John%20Doe/tmpl"),
        # Relative (the copy task completes it) and UNC paths, as cmd spells them.
        ("..\\tmpl", "file://../tmpl"),
        ("\\\\fileserver\\templates\\tmpl", "file:////fileserver/templates/tmpl"),
    ],
)
def test_the_tools_pin_spells_each_template_source(source, url):
    """copier.yml's tools_pin; a local path the way the copy task's
    template_source.file_url spells it too."""
    from governed_mlops.template_source import file_url, is_remote

    pin = tools_pin(source)
    assert pin == f" @ git+{url}@1.3.0#subdirectory=governed-mlops-tools"
    if not is_remote(source):
        assert file_url(source) == url


def test_a_relative_windows_source_is_completed_in_every_pinned_file(tmp_path):
    """`copier copy ..\\tmpl proj` in cmd: the copy task writes the absolute
    source into the pyproject and the pre-commit pins alike (the YAML one is
    written as JSON, where a backslash is doubled)."""
    import importlib.util
    import json

    source = "..\\My Templates\\tmpl"
    pin = tools_pin(source)
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".copier-answers.yml").write_text(f"_src_path: '{source}'\n")
    (project / "pyproject.toml").write_text(f'dependencies = ["tools{pin}"]\n')
    hook = json.dumps(["tools" + pin])
    (project / ".pre-commit-config.yaml").write_text(f"deps: {hook}\n")
    spec = importlib.util.spec_from_file_location(
        "sp", REPO / "hooks" / "source_path.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    checkout = tmp_path / "checkout"  # not a git clone: its own path is the source
    checkout.mkdir()
    module.repair(project / ".copier-answers.yml", checkout)
    url = f"git+file://{checkout.as_posix()}@1.3.0#subdirectory=governed-mlops-tools"
    for name in ("pyproject.toml", ".pre-commit-config.yaml"):
        assert url in (project / name).read_text(), name


def test_transliteration_is_current():
    run([sys.executable, "tools/transliteration.py", "--check"], cwd=REPO)


def test_every_question_has_help_and_is_documented():
    documented = (REPO / "docs" / "questions.md").read_text(encoding="utf-8")
    for name, spec in questions().items():
        assert spec.get("help"), f"question {name} has no help text"
        assert f"| `{name}` |" in documented, f"docs/questions.md misses {name}"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.search(r"```console\n(.*?)```", readme, re.S).group(1).splitlines()
    assert len(commands) == 2, "the README starts with exactly two commands"
    generate, test = commands
    assert "copier copy" in generate and "--defaults" in generate
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_command = test.split("&&")[-1].strip()
    assert test_command in ci.splitlines()


def test_min_copier_version_is_tested():
    from importlib.metadata import version

    from packaging.version import Version

    config = yaml.safe_load(
        (REPO / "copier.yml").read_text(encoding="utf-8").split("---\n", 1)[1]
    )
    assert Version(version("copier")) >= Version(config["_min_copier_version"])
