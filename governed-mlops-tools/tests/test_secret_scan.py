"""GOV201's secret scan: detect-secrets with the hook's settings, the cache of
its findings, the fallback where detect-secrets is missing, and reports that
never hold the secret (the corpus in secret_corpus.py; its measurement
against other scanners is tests/test_secret_scanning.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from governed_mlops.policy import secret_scan
from governed_mlops.policy.engine import check
from governed_mlops.policy.reports import RENDERERS
from governed_mlops.policy.testing import NotApplicable, check_rule, write_files
from secret_corpus import look_alikes, planted, write_corpus

HERE = Path(__file__).resolve().parent
SAMPLES = {sample.kind: sample for sample in planted() + look_alikes()}


def sample_files(*kinds: str) -> dict[str, str]:
    return {SAMPLES[kind].path: SAMPLES[kind].text for kind in kinds}


def test_the_corpus_as_written_holds_no_secret(tmp_path: Path):
    """The repository must not hold the secrets it plants: GOV201 and the
    detect-secrets hook read its sources and find nothing."""
    for name in ("secret_corpus.py", "test_secret_scan.py"):
        shutil.copy(HERE / name, tmp_path / name)
    assert check_rule("GOV201", tmp_path) == []
    hook = [sys.executable, "-m", "detect_secrets.pre_commit_hook"]
    result = subprocess.run(
        [*hook, *secret_scan.HOOK_ARGS, "secret_corpus.py", "test_secret_scan.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_reports_name_file_line_and_kind_never_the_secret(tmp_path: Path):
    samples = planted()
    write_corpus(tmp_path, samples)
    (tmp_path / ".mlops").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'corpus'\n")
    report = check(tmp_path, plugins=False)
    (outcome,) = [o for o in report.outcomes if o.rule.id == "GOV201"]
    where = {finding.path: finding for finding in outcome.findings}
    assert set(where) == {sample.path for sample in samples}
    assert where["src/app/db.py"].line == 1
    assert where["src/app/db.py"].message == "looks like a URL with a password"
    assert where["deploy/keys/signing.txt"].message == "looks like a private key"
    for name, render in RENDERERS.items():
        text = render(report)
        leaked = [s.kind for s in samples if s.secret in text]
        assert leaked == [], f"the {name} report prints the secret of {leaked}"
    cached = (tmp_path / secret_scan.CACHE).read_text()
    assert [s.kind for s in samples if s.secret in cached] == []


def test_the_rule_scans_as_the_hook_does(tmp_path: Path):
    """detect-secrets' own hook, with HOOK_ARGS, flags the files whose
    findings the rule owes to detect-secrets (not to its file names or its
    own patterns)."""
    samples = planted() + look_alikes()
    write_corpus(tmp_path, samples)
    names = [sample.path for sample in samples]
    hook = [sys.executable, "-m", "detect_secrets.pre_commit_hook", "--json"]
    result = subprocess.run(
        [*hook, *secret_scan.HOOK_ARGS, *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    by_hook = set(json.loads(result.stdout)["results"]) if result.stdout else set()
    own = {
        hit.path
        for sample in samples
        for hit in secret_scan.pattern_hits(
            sample.path, sample.text, secret_scan.OWN_PATTERNS
        )
    }
    named = {finding.path for finding in check_rule("GOV201", tmp_path)}
    by_name = {n for n in names if n.rpartition("/")[2].startswith(".env")}
    assert by_hook - own - by_name == named - own - by_name
    assert by_hook  # the hook ran and found the planted secrets


def test_an_allowlisted_line_is_no_finding():
    pragma = "  # pragma: allowlist secret"
    files = sample_files("password assignment", "database connection string")
    assert len(check_rule("GOV201", files)) == 2
    quiet = {
        name: "\n".join(line + pragma for line in text.splitlines()) + "\n"
        for name, text in files.items()
    }
    assert check_rule("GOV201", quiet) == []


def test_hook_exclusions_hold_for_every_pattern():
    """The Windows %VAR% and AWS's example keys are not secrets, whichever
    scanner reads them."""
    files = sample_files("`%VAR%` in a batch file URL", "AWS's published example key")
    assert check_rule("GOV201", files) == []
    for sample in (
        SAMPLES["`%VAR%` in a batch file URL"],
        SAMPLES["AWS's published example key"],
    ):
        assert (
            secret_scan.pattern_hits(
                sample.path, sample.text, secret_scan.BUILTIN_PATTERNS
            )
            == []
        )


def test_only_changed_files_are_scanned_again(tmp_path: Path, monkeypatch):
    write_files(tmp_path, sample_files("UUIDs", "password prompt"))
    assert check_rule("GOV201", tmp_path) == []
    assert not (tmp_path / ".mlops").exists()  # a report leaves no state
    (tmp_path / ".mlops").mkdir()  # what mlops commands make
    assert check_rule("GOV201", tmp_path) == []
    cache = json.loads((tmp_path / secret_scan.CACHE).read_text())
    assert set(cache["files"]) == {"config/ids.yaml", "src/app/login.py"}
    scanned: list[list[str]] = []
    real = secret_scan._detect_secrets

    def spy(root, names):
        scanned.append(list(names))
        return real(root, names)

    monkeypatch.setattr(secret_scan, "_detect_secrets", spy)
    assert check_rule("GOV201", tmp_path) == []
    assert scanned == []  # nothing changed: detect-secrets is not even imported
    slack = SAMPLES["Slack webhook"]
    (tmp_path / "src/app/login.py").write_text(slack.text)
    found = check_rule("GOV201", tmp_path)
    assert scanned == [["src/app/login.py"]]
    assert [(f.path, f.line) for f in found] == [("src/app/login.py", 1)]
    # The finding is kept while the file is unchanged; a broken cache is
    # read as no cache.
    assert [f.path for f in check_rule("GOV201", tmp_path)] == ["src/app/login.py"]
    (tmp_path / secret_scan.CACHE).write_text('{"key": 1, "files": [')
    assert [f.path for f in check_rule("GOV201", tmp_path)] == ["src/app/login.py"]
    assert len(scanned) == 2


def test_without_detect_secrets_the_built_in_patterns_stand_in(monkeypatch):
    """Under copier's own Python (no detect-secrets) the rule fails on what its
    patterns find, and never reports a clean scan as passed
    (tests/test_secret_scanning.py runs such a Python for real)."""
    monkeypatch.setattr(secret_scan, "detect_secrets_version", lambda: None)
    found = check_rule("GOV201", sample_files("RSA private key", "Slack webhook"))
    assert [(f.path, f.message) for f in found] == [
        ("deploy/keys/signing.txt", "looks like a private key")
    ]
    with pytest.raises(NotApplicable, match="only the built-in patterns"):
        check_rule("GOV201", sample_files("Slack webhook"))


def test_the_copy_report_runs_the_patterns_only_and_says_so(tmp_path: Path):
    """``check(detect_secrets=False)`` (the report at ``copier copy``): what
    only detect-secrets knows (a Slack webhook) goes unreported, what the
    patterns know still fails, and a clean result is not applicable."""
    samples = [s for s in planted() if s.kind in ("RSA private key", "Slack webhook")]
    write_corpus(tmp_path, samples)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'corpus'\n")

    def gov201(root: Path, **options: bool):
        report = check(root, plugins=False, write_cache=False, **options)
        return next(o for o in report.outcomes if o.rule.id == "GOV201")

    full = gov201(tmp_path)
    assert len({f.path for f in full.findings}) == 2
    partial = gov201(tmp_path, detect_secrets=False)
    assert [f.message for f in partial.findings] == ["looks like a private key"]
    for sample in samples:
        if sample.kind == "RSA private key":
            (tmp_path / sample.path).unlink()
    skipped = gov201(tmp_path, detect_secrets=False)
    assert skipped.status == "not applicable"
    assert "detect-secrets runs at the first commit" in skipped.note


def test_secret_file_names_are_findings_without_reading_them():
    found = check_rule("GOV201", {"deploy/.env": "A=1\n", ".env.example": "A=\n"})
    assert [(f.path, f.line, f.message) for f in found] == [
        ("deploy/.env", None, ".env files hold secrets and are never committed")
    ]


SCAN_IN_A_NEW_PROCESS = """
import json, sys
from pathlib import Path
if sys.argv[2] == "requests first":
    import requests
from governed_mlops.policy import secret_scan
root = Path(sys.argv[1])
texts = {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.*")}
found = secret_scan.scan(root, texts)
stand_in = "RequestException" in repr(
    sys.modules["detect_secrets.plugins.base"].requests.exceptions.RequestException
) and not hasattr(sys.modules["detect_secrets.plugins.base"].requests, "Session")
print(json.dumps({
    "hits": sorted([h.path, h.line, h.kind] for h in found.hits),
    "requests_imported": "requests" in sys.modules,
    "stand_in": stand_in,
}))
"""


def test_detect_secrets_is_loaded_without_requests_and_finds_the_same(
    tmp_path, monkeypatch
):
    """GOV201 never verifies, so detect-secrets gets a requests stand-in whose
    calls raise (and that costs no import of urllib3 and the rest); a process
    that has requests already keeps it. The findings are the same."""
    write_corpus(
        tmp_path, [SAMPLES[k] for k in ("Slack webhook", "Stripe secret key", "JWT")]
    )

    def scanned(mode: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", SCAN_IN_A_NEW_PROCESS, str(tmp_path), mode],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout)

    alone, beside = scanned("alone"), scanned("requests first")
    assert alone["stand_in"] and not alone["requests_imported"]
    assert beside["requests_imported"] and not beside["stand_in"]
    assert alone["hits"] == beside["hits"] and len(alone["hits"]) == 3
    monkeypatch.delitem(sys.modules, "requests", raising=False)  # as if unloaded
    with pytest.raises(Exception, match="never sends a secret"):
        with secret_scan._no_network():
            import requests

            requests.post("https://hooks.example.com/")


def test_a_detect_secrets_needing_more_of_requests_loads_with_it(tmp_path, monkeypatch):
    write_corpus(tmp_path, [SAMPLES["Slack webhook"]])

    class Lacking:
        def __enter__(self):
            raise AttributeError("module 'requests' has no attribute 'Session'")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(secret_scan, "_no_network", Lacking)
    (hit,) = secret_scan._detect_secrets(tmp_path, [SAMPLES["Slack webhook"].path])
    assert hit.path == SAMPLES["Slack webhook"].path
