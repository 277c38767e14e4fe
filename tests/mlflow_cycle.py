"""One stage run's store calls, made by the tools with whatever mlflow the
running interpreter has, then read back with that mlflow's own client.

Run as ``python mlflow_cycle.py TRACKING_URI WORK_DIR``; prints a JSON report.
tests/test_mlflow_versions.py runs it with the lowest and the newest mlflow
the tools support.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace


class Secret(str):
    def get_secret_value(self) -> str:
        return str(self)


def main(uri: str, work: Path) -> dict[str, object]:
    import mlflow
    from mlflow.tracking import MlflowClient

    from governed_mlops.runner import store

    settings = SimpleNamespace(
        mlflow_tracking_uri=uri,
        mlflow_experiment="cycle",
        mlflow_tracking_username="",
        mlflow_tracking_password=Secret(""),
        mlflow_artifacts_dir=work / "artifacts",
    )
    opened = store.open_store(settings)  # type: ignore[arg-type]
    run_id = opened.create_run(
        {"mlflow.runName": "cycle", "mlflow.user": "ci", "stage": "cycle"}
    )
    # More than one batch of params (MLflow takes 100 per call).
    opened.log_params(run_id, {f"p{n:03}": str(n) for n in range(150)})
    opened.set_tag(run_id, "run.end", "now")
    bundle = work / "bundle"
    bundle.mkdir()
    (bundle / "pip-freeze.txt").write_text("mlflow==" + mlflow.__version__ + "\n")
    opened.log_artifacts(run_id, bundle, "audit")
    opened.set_terminated(run_id, "FINISHED", store.millis())
    found = opened.last_run({"stage": "cycle"}, "FINISHED")
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    return {
        "mlflow": mlflow.__version__,
        "store": type(opened).__name__,
        "status": run.info.status,
        "ended": bool(run.info.end_time),
        "params": len(run.data.params),
        "tag": run.data.tags.get("run.end"),
        "artifacts": [a.path for a in client.list_artifacts(run_id, "audit")],
        "found": found.run_id == run_id if found else False,
        "read": opened.read_artifact(run_id, "audit/pip-freeze.txt"),
        "has_run": [opened.has_run(run_id), opened.has_run("0" * 32)],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]))))
