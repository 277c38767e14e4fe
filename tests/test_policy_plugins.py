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
