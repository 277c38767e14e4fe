"""ACME's rules on temporary folders, with the tools' testing helper."""

import pytest

import acme_policy.rules  # noqa: F401 (registers ACME101)
from governed_mlops.policy.testing import NotApplicable, check_rule


def test_owner_line_passes():
    assert check_rule("ACME101", {"README.md": "# Churn\n\nOwner: risk-models\n"}) == []


def test_missing_owner_is_a_finding():
    (finding,) = check_rule("ACME101", {"README.md": "# Churn\n"})
    assert finding.where == "README.md"
    assert "Owner: <team>" in finding.message


def test_no_readme_is_left_to_gov101():
    with pytest.raises(NotApplicable):
        check_rule("ACME101", {"pyproject.toml": ""})
