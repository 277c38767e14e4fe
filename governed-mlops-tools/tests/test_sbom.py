"""CycloneDX SBOMs of an env, by the real cyclonedx-bom."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from governed_mlops.supply import sbom

SUBJECT = sbom.Subject(
    "demo-stage-train", "0.1.0", "stage env of train", {"stage": "train"}
)


def test_an_env_is_described_the_same_twice_with_its_own_component(tmp_path):
    first = sbom.environment_sbom(Path(sys.executable), SUBJECT)
    digest = sbom.write_sbom(Path(sys.executable), SUBJECT, tmp_path / "s.json")
    assert (tmp_path / "s.json").read_bytes() == first  # reproducible
    assert digest == hashlib.sha256(first).hexdigest()
    data = json.loads(first)
    assert "serialNumber" not in data and "timestamp" not in data["metadata"]
    component = data["metadata"]["component"]
    assert component["name"] == "demo-stage-train" and component["version"] == "0.1.0"
    assert {"name": "governed-mlops:stage", "value": "train"} in component["properties"]
    listed = sbom.components(data)
    for package in ("PyYAML", "pydantic", "packaging"):
        assert listed[package] == version(package), package


def test_without_cyclonedx_bom_it_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "cyclonedx_py" else real(name, *a),
    )
    with pytest.raises(sbom.SbomError, match="cyclonedx-bom is not installed in "):
        sbom.environment_sbom(Path(sys.executable), SUBJECT)


def test_an_env_it_cannot_read_fails_naming_it(tmp_path):
    missing = tmp_path / "nowhere" / "bin" / "python"
    with pytest.raises(sbom.SbomError, match=f"could not describe {missing}: "):
        sbom.write_sbom(missing, SUBJECT, tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()
