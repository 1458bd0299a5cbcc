"""One run from request to stored row: what ``udabench run`` and every sweep worker do.

A row is written once, in one transaction, when the run has finished (``ok``) or stopped
(``failed``): a run killed on the way leaves no row, and its half-written artifact folder is
removed when the run starts again. Workers write to the store themselves (SQLite in WAL mode
takes concurrent writers), so nothing is lost when many finish at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from udabench.errors import UdabenchError
from udabench.runner.resume import RESUME_FILE


@dataclass
class Outcome:
    """What became of one run: ``ok``, ``failed``, ``stored`` (already there) or ``blocked``."""

    run_id: str
    method: str
    task: str
    seed: int
    status: str
    error: str | None = None
    accuracy: float | None = None
    seconds: float = 0.0
    gpus: str | None = None  # CUDA_VISIBLE_DEVICES in the worker (one GPU where --workers-per-gpu pinned it)


def target_phases(record, registry) -> list[str] | None:
    """The phases of a stored run that trained on target images (``None``: its method is unknown now)."""
    try:
        spec = registry.get("methods", record["method"])
    except UdabenchError:
        return None
    ran = record["config"].get("phase_steps", {})
    return [phase.name for phase in spec.phases if phase.name in ran and "target" in phase.inputs]


def check_source_free_provenance(method: str, record, registry=None) -> None:
    """A source-free method must start from a model that never saw target data: a stored run with a
    phase on target images (DANN, or another adapted run) would make its result a UDA result."""
    from udabench.plugins import load_registry

    registry = registry or load_registry(warn=False)
    if registry.get("methods", method).setting != "source-free":
        return
    seen = target_phases(record, registry)
    if seen is None:
        raise UdabenchError(f"--source-run: run {record['run_id']} was trained by '{record['method']}', which is "
                            f"not installed, so whether it saw target data cannot be checked; source-free "
                            f"'{method}' needs a source model that provably did not")
    if seen:
        raise UdabenchError(f"--source-run: '{method}' is source-free and must start from a model that never saw "
                            f"target data, but run {record['run_id']} ('{record['method']}') trained on target "
                            f"images in phase '{seen[0]}'; use a source-only run")


# Hyperparameters that shape the task model's weights: a stored source model fits only where they agree.
NETWORK_HPARAMS = ("bottleneck_dim", "bottleneck_bn")


def check_network_matches(record, prepared) -> None:
    """A ``--source-run`` model must have the network the run builds; where a shaping hyperparameter
    differs, say which and how to match it, before anything trains."""
    if record is None:
        return
    stored = record["config"].get("hparams", {})
    for name in NETWORK_HPARAMS:
        if name in stored and name in prepared.hparams and stored[name] != prepared.hparams[name]:
            wanted = str(stored[name]).lower()
            raise UdabenchError(
                f"--source-run: run {record['run_id']} was trained with {name}={wanted}, but this "
                f"'{prepared.method.name}' run builds {name}={str(prepared.hparams[name]).lower()}, so its weights "
                f"would not fit; add --set {name}={wanted}, or use a source run trained with the other value")


def source_checkpoint(store, source_run: str, task: str, backbone: str | None = None) -> tuple[str, str]:
    """The key and checkpoint path of the stored run ``source_run``, checked to fit ``task``."""
    return stored_checkpoint(store, source_run, task, backbone, option="--source-run")


def stored_checkpoint(store, run: str, task: str, backbone: str | None = None,
                      option: str = "--source-run") -> tuple[str, str]:
    """The key and checkpoint path of the stored run ``run`` (an id or key prefix), checked to be a
    finished run of ``task`` (and of ``backbone`` where given); ``option`` names the flag in errors."""
    record = store.get(run)
    if record is None:
        raise UdabenchError(f"{option}: no stored run '{run}' in {store.path}")
    if record["status"] != "ok":
        raise UdabenchError(f"{option}: run {record['run_id']} has status '{record['status']}'")
    if record["task"] != task:
        raise UdabenchError(f"{option}: run {record['run_id']} was trained on task '{record['task']}', "
                            f"not '{task}'")
    stored_backbone = record["config"].get("backbone")
    if backbone and stored_backbone != backbone:
        raise UdabenchError(f"{option}: run {record['run_id']} used backbone '{stored_backbone}', "
                            f"not '{backbone}'")
    checkpoint = Path(record["artifacts"] or "") / "model.pt"
    if not checkpoint.is_file():
        raise UdabenchError(f"{option}: run {record['run_id']} has no weights at {checkpoint} (runs added by "
                            f"'udabench import' carry none: the same 'udabench run' with --rerun trains them again, "
                            "and a sweep with share_source does so by itself)")
    return record["key"], str(checkpoint)


# The hyperparameter through which a method takes the generator of another stored run (SUIT's
# generator transplant); the runner hands that run's weights to ``Method.load_generator_weights``.
GENERATOR_FROM = "generator_from"


def resolve_stored_runs(request, store) -> None:
    """Turn the stored runs a request names (``--source-run``, ``--set generator_from=RUN``) into full
    keys and checkpoint paths, in place, so that the run key names exactly the runs it builds on."""
    if request.source_run and not request.source_checkpoint:
        request.source_run, request.source_checkpoint = source_checkpoint(store, request.source_run,
                                                                          request.task, request.backbone)
        check_source_free_provenance(request.method, store.get(request.source_run))
    generator_run = dict(request.overrides).get(GENERATOR_FROM)
    if generator_run and generator_run != "none" and not request.generator_checkpoint:
        key, request.generator_checkpoint = stored_checkpoint(store, generator_run, request.task,
                                                              option=f"--set {GENERATOR_FROM}")
        request.overrides = {**request.overrides, GENERATOR_FROM: key}


def run_and_store(request, store, registry=None, prepared=None, rerun: bool = False):
    """Train ``request`` unless an ``ok`` row of its key is stored, and store the outcome.

    Returns ``(record, ran)``: the stored row and whether this call trained it. A diverging run is
    stored as ``failed`` and :class:`udabench.runner.RunFailed` is raised after saving.
    """
    from udabench.plugins import load_registry
    from udabench.runner import RunFailed, execute, prepare
    from udabench.store import environment_versions, git_revision

    registry = registry or load_registry(warn=False)
    prepared = prepared or prepare(registry, request)
    if request.source_run:
        check_network_matches(store.get(request.source_run), prepared)
    stored = store.get(prepared.key)
    if stored is not None and stored["status"] == "ok" and not rerun:
        return stored, False
    with run_lock(store, prepared.run_id):
        if not rerun:  # another process may have finished it while this one waited
            stored = store.get(prepared.key)
            if stored is not None and stored["status"] == "ok":
                return stored, False
        artifact_dir = store.artifact_root / prepared.run_id
        revision = git_revision()  # the code the run starts with; the checkout may move on while it trains
        resumable = (artifact_dir / RESUME_FILE).is_file() and not rerun
        if artifact_dir.exists() and not resumable:  # left by a failed try, or --rerun
            shutil.rmtree(artifact_dir)
        try:
            result = execute(prepared, registry, request, artifact_dir)
        except RunFailed as failure:
            store.save(failure.result, environment_versions(), revision, None)
            raise
        store.save(result, environment_versions(), revision, str(artifact_dir))
        return store.get(prepared.key), True


@contextlib.contextmanager
def run_lock(store, run_id: str):
    """Hold the store's lock of one run: a second identical run started meanwhile waits for the first,
    then finds its row, and never trains the same run twice. (Held through ``fcntl.flock``: the
    lock goes with the process, so a killed run leaves no stale lock.)"""
    try:
        import fcntl
    except ImportError:  # no flock on this platform: runs are not serialised
        yield
        return
    folder = store.path.parent / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{run_id}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"udabench: run {run_id} is being trained by another process; waiting for it", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_job(request, store_path: str, rerun: bool = False) -> Outcome:
    """A sweep worker's whole job: never raises for a run that goes wrong, records it instead."""
    import time

    from udabench.runner import RunFailed, RunResult, prepare
    from udabench.plugins import load_registry
    from udabench.store import Store, environment_versions, git_revision

    started = time.perf_counter()
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    store = Store(store_path)
    registry = load_registry(warn=False)
    try:
        resolve_stored_runs(request, store)
    except UdabenchError as exc:
        return Outcome("-", request.method, request.task, request.seed, "blocked", str(exc), gpus=gpus)
    prepared = prepare(registry, request)
    base = (prepared.run_id, request.method, request.task, request.seed)
    try:
        record, ran = run_and_store(request, store, registry, prepared, rerun=rerun)
    except RunFailed as failure:
        return Outcome(*base, "failed", failure.result.error, seconds=time.perf_counter() - started, gpus=gpus)
    except Exception as exc:  # a plugin's bug or a missing file: record it, keep the sweep going
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (at {Path(frame.filename).name}:{frame.lineno})"
        result = RunResult(prepared.run_id, prepared.key, request.method, request.task, request.seed,
                           prepared.config, "failed", error=error)
        store.save(result, environment_versions(), git_revision(), None)
        return Outcome(*base, "failed", error, seconds=time.perf_counter() - started, gpus=gpus)
    return Outcome(*base, "ok" if ran else "stored", accuracy=record["metrics"].get("accuracy"),
                   seconds=time.perf_counter() - started, gpus=gpus)


def describe(outcome: Outcome) -> str:
    text = f"{outcome.method} {outcome.task} seed {outcome.seed}: {outcome.status}"
    if outcome.accuracy is not None:
        text += f", target accuracy {outcome.accuracy:.4f}"
    if outcome.error:
        text += f" ({outcome.error})"
    return text


def as_dict(outcome: Outcome) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(outcome)
