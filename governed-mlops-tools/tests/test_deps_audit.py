"""`mlops deps audit` (`mlops ci audit`): the real pip-audit against an OSV
service on 127.0.0.1 serving a published record (requests before 2.31.0,
PYSEC-2023-74), over a tiny project's stage locks."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from osv_service import OsvService, load_records, RECORDS
from tiny_project import write_project

from governed_mlops.cli import main

VULNERABLE = "requests==2.30.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
CLEAN = "requests==2.31.0\nidna==3.7\n"
WAIVERS = "\n[[tool.governance.vulnerability-waivers]]\n"


@pytest.fixture(scope="module")
def service():
    with OsvService(load_records(RECORDS)) as running:
        yield running


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A tiny project whose two stage locks pin requests: prep a vulnerable
    release, fit a fixed one."""
    write_project(tmp_path, stages=("prep", "fit"), git=False)
    locks = tmp_path / "env_specs" / "locks"
    locks.mkdir()
    (locks / "fit.txt").write_text(CLEAN, encoding="utf-8")
    (locks / "prep.txt").write_text(
        "# Lock of stage prep\nidna==3.7 \\\n    --hash=sha256:"
        + "1" * 64
        + "\n"
        + VULNERABLE,
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def audit(service, *args: str) -> int:
    return main(["deps", "audit", "--osv-url", service.url, *args])


def waive(project: Path, ident: str, expires: str) -> None:
    with open(project / "pyproject.toml", "a", encoding="utf-8") as handle:
        handle.write(
            WAIVERS + f'id = "{ident}"\nreason = "no proxy in use; ops team"\n'
            f"expires = {expires}\n"
        )


def test_a_vulnerable_pin_fails_naming_the_id_and_the_fix(project, service, capsys):
    junit, sarif = project / "reports" / "audit.xml", project / "reports" / "a.sarif"
    code = audit(service, "--junit", str(junit), "--sarif", str(sarif))
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert (
        "  env_specs/locks/prep.txt:4: requests 2.30.0: PYSEC-2023-74 "
        "(CVE-2023-32681, GHSA-j8r2-6x86-q33q), fixed in 2.31.0" in out
    )
    assert "env_specs/locks/fit.txt" not in out, "2.31.0 is not affected"
    assert "4 package pin(s) in 2 lock(s) audited: 1 vulnerability(ies)" in out
    assert "mlops: error: known vulnerabilities: PYSEC-2023-74; upgrade" in err
    # Jenkins: one failing test case for the finding, the clean lock passes.
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = suite.find("testcase/failure/..")
    assert failed.get("classname") == "env_specs/locks/prep.txt"
    assert failed.get("name") == "requests 2.30.0 PYSEC-2023-74"
    # GitHub code scanning: a SARIF 2.1.0 result at the pin.
    from sarif_pydantic import Sarif

    document = Sarif.model_validate_json(sarif.read_text(encoding="utf-8"))
    (result,) = document.runs[0].results
    assert result.rule_id == "PYSEC-2023-74" and result.level == "error"
    place = result.locations[0].physical_location
    assert place.artifact_location.uri == "env_specs/locks/prep.txt"
    assert place.region.start_line == 4


def test_fixed_pins_pass(project, service, capsys):
    (project / "env_specs" / "locks" / "prep.txt").write_text(CLEAN)
    assert audit(service) == 0
    assert "audited: 0 vulnerability(ies)" in capsys.readouterr().out
    assert service.queries > 0


def test_a_waiver_holds_until_it_expires(project, service, capsys):
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    waive(project, "CVE-2023-32681", tomorrow.isoformat())  # an alias will do
    sarif = project / "a.sarif"
    assert audit(service, "--sarif", str(sarif)) == 0
    out = capsys.readouterr().out
    assert f"[waived until {tomorrow}: no proxy in use; ops team]" in out
    assert "1 vulnerability(ies)" not in out and ", 1 waived" in out
    (result,) = json.loads(sarif.read_text())["runs"][0]["results"]
    assert result["suppressions"][0]["kind"] == "external"

    text = (project / "pyproject.toml").read_text()
    yesterday = dt.date.today() - dt.timedelta(days=1)
    (project / "pyproject.toml").write_text(
        text.replace(tomorrow.isoformat(), yesterday.isoformat())
    )
    assert audit(service) == 1
    assert f"[its waiver expired on {yesterday}]" in capsys.readouterr().out


def test_a_waiver_without_a_reason_is_refused(project, service, capsys):
    with open(project / "pyproject.toml", "a", encoding="utf-8") as handle:
        handle.write(WAIVERS + 'id = "PYSEC-2023-74"\nexpires = 2030-01-01\n')
    assert audit(service) == 2
    assert (
        "pyproject.toml: [tool.governance] vulnerability-waivers[0].reason: a "
        "waiver of PYSEC-2023-74 needs a reason" in capsys.readouterr().err
    )


def test_the_service_away_fails_closed(project, capsys):
    away = OsvService([])  # a port that was bound and is closed again
    away.stop()
    code = main(["deps", "audit", "--osv-url", away.url])
    out, err = capsys.readouterr()
    assert code == 2
    assert "NOT AUDITED env_specs/locks/prep.txt: pip-audit could not audit it" in out
    assert "audited: 0 vulnerability(ies), 2 NOT AUDITED" in out
    assert (
        "mlops: error: 2 lock(s) or pin(s) NOT AUDITED (listed above), so not "
        f"known to be safe; check that {away.url} answers (the organisation's "
        "mirror: setting "
    ) in err
    assert "OSV_URL); --allow-unaudited goes on without them" in err
    # pip-audit's own error once, on its lock's line, not again in the error.
    assert "Connection refused" in out or "ConnectionError" in out
    assert "Connection" not in err
    assert "Traceback" not in out + err
    # Offline work: a warning, not a failure.
    assert main(["deps", "audit", "--osv-url", away.url, "--allow-unaudited"]) == 0
    capsys.readouterr()
    # A mirror's login in its URL is never shown, and its place is named.
    secret = "S3cretOSVpw"  # pragma: allowlist secret
    login = away.url.replace("http://", f"http://osvuser:{secret}@")
    assert main(["deps", "audit", "--osv-url", login]) == 2
    out, err = capsys.readouterr()
    assert secret not in out + err
    assert "against http://osvuser:***@127.0.0.1" in err
    assert "give the mirror's login in a netrc file instead" in err
    # A token in the query: shown masked, and kept out of the reports.
    token = "Zq8-osv-token"  # pragma: allowlist secret
    reports = ["--junit", "audit.xml", "--sarif", "audit.sarif"]
    assert (
        main(["deps", "audit", "--osv-url", f"{away.url}?token={token}", *reports]) == 2
    )
    out, err = capsys.readouterr()
    assert token not in out + err and "?token=***" in err
    assert "holds a password or token" in err
    for name in ("audit.xml", "audit.sarif"):
        assert token not in (project / name).read_text(encoding="utf-8")


def test_the_project_setting_names_the_mirror(project, service, monkeypatch, capsys):
    from tiny_project import imported

    monkeypatch.setenv("TINYGOV_OSV_URL", service.url)
    before = service.queries
    with imported(project, "tinygov"):
        assert main(["deps", "audit"]) == 1
    assert service.queries > before
    assert f"auditing 2 lock(s) against {service.url}" in capsys.readouterr().err


def test_a_stage_without_a_lock_is_not_audited(project, service, capsys):
    """CI would build it from its spec, resolved then, which no audit saw."""
    locks = project / "env_specs" / "locks"
    (locks / "prep.txt").write_text(CLEAN, encoding="utf-8")
    (locks / "fit.txt").unlink()
    assert audit(service) == 2
    out, err = capsys.readouterr()
    assert (
        "NOT AUDITED env_specs/locks/fit.txt: no lock: stage fit would install its "
        "spec's packages unaudited; run `mlops stage create fit` and commit "
        "env_specs/locks/fit.txt"
    ) in out
    assert "1 lock(s) or pin(s) NOT AUDITED (listed above)" in err
    assert "check that" not in err  # the service answered
    assert audit(service, "--allow-unaudited") == 0
