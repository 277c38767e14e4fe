"""Rendering: default answers, the answer matrix, no Jinja left behind."""

from __future__ import annotations

import itertools
import json
import sys
import re
import tomllib

import pytest
import yaml

from conftest import REPO, TOOLS_VERSION, run

from governed_mlops import policy

PYTHONS = ("3.10", "3.11", "3.12", "3.13")
LICENSES = ("MIT", "Apache-2.0", "Proprietary")
# Every combination of the CI answers, spread over the Python x license rows
# (the CI answers change no Python file; test_ci_wiring checks the CI files).
CI_ANSWERS = [
    {"ci_provider": provider, "jenkins_agent": agent, "precommit_source": source}
    for provider in ("github", "jenkins", "both", "none")
    for agent in (("windows", "linux") if provider in ("jenkins", "both") else ("-",))
    for source in ("package-index", "upstream")
]
MATRIX = [
    (python_version, license, ci)
    for (python_version, license), ci in zip(
        itertools.product(PYTHONS, LICENSES), CI_ANSWERS, strict=True
    )
]

EXPECTED_FILES = (
    ".copier-answers.yml",
    ".editorconfig",
    ".env.example",
    ".flake8",
    ".gitignore",
    ".python-version",
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "env_specs/stage.schema.json",
    "env_specs/stage_data_prep.yaml",
    "env_specs/stage_feature_eng.yaml",
    "env_specs/stage_train.yaml",
    "env_specs/stage_eval.yaml",
    "scripts/create_venv.sh",
    "scripts/create_venv.bat",
    "scripts/ci.sh",
    "scripts/ci.bat",
    ".pre-commit-config.yaml",
    "Jenkinsfile",
    ".gitattributes",
    "tests/conftest.py",
    "tests/test_config.py",
    "tests/test_logs.py",
)
UNRENDERED = re.compile(r"{{|}}|{%|%}|\.jinja\b")
TEMPLATE = REPO / "template"
# Contents of files copied verbatim (not *.jinja): Python, JSON and GitHub
# workflows may hold "}}" legitimately.
VERBATIM = {
    path.read_bytes()
    for path in TEMPLATE.rglob("*")
    if path.is_file() and path.suffix != ".jinja"
}


def test_defaults_render_expected_files(render):
    project = render()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["package_name"] == "my_mlops_project"
    assert answers["project_slug"] == "my-mlops-project"
    assert answers["python_version"] == "3.11"
    for name in EXPECTED_FILES:
        assert (project / name).is_file(), name
    for name in ("config.py", "logs.py", "__init__.py"):
        assert (project / "src" / "my_mlops_project" / name).is_file()
    # The tools are a pinned dependency, never a copy in the project.
    assert [p.name for p in (project / "src").iterdir()] == ["my_mlops_project"]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert "scripts" not in pyproject["project"]
    assert pyproject["tool"]["poetry"]["packages"] == [
        {"include": "my_mlops_project", "from": "src"}
    ]
    template = answers["_src_path"]
    assert pyproject["dependency-groups"]["pipeline"] == [
        f"governed-mlops-tools[pipeline] @ git+file://{template}@{TOOLS_VERSION}"
        "#subdirectory=governed-mlops-tools"
    ]
    notebook = (project / "notebooks" / "03-train.ipynb").read_text()
    assert "from my_mlops_project.config import get_settings" in notebook
    assert "governed_mlops" not in notebook


def answers(ci: dict) -> dict:
    return {key: value for key, value in ci.items() if value != "-"}


def param_id(value) -> str:
    if isinstance(value, dict):
        return "-".join(v for v in value.values() if v != "-")
    return str(value)


@pytest.mark.parametrize(("python_version", "license", "ci"), MATRIX, ids=param_id)
def test_matrix_renders_clean(render, python_version, license, ci):
    project = render(python_version=python_version, license=license, **answers(ci))
    for path in project.rglob("*"):
        assert ".jinja" not in path.name, path
        if ".git" in path.parts or not path.is_file():
            continue
        if path.read_bytes() not in VERBATIM:
            text = path.read_text(encoding="utf-8")
            assert not UNRENDERED.search(text), f"unrendered Jinja in {path}"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={python_version}"
    assert pyproject["build-system"]["build-backend"] == "poetry.core.masonry.api"
    assert pyproject["tool"]["black"]["target-version"] == [
        "py" + python_version.replace(".", "")
    ]
    assert (project / ".python-version").read_text().strip() == python_version
    license_text = (project / "LICENSE").read_text()
    assert {
        "MIT": "MIT License",
        "Apache-2.0": "Apache License",
        "Proprietary": "All rights reserved",
    }[license] in license_text
    expected = "LicenseRef-Proprietary" if license == "Proprietary" else license
    assert pyproject["project"]["license"] == expected
    # The policy holds as generated; only uv.lock waits for the first `uv lock`.
    report = policy.check(project)
    failed = {o.rule.id: o.findings for o in report.outcomes if o.status == "failed"}
    assert set(failed) <= {"GOV106"}, failed


@pytest.mark.parametrize(("python_version", "license", "ci"), MATRIX, ids=param_id)
def test_matrix_passes_black_and_flake8(render, python_version, license, ci):
    project = render(python_version=python_version, license=license, **answers(ci))
    run(["black", "--check", "--quiet", "."], cwd=project)
    run(["flake8"], cwd=project)


# Answers with quotes, backslashes, markup characters and accents: each file
# must hold them as typed.
TYPED = {
    "project_name": 'Análisis "Ñ" de Datos <v2> & O\'Brien',
    "description": 'Churn model: it\'s "quoted" & <tagged>, C:\\new\\table ünïcode',
    "author_name": 'O\'Brien "Team" \\ Ærø, Łódź',
}


@pytest.mark.parametrize(
    ("project_name", "slug"),
    [
        ("Análisis Ñ de Datos", "analisis-n-de-datos"),
        ("Données & Modèles (v2)", "donnees-modeles-v2"),
        ("Straße Œuvre Þór Ðóra", "strasse-oeuvre-thor-dora"),
        ("Łódź Ærø Đặng Ça", "lodz-aero-dang-ca"),
        ("O'Brien's Model", "obriens-model"),
        # Accents typed decomposed (combining marks), a typographic apostrophe.
        ("Cafe\u0301 Mu\u0308ller O'Brien’s", "cafe-muller-obriens"),
    ],
)
def test_accented_names_suggest_ascii_slugs(render, project_name, slug):
    project = render(project_name=project_name)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text("utf-8"))
    assert answers["project_slug"] == slug
    assert answers["package_name"] == slug.replace("-", "_")
    assert answers["project_name"] == project_name
    assert (project / "src" / slug.replace("-", "_") / "__init__.py").is_file()


def test_latin_letters_have_ascii_spellings():
    """Every Latin-1 Supplement and Latin Extended-A letter spells as a-z."""
    import unicodedata

    table = json.loads(
        yaml.safe_load(
            (REPO / "includes" / "transliteration.yml").read_text(encoding="utf-8")
        )["transliteration"]["default"]
    )
    letters = [
        chr(point)
        for point in range(0x00C0, 0x0180)
        if unicodedata.category(chr(point)).startswith("L")
    ]
    for letter in letters:
        assert re.fullmatch("[A-Za-z]+", table.get(letter, "")), letter
    expected = {"à": "a", "ñ": "n", "ç": "c", "ß": "ss", "æ": "ae", "œ": "oe"}
    expected |= {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "Æ": "AE"}
    assert {char: table[char] for char in expected} == expected


def test_answers_are_written_as_typed(render):
    project = render(**TYPED)
    name, description, author = (
        TYPED["project_name"],
        TYPED["description"],
        TYPED["author_name"],
    )
    pyproject_text = (project / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = tomllib.loads(pyproject_text)
    assert pyproject["project"]["name"] == "analisis-n-de-datos-v2-obrien"
    assert pyproject["project"]["description"] == description
    assert pyproject["project"]["authors"] == [
        {"name": author, "email": "data-science@example.com"}
    ]
    # Characters as typed (UTF-8), not JSON escapes such as \u00e1 or \u0027.
    assert "it's" in pyproject_text and "ünïcode" in pyproject_text
    assert "O'Brien" in pyproject_text and "Ærø, Łódź" in pyproject_text
    readme = (project / "README.md").read_text(encoding="utf-8").splitlines()
    assert readme[0] == f"# {name}"
    assert readme[2] == description
    license_text = (project / "LICENSE").read_text(encoding="utf-8")
    assert f" {author}. All rights reserved." in license_text
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text("utf-8"))
    assert {key: answers[key] for key in TYPED} == TYPED
    for path in project.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        if path.read_bytes() not in VERBATIM:
            assert "\\u" not in path.read_text(encoding="utf-8"), path
    run(["black", "--check", "--quiet", "."], cwd=project)
    run(["flake8"], cwd=project)
    report = policy.check(project)
    failed = {o.rule.id: o.findings for o in report.outcomes if o.status == "failed"}
    assert set(failed) <= {"GOV106"}, failed


@pytest.mark.slow
def test_answers_as_typed_build_a_valid_wheel(render, tmp_path):
    """Core metadata holds the name, description and author exactly."""
    import zipfile

    from packaging.metadata import Metadata

    from conftest import UV

    project = render(**TYPED)
    run([UV, "build", "--wheel", "--out-dir", tmp_path], cwd=project)
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Metadata.from_email(archive.read(name), validate=True)
    assert metadata.name == "analisis-n-de-datos-v2-obrien"
    assert metadata.summary == TYPED["description"]
    assert metadata.author == TYPED["author_name"]
    assert metadata.author_email == "data-science@example.com"


def test_template_python_is_linted_in_place():
    """Generated Python stays plain .py, so it is linted here without rendering."""
    jinja_python = [
        p.relative_to(REPO) for p in (REPO / "template").rglob("*.py.jinja")
    ]
    assert jinja_python == []


def test_copy_makes_a_git_repository(render):
    """copier update needs git; the hook initializes a repository once."""
    project = render()
    assert (project / ".git").is_dir()
    run(["git", "rev-parse", "--is-inside-work-tree"], cwd=project)
    # Its notebooks merge with nbdime, as `mlops setup` sets a clone up.
    from governed_mlops.notebook_merge import DRIVER

    attributes = run(
        ["git", "check-attr", "merge", "notebooks/03-train.ipynb"], cwd=project
    )
    assert attributes.stdout.strip().endswith("merge: nbdime")
    driver = run(["git", "config", "--get", "merge.nbdime.driver"], cwd=project)
    assert driver.stdout.strip() == DRIVER


def test_copy_into_an_existing_repository_adds_no_nested_git(template_dir, tmp_path):
    from conftest import copy_project, git

    existing = tmp_path / "existing"
    existing.mkdir()
    git("init", "-q", cwd=existing)
    project = copy_project(template_dir, existing / "ml")
    assert not (project / ".git").exists()
    assert (project / "pyproject.toml").is_file()


def test_package_index_applies_to_project_and_stages(render):
    url = "https://pypi.example.com/simple/"
    project = render(package_index_url=url)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["tool"]["governed-mlops"]["index-url"] == url
    assert pyproject["tool"]["uv"]["index"] == [
        {"name": "private", "url": url, "default": True}
    ]
    assert pyproject["tool"]["poetry"]["source"][0]["url"] == url
    # The tools come from the organisation's index too, at the exact release.
    assert pyproject["dependency-groups"]["pipeline"] == [
        f"governed-mlops-tools[pipeline]=={TOOLS_VERSION}"
    ]
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    governance = [
        h for r in hooks["repos"] for h in r["hooks"] if h["id"] == "governance"
    ]
    assert governance[0]["additional_dependencies"] == [
        f"governed-mlops-tools=={TOOLS_VERSION}"
    ]

    from governed_mlops.project import find_project
    from governed_mlops.stages.specs import load_stages
    from governed_mlops.stages.env import index_options

    stages = load_stages(find_project(project), machine=False)
    assert {index_options(s).index_url for s in stages.values()} == {url}
    assert index_options(stages["train"]).env()["UV_DEFAULT_INDEX"] == url
    assert url not in " ".join(index_options(stages["train"]).args())


def test_no_package_index_means_the_installer_default(render):
    pyproject = tomllib.loads((render() / "pyproject.toml").read_text())
    assert pyproject["tool"]["governed-mlops"]["index-url"] == ""
    assert "uv" not in pyproject["tool"]


DOC_REFERENCE = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b(?:, ['\"]([^'\"]+)['\"])?"
)


def message_strings(path) -> list[str]:
    """String constants of a module that are not docstrings (what it prints)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_messages_point_only_to_documents_the_user_has(render):
    """Every document a message, rule fix or copier message names is in the
    project; every README section named is a heading of its README."""
    project = render()
    texts = [
        text
        for module in (project / "src").rglob("*.py")
        for text in message_strings(module)
    ]
    texts += [
        text
        for hook in (REPO / "hooks").rglob("*.py")
        for text in message_strings(hook)
    ]
    config = yaml.safe_load((REPO / "copier.yml").read_text().split("---\n", 1)[1])
    texts += [config[key] for key in config if key.startswith("_message_")]
    headings = set(
        re.findall(
            r"(?m)^#+ (.+)$", (project / "README.md").read_text(encoding="utf-8")
        )
    )
    found = 0
    for text in texts:
        for document, section in DOC_REFERENCE.findall(text):
            found += 1
            assert (project / document).is_file(), f"{document!r} named in {text!r}"
            if section:
                assert section in headings, f"{document}, {section!r} in {text!r}"
    assert found >= 3  # the rule fixes and copier's messages name README sections


def test_copy_report_runs_the_templates_checker_not_the_projects(
    template_dir, tmp_path
):
    """A folder that already holds a (broken) governed_mlops of its own: the
    report after the copy still comes from the template checkout applied."""
    dest = tmp_path / "project"
    poisoned = dest / "src" / "governed_mlops" / "policy"
    poisoned.mkdir(parents=True)
    (poisoned / "__init__.py").write_text(
        "raise RuntimeError('the project copy ran')\n"
    )
    (poisoned.parent / "__init__.py").write_text("")
    done = run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            template_dir,
            dest,
        ],
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert f"Policy report of {dest}" in output
    assert "the project copy ran" not in output
    # The leftover copy is what GOV110 reports.
    assert "GOV110 The project holds no copy of the tools" in output
    # copier's Python here has detect-secrets; the copy's report leaves the
    # fresh render to the hook at the first commit (a second of every copy).
    assert "detect-secrets runs at the first commit" in output


def test_a_copy_into_a_repository_names_each_file_it_replaced(tmp_path, capsys):
    """Names with spaces or accents, as git lists them unquoted, one a line."""
    import importlib.util

    from conftest import git

    spec = importlib.util.spec_from_file_location("ig", REPO / "hooks" / "init_git.py")
    assert spec and spec.loader
    init_git = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(init_git)
    for name in ("My Notes.md", "résumé.md", "kept.md"):
        (tmp_path / name).write_text("ours\n")
    git("init", "-q", cwd=tmp_path)
    git("add", "-A", cwd=tmp_path)
    git("commit", "-qm", "ours", cwd=tmp_path)
    for name in ("My Notes.md", "résumé.md"):
        (tmp_path / name).write_text("the template's\n")
    init_git.adopted(tmp_path)
    said = capsys.readouterr().out.splitlines()
    assert said[:3] == [
        "The copy replaced 2 committed file(s) of this repository:",
        "  My Notes.md",
        "  résumé.md",
    ]


def test_a_seeded_notebook_keeps_the_store_its_run_was_given(render):
    """Under `mlops` the kernel gets MLFLOW_TRACKING_URI without the login;
    the notebook set the settings' URI again, login included, which MLflow's
    errors then printed into the run's record. In Jupyter the settings'
    store is used."""
    project = render()
    notebook = json.loads((project / "notebooks" / "01-data-prep.ipynb").read_text())
    (context,) = [c for c in notebook["cells"] if c.get("id") == "context"]
    code = "".join(context["source"]) + "\nprint(mlflow.get_tracking_uri())\n"
    login = "http://ci:pw@127.0.0.1:9"  # pragma: allowlist secret
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        PYTHONPATH=str(project / "src"), MY_MLOPS_PROJECT_MLFLOW_TRACKING_URI=login
    )

    def tracking_uri(extra: dict) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=project,
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert tracking_uri({"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}) == (
        "http://127.0.0.1:9"
    )
    assert tracking_uri({}) == login  # Jupyter
