"""Stage specs: valid ones load, each bad one is refused naming file, field and fix."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from conftest import REPO
from governed_mlops.stages import locks, pythons, spec_checks, specs, venvs
from governed_mlops.stages.installers import redact, with_token
from governed_mlops.project import find_project

HERE = "%d.%d" % sys.version_info[:2]
EMPTY_NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def spec_text(stage: str, **fields) -> str:
    data = {
        "name": stage,
        "python": HERE,
        "env_dir": f".venvs/{stage}",
        "kernel_name": f"proj-{stage}",
        "notebook": f"notebooks/{stage}.ipynb",
        "packages": ["pandas>=2.1"],
    }
    data.update(fields)
    return json.dumps({k: v for k, v in data.items() if v is not None})


@pytest.fixture
def project(tmp_path):
    """A minimal governed project with two stages, a and b."""

    def make(stages=("a", "b"), requires=">=3.10", **overrides):
        (tmp_path / "pyproject.toml").write_text(
            textwrap.dedent(f"""
                [project]
                name = "proj"
                requires-python = "{requires}"
                dependencies = ["loguru>=0.7"]
                [tool.governed-mlops]
                package = "proj"
                stages = {json.dumps(list(stages))}
                """),
            encoding="utf-8",
        )
        (tmp_path / "env_specs").mkdir(exist_ok=True)
        (tmp_path / "notebooks").mkdir(exist_ok=True)
        for name in stages:
            (tmp_path / "notebooks" / f"{name}.ipynb").write_text(EMPTY_NOTEBOOK)
            text = overrides.get(name, spec_text(name))
            (tmp_path / "env_specs" / f"stage_{name}.yaml").write_text(text)
        return find_project(tmp_path)

    return make


def refused(project, machine=True) -> str:
    with pytest.raises(specs.SpecError) as caught:
        specs.load_stages(project, machine=machine)
    return str(caught.value)


def test_valid_specs_load_in_pipeline_order(project):
    stages = specs.load_stages(project(stages=("b", "a")))
    assert list(stages) == ["b", "a"]
    stage = stages["a"]
    assert stage.interpreter.minor == HERE
    assert stage.env_dir == stage.project.root / ".venvs" / "a"
    assert stage.python == Path(venvs.venv_python(stage.env_dir))
    assert stage.display_name == f"proj: a (Python {HERE})"


def test_original_design_key_python_exe_still_works(project):
    text = spec_text("a", python=None, python_exe=sys.executable)
    stage = specs.load_stages(project(stages=("a",), a=text))["a"]
    assert stage.spec.python == sys.executable
    assert stage.interpreter.path == Path(sys.executable)


BAD_SPECS = [
    (
        "a stdlib module listed as a package",
        dict(packages=["pandas", "warnings"]),
        "env_specs/stage_a.yaml: packages[1]: 'warnings' is part of the Python "
        "standard library",
    ),
    (
        "an unparsable requirement",
        dict(packages=["pandas>>=2"]),
        "env_specs/stage_a.yaml: packages[0]: 'pandas>>=2' is not a valid requirement",
    ),
    (
        "a Python version not installed",
        dict(python="3.99"),
        "env_specs/stage_a.yaml: python: no Python 3.99 found on this machine",
    ),
    (
        "an interpreter path that does not exist",
        dict(python="/no/such/python3"),
        "env_specs/stage_a.yaml: python: interpreter '/no/such/python3' does not exist",
    ),
    (
        "a missing notebook",
        dict(notebook="notebooks/missing.ipynb"),
        "env_specs/stage_a.yaml: notebook: 'notebooks/missing.ipynb' does not exist",
    ),
    (
        "a folder as the notebook",
        dict(notebook="notebooks"),
        "env_specs/stage_a.yaml: notebook: 'notebooks' is a folder; give the path "
        "of the stage's notebook relative to the project root",
    ),
    (
        "a file that is not a .ipynb notebook",
        dict(notebook="pyproject.toml"),
        "env_specs/stage_a.yaml: notebook: 'pyproject.toml' is not a .ipynb "
        "notebook; convert a script with `jupytext --to ipynb pyproject.toml`",
    ),
    (
        "a notebook outside the project",
        dict(notebook="../a.ipynb"),
        "env_specs/stage_a.yaml: notebook: '../a.ipynb' leaves the project",
    ),
    (
        "an absolute notebook path",
        dict(notebook="/srv/a.ipynb"),
        "env_specs/stage_a.yaml: notebook: '/srv/a.ipynb' is absolute; write it "
        "relative to the project root",
    ),
    (
        "inputs given as one text, not a list",
        dict(inputs="data/x.csv"),
        "env_specs/stage_a.yaml: inputs: must be a list of globs relative to the "
        "project, e.g. [data/raw/*.csv] (or one `- item` line each), not text "
        "'data/x.csv'",
    ),
    (
        "an unknown key",
        dict(pakages=["pandas"]),
        "env_specs/stage_a.yaml: unknown key 'pakages' (did you mean 'packages'?)",
    ),
    (
        "a version YAML reads as a number",
        dict(python=3.1),
        "env_specs/stage_a.yaml: python: YAML reads 3.1 as a number; quote the "
        'version, e.g. python: "3.10"',
    ),
    (
        "both interpreter keys",
        dict(python_exe=sys.executable),
        "env_specs/stage_a.yaml: give python or python_exe, not both",
    ),
    (
        "a name that does not match the file",
        dict(name="other"),
        "env_specs/stage_a.yaml: name: 'other' does not match the file name",
    ),
    (
        "a bad kernel name",
        dict(kernel_name="my kernel"),
        "env_specs/stage_a.yaml: kernel_name: 'my kernel' may only hold letters",
    ),
    (
        "a missing required key",
        dict(env_dir=None),
        "env_specs/stage_a.yaml: missing required key 'env_dir'",
    ),
    (
        "a model given as a glob",
        dict(models=[{"path": "models/*.joblib"}]),
        "env_specs/stage_a.yaml: models[0].path: 'models/*.joblib' is a glob; "
        "name the one file the notebook writes",
    ),
    (
        "a model flavor the runner does not log",
        dict(models=[{"path": "models/m.pt", "flavor": "pytorch"}]),
        "env_specs/stage_a.yaml: models[0].flavor: 'pytorch' is not a flavor the "
        "runner logs; allowed: sklearn",
    ),
    (
        "a registered model name with a space",
        dict(models=[{"path": "models/m.joblib", "registered_name": "my model"}]),
        "env_specs/stage_a.yaml: models[0].registered_name: 'my model' may only "
        "hold letters, digits, '.', '_' and '-', starting with a letter or digit",
    ),
    (
        "an unknown key of a model",
        dict(models=[{"path": "models/m.joblib", "registered": "m"}]),
        "env_specs/stage_a.yaml: unknown key 'models[0].registered' (did you mean "
        "'registered_name'?); allowed keys: path, flavor, registered_name",
    ),
    (
        "a model declared twice",
        dict(models=[{"path": "models/m.joblib"}, {"path": "models/m.joblib"}]),
        "env_specs/stage_a.yaml: models: models/m.joblib declared more than once",
    ),
    (
        "a model outside the project",
        dict(models=[{"path": "../m.joblib"}]),
        "env_specs/stage_a.yaml: models[0].path: '../m.joblib' leaves the project",
    ),
]


@pytest.mark.parametrize(
    ("fields", "message"),
    [case[1:] for case in BAD_SPECS],
    ids=[case[0] for case in BAD_SPECS],
)
def test_bad_spec_is_refused_with_file_field_and_fix(project, fields, message):
    assert message in refused(project(a=spec_text("a", **fields)))


ODD_SHAPES = [
    dict(packages="pandas"),
    dict(packages=None),
    dict(notes=None),
    dict(parameters={1: "one"}),
    dict(parameters=["a"]),
    dict(display_name=5),
    dict(extra_index_urls=[1]),
    dict(kernel_name="k\n"),
    dict(name="A"),
    dict(constraints="missing.txt"),
    dict(python=""),
    dict(python=None),
    dict(models=[{"path": "models/m.joblib", "registered_name": "clf"}]),
    dict(models=[{"path": "models/m.joblib", "flavor": "sklearn"}]),
    dict(models=[{"path": "models/m.joblib", "registered_name": None}]),
    dict(models=[{"path": "models/m.joblib", "flavor": None}]),
    dict(models=[{"path": 5}]),
    dict(models={"path": "models/m.joblib"}),
    dict(models=["models/m.joblib"]),
]


@pytest.mark.parametrize(
    "fields",
    [case[1] for case in BAD_SPECS] + ODD_SHAPES + [{}],
    ids=[case[0] for case in BAD_SPECS] + list(map(str, ODD_SHAPES)) + ["valid"],
)
def test_quick_check_vouches_exactly_for_what_the_model_accepts(project, fields):
    """The policy check skips the model when quick_check vouches for the specs."""
    built = project(a=spec_text("a", **fields))
    try:
        specs.load_stages(built, machine=False)
    except specs.SpecError:
        accepted = False
    else:
        accepted = True
    assert spec_checks.quick_check(built) == accepted


def test_a_key_given_twice_is_refused_with_its_line(project):
    text = "\n".join(
        [f"{k}: {v}" for k, v in json.loads(spec_text("a")).items()]
        + ["parameters:", "  seed: 42", "parameters:", "  seed: 9", ""]
    )
    assert (
        "env_specs/stage_a.yaml: not valid YAML: line 9, column 1: key "
        "'parameters' is given twice (first on line 7); keep one"
    ) in refused(project(a=text))


def test_numbers_in_a_spec_are_read_as_written(project):
    """`1e-3` is a float (PyYAML's YAML 1.1 read text, which a float default
    refused); an int in a form YAML 1.1 reads otherwise is refused, as -p's."""
    fields = [f"{k}: {json.dumps(v)}" for k, v in json.loads(spec_text("a")).items()]
    rated = project(a="\n".join(fields + ["parameters:", "  rate: 1e-3", ""]))
    assert specs.load_stages(rated)["a"].spec.parameters == {"rate": 0.001}
    assert spec_checks.quick_check(rated)
    octal = "\n".join(fields + ["parameters:", "  grid: {depth: [3, 010]}", ""])
    built = project(a=octal)
    assert refused(built) == (
        "env_specs/stage_a.yaml: line 8, column 21: YAML 1.1 reads '010' as the "
        "int 8 (octal); write the number in decimal, or quoted for text"
    )
    assert not spec_checks.quick_check(built)


def test_a_spec_that_is_not_utf8_is_named_not_a_traceback(project):
    built = project()
    spec = built.root / "env_specs" / "stage_a.yaml"
    spec.write_bytes(spec.read_bytes() + b"\n# Mod\xe8le\n")
    message = refused(built)
    assert message.startswith("env_specs/stage_a.yaml: not UTF-8 text (byte ")
    assert not spec_checks.quick_check(built)


def test_quick_check_knows_every_field_of_the_model():
    model = specs.StageSpec.model_fields
    assert set(spec_checks.FIELDS) == set(model)
    assert {k for k, f in model.items() if f.is_required()} == set(spec_checks.REQUIRED)
    assert set(spec_checks.NULLABLE) == {
        k for k, f in model.items() if not f.is_required() and f.default is None
    }


def test_quick_check_sees_problems_across_files(project, tmp_path):
    built = project(stages=("a",))
    assert spec_checks.quick_check(built)
    (tmp_path / "env_specs" / "stage_extra.yaml").write_text(spec_text("extra"))
    assert not spec_checks.quick_check(built)
    (tmp_path / "env_specs" / "stage_extra.yaml").unlink()
    assert spec_checks.quick_check(project())
    assert not spec_checks.quick_check(project(b=spec_text("b", env_dir=".venvs/a")))
    assert not spec_checks.quick_check(project(b=spec_text("b", kernel_name="PROJ-A")))


def test_two_stages_sharing_an_env_dir_or_kernel(project):
    shared = spec_text("b", env_dir=".venvs/a", kernel_name="PROJ-A")
    message = refused(project(b=shared))
    assert (
        "env_specs/stage_b.yaml: env_dir: '.venvs/a' is also the env of stage 'a'"
        in message
    )
    assert (
        "env_specs/stage_b.yaml: kernel_name: 'PROJ-A' is also the kernel of stage 'a'"
        in message
    )


def test_interpreter_outside_requires_python(project):
    message = refused(project(requires=">=3.99"))
    assert "python: Python " in message
    assert "does not satisfy the project's requires-python '>=3.99'" in message


def test_stage_list_and_spec_files_must_agree(project, tmp_path):
    built = project(stages=("a",))
    (tmp_path / "env_specs" / "stage_extra.yaml").write_text(spec_text("extra"))
    message = refused(built)
    assert "stage 'extra' is not listed in pyproject.toml" in message
    (tmp_path / "env_specs" / "stage_a.yaml").unlink()
    assert "stages lists 'a' but env_specs/stage_a.yaml does not exist" in refused(
        built
    )


def test_a_stage_listed_twice_is_refused(project):
    """`stage list` printed it twice, and a pipeline would run it twice."""
    built = project(stages=("a", "b", "a"))
    assert refused(built) == (
        "pyproject.toml: [tool.governed-mlops] stages lists 'a' 2 times; list "
        "each stage once, in run order"
    )
    assert not spec_checks.quick_check(built)


def test_every_problem_is_reported_at_once(project):
    message = refused(
        project(
            a=spec_text("a", packages=["warnings"]),
            b=spec_text("b", notebook="nope.ipynb"),
        )
    )
    assert "stage_a.yaml: packages[0]" in message
    assert "stage_b.yaml: notebook" in message


STDLIB_LINE = (
    "env_specs/stage_a.yaml: packages[0]: 'warnings' is part of the Python standard "
    "library and is not installed from an index; remove it from packages"
)


def test_a_bad_spec_concerns_only_its_own_stage(project, capsys):
    found = specs.survey(project(a=spec_text("a", packages=["warnings"])))
    assert found.order == ["a", "b"] and list(found.stages) == ["b"]
    assert found.invalid() == {"a": [STDLIB_LINE]}
    assert [s.name for s in found.require(["env_specs/stage_b.yaml"])] == ["b"]
    assert capsys.readouterr().err == f"mlops: warning: {STDLIB_LINE}\n"
    for wanted in (["a"], ["b", "a"], found.order):
        with pytest.raises(specs.SpecError) as caught:
            found.require(wanted)
        assert str(caught.value) == STDLIB_LINE
    with pytest.raises(specs.SpecError, match="no stage 'c'; stages: a, b"):
        found.require(["c"])
    # The strict loaders still refuse every problem (the policy check's GOV301).
    with pytest.raises(specs.SpecError, match="packages"):
        specs.load_stage(found.stages["b"].project, "b")


def test_a_conflict_across_stages_concerns_both(project):
    shared = spec_text("c", env_dir=".venvs/a", kernel_name="PROJ-B")
    found = specs.survey(project(stages=("a", "b", "c"), c=shared))
    assert found.stages == {} and list(found.parsed) == ["a", "b", "c"]
    env_dir, kernel = found.problems
    assert env_dir.stages == ("a", "c") and kernel.stages == ("b", "c")
    assert env_dir.message.startswith(
        "env_specs/stage_c.yaml: env_dir: '.venvs/a' is also the env of stage 'a'"
    )
    assert found.invalid() == {
        "a": [env_dir.message],
        "b": [kernel.message],
        "c": [env_dir.message, kernel.message],
    }
    found = specs.survey(
        project(stages=("a", "b", "c"), c=spec_text("c", env_dir=".venvs/a"))
    )
    assert list(found.stages) == ["b"]
    assert found.require(["b"])
    with pytest.raises(specs.SpecError, match="is also the env of stage 'a'"):
        found.require(["a"])


def test_order_problems_concern_a_name_or_nothing(project, tmp_path, capsys):
    built = project(stages=("a", "b"))
    (tmp_path / "env_specs" / "stage_b.yaml").unlink()
    (tmp_path / "env_specs" / "stage_extra.yaml").write_text(spec_text("extra"))
    found = specs.survey(built)
    assert list(found.stages) == ["a"]
    missing = (
        "pyproject.toml: [tool.governed-mlops] stages lists 'b' but "
        "env_specs/stage_b.yaml does not exist; add the spec or remove the name"
    )
    unlisted = (
        "env_specs/stage_extra.yaml: stage 'extra' is not listed in pyproject.toml "
        "[tool.governed-mlops] stages; add it in run order"
    )
    assert found.invalid() == {"b": [missing]}
    assert found.require(["a"])
    warned = capsys.readouterr().err.splitlines()
    assert warned == [f"mlops: warning: {missing}", f"mlops: warning: {unlisted}"]
    with pytest.raises(specs.SpecError) as caught:
        found.require(found.order)
    assert str(caught.value) == missing
    assert capsys.readouterr().err == f"mlops: warning: {unlisted}\n"


def test_a_broken_stage_list_fails_everything(project, tmp_path):
    built = project()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('stages = ["a", "b"]', 'stages = "a"')
    )
    with pytest.raises(specs.SpecError, match="stages must be a list of stage names"):
        specs.survey(find_project(built.root))


class FakeRunner:
    """Stands in for the MLflow runner: records the stages it would run."""

    ran: list[str] = []

    def __init__(self, project, **options):
        self.project = project

    def stage_cache(self):
        from governed_mlops.runner.cache import Cache

        return Cache(self.project.state_dir, self.project.root, "fake://store")

    def outer_run(self) -> str:
        return ""

    def prepare(self, stage, overrides):
        return {}

    def run_stage(self, stage, parameters, parent_run_id="", **options):
        from governed_mlops.runner.execute import StageResult

        FakeRunner.ran.append(stage.name)
        return StageResult(stage.name, "FINISHED", 0.1, "run-" + stage.name)

    def finish(self) -> None:
        """Nothing recorded, so no copy of the runs to keep."""


def fake_pipeline(runner, stages, values, **options):
    return "parent", [runner.run_stage(stage, {}) for stage in stages]


# (command, exit code, stages built or run); stage a's spec is invalid.
COMMANDS = [
    ("stage list", 0, []),
    ("stage check a", 1, []),
    ("stage check --all", 1, []),
    ("stage create b", 0, ["b"]),
    ("stage create env_specs/stage_b.yaml", 0, ["b"]),
    ("stage create --all", 2, []),
    ("stage create a b", 2, []),
    ("stage run b", 0, ["b"]),
    ("stage run a", 2, []),
    ("pipeline run --only b", 0, ["b"]),
    ("pipeline run --from b", 0, ["b"]),
    ("pipeline run", 2, []),
    ("pipeline run --only a", 2, []),
]


@pytest.mark.parametrize(("command", "code", "done"), COMMANDS)
def test_commands_fail_only_when_they_need_the_bad_stage(
    project, monkeypatch, capsys, command, code, done
):
    from governed_mlops import cli
    from governed_mlops.runner import execute as runner
    from governed_mlops.stages import env as stage_env

    built = project(a=spec_text("a", packages=["warnings"]))
    monkeypatch.chdir(built.root)
    monkeypatch.setattr(FakeRunner, "ran", [])
    monkeypatch.setattr(runner, "Runner", FakeRunner)
    monkeypatch.setattr(runner, "run_pipeline", fake_pipeline)
    monkeypatch.setattr(
        stage_env, "create", lambda stage, options: FakeRunner.ran.append(stage.name)
    )
    assert cli.main(command.split()) == code
    out, err = capsys.readouterr()
    assert FakeRunner.ran == done
    if code == 0:
        assert f"mlops: warning: {STDLIB_LINE}\n" in err
    elif code == 2:
        assert err.endswith(f"mlops: error: {STDLIB_LINE}\n")
    else:  # stage check: the invalid spec is one of the stages that failed
        assert f"a: FAIL (invalid spec)\n  - {STDLIB_LINE}\n" in out
    assert "Traceback" not in err
    if command == "stage list":
        rows = [line.split() for line in out.splitlines()]
        assert [row[0] for row in rows] == ["stage", "a", "b"]
        assert rows[1][1:] == ["-", "-", "(invalid", "spec)", "-", "-"]
        assert rows[2][2:4] == [".venvs/b", "(missing)"]
    if command == "stage check --all":
        assert "b: FAIL\n  - no lock env_specs/locks/b.txt" in out


def test_stage_list_shows_what_an_invalid_spec_says(project, monkeypatch, capsys):
    from governed_mlops import cli

    built = project(b=spec_text("b", notebook="nope.ipynb"))
    monkeypatch.chdir(built.root)
    assert cli.main(["stage", "list"]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[2:4] for line in out.splitlines()[1:]] == [
        [".venvs/a", "(missing)"],
        [".venvs/b", "(invalid"],
    ]
    assert err.startswith("mlops: warning: env_specs/stage_b.yaml: notebook: ")


def test_file_checks_without_the_machine(project):
    """Under copier's Python the interpreter need not exist; files are still checked."""
    built = project(a=spec_text("a", python="3.99"))
    assert specs.load_stages(built, machine=False)["a"].interpreter is None
    built = project(a=spec_text("a", python="3.99", notebook="x.ipynb"))
    assert "notebook" in refused(built, machine=False)


def test_select_by_name_or_spec_path(project):
    stages = specs.load_stages(project())
    assert specs.select(stages, "b").name == "b"
    assert specs.select(stages, "env_specs/stage_b.yaml").name == "b"
    assert specs.select(stages, r"env_specs\stage_a.yaml").name == "a"
    with pytest.raises(specs.SpecError, match="no stage 'c'; stages: a, b"):
        specs.select(stages, "c")


def test_shipped_json_schema_matches_the_model():
    shipped = REPO / "template" / "env_specs" / specs.SCHEMA_FILE
    assert (
        shipped.read_text(encoding="utf-8") == specs.schema_text()
    ), "stale: run python tools/stage_schema.py"


def test_template_specs_reference_the_schema():
    for path in (REPO / "template" / "env_specs").glob("stage_*.yaml.jinja"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# yaml-language-server: $schema={specs.SCHEMA_FILE}", path


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        (True, PureWindowsPath(r"C:\proj\.venvs\train\Scripts\python.exe")),
        (False, PurePosixPath("/proj/.venvs/train/bin/python")),
    ],
)
def test_venv_layouts(windows, expected):
    root = PureWindowsPath(r"C:\proj") if windows else PurePosixPath("/proj")
    env = venvs.portable_path(r".venvs\train", root, windows=windows)
    assert venvs.venv_python(env, windows=windows) == expected
    assert venvs.portable_path(".venvs/train", root, windows=windows) == env


@pytest.mark.parametrize(
    "site", ["lib/python3.11/site-packages", "Lib/site-packages"], ids=["posix", "nt"]
)
def test_installed_digest_follows_the_dist_info_folders(tmp_path, site):
    from governed_mlops.stages import env as stage_env

    packages = tmp_path / site
    (packages / "pandas-2.2.3.dist-info").mkdir(parents=True)
    (packages / "proj-0.1.0.dist-info").mkdir()
    (packages / "pandas").mkdir()
    assert stage_env.distributions(tmp_path) == [
        "pandas-2.2.3.dist-info",
        "proj-0.1.0.dist-info",
    ]
    before = stage_env.installed_digest(tmp_path)
    (packages / "rich-13.9.4.dist-info").mkdir()
    assert stage_env.installed_digest(tmp_path) != before
    (packages / "rich-13.9.4.dist-info").rmdir()
    assert stage_env.installed_digest(tmp_path) == before


def test_absolute_spec_paths_stay_as_given():
    assert venvs.portable_path(r"D:\envs\t", PureWindowsPath("C:/p"), True) == (
        PureWindowsPath(r"D:\envs\t")
    )
    assert venvs.portable_path("/opt/t", PurePosixPath("/p"), False) == (
        PurePosixPath("/opt/t")
    )


def test_windows_candidates_include_the_usual_install_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    monkeypatch.setattr(pythons, "_py_launcher", lambda version: [r"C:\py\3.12.exe"])
    found = pythons.candidates("3.12", windows=True)
    assert found[0] == r"C:\py\3.12.exe"
    assert (
        str(tmp_path / "Local" / "Programs" / "Python" / "Python312" / "python.exe")
        in found
    )
    assert all(path.endswith("python.exe") for path in found[1:])


def test_posix_candidates_look_in_pyenv_newest_first(monkeypatch, tmp_path):
    for version in ("3.12.1", "3.12.10", "3.13.0"):
        (tmp_path / "versions" / version / "bin").mkdir(parents=True)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    found = pythons.candidates("3.12", windows=False)
    pyenv = [p for p in found if p.startswith(str(tmp_path))]
    assert pyenv == [
        str(tmp_path / "versions" / "3.12.10" / "bin" / "python3.12"),
        str(tmp_path / "versions" / "3.12.1" / "bin" / "python3.12"),
    ]


def test_universal_lock_pins_follow_markers():
    text = textwrap.dedent("""\
        # header
        colorama==0.4.6 ; sys_platform == 'win32' \\
            --hash=sha256:abc
        numpy==2.4.6 ; python_full_version < '3.12' \\
            --hash=sha256:def
        numpy==2.5.5 ; python_full_version >= '3.12'
        pandas==3.1.1
        """)
    linux311 = {"sys_platform": "linux", "python_full_version": "3.11.7"}
    assert locks.pins(text, linux311) == {"numpy": "2.4.6", "pandas": "3.1.1"}
    win313 = {"sys_platform": "win32", "python_full_version": "3.13.0"}
    assert locks.pins(text, win313) == {
        "colorama": "0.4.6",
        "numpy": "2.5.5",
        "pandas": "3.1.1",
    }


def test_lock_digest_changes_with_what_the_env_is_resolved_from():
    base = locks.input_digest(["pandas"], "3.11", None, {})
    assert base == locks.input_digest(["pandas"], "3.11", None, {})
    assert base != locks.input_digest(["pandas>=2"], "3.11", None, {})
    assert base != locks.input_digest(["pandas"], "3.12", None, {})
    assert base != locks.input_digest(["pandas"], "3.11", "numpy<2", {})
    assert base != locks.input_digest(["pandas"], "3.11", None, {"index_url": "x"})


def test_index_token_goes_in_the_url_only_and_is_redacted():
    url = with_token("https://pypi.example.com/simple/", "t0ken")
    # pragma: allowlist nextline secret
    assert url == "https://__token__:t0ken@pypi.example.com/simple/"
    assert with_token("https://u:p@host/simple/", "t0ken") == "https://u:p@host/simple/"
    assert with_token("https://host/simple/", "") == "https://host/simple/"
    assert redact(f"failed for {url}", ["t0ken"]) == (
        "failed for https://__token__:***@pypi.example.com/simple/"
    )


def test_interpreter_probes_are_cached_until_the_file_changes(monkeypatch, tmp_path):
    exe = tmp_path / "python3"
    exe.symlink_to(sys.executable)
    pythons.use_cache(tmp_path / "interpreters.json")
    try:
        first = pythons.probe(str(exe))
        assert first.version == tuple(sys.version_info[:3])

        def must_not_start(path):
            raise AssertionError("an unchanged interpreter was started again")

        monkeypatch.setattr(pythons, "_probe", must_not_start)
        assert pythons.probe(str(exe)) == first
        exe.unlink()
        exe.write_text("#!/bin/sh\nexit 1\n")  # another file at the same path
        monkeypatch.setattr(pythons, "_probe", lambda path: None)
        assert pythons.probe(str(exe)) is None
    finally:
        pythons.use_cache(None)
