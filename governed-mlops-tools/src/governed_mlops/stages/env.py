"""Build, check and require stage environments.

``create`` is idempotent: when spec, lock and interpreter are unchanged and
the env still holds what it was built with, it does nothing. Otherwise the new
env is built beside the old one (``<env_dir>.new``) and swapped in only when
everything succeeded, so a failed install leaves the previous env and kernel
working.

The marker ``<env_dir>/mlops-stage.json`` records what was built, including a
digest of the env's installed distributions (its ``*.dist-info`` folders), so
a package installed or removed by hand is noticed without starting the env.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from packaging.utils import canonicalize_name

from ..hashes import text_sha
from . import kernels, locks
from ..errors import CommandError
from ..files import copy_atomic, write_json
from ..supply import sbom
from .installers import Access, IndexOptions, Installer, InstallError, pick
from ..progress import Progress
from .specs import Stage
from .venvs import venv_python

MARKER = "mlops-stage.json"
FREEZE = "mlops-freeze.txt"
# The marker's record of the distributions the env's SBOM describes.
SBOM_DIGEST = "sbom"
# Where a venv keeps its distributions: POSIX, then Windows.
DIST_INFO = ("lib/python*/site-packages/*.dist-info", "Lib/site-packages/*.dist-info")


def freeze_path(stage: Stage) -> Path:
    """The stage env's ``pip freeze``, saved at creation for the audit trail."""
    return stage.env_dir / FREEZE


def lock_path(stage: Stage) -> Path:
    return stage.project.lock_file(stage.name)


def index_options(
    stage: Stage, offline: bool = False, token: str = ""  # nosec B107 # "": no token
) -> IndexOptions:
    """The stage's index settings: its own, else the project's."""
    spec = stage.spec
    return IndexOptions(
        index_url=spec.index_url or stage.project.index_url,
        extra_index_urls=tuple(spec.extra_index_urls),
        find_links=tuple(spec.find_links),
        offline=offline,
        wheelhouse=stage.project.wheels_dir,
        token=token,
    )


def lock_digest(stage: Stage) -> str:
    assert stage.interpreter is not None  # nosec B101 # load_stages(machine=True)
    constraints = stage.constraints
    return locks.input_digest(
        locks.lock_inputs(list(stage.spec.packages), stage.project.dependencies),
        stage.interpreter.minor,
        constraints.read_text(encoding="utf-8") if constraints else None,
        index_options(stage).digest_fields(),
    )


def expected_marker(stage: Stage, lock_sha: str, installer: str) -> dict[str, str]:
    """What an up-to-date env records; any difference means rebuild."""
    assert stage.interpreter is not None  # nosec B101 # load_stages(machine=True)
    return {
        "stage": stage.name,
        "interpreter": str(stage.interpreter.path),
        "python_version": stage.interpreter.full,
        "lock": lock_sha,
        "project_root": str(stage.project.root),
        "installer": installer,
    }


def read_marker(stage: Stage) -> Optional[dict[str, Any]]:
    try:
        marker = json.loads((stage.env_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def distributions(env_dir: Path) -> list[str]:
    """The sorted names of the ``*.dist-info`` folders in the env's site-packages
    (one per installed distribution, the editable project's included)."""
    return sorted({path.name for glob in DIST_INFO for path in env_dir.glob(glob)})


def installed_digest(env_dir: Path) -> str:
    """A digest of :func:`distributions`: it changes when a package is
    installed, removed or changes version, and costs no process."""
    text = "\n".join(distributions(env_dir))
    return "sha256:" + text_sha(text)


def expected_kernel(stage: Stage) -> dict[str, Any]:
    return kernels.kernel_spec(stage.python, stage.display_name, stage.name)


@dataclass
class Options:
    force: bool = False
    offline: bool = False
    upgrade: bool = False
    installer: str = "auto"
    # Read only when an installer runs: importing settings costs start-up time.
    access: Callable[[], Access] = Access
    # A failed installer step names its command line.
    verbose: bool = False


def create(stage: Stage, options: Options) -> str:
    """Make the stage env current; returns ``"up to date"`` or ``"built"``."""
    say = Progress(stage.name)
    _recover(stage)
    installer = pick(options.installer, options.access, options.verbose)
    index = index_options(stage, options.offline)
    wheelhouse = stage.project.wheels_dir  # index.wheelhouse, never None here
    if options.offline and not any(wheelhouse.glob("*")):
        raise CommandError(
            f"{stage.name}: --offline needs wheels in {wheelhouse}: run "
            f"`mlops stage wheels {stage.name}` where the index is reachable"
        )
    lock = lock_path(stage)
    digest = lock_digest(stage)
    assert stage.interpreter is not None  # nosec B101 # as lock_digest() checks
    relock = options.upgrade or locks.read_digest(lock) != digest
    if not relock and not options.force and _up_to_date(stage, installer, lock, say):
        return "up to date"

    index = index_options(stage, options.offline, installer.access.token)
    building = _begin(stage, installer.relocatable)
    stage.project.locks_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"mlops-{stage.name}-"))
    try:
        say(f"Python {stage.interpreter.full} at {stage.interpreter.path}")
        installer.create_venv(stage.interpreter.path, building, stage.name)
        new_python = Path(venv_python(building))
        new_lock = workdir / "lock.txt"
        if relock:
            _lock(stage, installer, new_python, new_lock, index, options, digest, say)
        else:
            shutil.copyfile(lock, new_lock)
        say(
            f"installing {len(locks.pins(new_lock.read_text('utf-8')))} locked "
            f"packages with {installer.name}"
        )
        installer.install(new_python, new_lock, stage.project.root, index)
        (building / FREEZE).write_bytes(installer.freeze(new_python).encode("utf-8"))
        # Before the new env takes the old one's place: a build that fails
        # here leaves the previous env, lock and kernel as they were.
        say("writing its SBOM")
        subject = sbom_subject(stage, new_lock)
        sbom.write_sbom(new_python, subject, building / sbom.SBOM_NAME)
    except BaseException as error:
        _abandon_build(building, stage.env_dir)
        shutil.rmtree(workdir, ignore_errors=True)
        if isinstance(error, InstallError):
            kept = " (the previous env is kept)" if stage.env_dir.exists() else ""
            hint = ""
            if options.offline and relock:
                hint = (
                    f"; the spec changed since {lock.name}, so it was locked "
                    f"again from the wheelhouse alone, which holds only what "
                    f"the old lock needs: where the index is reachable, run "
                    f"`mlops stage create {stage.name}`, commit the lock, and "
                    f"`mlops stage wheels {stage.name}`; then copy wheels/ here"
                )
            elif options.offline:
                hint = (
                    f"; the wheelhouse {stage.project.wheels_dir} lacks what the "
                    f"lock needs: run `mlops stage wheels {stage.name}` where the "
                    f"index is reachable and copy wheels/ here"
                )
            raise InstallError(f"{stage.name}: {error}{kept}{hint}") from None
        raise
    _take_place(stage, building, workdir)
    if relock:  # copied: the temporary folder may be on another drive
        copy_atomic(new_lock, lock)
    shutil.rmtree(workdir, ignore_errors=True)
    kernels.write_kernel(stage.project, stage.kernel_name, expected_kernel(stage))
    installed = installed_digest(stage.env_dir)
    marker = expected_marker(stage, locks.file_sha256(lock), installer.name)
    _write_marker(stage, {**marker, "installed": installed, SBOM_DIGEST: installed})
    say(f"ready: {stage.env_dir}, kernel {stage.kernel_name}")
    return "built"


def _begin(stage: Stage, relocatable: bool) -> Path:
    """:func:`_start_build`, its failure on an env in use named."""
    try:
        return _start_build(stage.env_dir, relocatable)
    except EnvInUse as error:
        raise EnvInUse(f"{stage.name}: {error}; nothing was changed") from None


def _take_place(stage: Stage, building: Path, workdir: Path) -> None:
    """:func:`_finish_build`; when the env is in use, the new build goes and
    the previous env stays."""
    try:
        _finish_build(building, stage.env_dir)
    except EnvInUse as error:
        if building != stage.env_dir:
            shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
        raise EnvInUse(f"{stage.name}: {error}; the previous env is kept") from None


def _up_to_date(stage: Stage, installer: Installer, lock: Path, say: Progress) -> bool:
    """Whether the built env is what its spec, lock and interpreter ask for,
    its packages included; gives an older env its SBOM."""
    marker = read_marker(stage)
    wanted = expected_marker(stage, locks.file_sha256(lock), installer.name)
    kernel = kernels.read_kernel(stage.project, stage.kernel_name)
    if (
        marker is None
        or {k: marker.get(k) for k in wanted} != wanted
        or kernel != expected_kernel(stage)
        or not stage.python.exists()
    ):
        return False
    # Only a changed digest costs a freeze (the no-op must stay fast).
    installed = installed_digest(stage.env_dir)
    if marker.get("installed") != installed:
        differences = package_drift(stage, installer)
        if differences:
            say(f"env differs from its lock: {', '.join(differences)}; rebuilding")
            return False
        _write_marker(stage, {**marker, "installed": installed})  # same packages
    if not current_sbom(stage):  # built by tools without SBOMs
        say("writing its SBOM")
        write_stage_sbom(stage)
    say("up to date")
    return True


def _write_marker(stage: Stage, marker: dict[str, Any]) -> None:
    write_json(stage.env_dir / MARKER, marker)


def sbom_subject(stage: Stage, lock: Optional[Path] = None) -> sbom.Subject:
    """The stage env as an SBOM's own component (``lock``: the one it was
    built from, where it is not in place yet)."""
    assert stage.interpreter is not None  # nosec B101 # the env was built: resolved
    properties = {"stage": stage.name, "python": stage.interpreter.full}
    lock = lock or lock_path(stage)
    if lock.is_file():
        properties["lock-sha256"] = locks.file_sha256(lock)
    return sbom.Subject(
        f"{stage.project.name}-stage-{stage.name}",
        stage.project.version or "0",
        f"stage env of {stage.name} ({stage.spec.notebook})",
        properties,
    )


def current_sbom(stage: Stage) -> Optional[Path]:
    """The SBOM kept in the env, if it describes what the env holds now."""
    path = stage.env_dir / sbom.SBOM_NAME
    marker = read_marker(stage) or {}
    if path.is_file() and marker.get(SBOM_DIGEST) == installed_digest(stage.env_dir):
        return path
    return None


def write_stage_sbom(stage: Stage) -> Path:
    """Describe the env as it is now, keep the SBOM in it and note it in the
    marker; returns the SBOM's path."""
    installed = installed_digest(stage.env_dir)
    path = stage.env_dir / sbom.SBOM_NAME
    sbom.write_sbom(stage.python, sbom_subject(stage), path)
    marker = read_marker(stage)
    if marker is not None:
        _write_marker(stage, {**marker, SBOM_DIGEST: installed})
    return path


def _lock(
    stage: Stage,
    installer: Installer,
    new_python: Path,
    new_lock: Path,
    index: IndexOptions,
    options: Options,
    digest: str,
    say: Progress,
) -> None:
    assert stage.interpreter is not None  # nosec B101 # load_stages(machine=True)
    inputs = locks.lock_inputs(list(stage.spec.packages), stage.project.dependencies)
    requirements = new_lock.with_name("requirements.in")
    requirements.write_text("\n".join(inputs) + "\n", encoding="utf-8")
    say(f"locking {len(inputs)} requirements")
    if installer.lock is not None:
        installer.lock(
            requirements,
            new_lock,
            stage.interpreter.minor,
            stage.constraints,
            index,
            options.upgrade,
        )
        body = new_lock.read_text(encoding="utf-8")
    else:  # pip: install what the spec asks, and its freeze becomes the lock
        installer.install_inputs(new_python, requirements, stage.constraints, index)
        body = installer.freeze(new_python)
    # LF on every platform: its hash keys the stage cache and the runs' records.
    new_lock.write_bytes((locks.header(stage.name, digest) + body).encode("utf-8"))


class EnvInUse(CommandError):
    """A stage env's folder could not be moved or removed: on Windows, a
    process running from it (a kernel) holds its files."""


def _in_use(path: Path, error: OSError) -> EnvInUse:
    return EnvInUse(
        f"{path} is in use ({error.strerror or error}): a program runs from it "
        f"(a Jupyter or VS Code kernel of the stage?); stop it, then run "
        f"`mlops stage create` again"
    )


def _remove(path: Path) -> None:
    if path.exists():
        try:
            shutil.rmtree(path)
        except PermissionError as error:
            raise _in_use(path, error) from None


def _move(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except PermissionError as error:
        raise _in_use(source, error) from None


def _aside(env_dir: Path) -> Path:
    """Where the previous env waits while a new one is built (``<env>.old``)."""
    return env_dir.with_name(env_dir.name + ".old")


def _recover(stage: Stage) -> None:
    """Finish or undo a build an interrupted ``create`` left half done.

    An env counts as complete once its marker is written, which is the last
    step of a build; a folder without one is discarded in favour of the
    previous env kept aside.
    """
    previous = _aside(stage.env_dir)
    if not previous.exists():
        return
    if stage.env_dir.exists() and (stage.env_dir / MARKER).is_file():
        _remove(previous)
        return
    _remove(stage.env_dir)
    os.replace(previous, stage.env_dir)


def _start_build(env_dir: Path, relocatable: bool) -> Path:
    """The folder to build the new env in.

    A relocatable venv (uv) is built beside the old one (``<env>.new``) and
    moved in. One made by ``python -m venv`` holds its own path (script
    shebangs, ``activate``), so it is built where it will live, with the
    previous env moved aside to ``<env>.old`` until the build succeeds.
    """
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    if relocatable:
        building = env_dir.with_name(env_dir.name + ".new")
        _remove(building)
        return building
    previous = _aside(env_dir)
    _remove(previous)
    if env_dir.exists():
        _move(env_dir, previous)
    return env_dir


def _abandon_build(building: Path, env_dir: Path) -> None:
    """A failed build: remove it and bring the previous env back."""
    _remove(building)
    previous = _aside(env_dir)
    if building == env_dir and previous.exists():
        os.replace(previous, env_dir)


def _finish_build(building: Path, env_dir: Path) -> None:
    """A finished build takes the env's place; the previous env goes."""
    previous = _aside(env_dir)
    if building != env_dir:
        _remove(previous)
        if env_dir.exists():
            _move(env_dir, previous)
        try:
            os.replace(building, env_dir)
        except OSError:
            if previous.exists():
                os.replace(previous, env_dir)
            raise
    try:
        _remove(previous)
    except EnvInUse:
        pass  # the new env is in place; the next create removes the old one


def problems(stage: Stage, installer: str = "auto") -> list[str]:
    """What is wrong with the stage's env, kernel and lock (empty: all good)."""
    found: list[str] = []
    lock = lock_path(stage)
    if not lock.is_file():
        return [f"no lock {lock.relative_to(stage.project.root).as_posix()}"]
    if not stage.python.exists():
        return spec_changes(stage) + [f"no venv at {stage.env_dir}"]
    found += spec_changes(stage)
    if read_marker(stage) is None:
        found.append(f"{stage.env_dir} was not built by `mlops stage create`")
    kernel = kernels.read_kernel(stage.project, stage.kernel_name)
    if kernel is None:
        found.append(f"kernel {stage.kernel_name} is not registered")
    elif Path(kernel["argv"][0]) != stage.python:
        found.append(
            f"kernel {stage.kernel_name} runs {kernel['argv'][0]}, not the stage "
            f"venv's {stage.python}"
        )
    found += package_drift(stage, pick(installer))
    return found


def spec_changes(stage: Stage) -> list[str]:
    """How the stage's spec moved on from its lock and its built env: the
    lock made for other inputs, the venv built with another interpreter."""
    assert stage.interpreter is not None  # nosec B101 # load_stages(machine=True)
    found = []
    if locks.read_digest(lock_path(stage)) != lock_digest(stage):
        found.append("the lock is stale (the spec, constraints or Python changed)")
    built = (read_marker(stage) or {}).get("interpreter")
    # One binary may be named python3 or python3.11 (a link): compare files.
    if built is not None and os.path.realpath(built) != os.path.realpath(
        stage.interpreter.path
    ):
        found.append(
            f"the venv was built with {built}, the spec now gives "
            f"{stage.interpreter.path}"
        )
    return found


def drift(stage: Stage, installer: str = "auto") -> list[str]:
    """How the built env's packages differ from its lock (empty: as locked).

    Starts nothing while the env's distributions are those it was built with
    (the marker's digest); otherwise compares a freeze by the installer that
    built the env (else ``installer``) with the lock.
    """
    marker = read_marker(stage) or {}
    if marker.get("installed") == installed_digest(stage.env_dir):
        return []
    return package_drift(stage, pick(marker.get("installer") or installer))


def package_drift(stage: Stage, installer: Installer) -> list[str]:
    """Each difference between the env's freeze (by ``installer``) and its lock,
    and a missing editable install of the project, one line each."""
    lines: list[str] = []
    names = {canonicalize_name(d.split("-")[0]) for d in distributions(stage.env_dir)}
    if canonicalize_name(stage.project.name) not in names:
        lines.append(f"the project {stage.project.name} is not installed (editable)")
    lock = lock_path(stage)
    environment = json.loads(
        subprocess.run(
            [str(stage.python), "-I", "-S", "-c", locks.MARKER_ENV_CODE],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    wanted = locks.pins(lock.read_text(encoding="utf-8"), environment)
    installed = locks.pins(installer.freeze(stage.python))
    for name, want, have in locks.differences(wanted, installed):
        if have is None:
            lines.append(f"{name}=={want} is locked but not installed")
        elif want is None:
            lines.append(f"{name}=={have} is installed but not in the lock")
        else:
            lines.append(f"{name} is {have}, the lock says {want}")
    return lines


def live_freeze(stage: Stage) -> str:
    """The stage env's packages as they are now (not as they were built)."""
    return pick("auto").freeze(stage.python)


def require_env(stage: Stage) -> None:
    """Raise a :class:`CommandError` naming the fix when the env is not ready."""
    missing = not stage.python.exists() or read_marker(stage) is None
    kernel = kernels.read_kernel(stage.project, stage.kernel_name)
    if missing or kernel is None or Path(kernel["argv"][0]) != stage.python:
        raise CommandError(
            f"stage {stage.name} has no working env or kernel: run "
            f"`mlops stage create {stage.name}`"
        )
