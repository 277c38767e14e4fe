"""The template at its previous policy version, rebuilt for the update tests.

This repository has no 1.0.0 tag to check out, so ``to_1_0_0`` turns a copy of
the current template into policy 1.0.0's layout: each step undoes one
structural change of 1.1.0 (the inverse of one migration in hooks/migrations).
``versioned_template`` commits that as tag 1.0.0 and the current tree on top
as tag 1.1.0. When cutting a release, rewrite this module so it builds the
release being superseded (docs/maintainers.md#cutting-a-release).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from conftest import REPO, copy_working_tree, git

sys.path.insert(0, str(REPO / "hooks" / "migrations"))

from flake8_config import FLAKE8_1_0_0  # noqa: E402

PREVIOUS, CURRENT = "1.0.0", "1.2.0"


def flake8_in_setup_cfg(root: Path) -> None:
    """1.0.0 kept flake8's settings in setup.cfg (flake8_config.py)."""
    (root / "template" / ".flake8").unlink()
    (root / "template" / "setup.cfg").write_text(FLAKE8_1_0_0, encoding="utf-8")


def specs_say_params(root: Path) -> None:
    """1.0.0 stage specs named the notebook parameters ``params:``
    (stage_parameters.py); its schema said so too."""
    for spec in (root / "template" / "env_specs").glob("stage_*.yaml.jinja"):
        text = spec.read_text(encoding="utf-8")
        spec.write_text(re.sub(r"(?m)^parameters:", "params:", text), "utf-8")
    schema = root / "template" / "env_specs" / "stage.schema.json"
    text = schema.read_text(encoding="utf-8")
    schema.write_text(text.replace('"parameters": {', '"params": {'), "utf-8")


def tool_mlops_table(root: Path) -> None:
    """1.0.0's ``mlops`` read ``[tool.mlops]`` (tool_table.py)."""
    pyproject = root / "template" / "pyproject.toml.jinja"
    text = pyproject.read_text(encoding="utf-8")
    assert "[tool.governed-mlops]" in text
    pyproject.write_text(text.replace("[tool.governed-mlops]", "[tool.mlops]"), "utf-8")
    project_py = root / "template" / "src" / "governed_mlops" / "project.py"
    text = project_py.read_text(encoding="utf-8")
    assert 'TOOL_TABLE = "governed-mlops"' in text
    project_py.write_text(text.replace('"governed-mlops"', '"mlops"', 1), "utf-8")


def policy_version(root: Path) -> None:
    """The checker, where there is one, says it is policy 1.0.0."""
    for module in (root / "template" / "src" / "governed_mlops").glob("policy/*.py"):
        text = module.read_text(encoding="utf-8")
        new = re.sub(r'(?m)^(POLICY_VERSION\b[^=\n]*= *)"[^"]*"', r'\1"1.0.0"', text)
        if new != text:
            module.write_text(new, encoding="utf-8")


def to_1_0_0(root: Path) -> None:
    """Turn a copy of the current template repository into policy 1.0.0."""
    flake8_in_setup_cfg(root)
    specs_say_params(root)
    tool_mlops_table(root)
    policy_version(root)


def versioned_template(dest: Path) -> Path:
    """A template git repository with tags 1.0.0 (rebuilt) and 1.1.0 (current)."""
    to_1_0_0(copy_working_tree(dest))
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", f"policy {PREVIOUS}", cwd=dest)
    git("tag", PREVIOUS, cwd=dest)
    for child in dest.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    copy_working_tree(dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", f"policy {CURRENT}", cwd=dest)
    git("tag", CURRENT, cwd=dest)
    return dest
