"""Stage specs: ``env_specs/stage_<name>.yaml``, one per pipeline stage.

A spec says which interpreter builds the stage's virtualenv, where it lives,
the Jupyter kernel it registers, the notebook it runs and the packages it
needs. Every error names the file, the field and the fix.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import yaml
from packaging.specifiers import SpecifierSet
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .._yaml import NumberSurprise, describe_error, safe_load
from ..errors import CommandError
from ..project import Project
from .pythons import Interpreter, InterpreterNotFound, resolve, use_cache
from .spec_checks import (
    KERNEL_PATTERN,
    MODEL_FLAVORS,
    MODEL_NAME_PATTERN,
    NAME_PATTERN,
    Declared,
    declared_order,
    file_problems,
    glob_problem,
    model_path_problem,
    order_conflicts,
    python_problem,
    requirement_problem,
    shared_conflicts,
    spec_files,
)
from .venvs import portable_path, venv_python

SCHEMA_FILE = "stage.schema.json"


class SpecError(CommandError):
    """One or more stage specs are invalid; the message lists every problem."""


def _requirement(text: str) -> str:
    problem = requirement_problem(text)
    if problem:
        raise ValueError(problem)
    return text


Requirement_ = Annotated[str, AfterValidator(_requirement)]


def _relative_glob(text: str) -> str:
    problem = glob_problem(text)
    if problem:
        raise ValueError(problem)
    return text.replace("\\", "/")


RelativeGlob_ = Annotated[str, AfterValidator(_relative_glob)]


def _model_path(text: str) -> str:
    problem = model_path_problem(text)
    if problem:
        raise ValueError(problem)
    return text.replace("\\", "/")


class ModelSpec(BaseModel):
    """A model file the notebook writes, logged as an MLflow model on its run."""

    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, AfterValidator(_model_path)] = Field(
        description="The file, relative to the project root (e.g. "
        "models/model.joblib, written with joblib or pickle)."
    )
    flavor: Literal["sklearn"] = Field(
        "sklearn", description="The MLflow flavor it is logged with."
    )
    registered_name: Optional[str] = Field(
        None,
        pattern=MODEL_NAME_PATTERN,
        description="Register each logged version under this name in MLflow's "
        "model registry.",
    )


class StageSpec(BaseModel):
    """One pipeline stage: interpreter, virtualenv, kernel, notebook, packages."""

    model_config = ConfigDict(
        extra="forbid",
        title="governed-mlops stage spec",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "oneOf": [{"required": ["python"]}, {"required": ["python_exe"]}],
        },
    )

    name: str = Field(
        pattern=NAME_PATTERN,
        description="Stage name; the file is env_specs/stage_<name>.yaml.",
    )
    python: Optional[str] = Field(
        None,
        description='Python version such as "3.11" (an installed interpreter is '
        "found), or the path of the interpreter that creates the venv.",
    )
    python_exe: Optional[str] = Field(
        None,
        description="Interpreter path (the original design's key); same as python.",
        json_schema_extra={"deprecated": True},
    )
    env_dir: str = Field(
        description="Folder of the stage's virtualenv, relative to the project root."
    )
    kernel_name: str = Field(
        pattern=KERNEL_PATTERN,
        description="Name of the Jupyter kernel registered for this stage.",
    )
    display_name: Optional[str] = Field(
        None, description="Readable kernel name shown in Jupyter."
    )
    notebook: str = Field(description="Notebook the stage runs, relative to the root.")
    packages: list[Requirement_] = Field(
        default_factory=list,
        description="PEP 508 requirements; ipykernel and the project's own "
        "dependencies are added.",
    )
    constraints: Optional[str] = Field(
        None, description="Constraints file applied when locking, relative to root."
    )
    index_url: Optional[str] = Field(
        None, description="Package index for this stage (default: the project's)."
    )
    extra_index_urls: list[str] = Field(default_factory=list)
    find_links: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Default notebook parameters, overridden on the command line.",
    )
    inputs: list[RelativeGlob_] = Field(
        default_factory=list,
        description="Files the notebook reads (globs relative to the project "
        "root): `mlops pipeline run` runs the stage again when their content "
        "changes.",
    )
    outputs: list[RelativeGlob_] = Field(
        default_factory=list,
        description="Files the notebook writes (globs relative to the project "
        "root): cached after each successful run, restored when missing.",
    )
    models: list[ModelSpec] = Field(
        default_factory=list,
        description="Model files the notebook writes: each is logged as an "
        "MLflow model on the stage's run after the notebook succeeds, and "
        "registered when it has a registered_name.",
    )
    notes: str = ""

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, value: list[ModelSpec]) -> list[ModelSpec]:
        paths = [model.path for model in value]
        twice = sorted({path for path in paths if paths.count(path) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} declared more than once")
        return value

    @field_validator("python", "python_exe", mode="before")
    @classmethod
    def _quoted_version(cls, value: object) -> object:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(
                f"YAML reads {value!r} as a number; quote the version, "
                f'e.g. python: "3.10"'
            )
        return value

    @model_validator(mode="after")
    def _one_interpreter(self) -> "StageSpec":
        if self.python and self.python_exe:
            raise ValueError("give python or python_exe, not both")
        if not (self.python or self.python_exe):
            raise ValueError('python is required: a version such as "3.11" or a path')
        if self.python is None:
            self.python = self.python_exe
            self.python_exe = None
        return self


@dataclass
class Stage:
    """A validated spec with its paths resolved against the project root."""

    spec: StageSpec
    source: Path
    project: Project
    interpreter: Optional[Interpreter] = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kernel_name(self) -> str:
        return self.spec.kernel_name

    @property
    def display_name(self) -> str:
        if self.spec.display_name:
            return self.spec.display_name
        version = self.interpreter.minor if self.interpreter else self.spec.python
        return f"{self.project.package}: {self.name} (Python {version})"

    @property
    def env_dir(self) -> Path:
        return Path(portable_path(self.spec.env_dir, self.project.root))

    @property
    def python(self) -> Path:
        """The stage venv's interpreter."""
        return Path(venv_python(self.env_dir))

    @property
    def notebook(self) -> Path:
        return Path(portable_path(self.spec.notebook, self.project.root))

    @property
    def constraints(self) -> Optional[Path]:
        if not self.spec.constraints:
            return None
        return Path(portable_path(self.spec.constraints, self.project.root))

    @property
    def relative_source(self) -> str:
        return self.source.relative_to(self.project.root).as_posix()


def _field_path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


# What a list-valued key holds, for the message when it is not a list.
LIST_EXAMPLES = {
    "inputs": (" of globs relative to the project", "[data/raw/*.csv]"),
    "outputs": (" of globs relative to the project", "[models/*.joblib]"),
    "packages": (" of requirements", '["pandas>=2.1"]'),
    "extra_index_urls": (" of index URLs", "[https://pypi.example.com/simple/]"),
    "models": (" of models", "[{path: models/model.joblib}]"),
}


def _shape(value: Any) -> str:
    """A value as a user wrote it: its YAML kind and text."""
    kind = {str: "text", dict: "a mapping", int: "a number", float: "a number"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"


def describe(error: ValidationError, source: str) -> list[str]:
    """Readable lines, one per problem: ``file: field: what and how to fix``."""
    lines = []
    for item in error.errors():
        where = _field_path(item["loc"])
        key = str(item["loc"][-1]) if item["loc"] else ""
        if item["type"] == "extra_forbidden":
            nested = item["loc"][0] == "models" and len(item["loc"]) > 1
            allowed = list((ModelSpec if nested else StageSpec).model_fields)
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(
                f"{source}: unknown key {where!r}{hint}; allowed keys: "
                + ", ".join(allowed)
            )
        elif item["type"] == "missing":
            lines.append(f"{source}: missing required key {where!r}")
        elif item["type"] == "string_pattern_mismatch" and where == "name":
            lines.append(
                f"{source}: name: {item['input']!r} must be lowercase letters, digits "
                f"and underscores starting with a letter, e.g. data_prep"
            )
        elif item["type"] == "string_pattern_mismatch" and key in (
            "kernel_name",
            "registered_name",
        ):
            first = ", starting with a letter or digit" if key != "kernel_name" else ""
            lines.append(
                f"{source}: {where}: {item['input']!r} may only hold letters, "
                f"digits, '.', '_' and '-'{first}"
            )
        elif item["type"] == "list_type":
            what, example = LIST_EXAMPLES.get(key, ("", "[first, second]"))
            lines.append(
                f"{source}: {where}: must be a list{what}, e.g. {example} (or one "
                f"`- item` line each), not {_shape(item['input'])}"
            )
        elif item["type"] == "literal_error" and key == "flavor":
            lines.append(
                f"{source}: {where}: {item['input']!r} is not a flavor the runner "
                f"logs; allowed: {', '.join(MODEL_FLAVORS)}"
            )
        else:
            message = item["msg"].removeprefix("Value error, ")
            prefix = f"{where}: " if where else ""
            lines.append(f"{source}: {prefix}{message}")
    return lines


def parse_spec(path: Path, relative: str) -> StageSpec:
    """Read and validate one spec file (no cross-stage or machine checks)."""
    spec, problems = _parse(path, relative)
    if spec is None:
        raise SpecError("\n".join(problems))
    return spec


def _parse(path: Path, relative: str) -> tuple[Optional[StageSpec], list[str]]:
    """The spec, or None and one line per problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return None, [f"{relative}: not UTF-8 text (byte {error.start}); save it so"]
    except OSError as error:
        return None, [f"{relative}: cannot be read ({error.strerror or error})"]
    try:
        data = safe_load(text, numbers=True)
    except NumberSurprise as error:
        return None, [f"{relative}: {describe_error(error)}"]
    except yaml.YAMLError as error:
        return None, [f"{relative}: not valid YAML: {describe_error(error)}"]
    if not isinstance(data, dict):
        return None, [f"{relative}: must be a mapping of keys such as name, python"]
    try:
        spec = StageSpec.model_validate(data)
    except ValidationError as error:
        return None, describe(error, relative)
    expected = path.name.removeprefix("stage_").removesuffix(".yaml")
    if spec.name != expected:
        return None, [
            f"{relative}: name: {spec.name!r} does not match the file name; "
            f"name it {expected!r} or rename the file to stage_{spec.name}.yaml"
        ]
    return spec, []


def stage_order(project: Project) -> list[str]:
    """Stage names in pipeline order, from ``[tool.governed-mlops] stages``."""
    stages = declared_order(project)
    if stages is None:
        raise SpecError(
            "pyproject.toml: [tool.governed-mlops] stages must be a list of stage "
            'names in run order, e.g. ["data_prep", "train"]'
        )
    return stages


@dataclass(frozen=True)
class Problem:
    """One line of a spec problem and the stages it concerns (none: a warning
    for every command, such as a spec file the pipeline does not list)."""

    message: str
    stages: tuple[str, ...] = ()


@dataclass
class Survey:
    """Every listed stage's verdict: the valid stages and what is wrong with the
    others, so that one bad spec fails only the commands that need its stage."""

    order: list[str]  # every name in [tool.governed-mlops] stages
    stages: dict[str, Stage]  # the valid ones, in pipeline order
    parsed: dict[str, Stage]  # every spec that parsed, valid or not
    problems: list[Problem]

    def invalid(self) -> dict[str, list[str]]:
        """The problem lines of each invalid stage, in pipeline order."""
        found: dict[str, list[str]] = {}
        for name in self.order:
            lines = [p.message for p in self.problems if name in p.stages]
            if lines:
                found[name] = lines
        return found

    def concerning(self, names: list[str]) -> list[str]:
        """The problem lines of the stages ``names``."""
        wanted = set(names)
        return [p.message for p in self.problems if wanted & set(p.stages)]

    def others(self, names: list[str]) -> list[str]:
        """The problem lines that concern none of the stages ``names``."""
        wanted = set(names)
        return [p.message for p in self.problems if not wanted & set(p.stages)]

    def strict(self) -> dict[str, Stage]:
        """Every stage; raise :class:`SpecError` listing every problem."""
        if self.problems:
            raise SpecError("\n".join(p.message for p in self.problems))
        return self.stages

    def lookup(self, wanted: list[str]) -> list[str]:
        """Stage names for names or spec paths; :class:`SpecError` for a name
        that is not a stage."""
        keys = [stage_key(name) for name in wanted]
        for key in keys:
            if key not in self.order:
                raise SpecError(
                    f"no stage {key!r}; stages: {', '.join(self.order) or 'none'} "
                    f"(see `mlops stage list`)"
                )
        return list(dict.fromkeys(keys))

    def require(self, names: list[str]) -> list[Stage]:
        """The stages ``names`` (names or spec paths), each valid, else
        :class:`SpecError` with their problems; first prints the problems of
        other stages as warnings (:meth:`warn`)."""
        keys = self.lookup(names)
        self.warn(keys)
        lines = self.concerning(keys)
        if lines:
            raise SpecError("\n".join(lines))
        return [self.stages[key] for key in keys]

    def warn(self, names: list[str]) -> None:
        """Print the problems concerning none of ``names`` on stderr, one
        ``mlops: warning:`` line each."""
        for line in self.others(names):
            print(f"mlops: warning: {line}", file=sys.stderr)


def survey(project: Project, *, machine: bool = True) -> Survey:
    """Validate every spec without stopping at the first bad one.

    Raises :class:`SpecError` only when ``[tool.governed-mlops] stages`` is not
    a list of names; ``machine`` as in :func:`load_stages`.
    """
    order = stage_order(project)
    use_cache(project.state_dir / "interpreters.json")
    files = spec_files(project)
    problems = [
        Problem(message, (name,) if listed else ())
        for message, name, listed in order_conflicts(order, files)
    ]
    parsed: dict[str, Stage] = {}
    for name in order:
        if name not in files:
            continue
        relative = f"env_specs/{files[name].name}"
        spec, lines = _parse(files[name], relative)
        if spec is not None:
            stage = Stage(spec=spec, source=files[name], project=project)
            lines = file_problems(
                relative, spec.notebook, spec.constraints, project.root
            )
            version = python_problem(spec.python, project.requires_python)
            if version:
                lines.append(f"{relative}: python: {version}")
            elif machine:
                lines += _machine_problems(stage)
            parsed[name] = stage
        problems += [Problem(line, (name,)) for line in lines]
    problems += [
        Problem(message, pair)
        for message, pair in shared_conflicts(
            (
                Declared(s.name, s.relative_source, s.spec.env_dir, s.kernel_name)
                for s in parsed.values()
            ),
            project.root,
        )
    ]
    bad = {name for problem in problems for name in problem.stages}
    stages = {name: stage for name, stage in parsed.items() if name not in bad}
    return Survey(order=order, stages=stages, parsed=parsed, problems=problems)


def load_stages(project: Project, *, machine: bool = True) -> dict[str, Stage]:
    """Every stage in pipeline order, validated; :class:`SpecError` lists every
    problem of every spec.

    ``machine=False`` checks only what the files say; ``machine=True`` also
    finds each stage's interpreter and checks it against ``requires-python``.
    """
    return survey(project, machine=machine).strict()


def _machine_problems(stage: Stage) -> list[str]:
    where = stage.relative_source
    key = "python"
    try:
        stage.interpreter = resolve(stage.spec.python or "", stage.project.root)
    except InterpreterNotFound as error:
        return [f"{where}: {key}: {error}"]
    required = stage.project.requires_python
    if required and stage.interpreter.full not in SpecifierSet(required):
        return [
            f"{where}: {key}: Python {stage.interpreter.full} does not satisfy the "
            f"project's requires-python {required!r} (pyproject.toml), and the stage "
            f"env installs the project; choose a version it allows"
        ]
    return []


def stage_key(name: str) -> str:
    """The stage name in ``name``, also given as its spec path (the original
    design's scripts pass ``env_specs/stage_<name>.yaml``)."""
    key = Path(name.replace("\\", "/")).name
    return key.removeprefix("stage_").removesuffix(".yaml")


def select(stages: dict[str, Stage], name: str) -> Stage:
    """The stage called ``name`` (or given by its spec path)."""
    key = stage_key(name)
    if key not in stages:
        raise SpecError(
            f"no stage {key!r}; stages: {', '.join(stages) or 'none'} "
            f"(see `mlops stage list`)"
        )
    return stages[key]


def load_stage(project: Project, name: str, *, machine: bool = True) -> Stage:
    """One stage by name or spec path; every spec is validated."""
    return select(load_stages(project, machine=machine), name)


def schema_text() -> str:
    """The JSON Schema shipped as ``env_specs/stage.schema.json``."""
    import json

    schema = StageSpec.model_json_schema()
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"
