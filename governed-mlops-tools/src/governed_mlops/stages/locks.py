"""Per-stage locks: ``env_specs/locks/<stage>.txt``, committed, installed from.

A lock starts with a header holding the digest of everything it was resolved
from (requirements, constraints, index options, Python version). A lock whose
digest still matches is reused as it is; otherwise the stage is locked again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..hashes import file_sha, text_sha

DIGEST_LINE = "# mlops-lock-input: "
KERNEL_REQUIREMENT = "ipykernel>=6.29"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


MLFLOW_CLIENTS = frozenset({"mlflow", "mlflow-skinny"})


def runner_mlflow() -> str | None:
    """The mlflow version of the env that runs mlops, if it has one."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlflow")
    except PackageNotFoundError:
        return None


def lock_inputs(packages: list[str], project_dependencies: list[str]) -> list[str]:
    """What a stage env holds: its packages, ipykernel, the project's
    dependencies; and, where it has an MLflow client, the runner's mlflow
    version: each release may move the SQLite store's schema, and a client of
    another release refuses the store the runner and the kernels share."""
    found = [*packages, KERNEL_REQUIREMENT, *project_dependencies]
    names = {canonicalize_name(Requirement(r).name) for r in found}
    pinned = runner_mlflow()
    if pinned:
        found += [f"{client}=={pinned}" for client in sorted(names & MLFLOW_CLIENTS)]
    return sorted(
        dict.fromkeys(found),
        key=lambda r: (canonicalize_name(Requirement(r).name), r),
    )


def input_digest(
    requirements: list[str],
    python_minor: str,
    constraints: str | None,
    index: dict[str, object],
) -> str:
    payload = {
        "requirements": requirements,
        "python": python_minor,
        "constraints": constraints,
        "index": index,
    }
    text = json.dumps(payload, sort_keys=True)
    return "sha256:" + text_sha(text)


def header(stage: str, digest: str) -> str:
    return (
        f"# Lock of stage {stage}, written by `mlops stage create {stage}`: do not\n"
        f"# edit. Change env_specs/stage_{stage}.yaml and run `mlops stage create "
        f"{stage}`.\n{DIGEST_LINE}{digest}\n"
    )


def read_digest(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(DIGEST_LINE):
                    return line[len(DIGEST_LINE) :].strip()
                if not line.startswith("#"):
                    return None
    except OSError:
        return None
    return None


def pins(text: str, environment: dict[str, str] | None = None) -> dict[str, str]:
    """``{normalized name: version}`` of the pinned lines of a lock or freeze.

    Locks are universal (one for every platform): a line whose marker does not
    hold in ``environment`` (the stage interpreter's marker values) is skipped.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split(" \\")[0].strip()
        if not _PIN.match(line):
            continue
        requirement = Requirement(line)
        if requirement.marker and environment is not None:
            if not requirement.marker.evaluate(environment):
                continue
        version = str(requirement.specifier).removeprefix("==")
        found[canonicalize_name(requirement.name)] = version
    return found


MARKER_ENV_CODE = """
import json, os, platform, sys
impl = sys.implementation
v = impl.version
iver = "%d.%d.%d" % (v.major, v.minor, v.micro)
if v.releaselevel != "final":
    iver += v.releaselevel[0] + str(v.serial)
print(json.dumps({
    "implementation_name": impl.name,
    "implementation_version": iver,
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}))
"""


def file_sha256(path: Path) -> str:
    return "sha256:" + file_sha(path)


def differences(
    before: dict[str, str], after: dict[str, str]
) -> list[tuple[str, str | None, str | None]]:
    """``(name, before, after)`` for every package whose pin differs, by name."""
    return [
        (name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
