"""A run request, checked and resolved into a prepared run and its run key, without importing torch."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from udabench import hparams as hparams_module
from udabench import weights as weights_module
from udabench.data import augment as augment_module
from udabench.data import integrity
from udabench.data.loading import DataSource, resolve_source
from udabench.code import code_identity
from udabench.errors import UdabenchError
from udabench.options import PRECISIONS, default
from udabench.options import check as check_options
from udabench.plugins import Registry
from udabench.specs import BackboneSpec, MethodSpec, TaskSpec



@dataclass
class RunRequest:
    """What the user asked for, as the CLI (or a sweep) hands it over."""

    method: str
    task: str
    seed: int = default("seed")
    steps: int = default("steps")
    batch_size: int = default("batch_size")
    device: str = default("device")
    overrides: Mapping[str, str] = field(default_factory=dict)
    backbone: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    data_root: str | None = None
    eval_batch_size: int | None = None  # default: evaluation.default_eval_batch_size (by device; not in the key)
    threads: int | None = default("threads")
    snapshots: int = default("snapshots")
    eval_points: int = default("eval_points")  # evaluations over the last phase, for model selection (the last one ends training)
    source_run: str | None = None
    source_checkpoint: str | None = None
    log_every: int | None = None  # default: about 20 records per phase, at most every 50 steps
    progress: bool = True
    resolution: tuple[int, int] | None = None  # (height, width) instead of a segmentation task's own
    # Seconds between resume checkpoints (0: after every step); phase ends always checkpoint. Not in the key.
    checkpoint_every: float = default("checkpoint_minutes") * 60
    generator_checkpoint: str | None = None  # the checkpoint of --set generator_from=RUN (jobs.resolve_stored_runs)
    precision: str = default("precision")  # bf16: autocast around updates and evaluation (in the key when not fp32)
    channels_last: str = default("channels_last")  # convolutions' memory format (execution.py; not in the key)
    capture: str = default("capture")  # compile a static step whole (runner/capture.py; not in the key)


@dataclass
class PreparedRun:
    method: MethodSpec
    task: TaskSpec
    backbone: BackboneSpec
    backbone_name: str
    hparams: dict[str, Any]
    sources: dict[str, DataSource]
    config: dict[str, Any]
    key: str

    @property
    def run_id(self) -> str:
        return self.key[:12]


def run_key(method: str, task: str, seed: int, config: Mapping[str, Any]) -> str:
    """The identity of a run: a hash of what determines its outcome.

    Hyperparameters at their key-neutral value (``hparams.KEY_NEUTRAL``) are left out, so that adding
    such a knob does not change the keys of runs stored before it existed.
    """
    hparams = {name: value for name, value in config.get("hparams", {}).items()
               if not (name in hparams_module.KEY_NEUTRAL and value == hparams_module.KEY_NEUTRAL[name])}
    config = {**config, "hparams": hparams} if "hparams" in config else config
    payload = json.dumps({"method": method, "task": task, "seed": seed, "config": config},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def prepare(registry: Registry, request: RunRequest) -> PreparedRun:
    """Check every name and value of ``request`` and resolve its data, without importing torch."""
    method = registry.get("methods", request.method)
    task = registry.get("tasks", request.task)
    if task.kind not in method.kinds:
        raise UdabenchError(f"method '{method.name}' does not train on {task.kind} tasks such as '{task.name}' "
                            f"(it runs on {' and '.join(method.kinds)} tasks)")
    if request.resolution is not None:
        if task.kind != "segmentation":
            raise UdabenchError(f"--resolution applies to segmentation tasks; '{task.name}' is a {task.kind} task "
                                "whose networks are built for its own input size")
        task = dataclasses.replace(task, resolution=tuple(request.resolution))
    check_options(request)
    backbone_name = request.backbone or task.backbone
    backbone = registry.get("backbones", backbone_name)
    augment_module.check(task)
    defaults = {**method.hparams, **{k: v for k, v in task.hparams.items() if k in method.hparams}}
    values = hparams_module.resolve(method.name, defaults, request.overrides, method.hparam_specs)
    weights_file = None
    if isinstance(values.get("weights"), str) and weights_module.kind(values["weights"]) == "file":
        values["weights"] = weights_file = weights_module.resolve_file(values["weights"])
    if request.source_run and not _has_source_phase(method):
        raise UdabenchError(
            f"--source-run: method '{method.name}' has no source-training first phase to replace"
        )
    phase_steps = {}
    for phase in method.phases:
        if request.source_run and phase is method.phases[0]:
            continue
        steps = values[phase.steps_param] if phase.steps_param else request.steps
        if steps <= 0:
            raise UdabenchError(f"phase '{phase.name}' of '{method.name}' needs a positive step count")
        phase_steps[phase.name] = steps

    known_datasets = {task.source, task.target}
    for name in request.data:
        if name not in known_datasets:
            raise UdabenchError(
                f"--data names '{name}', but task '{task.name}' uses {task.source} and {task.target}"
            )
    data_root = request.data_root or os.environ.get("UDABENCH_DATA")
    # A source-free method given a stored source model never needs the source data: it is neither
    # looked for nor loaded, so such a run works where the source dataset is absent.
    needed = (task.target,) if source_free_from_run(method, request) else (task.source, task.target)
    sources = {name: resolve_source(registry.get("datasets", name), request.data.get(name), data_root)
               for name in needed}
    check_sources(registry, task, sources)

    config = {
        "code": code_identity(method.factory, registry.providers["methods"].get(method.name, "unknown"),
                              backbone.factory),
        "steps": request.steps,
        "phase_steps": phase_steps,
        "batch_size": request.batch_size,
        "backbone": backbone_name,
        "hparams": values,
        "data": {name: source.fingerprint for name, source in sources.items()},
    }
    if weights_file is not None:
        config["backbone_weights"] = weights_module.fingerprint(weights_file)
    if request.source_run:
        config["source_run"] = request.source_run
    if request.resolution is not None:
        config["resolution"] = list(request.resolution)
    if request.precision != PRECISIONS[0]:  # fp32 runs keep the keys they had before this option existed
        config["precision"] = request.precision
    key = run_key(method.name, task.name, request.seed, config)
    return PreparedRun(method, task, backbone, backbone_name, values, sources, config, key)


def check_sources(registry: Registry, task: TaskSpec, sources: Mapping[str, DataSource]) -> None:
    """The cheap checks that each local copy is the dataset its spec describes (class names, labels,
    a sample of images), before anything is stored or decoded: a misfit is one line."""
    if task.kind == "segmentation":
        return
    for name, source in sources.items():
        role_splits = [task.train_split, task.test_split]
        if name == task.source and task.source_test_split:
            role_splits[1] = task.source_test_split
        for split in dict.fromkeys(role_splits):
            integrity.check_source(registry.get("datasets", name), source, split)


def source_free_from_run(method: MethodSpec, request: RunRequest) -> bool:
    """Whether a run adapts a stored source model without any source data (``--source-run`` given
    to a source-free method)."""
    return method.setting == "source-free" and bool(request.source_run)


def _has_source_phase(method: MethodSpec) -> bool:
    return len(method.phases) > 1 and method.phases[0].inputs == frozenset({"source"})
