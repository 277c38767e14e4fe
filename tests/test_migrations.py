"""Each migration script, run as copier runs it: a subprocess in the project
with the version range in its environment. Idempotent and version-gated."""

from __future__ import annotations

import sys

import pytest

from conftest import REPO, git, run

MIGRATIONS = REPO / "hooks" / "migrations"
CROSSING = {"VERSION_PEP440_FROM": "1.0.0", "VERSION_PEP440_TO": "1.1.0"}
AFTER = {"VERSION_PEP440_FROM": "1.1.0", "VERSION_PEP440_TO": "1.2.0"}
sys.path.insert(0, str(MIGRATIONS))

from flake8_config import FLAKE8_1_0_0  # noqa: E402

FLAKE8_1_1_0 = (REPO / "template" / ".flake8").read_text(encoding="utf-8")


def migrate(script, project, env=CROSSING):
    return run([sys.executable, MIGRATIONS / script], cwd=project, env=env).stdout


def committed_project(tmp_path, files):
    project = tmp_path / "project"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_bytes(text.encode())
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "user", cwd=project)
    return project


def test_flake8_edits_and_other_sections_survive_the_move(tmp_path):
    edited = FLAKE8_1_0_0.replace("max-complexity = 12", "max-complexity = 15")
    setup_cfg = "[metadata]\nname = x\n\n" + edited + "\n[mypy]\nstrict = true\n"
    project = committed_project(tmp_path, {"setup.cfg": setup_cfg})
    (project / ".flake8").write_text(FLAKE8_1_1_0)  # copier rendered 1.1.0's
    out = migrate("flake8_config.py", project)
    assert "merged in" in out and "other sections kept" in out
    assert (project / ".flake8").read_text() == FLAKE8_1_1_0.replace(
        "max-complexity = 12", "max-complexity = 15"
    )
    left = (project / "setup.cfg").read_text()
    assert "[flake8]" not in left and "[metadata]" in left and "strict = true" in left
    assert migrate("flake8_config.py", project) == ""


def test_flake8_setup_cfg_deleted_by_copier_is_read_from_head(tmp_path):
    edited = FLAKE8_1_0_0.replace("max-line-length = 88", "max-line-length = 100")
    project = committed_project(tmp_path, {"setup.cfg": edited})
    (project / "setup.cfg").unlink()  # copier drops files the new version lacks
    (project / ".flake8").write_text(FLAKE8_1_1_0)
    migrate("flake8_config.py", project)
    assert "max-line-length = 100" in (project / ".flake8").read_text()
    assert not (project / "setup.cfg").exists()
    before = (project / ".flake8").read_text()
    migrate("flake8_config.py", project)
    assert (project / ".flake8").read_text() == before


def test_flake8_untouched_section_leaves_the_template_file(tmp_path):
    project = committed_project(tmp_path, {"setup.cfg": FLAKE8_1_0_0})
    (project / ".flake8").write_text(FLAKE8_1_1_0)
    out = migrate("flake8_config.py", project)
    assert out == "migration 1.1.0: setup.cfg: removed (it held only [flake8])\n"
    assert (project / ".flake8").read_text() == FLAKE8_1_1_0
    assert not (project / "setup.cfg").exists()


def test_flake8_clash_with_the_template_is_shown_as_a_conflict(tmp_path):
    edited = FLAKE8_1_0_0.replace("max-complexity = 12", "max-complexity = 15")
    project = committed_project(tmp_path, {"setup.cfg": edited})
    template = FLAKE8_1_1_0.replace("max-complexity = 12", "max-complexity = 10")
    (project / ".flake8").write_text(template)
    assert "CONFLICT" in migrate("flake8_config.py", project)
    text = (project / ".flake8").read_text()
    assert "max-complexity = 15" in text and "max-complexity = 10" in text
    assert "<<<<<<< your setup.cfg [flake8]" in text
    assert "resolve them" in migrate("flake8_config.py", project)
    assert (project / ".flake8").read_text() == text


def test_flake8_not_run_outside_its_version_range(tmp_path):
    project = committed_project(tmp_path, {"setup.cfg": FLAKE8_1_0_0})
    assert migrate("flake8_config.py", project, env=AFTER) == ""
    assert (project / "setup.cfg").read_text() == FLAKE8_1_0_0


SPEC = """\
# my stage
name: extra
params:   # the notebook's defaults
  alpha: 0.5
notes: "params: stays in text"
"""


def test_stage_spec_key_renamed_keeping_comments_and_line_endings(tmp_path):
    specs = tmp_path / "env_specs"
    specs.mkdir()
    (specs / "stage_extra.yaml").write_bytes(SPEC.replace("\n", "\r\n").encode())
    (specs / "stage_done.yaml").write_text("name: done\nparameters: {}\n")
    (specs / "other.yaml").write_text("params: {}\n")
    out = migrate("stage_parameters.py", tmp_path)
    assert out == (
        "migration 1.1.0: env_specs/stage_extra.yaml: renamed `params:` to "
        "`parameters:`\n"
    )
    expected = SPEC.replace("params:   #", "parameters:   #").replace("\n", "\r\n")
    assert (specs / "stage_extra.yaml").read_bytes() == expected.encode()
    assert (specs / "other.yaml").read_text() == "params: {}\n"
    assert migrate("stage_parameters.py", tmp_path) == ""


def test_stage_spec_with_both_keys_is_left_with_a_message(tmp_path):
    specs = tmp_path / "env_specs"
    specs.mkdir()
    both = "name: x\nparams:\n  a: 1\nparameters:\n  b: 2\n"
    (specs / "stage_x.yaml").write_text(both)
    out = migrate("stage_parameters.py", tmp_path)
    assert "env_specs/stage_x.yaml: has both `params:` and `parameters:`" in out
    assert (specs / "stage_x.yaml").read_text() == both


def test_stage_spec_not_run_outside_its_version_range(tmp_path):
    (tmp_path / "env_specs").mkdir()
    (tmp_path / "env_specs" / "stage_x.yaml").write_text(SPEC)
    assert migrate("stage_parameters.py", tmp_path, env=AFTER) == ""
    assert (tmp_path / "env_specs" / "stage_x.yaml").read_text() == SPEC


PYPROJECT = """\
[project]
name = "x"

[tool.mlops]  # ours
package = "x"
stages = ["a", "b"]

[tool.mlops.extra]
k = 1
"""


def test_tool_table_renamed_keeping_values(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    out = migrate("tool_table.py", tmp_path)
    assert "renamed [tool.mlops] to [tool.governed-mlops]" in out
    assert (tmp_path / "pyproject.toml").read_text() == PYPROJECT.replace(
        "tool.mlops", "tool.governed-mlops"
    )
    assert migrate("tool_table.py", tmp_path) == ""


def test_tool_table_both_tables_left_with_a_message(tmp_path):
    both = PYPROJECT + '\n[tool.governed-mlops]\npackage = "y"\n'
    (tmp_path / "pyproject.toml").write_text(both)
    out = migrate("tool_table.py", tmp_path)
    assert "pyproject.toml: has both [tool.mlops] and [tool.governed-mlops]" in out
    assert (tmp_path / "pyproject.toml").read_text() == both


@pytest.mark.parametrize("env", [AFTER, {**CROSSING, "VERSION_PEP440_TO": "1.0.5"}])
def test_tool_table_not_run_outside_its_version_range(tmp_path, env):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    assert migrate("tool_table.py", tmp_path, env=env) == ""
    assert (tmp_path / "pyproject.toml").read_text() == PYPROJECT
