"""Stage envs built for real in a generated project: venvs, kernels, locks, faults.

The projects are built once per module (on one xdist worker); tests that
break a spec or an env put it back before they end.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import (
    REPO,
    TOOLS_VERSION,
    copy_project,
    install_project,
    mlops,
    python_for,
    run,
)
from pythons import SUPPORTED, find_python

pytestmark = pytest.mark.xdist_group("stage_envs")
STAGES = ("data_prep", "feature_eng", "train", "eval")

KERNEL_CLIENT = """
import sys
from jupyter_client.manager import start_new_kernel

manager, client = start_new_kernel(kernel_name=sys.argv[1], startup_timeout=120)
try:
    msg_id = client.execute("import sys; print(sys.executable)")
    out = []
    while True:
        msg = client.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    print("".join(out).strip())
finally:
    client.stop_channels()
    manager.shutdown_kernel(now=True)
"""


def stage_python(project: Path, stage: str) -> Path:
    return project / ".venvs" / stage / "bin" / "python"


@pytest.fixture(scope="module")
def built(tmp_path_factory, template_dir):
    """A default project with its four stage envs created."""
    project = copy_project(template_dir, tmp_path_factory.mktemp("p") / "proj")
    install_project(project, "3.11")
    created = mlops(project, "stage", "create", "--all")
    return project, created


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, template_dir):
    """A project with one small stage (only ipykernel and the project's deps)."""
    project = copy_project(template_dir, tmp_path_factory.mktemp("t") / "tiny")
    specs = project / "env_specs"
    text = (specs / "stage_data_prep.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^packages:.*?^(?=\w)", "packages: []\n", text)
    text = text.replace("data_prep", "tiny").replace("data-prep", "tiny")
    text = text.replace("notebooks/01-tiny", "notebooks/01-data-prep")
    for old in specs.glob("stage_*.yaml"):
        old.unlink()
    (specs / "stage_tiny.yaml").write_text(text, encoding="utf-8")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        re.sub(
            r"(?m)^stages = .*$",
            'stages = ["tiny"]',
            pyproject.read_text(encoding="utf-8"),
        ),
        encoding="utf-8",
    )
    install_project(project, "3.11")
    mlops(project, "stage", "create", "tiny")
    return project


@pytest.mark.slow
def test_create_all_builds_four_envs_with_locks_and_kernels(built):
    project, created = built
    for stage in STAGES:
        assert f"{stage}: built" in created.stdout
        assert f"[{stage}] installing" in created.stderr  # progress while it works
        lock = (project / "env_specs" / "locks" / f"{stage}.txt").read_text()
        assert "--hash=sha256:" in lock and "scikit-learn==" in lock
        freeze = (project / ".venvs" / stage / "mlops-freeze.txt").read_text()
        assert re.search(r"(?m)^scikit-learn==", freeze)
        kernel = project / ".mlops" / "jupyter" / "kernels"
        kernel = kernel / f"my-mlops-project-{stage.replace('_', '-')}" / "kernel.json"
        argv = json.loads(kernel.read_text())["argv"]
        assert argv[0] == str(stage_python(project, stage))
    imports = (
        "import sklearn, ipykernel, my_mlops_project.config as c; print(c.__file__)"
    )
    out = run([stage_python(project, "train"), "-c", imports], cwd=project).stdout
    assert out.strip() == str(project / "src" / "my_mlops_project" / "config.py")
    check = mlops(project, "stage", "check", "--all")
    assert check.stdout.count(": ok (") == 4


@pytest.mark.slow
def test_runner_finds_the_kernel_and_it_runs_in_the_stage_venv(built, tmp_path):
    project, _ = built
    env = {
        "JUPYTER_PATH": str(project / ".mlops" / "jupyter"),
        "JUPYTER_DATA_DIR": str(tmp_path / "user-data"),  # no user kernels
    }
    # A client living in another env (data_prep) starts the train kernel.
    out = run(
        [stage_python(project, "data_prep"), "-c", KERNEL_CLIENT]
        + ["my-mlops-project-train"],
        cwd=tmp_path,
        env=env,
    ).stdout
    assert out.strip().splitlines()[-1] == str(stage_python(project, "train"))


@pytest.mark.slow
def test_create_again_is_a_no_op(built):
    project, _ = built
    marker = project / ".venvs" / "train" / "mlops-stage.json"
    before = (marker.stat().st_mtime_ns, stage_python(project, "train").lstat().st_ino)
    result = mlops(project, "stage", "create", "--all")
    assert result.stdout.count(": up to date") == 4
    after = (marker.stat().st_mtime_ns, stage_python(project, "train").lstat().st_ino)
    assert before == after


@pytest.mark.slow
def test_failed_lock_keeps_the_previous_env(built):
    project, _ = built
    spec = project / "env_specs" / "stage_train.yaml"
    lock = project / "env_specs" / "locks" / "train.txt"
    kernel = next(
        (project / ".mlops" / "jupyter" / "kernels").glob("*train/kernel.json")
    )
    original, lock_before, kernel_before = (
        spec.read_text(),
        lock.read_text(),
        kernel.read_text(),
    )
    spec.write_text(
        original.replace(
            "packages:\n", "packages:\n  - governed-mlops-no-such-package==1.0\n"
        )
    )
    try:
        result = mlops(project, "stage", "create", "train", check=False)
    finally:
        spec.write_text(original)
    assert result.returncode == 2
    assert "train: locking failed" in result.stderr
    assert "governed-mlops-no-such-package" in result.stderr
    assert "(the previous env is kept)" in result.stderr
    assert "Traceback" not in result.stderr
    assert lock.read_text() == lock_before and kernel.read_text() == kernel_before
    assert not (project / ".venvs" / "train.new").exists()
    run([stage_python(project, "train"), "-c", "import sklearn"], cwd=project)
    assert "train: ok" in mlops(project, "stage", "check", "train").stdout


@pytest.mark.slow
def test_failed_install_keeps_the_previous_env(built):
    """No index and no usable wheel: the install fails after the new venv exists."""
    project, _ = built
    wheels = project / "wheels"
    wheels.mkdir()
    (wheels / "unrelated.txt").write_text("not a wheel")
    try:
        result = mlops(
            project, "stage", "create", "data_prep", "--offline", "--force", check=False
        )
    finally:
        shutil.rmtree(wheels)
    assert result.returncode == 2
    assert "data_prep: installing the lock failed" in result.stderr
    assert "(the previous env is kept)" in result.stderr
    assert (
        f"; the wheelhouse {wheels} lacks what the lock needs: run `mlops stage "
        "wheels data_prep` where the index is reachable and copy wheels/ here"
    ) in result.stderr
    assert not (project / ".venvs" / "data_prep.new").exists()
    assert "data_prep: ok" in mlops(project, "stage", "check", "data_prep").stdout


@pytest.mark.slow
def test_check_reports_packages_that_differ_from_the_lock(built):
    project, _ = built
    python = stage_python(project, "eval")
    uv = project / ".venv" / "bin" / "uv"  # from the pipeline group
    run([uv, "pip", "uninstall", "--python", python, "joblib"], cwd=project)
    result = mlops(project, "stage", "check", "eval", check=False)
    assert result.returncode == 1
    assert re.search(r"joblib==\S+ is locked but not installed", result.stdout)
    assert "fix: mlops stage create eval --force" in result.stdout
    mlops(project, "stage", "create", "eval", "--force")
    assert "eval: ok" in mlops(project, "stage", "check", "eval").stdout


BAD_SPEC_EDITS = [
    (
        "packages:\n",
        "packages:\n  - warnings\n",
        "env_specs/stage_feature_eng.yaml: packages[0]: 'warnings' is part of the "
        "Python standard library",
    ),
    (
        'python: "3.11"',
        'python: "3.99"',
        "env_specs/stage_feature_eng.yaml: python: no Python 3.99 found",
    ),
    (
        "packages:\n",
        "packages:\n  - pandas>>=2\n",
        "env_specs/stage_feature_eng.yaml: packages[0]: 'pandas>>=2' is not a valid",
    ),
    (
        "notebook: notebooks/02-feature-eng.ipynb",
        "notebook: notebooks/nope.ipynb",
        "env_specs/stage_feature_eng.yaml: notebook: 'notebooks/nope.ipynb' does "
        "not exist",
    ),
    (
        "env_dir: .venvs/feature_eng",
        "env_dir: .venvs/data_prep",
        "env_specs/stage_feature_eng.yaml: env_dir: '.venvs/data_prep' is also the "
        "env of stage 'data_prep'",
    ),
    (
        "kernel_name: my-mlops-project-feature-eng",
        "kernel_name: my-mlops-project-data-prep",
        "kernel_name: 'my-mlops-project-data-prep' is also the kernel of stage",
    ),
    (
        "notes:",
        "nots: x\nnotes:",
        "env_specs/stage_feature_eng.yaml: unknown key 'nots' (did you mean 'notes'?)",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("old", "new", "message"), BAD_SPEC_EDITS)
def test_bad_spec_is_refused_by_the_command(built, old, new, message):
    project, _ = built
    spec = project / "env_specs" / "stage_feature_eng.yaml"
    original = spec.read_text()
    assert old in original
    spec.write_text(original.replace(old, new, 1))
    try:
        result = mlops(project, "stage", "create", "--all", check=False)
        # Another stage's commands go on, warning about the bad spec.
        other = mlops(project, "stage", "create", "train")
    finally:
        spec.write_text(original)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / ".venvs" / "feature_eng.new").exists()
    assert other.stdout == "train: up to date\n"
    assert re.search(f"(?m)^mlops: warning: .*{re.escape(message)}", other.stderr)


@pytest.mark.slow
def test_create_rebuilds_an_env_changed_by_hand(tiny):
    python = stage_python(tiny, "tiny")
    uv = tiny / ".venv" / "bin" / "uv"
    run([uv, "pip", "install", "--python", python, "iniconfig==2.0.0"], cwd=tiny)
    difference = "iniconfig==2.0.0 is installed but not in the lock"
    assert difference in mlops(tiny, "stage", "check", "tiny", check=False).stdout
    result = mlops(tiny, "stage", "create", "tiny")
    assert result.stdout == "tiny: built\n"
    assert (
        f"[tiny] env differs from its lock: {difference}; rebuilding" in result.stderr
    )
    assert "tiny: ok" in mlops(tiny, "stage", "check", "tiny").stdout
    # A marker from before the digest: one freeze finds nothing and notes it.
    marker = tiny / ".venvs" / "tiny" / "mlops-stage.json"
    recorded = json.loads(marker.read_text())
    marker.write_text(json.dumps({**recorded, "installed": None}))
    assert mlops(tiny, "stage", "create", "tiny").stdout == "tiny: up to date\n"
    assert json.loads(marker.read_text()) == recorded


@pytest.mark.slow
def test_a_lock_made_in_a_temporary_folder_on_another_drive_reaches_the_project(
    tiny,
):
    """Jenkins agents keep their workspace on D: and %TEMP% on C:, and a file
    cannot be moved between the two; here /dev/shm is another file system."""
    import os
    import tempfile

    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tiny.stat().st_dev:
        pytest.skip("no temporary folder on another file system than the project")
    lock = tiny / "env_specs" / "locks" / "tiny.txt"
    before = lock.read_bytes()
    lock.unlink()  # the first create of a stage locks it
    with tempfile.TemporaryDirectory(dir=shm) as elsewhere:
        env = {"TMPDIR": elsewhere, "TEMP": elsewhere, "TMP": elsewhere}
        result = mlops(tiny, "stage", "create", "tiny", env=env, check=False)
        assert os.listdir(elsewhere) == []  # its work folder was removed
    if not lock.is_file():
        lock.write_bytes(before)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tiny: built\n"
    assert "tiny: ok" in mlops(tiny, "stage", "check", "tiny").stdout
    assert b"\r" not in lock.read_bytes()


@pytest.mark.slow
def test_offline_install_from_the_wheelhouse(tiny, tmp_path):
    mlops(tiny, "stage", "wheels", "tiny")
    assert list((tiny / "wheels").glob("ipykernel-*.whl"))
    assert list((tiny / "wheels").glob("poetry_core-*.whl"))
    shutil.rmtree(tiny / ".venvs" / "tiny")
    # An empty cache and no index: everything must come from wheels/.
    env = {"UV_CACHE_DIR": str(tmp_path / "empty-cache")}
    result = mlops(tiny, "stage", "create", "tiny", "--offline", env=env)
    assert "tiny: built" in result.stdout
    assert "tiny: ok" in mlops(tiny, "stage", "check", "tiny").stdout
    # The spec changed: it is locked again from the wheelhouse alone, which
    # lacks the new package; the message says how to get it.
    spec = tiny / "env_specs" / "stage_tiny.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("packages: []", "packages: [tabulate]"))
    try:
        failed = mlops(
            tiny, "stage", "create", "tiny", "--offline", env=env, check=False
        )
    finally:
        spec.write_text(text)
    assert failed.returncode == 2
    assert (
        "the spec changed since tiny.txt, so it was locked again from the "
        "wheelhouse alone, which holds only what the old lock needs: where the "
        "index is reachable, run `mlops stage create tiny`, commit the lock, and "
        "`mlops stage wheels tiny`; then copy wheels/ here" in failed.stderr
    )
    # The pinned tools are there too, with their pipeline extra: an agent with
    # no index installs them, and they can build stage envs and run stages.
    assert list((tiny / "wheels").glob(f"governed_mlops_tools-{TOOLS_VERSION}-*.whl"))
    agent = tmp_path / "agent"
    run([python_for("3.11"), "-m", "venv", agent], cwd=tmp_path)
    run(
        [
            agent / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            tiny / "wheels",
            "governed-mlops-tools[pipeline]",
        ],
        cwd=tmp_path,
        env={"PIP_CONFIG_FILE": "/dev/null"},
    )
    version = run([agent / "bin" / "mlops", "--version"], cwd=tmp_path).stdout
    assert version.strip() == f"mlops {TOOLS_VERSION}"
    extra = "import mlflow, papermill, cyclonedx_py, jinja2, nbconvert"
    run([agent / "bin" / "python", "-c", extra], cwd=tmp_path)
    check = run([agent / "bin" / "mlops", "policy", "check", "--exit-zero"], cwd=tiny)
    assert "governed-mlops policy" in check.stdout


@pytest.mark.slow
def test_pip_installer_when_uv_is_not_wanted(tiny):
    lock = tiny / "env_specs" / "locks" / "tiny.txt"
    hashed = lock.read_text()
    lock.unlink()  # pip locks by installing the spec and freezing it
    try:
        result = mlops(tiny, "stage", "create", "tiny", "--installer", "pip")
        assert "installing" in result.stderr and "with pip" in result.stderr
        assert "ipykernel==" in lock.read_text()
        env = tiny / ".venvs" / "tiny"
        # venv's scripts hold the env's own path: it must be the final one.
        pip = run([env / "bin" / "pip", "--version"], cwd=tiny).stdout
        assert str(env) in pip and ".new" not in pip
        assert str(env) in (env / "bin" / "activate").read_text()
        assert ".new" not in (env / "bin" / "activate").read_text()
        check = mlops(tiny, "stage", "check", "tiny", "--installer", "pip")
        assert "tiny: ok" in check.stdout
        # A rebuild that fails keeps the env that was there.
        spec = tiny / "env_specs" / "stage_tiny.yaml"
        text = spec.read_text()
        spec.write_text(text.replace("packages: []", "packages: [no-such-pkg-xyz==1]"))
        try:
            failed = mlops(
                tiny, "stage", "create", "tiny", "--installer", "pip", check=False
            )
            assert failed.returncode == 2 and "previous env is kept" in failed.stderr
            assert run([env / "bin" / "pip", "--version"], cwd=tiny).returncode == 0
            assert not env.with_name("tiny.old").exists()
        finally:
            spec.write_text(text)
    finally:
        lock.write_text(hashed)
        mlops(tiny, "stage", "create", "tiny", "--force")


@pytest.mark.slow
def test_a_stage_on_a_second_python_version(tiny):
    others = [v for v in SUPPORTED if v not in ("3.10", "3.11") and find_python(v)]
    if not others:
        pytest.skip("no second Python (3.12 or 3.13) installed on this machine")
    version = others[0]
    spec = tiny / "env_specs" / "stage_tiny.yaml"
    original = spec.read_text()
    spec.write_text(original.replace('python: "3.11"', f'python: "{version}"'))
    try:
        mlops(tiny, "stage", "create", "tiny")
        probe = "import sys; print('%d.%d' % sys.version_info[:2])"
        out = run([stage_python(tiny, "tiny"), "-c", probe], cwd=tiny).stdout
        assert out.strip() == version
        assert "tiny: ok" in mlops(tiny, "stage", "check", "tiny").stdout
    finally:
        spec.write_text(original)
        mlops(tiny, "stage", "create", "tiny")


@pytest.mark.slow
def test_shell_wrapper_takes_the_original_designs_spec_path(tiny):
    result = run(["scripts/create_venv.sh", "env_specs/stage_tiny.yaml"], cwd=tiny)
    assert "tiny: up to date" in result.stdout


WRAPPERS = {
    "create_venv": "stage create",
    "run_stage": "stage run",
    "mlflow_server": "tracking server",
}


def test_windows_wrappers_call_mlops_with_crlf_endings():
    scripts = REPO / "template" / "scripts"
    for path in scripts.glob("*.bat"):
        text = path.read_bytes()
        assert text.count(b"\r\n") == text.count(b"\n"), f"{path.name}: not CRLF"
        assert text.rstrip().endswith(b"exit /b %ERRORLEVEL%"), path.name
    mlops = (scripts / "mlops.bat").read_bytes()
    assert b'cd /d "%~dp0.."' in mlops
    assert b'".venv\\Scripts\\mlops.exe" %*' in mlops
    for name, command in WRAPPERS.items():
        bat = (scripts / f"{name}.bat").read_text()
        assert f'call "%~dp0mlops.bat" {command} %*' in bat, name
        sh = (scripts / f"{name}.sh").read_text()
        assert f'exec "$(dirname "$0")/mlops.sh" {command} "$@"' in sh, name
