"""``udabench sweep``: methods x tasks x seeds (x hyperparameter grids), resumable, on several workers.

A sweep is a list of runs, each with the stable key of ``udabench run`` (method, task, seed,
configuration, data). Before anything trains, every run is prepared (names, values, data locations:
bad input stops the sweep with one line) and looked up in the store: a finished run is never
trained again; a failed one is skipped unless ``--retry-failed``; the rest go to an executor.
Because a row is written only when its run ends, a sweep killed at any moment (SIGKILL included)
loses nothing finished and counts nothing half-done: the same command resumes it, and each
unfinished run starts again cleanly from scratch.

Executors: ``local`` runs N runs at once in worker processes on this machine; ``ray`` hands them to
a Ray cluster (``pip install 'udabench[ray]'``), whose workers write to the same store, so the
store's folder must be one that every node reaches (for a single machine: any folder).

With ``share_source`` the methods whose first phase trains the task model on source alone (ADDA,
SHOT, 3C-GAN, Label2Image-DA, CyCADA) take it from one ``source-only`` run per task, seed and batch
size (``--steps`` = their ``source_steps``), which the sweep runs first, instead of training it
once per method. The shared run uses the sweep's batch size (not a method's own ``batch_size``)
and the task-model hyperparameters the method is given.
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from udabench.data.loading import HUB
from udabench.errors import UdabenchError
from udabench.hparams import TASK_MODEL_HPARAMS
from udabench.options import FILE_OPTIONS, default, parse_resolution
from udabench.runner import RunRequest

# Keys a sweep file may hold, with the type each must have: its lists and tables, and one key per
# option of udabench.options that a file may set.
FILE_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str, "methods": list, "tasks": list, "seeds": list, "data": dict, "set": dict, "grid": dict,
    "method": dict, **FILE_OPTIONS,
}
METHOD_TABLE_KEYS: dict[str, type | tuple[type, ...]] = {"set": dict, "grid": dict, "steps": int,
                                                        "batch_size": int}
EXECUTORS = ("local", "ray")
SHARED_SOURCE_METHOD = "source-only"


@dataclass
class SweepConfig:
    """Everything a sweep file or the flags can say; flags win over the file."""

    methods: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [default("seed")])
    steps: int = default("steps")
    batch_size: int = default("batch_size")
    device: str = default("device")
    threads: int | None = default("threads")
    backbone: str | None = default("backbone")
    data: dict[str, str] = field(default_factory=dict)
    data_root: str | None = default("data_root")
    set: dict[str, str] = field(default_factory=dict)
    grid: dict[str, list[str]] = field(default_factory=dict)
    eval_points: int = default("eval_points")
    snapshots: int = default("snapshots")
    share_source: bool = default("share_source")
    workers_per_gpu: int | None = default("workers_per_gpu")  # local executor: runs at once per GPU, each pinned
    precision: str = default("precision")  # part of the run key when not fp32
    channels_last: str = default("channels_last")
    capture: str = default("capture")
    per_method: dict[str, dict[str, Any]] = field(default_factory=dict)
    name: str = ""
    resolution: tuple[int, int] | None = None  # (height, width) of the sweep's segmentation tasks
    skipped: set[tuple[str, str]] = field(default_factory=lambda: set())  # (method, task) pairs of another kind


@dataclass
class Job:
    request: RunRequest
    key: str
    depends_on: str | None = None  # key of the shared source run this job needs first
    shared_source: bool = False  # only a shared source model of other methods, not a run the sweep asks for
    steps: int | None = None  # the steps of all the phases the run trains (its estimate scales with them)
    rerun: bool = False  # stored, but its weights are gone and a run of the sweep needs them: train it again

    @property
    def run_id(self) -> str:
        return self.key[:12]

    def label(self) -> str:
        return f"{self.request.method} {self.request.task} seed {self.request.seed}"


def _text(value: Any) -> str:
    """A file value as the text ``--set`` would give, so both go through the same checks."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_table(where: str, table: Mapping[str, Any], keys: Mapping[str, Any]) -> None:
    for key, value in table.items():
        if key not in keys:
            from udabench.errors import unknown_name_error

            raise unknown_name_error(f"key of {where}", key, keys)
        expected = keys[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            raise UdabenchError(f"{where}: '{key}' must be a {names}, not {value!r}")


def _grid(where: str, grid: Mapping[str, Any]) -> dict[str, list[str]]:
    checked = {}
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise UdabenchError(f"{where}: grid '{name}' must be a non-empty list of values, not {values!r}")
        checked[name] = [_text(v) for v in values]
    return checked


def read_sweep_file(path: str | os.PathLike) -> SweepConfig:
    """Parse and check a TOML sweep file; relative data paths are read from the file's folder."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise UdabenchError(f"sweep file {file} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UdabenchError(f"sweep file {file}: {exc}") from None
    where = f"sweep file {file.name}"
    _check_table(where, raw, FILE_KEYS)
    for key in ("methods", "tasks"):
        if not all(isinstance(v, str) for v in raw.get(key, [])):
            raise UdabenchError(f"{where}: '{key}' must be a list of names")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in raw.get("seeds", [])):
        raise UdabenchError(f"{where}: 'seeds' must be a list of integers")
    config = SweepConfig()
    for key in ("methods", "tasks", "seeds", "name", *FILE_OPTIONS):
        if key in raw and key not in ("data_root", "resolution"):  # a folder and a size: read below
            setattr(config, key, raw[key])
    folder = file.resolve().parent
    config.data = {name: str(p) if str(p) == HUB else os.path.normpath(folder / Path(str(p)).expanduser())
                   for name, p in raw.get("data", {}).items()}  # "hub": the dataset's hub copy, not a folder
    if "data_root" in raw:
        config.data_root = os.path.normpath(folder / Path(raw["data_root"]).expanduser())
    config.set = {name: _text(value) for name, value in raw.get("set", {}).items()}
    if "resolution" in raw:
        config.resolution = parse_resolution(raw["resolution"], f"{where}: 'resolution'")
    config.grid = _grid(where, raw.get("grid", {}))
    for method, table in raw.get("method", {}).items():
        if not isinstance(table, dict):
            raise UdabenchError(f"{where}: [method.{method}] must be a table")
        _check_table(f"{where} [method.{method}]", table, METHOD_TABLE_KEYS)
        config.per_method[method] = {
            **{k: v for k, v in table.items() if k in ("steps", "batch_size")},
            "set": {name: _text(value) for name, value in table.get("set", {}).items()},
            "grid": _grid(f"{where} [method.{method}]", table.get("grid", {})),
        }
    return config


def expand(config: SweepConfig, registry) -> list[Job]:
    """Every run of the sweep, prepared (so bad input fails here) and in a stable order."""
    from udabench.runner import _has_source_phase, prepare

    if not config.methods:
        raise UdabenchError("a sweep needs at least one method (--method or 'methods' in the file)")
    if not config.tasks:
        raise UdabenchError("a sweep needs at least one task (--task or 'tasks' in the file)")
    if not config.seeds:
        raise UdabenchError("a sweep needs at least one seed")
    specs = {name: registry.get("methods", name) for name in config.methods}
    tasks = {name: registry.get("tasks", name) for name in config.tasks}
    for name in config.data:  # a dataset no task of this sweep uses is fine (a file narrowed by --task)
        registry.get("datasets", name)
    for name in config.per_method:  # a table for a method left out (--method narrowing a file) is unused
        registry.get("methods", name)
    known = set().union(*(spec.hparams for spec in specs.values()))
    for name in [*config.set, *config.grid]:
        if name not in known:
            from udabench.errors import unknown_name_error

            raise unknown_name_error("hyperparameter of the sweep's methods", name, sorted(known))
    if config.share_source:
        source_spec = registry.get("methods", SHARED_SOURCE_METHOD)

    jobs: list[Job] = []
    shared: dict[tuple, Job] = {}
    for method_name in config.methods:
        spec = specs[method_name]
        extra = config.per_method.get(method_name, {})
        common = {k: v for k, v in config.set.items() if k in spec.hparams}
        common.update(extra.get("set", {}))
        grid = {k: v for k, v in config.grid.items() if k in spec.hparams}
        grid.update(extra.get("grid", {}))
        names = sorted(grid)
        for task, seed, values in itertools.product(config.tasks, config.seeds,
                                                    itertools.product(*(grid[n] for n in names))):
            if tasks[task].kind not in spec.kinds:  # e.g. DANN in a sweep that also holds segmentation tasks
                config.skipped.add((method_name, task))
                continue
            overrides = {**common, **dict(zip(names, values))}
            request = RunRequest(
                method=method_name, task=task, seed=seed, steps=extra.get("steps", config.steps),
                batch_size=extra.get("batch_size", config.batch_size), device=config.device, overrides=overrides,
                backbone=config.backbone, data_root=config.data_root,
                data={k: v for k, v in config.data.items() if k in (tasks[task].source, tasks[task].target)},
                threads=config.threads, snapshots=config.snapshots, eval_points=config.eval_points, progress=False,
                resolution=config.resolution if tasks[task].kind == "segmentation" else None,
                precision=config.precision, channels_last=config.channels_last,
                capture=config.capture,
            )
            depends_on = None
            if config.share_source and _has_source_phase(spec) and method_name != SHARED_SOURCE_METHOD:
                resolved = prepare(registry, request).hparams
                source_steps = resolved["source_steps"]
                # The network the method builds, so the shared weights fit it (e.g. the bottleneck's
                # batch norm, which source-only leaves out by default and the adapting methods keep).
                task_model = {k: str(resolved[k]) for k in TASK_MODEL_HPARAMS
                              if k in source_spec.hparams and k in resolved and k != "weights"}
                task_model.update({k: v for k, v in overrides.items()
                                   if k in source_spec.hparams and k != "source_steps"})
                # The shared model trains at the sweep's batch size, whatever a method's own is, so
                # that all methods of a task and seed start from the same source model.
                source_request = replace(request, method=SHARED_SOURCE_METHOD, steps=source_steps,
                                         batch_size=config.batch_size, overrides=task_model)
                source = prepare(registry, source_request)
                source_key = source.key
                if source_key not in shared:
                    shared[source_key] = Job(source_request, source_key, shared_source=True,
                                             steps=sum(source.config["phase_steps"].values()))
                request.source_run = source_key
                depends_on = source_key
            prepared = prepare(registry, request)
            jobs.append(Job(request, prepared.key, depends_on, steps=sum(prepared.config["phase_steps"].values())))
    if not jobs:
        raise UdabenchError("no method of the sweep trains on its tasks' kind (classification or segmentation)")
    # The shared source runs go first; a run asked for twice (e.g. also listed as source-only) runs once.
    ordered, seen = [], {}
    for job in [*shared.values(), *jobs]:
        if job.key not in seen:
            seen[job.key] = job
            ordered.append(job)
        elif not job.shared_source:  # a shared source model that the sweep also asks for as a run
            seen[job.key].shared_source = False
    return ordered


@dataclass
class Plan:
    done: list[Job]
    failed: list[Job]  # stored as failed and not retried
    pending: list[Job]


def plan(jobs: list[Job], store, retry_failed: bool) -> Plan:
    done, failed, pending = [], [], []
    for job in jobs:
        record = store.get(job.key)
        if record is not None and record["status"] == "ok":
            done.append(job)
        elif record is not None and not retry_failed:
            failed.append(job)
        else:
            pending.append(job)
    # A source model stored without its weights (imported from another store, or its artifacts removed)
    # is trained again, first, when a run still to come starts from it: the same key trains the same weights.
    needed = {job.depends_on for job in pending if job.depends_on}
    for job in [job for job in done if job.key in needed and not _has_checkpoint(store.get(job.key))]:
        done.remove(job)
        job.rerun = True
        pending.insert(0, job)
    return Plan(done, failed, pending)


def _has_checkpoint(record) -> bool:
    return bool(record and record.get("artifacts") and (Path(record["artifacts"]) / "model.pt").is_file())


def estimate_seconds(jobs: list[Job], store) -> dict[str, float]:
    """The expected seconds of each job on one worker, from the stored ok runs of its method: their
    median training seconds per step (over runs of the same task where there are any, else over all
    tasks) times the job's steps, plus their median seconds outside training (loading, evaluation,
    saving). Jobs of a method with no stored run, or whose steps are not known, get no estimate."""
    from statistics import median

    rates: dict[tuple[str, str], list[float]] = {}
    overheads: dict[tuple[str, str], list[float]] = {}
    for row in store.query(status="ok"):
        steps = sum(((row.get("config") or {}).get("phase_steps") or {}).values())
        timings = row.get("timings") or {}
        train, total = timings.get("train_s"), timings.get("total_s")
        if steps and train and total:
            rates.setdefault((row["method"], row["task"]), []).append(train / steps)
            overheads.setdefault((row["method"], row["task"]), []).append(max(0.0, total - train))

    def pooled(table, method, task):
        same_task = table.get((method, task))
        return same_task or [v for (m, _), values in table.items() if m == method for v in values]

    estimates = {}
    for job in jobs:
        method, task = job.request.method, job.request.task
        rate, overhead = pooled(rates, method, task), pooled(overheads, method, task)
        if rate and job.steps:
            estimates[job.key] = median(rate) * job.steps + median(overhead)
    return estimates


def describe_duration(seconds: float) -> str:
    """``seconds`` in words a person reads at a glance: "about 3 h 20 min", "about 40 min", "under a minute"."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"about {minutes} min"
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"


def remaining_seconds(estimates: dict[str, float], waiting: list[str], running: dict[str, float], workers: int,
                      now: float) -> tuple[float, int]:
    """Expected wall-clock seconds left of a sweep: the estimates of the runs not started, plus what is
    left of each run in flight (``running`` maps keys to start times), shared among ``workers``; and
    how many of those runs have no estimate."""
    left, unknown = 0.0, 0
    for key in waiting:
        if key in estimates:
            left += estimates[key]
        else:
            unknown += 1
    for key, started in running.items():
        if key in estimates:
            left += max(0.0, estimates[key] - (now - started))
        else:
            unknown += 1
    return left / max(1, workers), unknown
