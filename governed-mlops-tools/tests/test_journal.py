"""A run's store calls once the store is away: kept in .mlops/pending with
the bundle, replayed in order by journal.sync against a real store."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from governed_mlops.runner import journal, store, tracking


class Secret(str):
    def get_secret_value(self) -> str:
        return str(self)


def settings(tmp_path: Path, uri: str) -> SimpleNamespace:
    return SimpleNamespace(
        mlflow_tracking_uri=uri,
        mlflow_tracking_username="",
        mlflow_tracking_password=Secret(""),
        mlflow_experiment="unit",
        mlflow_artifacts_dir=tmp_path / "artifacts",
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_is_tried_a_bounded_number_of_times(monkeypatch):
    monkeypatch.setattr(store, "RETRY_DELAYS", (0.0, 0.0))
    attempts = []

    def attempt() -> None:
        attempts.append(1)
        raise OSError("Connection refused")

    with pytest.raises(store.StoreUnavailable, match=r"Connection refused; 3 tries"):
        store.retried("http://127.0.0.1:9", attempt)
    assert len(attempts) == 3


def test_a_refusal_is_not_retried(tmp_path):
    import urllib.error

    attempts = []

    def attempt() -> None:
        attempts.append(1)
        raise urllib.error.HTTPError("http://x", 404, "not found", {}, None)

    with pytest.raises(urllib.error.HTTPError):
        store.retried("http://x", attempt)
    assert attempts == [1]


def test_calls_after_a_failure_are_kept_in_order_with_the_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "RETRY_DELAYS", (0.0,))
    uri = f"http://127.0.0.1:{closed_port()}"
    away = store.RestStore(uri, settings(tmp_path, uri), {"experiment_id": "1"})
    away.artifact_uris["r1"] = "mlflow-artifacts:/1/r1/artifacts"
    bundle = tmp_path / "artifacts" / "r1"
    bundle.mkdir(parents=True)
    (bundle / "run.log").write_text("log\n", encoding="utf-8")
    pending = tmp_path / ".mlops" / journal.PENDING_DIR
    record = journal.Journal(away, "r1", pending)
    record.log_params({"seed": "1"})
    assert record.offline and "could not be reached" in record.problem
    record.set_tags({"run.end": "now"})
    record.upload(bundle, "audit")
    record.end("FAILED")
    kept = json.loads((pending / "r1.json").read_text(encoding="utf-8"))
    assert kept["tracking_uri"] == uri and kept["problem"] == record.problem
    assert [call[0] for call in kept["calls"]] == [
        "log_params",
        "set_tag",
        "log_artifacts",
        "set_terminated",
    ]
    assert bundle.is_dir(), "kept until it is uploaded"
    assert not list(pending.glob("*.tmp"))
    # Another store's records wait for theirs.
    other = "http://127.0.0.1:1"
    elsewhere = store.RestStore(
        other, settings(tmp_path, other), {"experiment_id": "1"}
    )
    (skipped,) = journal.sync(elsewhere, tmp_path / ".mlops")
    assert not skipped.done and skipped.problem.startswith(f"recorded for {uri}")


def test_sync_replays_the_kept_calls_into_a_real_store(tmp_path):
    uri = tracking.sqlite_uri(tmp_path / "mlflow.db")
    real = store.MlflowStore(settings(tmp_path, uri))
    run_id = real.create_run({"mlflow.runName": "kept", "stage": "prep"})
    bundle = tmp_path / "bundles" / run_id  # the project's artifacts/<run_id>
    bundle.mkdir(parents=True)
    (bundle / "pip-freeze.txt").write_text("x==1\n", encoding="utf-8")
    state = tmp_path / ".mlops"
    # As the runner keeps a run once the store was found away.
    record = journal.Journal(real, run_id, state / journal.PENDING_DIR, problem="away")
    record.log_params({"seed": "3"})
    record.set_tags({"failure.error": journal.UNAVAILABLE})
    record.upload(bundle, "audit")
    record.end("FAILED")
    said: list[str] = []
    (synced,) = journal.sync(real, state, said.append)
    assert synced.done and synced.status == "FAILED"
    assert said == [f"recorded run {run_id} (FAILED), kept while the store was away"]
    run = real.client.get_run(run_id)
    assert run.info.status == "FAILED" and run.info.end_time
    assert run.data.params == {"seed": "3"}
    assert run.data.tags["failure.error"] == "TrackingStoreUnavailable"
    assert real.read_artifact(run_id, "audit/pip-freeze.txt") == "x==1\n"
    assert not bundle.exists() and journal.records(state) == []
    assert journal.sync(real, state) == []
