"""CycloneDX SBOMs of the project env and of each stage env (cyclonedx-bom).

A stage env's SBOM is written when the env is built (``mlops stage create``)
and kept in it (:data:`SBOM_NAME`), with the digest of the distributions it
describes in the env's marker: a run or ``mlops deps sbom`` reuses it while
the env holds what it was built with, and makes a new one otherwise.

cyclonedx-bom runs in the project env (``python -m cyclonedx_py``) and reads
another env through that env's interpreter, whatever its Python version. Its
output is reproducible (no timestamp or serial number), so the same env gives
the same file and the same hash.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CommandError
from ..files import write_atomic
from ..hashes import data_sha

SBOM_NAME = "mlops-sbom.cdx.json"  # in a stage env, beside its marker
SPEC_VERSION = "1.6"
PROPERTY_PREFIX = "governed-mlops:"


class SbomError(CommandError):
    """cyclonedx-bom is missing, failed, or wrote no SBOM."""


@dataclass(frozen=True)
class Subject:
    """What an SBOM describes: the env's own component (``metadata.component``)."""

    name: str
    version: str
    description: str
    properties: dict[str, str] = field(default_factory=dict)

    def component(self) -> dict[str, Any]:
        return {
            "type": "application",
            "bom-ref": f"{self.name}=={self.version}",
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "properties": [
                {"name": PROPERTY_PREFIX + key, "value": value}
                for key, value in sorted(self.properties.items())
            ],
        }


def require_cyclonedx() -> None:
    if importlib.util.find_spec("cyclonedx_py") is None:
        raise SbomError(
            f"cyclonedx-bom is not installed in {sys.prefix}: run `uv sync` "
            f"(the tools' pipeline extra has it)"
        )


def environment_sbom(python: Path, subject: Subject) -> bytes:
    """The CycloneDX JSON SBOM of the env whose interpreter is ``python``."""
    require_cyclonedx()
    done = subprocess.run(
        [
            sys.executable, "-m", "cyclonedx_py", "environment",
            "--spec-version", SPEC_VERSION,
            "--output-format", "JSON",
            # No timestamp or serial number: the same env, the same bytes.
            "--output-reproducible",
            # The schema check costs 20 s of CPU; the tests validate the output.
            "--no-validate",
            "--output-file", "-",
            str(python),
        ],
        capture_output=True,
    )  # fmt: skip
    try:
        data = json.loads(done.stdout)
        ok = done.returncode == 0 and data.get("bomFormat") == "CycloneDX"
    except ValueError:
        ok = False
    if not ok:
        # cyclonedx-py can exit 0 having written nothing: judge by the output.
        stderr = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = stderr[-1] if stderr else f"exit code {done.returncode}, no output"
        raise SbomError(f"cyclonedx-bom could not describe {python}: {last}")
    data.setdefault("metadata", {})["component"] = subject.component()
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")


def write_sbom(python: Path, subject: Subject, output: Path) -> str:
    """Write the SBOM of ``python``'s env to ``output``; returns its SHA-256."""
    data = environment_sbom(python, subject)
    write_atomic(output, data)
    return data_sha(data)


def components(sbom: dict[str, Any]) -> dict[str, str]:
    """The packages an SBOM lists: ``{name: version}``."""
    return {
        str(item.get("name")): str(item.get("version", ""))
        for item in sbom.get("components", [])
    }
