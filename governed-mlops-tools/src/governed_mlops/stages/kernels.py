"""Stage kernels, registered in a project-local Jupyter data directory.

Kernels live in ``.mlops/jupyter/kernels/<kernel_name>/kernel.json``, not in
a user profile: a CI service account cannot see another user's kernels. The
runner puts ``.mlops/jupyter`` first on ``JUPYTER_PATH`` so it finds them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from ..project import Project
from ..files import write_json


def kernel_spec_dir(project: Project, kernel_name: str) -> Path:
    return project.jupyter_dir / "kernels" / kernel_name.lower()


def kernel_spec(python: Path, display_name: str, stage: str) -> dict[str, Any]:
    """A kernelspec that starts ipykernel with the stage venv's interpreter."""
    return {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "metadata": {"debugger": True, "governed_mlops": {"stage": stage}},
    }


def write_kernel(project: Project, kernel_name: str, spec: dict[str, Any]) -> Path:
    return write_json(kernel_spec_dir(project, kernel_name) / "kernel.json", spec)


def read_kernel(project: Project, kernel_name: str) -> dict[str, Any] | None:
    path = kernel_spec_dir(project, kernel_name) / "kernel.json"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return spec if isinstance(spec, dict) else None


def jupyter_path_env(
    project: Project, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``JUPYTER_PATH`` with the project's kernels first, for the runner's env."""
    environ = os.environ if environ is None else environ
    existing = environ.get("JUPYTER_PATH", "")
    parts = [str(project.jupyter_dir)] + [p for p in existing.split(os.pathsep) if p]
    return {"JUPYTER_PATH": os.pathsep.join(dict.fromkeys(parts))}
