"""One run: (method, task, seed, config) -> trained model, metrics, timings, checkpoint.

``prepare`` resolves names, hyperparameters and data locations without importing torch, so bad
input fails fast; ``execute`` loads the data, trains phase by phase, handing each phase only what
its inputs allow, and evaluates on the target and source test splits.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from udabench import hparams as hparams_module
from udabench import weights as weights_module
from udabench.data import augment as augment_module
from udabench.data.loading import DataSource, resolve_source
from udabench.errors import UdabenchError
from udabench.plugins import Registry
from udabench.selection import evaluation_steps
from udabench.specs import BackboneSpec, MethodSpec, TaskSpec, load_object, takes_keyword

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class RunRequest:
    """What the user asked for, as the CLI (or a sweep) hands it over."""

    method: str
    task: str
    seed: int = 0
    steps: int = 3000
    batch_size: int = 128
    device: str = "auto"
    overrides: Mapping[str, str] = field(default_factory=dict)
    backbone: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    data_root: str | None = None
    eval_batch_size: int = 1024
    threads: int | None = None
    snapshots: int = 4
    eval_points: int = 5  # evaluations over the last phase, for model selection (the last one ends training)
    source_run: str | None = None
    source_checkpoint: str | None = None
    log_every: int | None = None  # default: about 20 records per phase, at most every 50 steps
    progress: bool = True


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


@dataclass
class RunResult:
    run_id: str
    key: str
    method: str
    task: str
    seed: int
    config: dict[str, Any]
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    device: str = ""
    error: str | None = None
    checkpoint: str | None = None
    # evaluations during training, the checkpoint each model-selection rule picks, data provenance
    details: dict[str, Any] = field(default_factory=dict)


class RunFailed(UdabenchError):
    """Training stopped (for instance a loss became NaN); ``result`` holds what is known."""

    def __init__(self, message: str, result: RunResult):
        super().__init__(message)
        self.result = result


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
    if request.steps <= 0:
        raise UdabenchError(f"--steps must be positive (got {request.steps})")
    if request.batch_size <= 0:
        raise UdabenchError(f"--batch-size must be positive (got {request.batch_size})")
    if request.threads is not None and request.threads <= 0:
        raise UdabenchError(f"--threads must be positive (got {request.threads})")
    if request.device not in DEVICES:
        raise UdabenchError(f"--device must be one of {', '.join(DEVICES)} (got '{request.device}')")
    backbone_name = request.backbone or task.backbone
    backbone = registry.get("backbones", backbone_name)
    augment_module.check(task)
    defaults = {**method.hparams, **{k: v for k, v in task.hparams.items() if k in method.hparams}}
    values = hparams_module.resolve(method.name, defaults, request.overrides)
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
    sources = {name: resolve_source(registry.get("datasets", name), request.data.get(name), data_root)
               for name in (task.source, task.target)}

    config = {
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
    key = run_key(method.name, task.name, request.seed, config)
    return PreparedRun(method, task, backbone, backbone_name, values, sources, config, key)


def _has_source_phase(method: MethodSpec) -> bool:
    return len(method.phases) > 1 and method.phases[0].inputs == frozenset({"source"})


def resolve_device(requested: str):
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UdabenchError(
            f"--device cuda: CUDA is not available here (torch {torch.__version__}); use --device cpu"
        )
    return torch.device(requested)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; ``deterministic`` also asks torch for deterministic kernels
    (on by default on the CPU, where it costs little; on CUDA it would slow scatter-heavy steps)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


class IndexSampler:
    """Endless shuffled passes over ``n`` indices, drawn from a seeded generator, on ``device``."""

    def __init__(self, n: int, batch_size: int, generator, device):
        self.n, self.batch_size, self.generator, self.device = n, batch_size, generator, device
        self.order = self._permutation()
        self.position = 0

    def _permutation(self):
        import torch

        return torch.randperm(self.n, generator=self.generator).to(self.device)

    def next(self):
        import torch

        pieces, wanted = [], self.batch_size
        while wanted:
            if self.position == self.n:
                self.order, self.position = self._permutation(), 0
            take = min(wanted, self.n - self.position)
            pieces.append(self.order[self.position:self.position + take])
            self.position += take
            wanted -= take
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)


class Normalizer:
    """uint8 images -> float, scaled to [0, 1] and normalised with the task's mean and std.

    Images larger than the task's input (a ``cache_resolution`` above ``resolution``) are
    centre-cropped to it first: evaluation images always, training batches where the task names no
    random crop (the :class:`~udabench.data.augment.Augmenter` has already cropped them otherwise).
    """

    def __init__(self, task: TaskSpec, device):
        import torch

        self.size = task.resolution
        channels = task.channels
        mean = task.mean if len(task.mean) == channels else task.mean[:1] * channels
        std = task.std if len(task.std) == channels else task.std[:1] * channels
        self.scale = (1.0 / (255.0 * torch.tensor(std, device=device))).view(1, -1, 1, 1)
        self.shift = (torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, -1, 1, 1)

    def __call__(self, images):
        return augment_module.center_crop(images, self.size).float() * self.scale - self.shift


def load_task_data(prepared: PreparedRun, registry: Registry, device, progress: bool):
    """Source and target train/test splits at the task's protocol, on ``device`` where they fit.

    A split that a task names twice (Office-31 trains and tests on all of a domain's images) is
    decoded once and shared.
    """
    from udabench.data.loading import load_split

    task = prepared.task
    splits, loaded = {}, {}
    for role, name in (("source", task.source), ("target", task.target)):
        spec = registry.get("datasets", name)
        for split_role, split in (("train", task.train_split), ("test", task.test_split)):
            if (name, split) not in loaded:
                loaded[name, split] = _to_device(load_split(spec, prepared.sources[name], split, task,
                                                            progress=progress), device)
            splits[f"{role}_{split_role}"] = loaded[name, split]
    return splits


def _to_device(split, device):
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if split.images.numel() > free // 4:  # leave room for training; fall back to host memory
            return split
    return split.to(device)


def build_method(prepared: PreparedRun, device, num_classes: int):
    import torch

    task = prepared.task
    backbone_factory = load_object(prepared.backbone.factory)
    backbone_kwargs = {}
    if prepared.backbone.name.endswith(":"):
        backbone_kwargs["model"] = prepared.backbone_name.split(":", 1)[1]
    weights = prepared.hparams.get("weights", weights_module.NONE)
    if not isinstance(weights, str):  # a method's own hyperparameter of that name, not the backbone's
        weights = weights_module.NONE
    load_file = None
    if takes_keyword(backbone_factory, "weights") and "weights" in prepared.hparams:
        backbone_kwargs["weights"] = weights  # the factory loads them itself
    elif weights_module.kind(weights) == weights_module.PRETRAINED:
        raise UdabenchError(
            f"backbone '{prepared.backbone_name}' has no published weights to load (weights={weights}); "
            "use --set weights=none or --set weights=PATH (a state dict of this backbone)"
        )
    elif weights_module.kind(weights) == "file":
        load_file = weights

    from udabench.method import Method, MethodContext, mark_backbone

    def make_backbone():
        module = backbone_factory(task.channels, task.resolution, **backbone_kwargs)
        if load_file is not None:
            weights_module.load_into(module, load_file, f"backbone '{prepared.backbone_name}'")
        return mark_backbone(module)

    try:
        method_class = load_object(prepared.method.factory)
    except Exception as exc:
        raise UdabenchError(
            f"method '{prepared.method.name}' cannot be imported from {prepared.method.factory}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not (isinstance(method_class, type) and issubclass(method_class, Method)):
        raise UdabenchError(f"method '{prepared.method.name}': {prepared.method.factory} is not a udabench Method")
    context = MethodContext(num_classes, task.channels, task.resolution, dict(prepared.hparams),
                            dict(prepared.config["phase_steps"]), make_backbone, torch.device(device),
                            mean=tuple(task.mean), std=tuple(task.std))
    try:
        method = method_class(context)
    except TypeError as exc:  # e.g. a subclass that leaves an abstract call unimplemented
        raise UdabenchError(f"method '{prepared.method.name}' cannot be built: {exc}") from None
    return method.to(device)


def predict_logits(method, images, normalize, batch_size: int):
    """``method``'s logits for uint8 ``images``, in eval mode and batches, on the CPU."""
    import torch

    method.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size].to(normalize.scale.device, non_blocking=True)
            outputs.append(method.predict(normalize(chunk)).float().cpu())
    method.train()
    return torch.cat(outputs)


def evaluate(method, split, normalize, metric_functions, num_classes, batch_size: int) -> dict[str, float]:
    predicted = predict_logits(method, split.images, normalize, batch_size).argmax(1)
    labels = split.labels.cpu()
    return {name: function(predicted, labels, num_classes) for name, function in metric_functions.items()}


# Unlabelled target training images scored at each evaluation point (entropy, SND).
SELECTION_SAMPLES = 1000


class Evaluator:
    """Evaluates a run at the points of its last phase that model selection chooses among."""

    def __init__(self, method, splits, normalize, registry, num_classes: int, batch_size: int, seed: int):
        import torch

        self.method, self.splits, self.normalize = method, splits, normalize
        self.num_classes, self.batch_size = num_classes, batch_size
        self.metric_functions = {name: load_object(spec.function) for name, spec in registry.specs["metrics"].items()}
        target = splits["target_train"]
        order = torch.randperm(len(target), generator=torch.Generator().manual_seed(seed))
        self.unlabelled = target.images[order[:SELECTION_SAMPLES].to(target.images.device)]
        self.points: list[dict[str, Any]] = []

    def __call__(self, phase: str, step: int) -> dict[str, Any]:
        from udabench.selection import prediction_scores

        target = evaluate(self.method, self.splits["target_test"], self.normalize, self.metric_functions,
                          self.num_classes, self.batch_size)
        source = evaluate(self.method, self.splits["source_test"], self.normalize, self.metric_functions,
                          self.num_classes, self.batch_size)
        scores = prediction_scores(predict_logits(self.method, self.unlabelled, self.normalize, self.batch_size))
        point = {"phase": phase, "step": step, **target, **{f"source_{k}": v for k, v in source.items()}, **scores}
        self.points.append(point)
        return point


def execute(prepared: PreparedRun, registry: Registry, request: RunRequest,
            artifact_dir: Path | None = None) -> RunResult:
    """Train and evaluate; raises :class:`RunFailed` if training diverges."""
    import torch
    from tqdm.auto import tqdm

    started = time.perf_counter()
    device = resolve_device(request.device)
    if request.threads:
        torch.set_num_threads(request.threads)
    result = RunResult(prepared.run_id, prepared.key, prepared.method.name, prepared.task.name,
                       request.seed, prepared.config, "running", device=str(device))
    seed_everything(request.seed, deterministic=device.type == "cpu")
    splits = load_task_data(prepared, registry, device, request.progress)
    num_classes = splits["source_train"].num_classes
    data_details = {name: _describe_data(prepared.sources[name], splits, role)
                    for role, name in (("source", prepared.task.source), ("target", prepared.task.target))}
    loaded = time.perf_counter()

    method = build_method(prepared, device, num_classes)
    normalize = Normalizer(prepared.task, device)
    if request.source_checkpoint:
        try:
            method.load_source_weights(load_checkpoint(request.source_checkpoint))
        except (RuntimeError, KeyError, OSError) as exc:
            detail = " ".join(str(exc).split())
            detail = detail if len(detail) <= 300 else detail[:297] + "..."
            raise UdabenchError(f"--source-run {request.source_run[:12]}: its weights do not fit "
                                f"'{prepared.method.name}': {detail}") from None
    generator = torch.Generator().manual_seed(request.seed)
    augment = augment_module.Augmenter(prepared.task.augment, prepared.task.resolution, request.seed)
    samplers = {role: IndexSampler(len(splits[f"{role}_train"]), request.batch_size, generator,
                                   splits[f"{role}_train"].images.device)
                for role in ("source", "target")}

    from udabench.method import Batch

    def draw(role):
        split = splits[f"{role}_train"]
        indices = samplers[role].next()
        images = split.images[indices].to(device, non_blocking=True)
        if augment:
            images = augment(images)
        return normalize(images), split.labels[indices].to(device, non_blocking=True)

    snapshotter = Snapshotter(method, prepared.task, artifact_dir, request.snapshots)
    evaluator = Evaluator(method, splits, normalize, registry, num_classes, request.eval_batch_size, request.seed)
    total_steps = sum(prepared.config["phase_steps"].values())
    bar = tqdm(total=total_steps, desc=f"{prepared.method.name} {prepared.task.name}", unit="step",
               disable=not request.progress, file=sys.stderr, dynamic_ncols=True)
    done, eval_time = 0, 0.0
    method.train()
    phases = [p for p in prepared.method.phases if p.name in prepared.config["phase_steps"]]
    for index, phase in enumerate(phases):
        if prepared.method.setting == "source-free" and "source" not in phase.inputs:
            # From here on the source training data no longer exists for this run.
            splits.pop("source_train", None)
            samplers.pop("source", None)
        steps = prepared.config["phase_steps"][phase.name]
        last_phase = index == len(phases) - 1
        eval_steps = set(evaluation_steps(steps, request.eval_points)) if last_phase else {steps}
        log_every = request.log_every or max(1, min(50, steps // 20))
        method.begin_phase(phase.name, steps)
        sums: dict[str, Any] = {}
        counts: dict[str, int] = {}
        count = 0
        for step in range(steps):
            batch = Batch()
            if "source" in phase.inputs:
                batch.source_x, batch.source_y = draw("source")
            if "target" in phase.inputs:
                batch.target_x, _ = draw("target")  # target labels never leave the runner
            logs = method.update(phase.name, step, batch)
            for name, value in logs.items():
                if not isinstance(value, torch.Tensor):
                    raise UdabenchError(
                        f"method '{prepared.method.name}' returned {type(value).__name__} for '{name}' from "
                        "update(); return detached scalar tensors"
                    )
                sums[name] = sums.get(name, 0.0) + value.detach()
                counts[name] = counts.get(name, 0) + 1
            count += 1
            done += 1
            if count == log_every or step == steps - 1:
                # Averaged over the steps that logged each value: some losses skip some steps.
                record = {name: float(total) / counts[name] for name, total in sums.items()}
                record.update(phase=phase.name, step=step + 1)
                result.history.append(record)
                bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if isinstance(v, float)}, refresh=False)
                non_finite = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
                if non_finite:
                    bar.close()
                    result.status = "failed"
                    result.error = (f"{', '.join(non_finite)} became {record[non_finite[0]]} in phase "
                                    f"'{phase.name}' near step {step + 1}; lower the learning rate (--set lr=...)")
                    result.timings = {"load_s": loaded - started, "train_s": time.perf_counter() - loaded}
                    raise RunFailed(f"run {prepared.run_id} failed: {result.error}", result)
                sums, counts, count = {}, {}, 0
            snapshotter.maybe_save(phase.name, step + 1, steps)
            bar.update(1)
            if last_phase and step + 1 in eval_steps:
                evaluating = time.perf_counter()
                evaluator(phase.name, step + 1)
                eval_time += time.perf_counter() - evaluating
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize()
    trained = time.perf_counter()

    from udabench.selection import selections

    final = evaluator.points[-1]
    result.metrics = {k: v for k, v in final.items() if k not in ("phase", "step", "entropy", "snd")}
    result.details = {
        "evaluations": evaluator.points,
        "selection": selections(evaluator.points),
        "data": data_details,
    }

    if artifact_dir is not None:
        artifact_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = artifact_dir / "model.pt"
        torch.save({k: v.detach().cpu() for k, v in method.state_dict().items()}, checkpoint)
        result.checkpoint = str(checkpoint)
    result.timings = {
        "load_s": loaded - started,
        "train_s": trained - loaded - eval_time,
        "eval_s": eval_time,
        "total_s": time.perf_counter() - started,
        "steps_per_s": total_steps / max(trained - loaded - eval_time, 1e-9),
    }
    result.status = "ok"
    return result


def _describe_data(source: DataSource, splits, role: str) -> dict[str, Any]:
    """Where a dataset of the run came from and how many images each split held."""
    sizes = {split: len(splits[f"{role}_{split}"]) for split in ("train", "test") if f"{role}_{split}" in splits}
    location = source.location if source.kind in ("hub", "generated") else Path(source.location).name
    return {"kind": source.kind, "location": location, "revision": source.revision, "sizes": sizes}


class Snapshotter:
    """Saves a method's image grids (``Method.snapshot``) as PNG at a few points of each phase."""

    def __init__(self, method, task: TaskSpec, artifact_dir: Path | None, count: int):
        self.method, self.task, self.count = method, task, count
        self.folder = artifact_dir / "images" if artifact_dir is not None else None
        self.saved: list[str] = []

    def maybe_save(self, phase: str, step: int, steps: int) -> None:
        if self.folder is None or self.count <= 0:
            return
        every = max(1, steps // self.count)
        if step % every and step != steps:
            return
        import torch
        from torchvision.utils import save_image

        self.method.eval()
        with torch.no_grad():
            grids = self.method.snapshot()
        self.method.train()
        for name, (images, per_row) in (grids or {}).items():
            mean = torch.tensor(self.task.mean[:images.shape[1]], device=images.device).view(1, -1, 1, 1)
            std = torch.tensor(self.task.std[:images.shape[1]], device=images.device).view(1, -1, 1, 1)
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{name}-{phase}-{step:06d}.png"
            save_image((images.float() * std + mean).clamp(0, 1).cpu(), path, nrow=per_row, padding=1)
            self.saved.append(str(path))


def load_checkpoint(path: str | os.PathLike):
    """A run's saved weights (a state dict of tensors), read with ``weights_only=True``."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
