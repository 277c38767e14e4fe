"""Stage-spec checks that need no model, so they run without importing pydantic.

``specs.py`` (the pydantic model) is the authority on what a spec may hold and
words every message. The checks here are the parts that work on plain data:
the requirement rule the model applies to ``packages``, and the checks across
files and stages. ``quick_check`` uses them to vouch for a project whose specs
are plainly valid, which is what the policy check needs on every commit; it
never vouches for anything the model would refuse, and anything it does not
vouch for goes to the model.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Optional

import yaml

from .._yaml import safe_load
from ..project import Project
from .venvs import portable_path

SPEC_GLOB = "stage_*.yaml"
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
KERNEL_PATTERN = r"^[A-Za-z0-9._-]+$"
# A registered model's name: MLflow takes more, but a name that is also a
# safe path and URL segment travels through every store and UI.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# How a declared model file is loaded and logged: the MLflow flavor.
MODEL_FLAVORS = ("sklearn",)
MODEL_KEYS = ("path", "flavor", "registered_name")
_SEPARATORS = re.compile(r"[-_.]+")


_VERSION_LIKE = re.compile(r"\d+(\.\d+)*")
_MINOR = re.compile(r"3\.\d{1,2}")


def python_problem(value: Any, requires_python: str) -> Optional[str]:
    """What is wrong with a spec's ``python`` as the file says it, without
    looking for interpreters: a version not written ``3.N``, or a minor
    version no Python of which the project's ``requires-python`` allows."""
    if not isinstance(value, str) or not _VERSION_LIKE.fullmatch(value):
        return None  # a path or a command, or the model's to word
    if not _MINOR.fullmatch(value):
        if value.split(".")[0] != "3":
            return (
                f"Python {value} is not supported: give a Python 3 minor version "
                f'such as "3.12", or an interpreter\'s path'
            )
        return (
            f'{value!r}: give a minor version such as "3.12" (the newest '
            f"installed patch release is used), or an interpreter's path"
        )
    if not requires_python:
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        allowed = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return None  # pyproject.toml's own problem
    if any(f"{value}.{micro}" in allowed for micro in (0, 99)):
        return None
    return (
        f"Python {value} does not satisfy the project's requires-python "
        f"{requires_python!r} (pyproject.toml), and the stage env installs the "
        f"project; choose a version it allows"
    )


def canonicalize_name(name: str) -> str:
    """A distribution name as PEP 503 compares them (``packaging.utils``
    does the same, but importing it costs the policy check its tag tables)."""
    return _SEPARATORS.sub("-", name).lower()


STDLIB = {canonicalize_name(name) for name in sys.stdlib_module_names}

# Each key of the model's StageSpec and the plain values quick_check accepts
# for it (a test keeps this in step with the model).
REQUIRED = ("name", "env_dir", "kernel_name", "notebook")
TEXT = REQUIRED + ("python", "python_exe", "notes")
OPTIONAL_TEXT = ("display_name", "constraints", "index_url")
TEXT_LISTS = ("packages", "extra_index_urls", "find_links")
GLOB_LISTS = ("inputs", "outputs")
MAPPINGS = ("parameters",)
MODEL_LISTS = ("models",)
FIELDS = TEXT + OPTIONAL_TEXT + TEXT_LISTS + GLOB_LISTS + MAPPINGS + MODEL_LISTS
NULLABLE = ("python", "python_exe") + OPTIONAL_TEXT


class Declared(NamedTuple):
    """What the checks across stages need from one stage's spec."""

    name: str
    source: str  # env_specs/stage_<name>.yaml
    env_dir: str
    kernel_name: str


def _outside_problem(text: str, example: str) -> Optional[str]:
    if not text.strip():
        return f"empty; write a path such as {example}"
    if text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":"):
        return (
            f"{text!r} is absolute; write it relative to the project root, "
            f"e.g. {example}"
        )
    if ".." in text.replace("\\", "/").split("/"):
        return f"{text!r} leaves the project; paths stay inside it"
    return None


def glob_problem(text: str) -> Optional[str]:
    """Why ``text`` cannot be an ``inputs``/``outputs`` glob, or None."""
    return _outside_problem(text, "data/raw/*.csv")


def model_path_problem(text: str) -> Optional[str]:
    """Why ``text`` cannot be the path of a ``models`` file, or None."""
    if any(char in text for char in "*?["):
        return f"{text!r} is a glob; name the one file the notebook writes"
    return _outside_problem(text, "models/model.joblib")


def _plain_model(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) <= set(MODEL_KEYS)
        and isinstance(value.get("path"), str)
        and model_path_problem(value["path"]) is None
        and value.get("flavor", MODEL_FLAVORS[0]) in MODEL_FLAVORS
        and (
            value.get("registered_name") is None
            or _matches(MODEL_NAME_PATTERN, value["registered_name"])
        )
    )


def requirement_problem(text: str) -> Optional[str]:
    """Why ``text`` cannot be a stage package, or None when it can."""
    # Here, not at import: the policy report at a copy imports this module.
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(text)
    except InvalidRequirement as error:
        return (
            f"{text!r} is not a valid requirement ({error}); write it as PEP 508, "
            f"e.g. 'pandas>=2.1' or 'scikit-learn==1.5.2'"
        )
    if canonicalize_name(requirement.name) in STDLIB:
        return (
            f"{requirement.name!r} is part of the Python standard library and is "
            f"not installed from an index; remove it from packages"
        )
    return None


def declared_order(project: Project) -> Optional[list[str]]:
    """``[tool.governed-mlops] stages``, the pipeline order; None when it is
    not a list of stage names."""
    stages = project.table.get("stages", [])
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        return None
    return stages


def spec_files(project: Project) -> dict[str, Path]:
    """Each spec file by the stage name its file name gives."""
    return {
        path.name.removeprefix("stage_").removesuffix(".yaml"): path
        for path in sorted(project.env_specs_dir.glob(SPEC_GLOB))
    }


def order_conflicts(
    order: list[str], files: Iterable[str]
) -> list[tuple[str, str, bool]]:
    """Where the pipeline order and the spec files disagree: ``(message, name,
    listed)``, ``listed`` False for a spec file the order does not list."""
    files = list(files)
    conflicts = [
        (
            f"pyproject.toml: [tool.governed-mlops] stages lists {name!r} but "
            f"env_specs/stage_{name}.yaml does not exist; add the spec or remove "
            f"the name",
            name,
            True,
        )
        for name in order
        if name not in files
    ]
    conflicts += [
        (
            f"env_specs/stage_{name}.yaml: stage {name!r} is not listed in "
            f"pyproject.toml [tool.governed-mlops] stages; add it in run order",
            name,
            False,
        )
        for name in files
        if name not in order
    ]
    conflicts += [
        (
            f"pyproject.toml: [tool.governed-mlops] stages lists {name!r} "
            f"{order.count(name)} times; list each stage once, in run order",
            name,
            True,
        )
        for name in dict.fromkeys(order)
        if order.count(name) > 1
    ]
    return conflicts


def order_problems(order: list[str], files: Iterable[str]) -> list[str]:
    """The pipeline order in pyproject.toml and the spec files must agree."""
    return [message for message, _, _ in order_conflicts(order, files)]


def file_problems(
    source: str, notebook: str, constraints: Optional[str], root: Path
) -> list[str]:
    """The notebook and constraints file a spec names must exist."""
    problems = []
    path = Path(portable_path(notebook, root))
    relative = "give the path of the stage's notebook relative to the project root"
    outside = _outside_problem(notebook, "notebooks/01-data-prep.ipynb")
    if outside:
        # A run records its notebook at the project's commit.
        problems.append(f"{source}: notebook: {outside}")
    elif path.is_dir():
        problems.append(f"{source}: notebook: {notebook!r} is a folder; {relative}")
    elif not path.is_file():
        problems.append(f"{source}: notebook: {notebook!r} does not exist; {relative}")
    elif path.suffix != ".ipynb":
        problems.append(
            f"{source}: notebook: {notebook!r} is not a .ipynb notebook; convert "
            f"a script with `jupytext --to ipynb {notebook}` and name the .ipynb"
        )
    if constraints and not Path(portable_path(constraints, root)).is_file():
        problems.append(
            f"{source}: constraints: {constraints!r} does not exist; give "
            f"a constraints file relative to the project root or remove the key"
        )
    return problems


def shared_conflicts(
    stages: Iterable[Declared], root: Path
) -> list[tuple[str, tuple[str, str]]]:
    """Env dirs and kernel names two stages share: ``(message, (first, second))``
    for each, the message on the second stage's spec."""
    conflicts = []
    seen_env: dict[str, str] = {}
    seen_kernel: dict[str, str] = {}
    for stage in stages:
        env_key = os.path.normcase(str(portable_path(stage.env_dir, root)))
        kernel_key = stage.kernel_name.lower()
        if env_key in seen_env:
            conflicts.append(
                (
                    f"{stage.source}: env_dir: {stage.env_dir!r} is also the env of "
                    f"stage {seen_env[env_key]!r}; give each stage its own env_dir, "
                    f"e.g. .venvs/{stage.name}",
                    (seen_env[env_key], stage.name),
                )
            )
        if kernel_key in seen_kernel:
            conflicts.append(
                (
                    f"{stage.source}: kernel_name: {stage.kernel_name!r} is also the "
                    f"kernel of stage {seen_kernel[kernel_key]!r}; give each stage "
                    f"its own kernel_name",
                    (seen_kernel[kernel_key], stage.name),
                )
            )
        seen_env.setdefault(env_key, stage.name)
        seen_kernel.setdefault(kernel_key, stage.name)
    return conflicts


def shared_problems(stages: Iterable[Declared], root: Path) -> list[str]:
    """No two stages may share an env dir or a kernel name."""
    return [message for message, _ in shared_conflicts(stages, root)]


def _matches(pattern: str, value: Any) -> bool:
    # The model's patterns are anchored for JSON Schema; fullmatch also refuses
    # the trailing newline that Python's ``$`` would let through.
    return isinstance(value, str) and bool(re.fullmatch(pattern.strip("^$"), value))


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def plainly_valid(data: Any, stage: str) -> bool:
    """True when the model would accept ``data`` as the spec of ``stage``.

    Stricter than the model (plain types only, exactly one interpreter key):
    False means "ask the model", not "invalid".
    """
    if not isinstance(data, dict) or not set(data) <= set(FIELDS):
        return False
    present = {key for key, value in data.items() if value is not None}
    if not set(data) - present <= set(NULLABLE) or not set(REQUIRED) <= present:
        return False
    interpreter = [data[key] for key in ("python", "python_exe") if key in present]
    if len(interpreter) != 1 or not interpreter[0]:
        return False
    return (
        all(
            isinstance(data[key], str) for key in TEXT + OPTIONAL_TEXT if key in present
        )
        and all(_texts(data[key]) for key in TEXT_LISTS if key in data)
        and all(
            _texts(data[key]) and not any(map(glob_problem, data[key]))
            for key in GLOB_LISTS
            if key in data
        )
        and all(
            isinstance(data[key], dict) and all(isinstance(k, str) for k in data[key])
            for key in MAPPINGS
            if key in data
        )
        and all(
            isinstance(data[key], list)
            and all(map(_plain_model, data[key]))
            and len({model["path"] for model in data[key]}) == len(data[key])
            for key in MODEL_LISTS
            if key in data
        )
        and data["name"] == stage
        and _matches(NAME_PATTERN, stage)
        and _matches(KERNEL_PATTERN, data["kernel_name"])
        and not any(map(requirement_problem, data.get("packages", [])))
    )


def quick_check(project: Project) -> bool:
    """True when ``specs.load_stages(project, machine=False)`` would pass.

    False only means the model must look: it finds and words the problems.
    """
    order = declared_order(project)
    if order is None:
        return False
    files = spec_files(project)
    if order_problems(order, files):
        return False
    declared = []
    for name in order:
        source = f"env_specs/{files[name].name}"
        try:
            data = safe_load(files[name].read_text(encoding="utf-8"), numbers=True)
        except (OSError, UnicodeError, yaml.YAMLError):
            return False
        if not plainly_valid(data, name) or file_problems(
            source, data["notebook"], data.get("constraints"), project.root
        ):
            return False
        if python_problem(data.get("python"), project.requires_python):
            return False
        declared.append(Declared(name, source, data["env_dir"], data["kernel_name"]))
    return not shared_problems(declared, project.root)
