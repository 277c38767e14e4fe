"""Organisation rules from a plugin package (examples/policy-plugin) run with
the policy's own, in a real environment with the tools and the plugin installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO, TOOLS, UV, python_for, run

PLUGIN = REPO / "examples" / "policy-plugin"


def install(venv: Path, *packages: Path) -> Path:
    run([UV, "venv", "--quiet", "--python", python_for("3.11"), venv], cwd=venv.parent)
    editable = [arg for package in packages for arg in ("-e", package)]
    python = venv / "bin" / "python"
    run(
        [UV, "pip", "install", "--quiet", "--python", python, *editable],
        cwd=venv.parent,
    )
    return venv / "bin"


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory) -> Path:
    """A venv with the tools and ACME's plugin."""
    return install(tmp_path_factory.mktemp("plugin") / "venv", TOOLS, PLUGIN)


def test_plugin_rules_are_listed_with_the_policy(bin_dir, tmp_path):
    listed = run([bin_dir / "mlops", "policy", "rules"], cwd=tmp_path).stdout
    ids = [line.split()[0] for line in listed.splitlines()]
    assert "ACME101" in ids and "GOV101" in ids
    assert ids == sorted(ids)


def test_plugin_rule_fails_and_passes_in_a_project(bin_dir, render):
    project = render()
    check = run([bin_dir / "mlops", "policy", "check"], cwd=project, check=False)
    assert check.returncode == 1
    assert "ERROR ACME101 The README names the owning team" in check.stdout
    assert "README.md: README.md has no 'Owner: <team>' line" in check.stdout
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nOwner: risk-models\n")
    check = run([bin_dir / "mlops", "policy", "check"], cwd=project, check=False)
    assert check.returncode == 0, check.stdout
    assert "ACME101" not in check.stdout


def test_plugin_rule_can_be_waived(bin_dir, render):
    project = render()
    with (project / "pyproject.toml").open("a") as file:
        file.write(
            "\n[[tool.governance.waivers]]\nrule = 'ACME101'\n"
            "reason = 'owner named in the wiki'\nexpires = 2099-01-31\n"
        )
    check = run([bin_dir / "mlops", "policy", "check"], cwd=project)
    assert "waived ACME101" in check.stdout


def test_plugin_unit_tests_use_the_tools_helper(bin_dir):
    run(
        [UV, "pip", "install", "--quiet", "--python", bin_dir / "python", "pytest"],
        cwd=PLUGIN,
    )
    result = run(
        [bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=PLUGIN,
    )
    assert "3 passed" in result.stdout


def test_a_broken_plugin_is_named_not_a_traceback(tmp_path, render):
    broken = tmp_path / "broken-plugin"
    (broken / "src" / "broken_rules").mkdir(parents=True)
    (broken / "src" / "broken_rules" / "__init__.py").write_text(
        "raise ImportError('needs acme-internal')\n"
    )
    (broken / "pyproject.toml").write_text(
        '[project]\nname = "broken-rules"\nversion = "0.1"\n'
        '[project.entry-points."governed_mlops.rules"]\nbroken = "broken_rules"\n'
        '[build-system]\nrequires = ["poetry-core>=2.0"]\n'
        'build-backend = "poetry.core.masonry.api"\n'
        '[tool.poetry]\npackages = [{ include = "broken_rules", from = "src" }]\n'
    )
    bin_dir = install(tmp_path / "venv", TOOLS, broken)
    check = run([bin_dir / "mlops", "policy", "check"], cwd=render(), check=False)
    assert check.returncode == 2
    assert "policy plugin 'broken' (broken_rules" in check.stderr
    assert "ImportError: needs acme-internal" in check.stderr
    assert "Traceback" not in check.stderr


def test_the_report_warns_of_plugin_waivers_no_plugin_will_honour(render):
    """After an update that drops the plugins from the answers, the report
    names the waivers `mlops policy check` will refuse (exit 2)."""
    import sys

    project = render()
    with (project / "pyproject.toml").open("a") as file:
        file.write(
            "\n[[tool.governance.waivers]]\nrule = 'acme101'\n"
            "reason = 'owner named in the wiki'\nexpires = 2099-01-31\n"
        )
    hook = [sys.executable, REPO / "hooks" / "policy_report.py", project]
    said = run(hook, cwd=project).stdout
    assert (
        "Waivers in pyproject.toml name ACME101, rules of a policy plugin, but the "
        "answer policy_plugins installs none: `mlops policy check` refuses them."
    ) in " ".join(said.split())
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text() + "policy_plugins:\n- acme-rules==1.4\n")
    said = run(hook, cwd=project).stdout
    assert "Waivers in pyproject.toml" not in said
    assert "The organisation's rules (acme-rules==1.4) are not in" in said


def test_plugins_from_the_answer_survive_an_update_and_a_recopy(
    next_template, tmp_path
):
    """The answer policy_plugins writes each plugin beside the tools pin; a
    release that moves the pin merges without a conflict, and recopy keeps
    them (added by hand there, both conflicted or vanished)."""
    import sys
    import tomllib

    import yaml

    from conftest import NEXT_VERSION, TOOLS_VERSION, git

    plugins = ["acme-governance-rules==1.4", "org-rules[strict]>=2"]
    project = tmp_path / "churn"
    copier = [sys.executable, "-m", "copier"]
    answer = f"policy_plugins={plugins!r}".replace("'", '"')
    copied = run(
        [*copier, "copy", "--trust", "--defaults", "--vcs-ref", TOOLS_VERSION]
        + ["--data", answer, next_template, project],
        cwd=tmp_path,
    )
    # The copy's report runs the template's rules only, and says so.
    assert (
        "The organisation's rules (acme-governance-rules==1.4, org-rules[strict]>=2) "
        "are not in this report: `uv run mlops policy check` runs them"
    ) in copied.stdout + copied.stderr
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "Generated", cwd=project)

    def installed() -> tuple[list[str], list[str]]:
        pyproject = tomllib.loads((project / "pyproject.toml").read_text())
        config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
        (hook,) = [
            h for r in config["repos"] for h in r["hooks"] if h["id"] == "governance"
        ]
        return (
            pyproject["dependency-groups"]["pipeline"],
            hook["additional_dependencies"],
        )

    group, hook = installed()
    assert group[1:] == plugins and hook[1:] == plugins
    assert f"@{TOOLS_VERSION}#" in group[0]

    run(
        [*copier, "update", "--trust", "--defaults", "--vcs-ref", NEXT_VERSION],
        cwd=project,
    )
    group, hook = installed()
    assert group[1:] == plugins and hook[1:] == plugins
    assert f"@{TOOLS_VERSION}#" not in group[0]  # the pin moved
    conflicted = git("diff", "--name-only", "--diff-filter=U", cwd=project).stdout
    assert conflicted == "" and not list(project.rglob("*.rej"))
    for name in ("pyproject.toml", ".pre-commit-config.yaml"):
        assert "<<<<<<<" not in (project / name).read_text()

    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "Updated", cwd=project)
    recopied = run(
        [sys.executable, "-m", "governed_mlops", "template", "recopy"], cwd=project
    )
    assert recopied.returncode == 0
    assert installed()[1][1:] == plugins
