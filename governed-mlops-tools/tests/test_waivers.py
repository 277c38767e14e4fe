"""Waivers in [tool.governance]: what the policy accepts and refuses."""

from __future__ import annotations

import datetime as dt

import pytest

from governed_mlops.policy import waivers
from governed_mlops.policy.waivers import WaiverError

KNOWN = ["GOV105", "GOV302"]
TODAY = dt.date(2026, 12, 1)


def table(**entry) -> dict:
    return {"waivers": [{"reason": "r", "expires": dt.date(2027, 1, 31), **entry}]}


def test_a_complete_waiver_is_accepted():
    (waiver,) = waivers.parse(table(rule="gov105"), KNOWN)
    assert (waiver.rule, waiver.expires) == ("GOV105", dt.date(2027, 1, 31))
    assert not waiver.expired(TODAY) and waiver.expired(dt.date(2027, 2, 1))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"rule": "GOV999"}, "waivers[0].rule: 'GOV999' is not a policy rule"),
        (
            {"rule": "GOV105", "reason": " "},
            "waivers[0].reason: a waiver of GOV105 needs",
        ),
        (
            {"rule": "GOV105", "expires": "soon"},
            "waivers[0].expires: 'soon' is not a date",
        ),
        ({"rule": "GOV105", "owner": "me"}, "unknown key(s) owner; allowed: rule"),
    ],
)
def test_an_incomplete_waiver_is_refused_naming_its_field(entry, message):
    with pytest.raises(WaiverError) as refused:
        waivers.parse(table(**entry), KNOWN)
    assert str(refused.value).startswith("pyproject.toml: [tool.governance] ")
    assert message in str(refused.value)


def test_a_waiver_without_expiry_is_refused():
    with pytest.raises(WaiverError, match="needs an expiry date"):
        waivers.parse({"waivers": [{"rule": "GOV105", "reason": "r"}]}, KNOWN)


def test_plugin_rule_waivers_are_trusted_only_without_the_plugins():
    """The reports after copier copy/update run without plugins (they live in
    the project's env): a waiver of ACME101 must not stop them; with plugins
    loaded and no ACME101 registered it is refused."""
    assert waivers.parse(table(rule="ACME101"), KNOWN, plugin_ids_ok=True)
    with pytest.raises(WaiverError, match="'ACME101' is not a policy rule") as refused:
        waivers.parse(table(rule="ACME101"), KNOWN)
    assert (
        "no installed policy plugin registers it. If the plugin that had it was "
        "dropped from the answer policy_plugins, delete the waiver"
    ) in str(refused.value)
    with pytest.raises(WaiverError, match="'GOV999' is not a policy rule"):
        waivers.parse(table(rule="GOV999"), KNOWN, plugin_ids_ok=True)


def test_waivers_must_be_a_list_of_tables():
    with pytest.raises(WaiverError, match="must be a list of tables"):
        waivers.parse({"waivers": "GOV105"}, KNOWN)
    with pytest.raises(WaiverError, match=r"waivers\[0\] must be a table"):
        waivers.parse({"waivers": ["GOV105"]}, KNOWN)


def test_waivers_of_organisation_rules_are_found_without_the_plugins():
    table = {
        "waivers": [
            {"rule": "GOV105"},
            {"rule": " acme101 "},
            "not a table",
            {"rule": "ORG207", "reason": "r"},
            {"rule": "nonsense"},
        ]
    }
    assert waivers.foreign_rules(table) == ["ACME101", "ORG207"]
    assert waivers.foreign_rules({"waivers": "GOV105"}) == []
