"""One run: (method, task, seed, config) -> trained model, metrics, timings, checkpoint.

``prepare`` resolves names, hyperparameters and data locations without importing torch, so bad
input fails fast; ``execute`` loads the data, trains phase by phase, handing each phase only what
its inputs allow, and evaluates on the target and source test splits.
"""

from __future__ import annotations

import dataclasses
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
from udabench.specs import IGNORE_LABEL, BackboneSpec, MethodSpec, TaskSpec, load_object, size_of, takes_keyword

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
    resolution: tuple[int, int] | None = None  # (height, width) instead of a segmentation task's own
    generator_checkpoint: str | None = None  # the checkpoint of --set generator_from=RUN (jobs.resolve_stored_runs)


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
    if task.kind not in method.kinds:
        raise UdabenchError(f"method '{method.name}' does not train on {task.kind} tasks such as '{task.name}' "
                            f"(it runs on {' and '.join(method.kinds)} tasks)")
    if request.resolution is not None:
        if task.kind != "segmentation":
            raise UdabenchError(f"--resolution applies to segmentation tasks; '{task.name}' is a {task.kind} task "
                                "whose networks are built for its own input size")
        task = dataclasses.replace(task, resolution=tuple(request.resolution))
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
    if request.resolution is not None:
        config["resolution"] = list(request.resolution)
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
        test_split = task.source_test_split or task.test_split if role == "source" else task.test_split
        for split_role, split in (("train", task.train_split), ("test", test_split)):
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

    if task.kind == "segmentation":
        if not takes_keyword(backbone_factory, "num_classes"):
            raise UdabenchError(f"backbone '{prepared.backbone_name}' is a feature extractor; segmentation task "
                                f"'{task.name}' needs a segmentation network (e.g. fcn8s-vgg16, deeplabv2)")
        backbone_kwargs["num_classes"] = num_classes

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
                            mean=tuple(task.mean), std=tuple(task.std), kind=task.kind)
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


def evaluate(method, split, normalize, metrics, num_classes, batch_size: int):
    """The metrics of ``method`` on ``split`` and its confusion matrix (on the CPU).

    ``metrics`` maps names to ``(MetricSpec, function)``. Class predictions are kept for metrics of
    predicted and true labels; dense predictions never are: their counts go into a confusion matrix
    on the device, batch by batch.
    """
    import torch

    from udabench import confusion as confusion_module

    if split.labels.dim() == 1:  # one label per image
        predicted = predict_logits(method, split.images, normalize, batch_size).argmax(1)
        labels = split.labels.cpu()
        confusion = confusion_module.empty(num_classes, "cpu")
        confusion_module.add(confusion, labels, predicted)
    else:
        device = normalize.scale.device
        confusion = confusion_module.empty(num_classes, device)
        method.eval()
        with torch.no_grad():
            for start in range(0, len(split), batch_size):
                images = split.images[start:start + batch_size].to(device, non_blocking=True)
                labels = split.labels[start:start + batch_size].to(device, non_blocking=True)
                confusion_module.add(confusion, labels, method.predict(normalize(images)).argmax(1))
        method.train()
        confusion = confusion.cpu()
    values = {}
    for name, (spec, function) in metrics.items():
        values[name] = (float(function(confusion)) if spec.input == "confusion"
                        else function(predicted, labels, num_classes))
    return values, confusion


# Unlabelled target training images scored at each evaluation point (entropy, SND); for segmentation
# fewer images, and SND over pixels sampled from them.
SELECTION_SAMPLES = 1000
DENSE_SELECTION_SAMPLES = 100
# Pixels of a segmentation batch at evaluation (a 1024x512 image has 2**19): bounds the logits in memory.
DENSE_EVAL_PIXELS = 2 ** 21


def main_metric(task: TaskSpec) -> str:
    """The metric model selection ranks by and leaderboards show by default."""
    return "miou" if task.kind == "segmentation" else "accuracy"


class Evaluator:
    """Evaluates a run at the points of its last phase that model selection chooses among."""

    def __init__(self, method, splits, normalize, registry, task: TaskSpec, class_names, batch_size: int,
                 seed: int):
        import torch

        self.method, self.splits, self.normalize = method, splits, normalize
        self.task, self.class_names = task, tuple(class_names)
        self.num_classes = len(self.class_names)
        self.dense = task.kind == "segmentation"
        height, width = task.size
        self.batch_size = max(1, min(batch_size, DENSE_EVAL_PIXELS // (height * width))) if self.dense else batch_size
        self.metrics = {name: (spec, load_object(spec.function))
                        for name, spec in registry.specs["metrics"].items() if task.kind in spec.kinds}
        target = splits["target_train"]
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(target), generator=generator)
        samples = DENSE_SELECTION_SAMPLES if self.dense else SELECTION_SAMPLES
        self.unlabelled = target.images[order[:samples].to(target.images.device)]
        # The pixels of each unlabelled image whose predictions SND compares (segmentation).
        per_image = -(-SELECTION_SAMPLES // len(self.unlabelled))
        self.pixels = torch.randint(height * width, (len(self.unlabelled), per_image), generator=generator)
        self.points: list[dict[str, Any]] = []
        self.confusion = None

    def __call__(self, phase: str, step: int) -> dict[str, Any]:
        target, self.confusion = evaluate(self.method, self.splits["target_test"], self.normalize, self.metrics,
                                          self.num_classes, self.batch_size)
        source, _ = evaluate(self.method, self.splits["source_test"], self.normalize, self.metrics,
                             self.num_classes, self.batch_size)
        if self.dense:
            target.update(self.subset_ious(self.confusion))
        point = {"phase": phase, "step": step, **target, **{f"source_{k}": v for k, v in source.items()},
                 **self.unlabelled_scores()}
        self.points.append(point)
        return point

    def subset_ious(self, confusion) -> dict[str, float]:
        """The mean IoU over each of the task's class subsets (e.g. SYNTHIA's 13 classes)."""
        from udabench.confusion import iou_per_class

        iou = iou_per_class(confusion)
        values = {}
        for name, classes in self.task.class_subsets.items():
            chosen = iou[[self.class_names.index(c) for c in classes]]
            values[name] = float(chosen.nanmean()) if (~chosen.isnan()).any() else float("nan")
        return values

    def per_class_iou(self) -> list[list]:
        """The last evaluation's ``[class, IoU]`` pairs in class order (IoU ``None`` for a class neither
        present nor predicted)."""
        from udabench.confusion import iou_per_class

        return [[name, None if math.isnan(value) else value]
                for name, value in zip(self.class_names, iou_per_class(self.confusion).tolist())]

    def unlabelled_scores(self) -> dict[str, float]:
        """Mean entropy and SND of the predictions on unlabelled target training images; for
        segmentation the entropy of every pixel and the SND of a fixed sample of pixels."""
        import torch

        from udabench.selection import prediction_scores

        if not self.dense:
            return prediction_scores(predict_logits(self.method, self.unlabelled, self.normalize, self.batch_size))
        device = self.normalize.scale.device
        entropy, count, sampled = 0.0, 0, []
        self.method.eval()
        with torch.no_grad():
            for start in range(0, len(self.unlabelled), self.batch_size):
                images = self.unlabelled[start:start + self.batch_size].to(device, non_blocking=True)
                logits = self.method.predict(self.normalize(images)).float().flatten(2)  # (B, K, pixels)
                log_p = torch.log_softmax(logits, dim=1)
                entropy += float(-(log_p.exp() * log_p).sum(1).sum())
                count += log_p.shape[0] * log_p.shape[2]
                pixels = self.pixels[start:start + len(images)].to(device)
                sampled.append(torch.gather(logits, 2, pixels[:, None, :].expand(-1, logits.shape[1], -1))
                               .transpose(1, 2).reshape(-1, logits.shape[1]).cpu())
        self.method.train()
        scores = prediction_scores(torch.cat(sampled)[:SELECTION_SAMPLES])
        scores["entropy"] = entropy / count
        return scores


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
        _take_stored_weights(method.load_source_weights, request.source_checkpoint,
                             f"--source-run {request.source_run[:12]}: its weights do not fit", prepared.method.name)
    generator_from = prepared.hparams.get("generator_from", "none")
    if generator_from != "none" and not request.generator_checkpoint:
        raise UdabenchError(f"--set generator_from={generator_from}: the stored run was not looked up; "
                            "'udabench run' does that (with --store)")
    if request.generator_checkpoint:
        _take_stored_weights(method.load_generator_weights, request.generator_checkpoint,
                             "--set generator_from: the stored run's generator does not fit", prepared.method.name)
    generator = torch.Generator().manual_seed(request.seed)
    dense = prepared.task.kind == "segmentation"
    augment = augment_module.Augmenter(prepared.task.augment, prepared.task.resolution, request.seed)
    samplers = {role: IndexSampler(len(splits[f"{role}_train"]), request.batch_size, generator,
                                   splits[f"{role}_train"].images.device)
                for role in ("source", "target")}

    from udabench.method import Batch

    def draw(role):
        split = splits[f"{role}_train"]
        indices = samplers[role].next()
        images = split.images[indices].to(device, non_blocking=True)
        labels = split.labels[indices].to(device, non_blocking=True)
        if augment and dense:
            images, labels = augment(images, labels)
        elif augment:
            images = augment(images)
        return normalize(images), labels.long()

    class_names = prepared.task.classes or registry.get("datasets", prepared.task.source).classes
    evaluator = Evaluator(method, splits, normalize, registry, prepared.task, class_names,
                          request.eval_batch_size, request.seed)
    snapshotter = Snapshotter(method, prepared.task, artifact_dir, request.snapshots,
                              SegmentationPictures(method, splits, normalize, prepared.task, request.seed)
                              if dense else None)
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
        "selection": selections(evaluator.points, main_metric(prepared.task)),
        "data": data_details,
    }
    if dense:
        result.details["per_class_iou"] = evaluator.per_class_iou()

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


def _take_stored_weights(load, checkpoint: str, misfit: str, method_name: str) -> None:
    """Hand a stored run's checkpoint to ``load`` (a method's ``load_*_weights``); weights that do not
    fit become one line starting with ``misfit``."""
    try:
        load(load_checkpoint(checkpoint))
    except (RuntimeError, KeyError, OSError) as exc:
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        raise UdabenchError(f"{misfit} '{method_name}': {detail}") from None


def _describe_data(source: DataSource, splits, role: str) -> dict[str, Any]:
    """Where a dataset of the run came from and how many images each split held."""
    sizes = {split: len(splits[f"{role}_{split}"]) for split in ("train", "test") if f"{role}_{split}" in splits}
    location = source.location if source.kind in ("hub", "generated") else Path(source.location).name
    return {"kind": source.kind, "location": location, "revision": source.revision, "sizes": sizes}


class SegmentationPictures:
    """Side-by-side pictures of a segmentation run, on a few fixed test images of each domain.

    ``source`` rows: the source image, its translation where the method translates
    (``Method.translate``), the prediction and the label map; ``target`` rows: the target image, the
    prediction and the label map. Label maps are drawn in the task's palette, ignored pixels black.
    """

    ROWS = 4

    def __init__(self, method, splits, normalize, task: TaskSpec, seed: int):
        import torch

        self.method, self.normalize, self.task = method, normalize, task
        generator = torch.Generator().manual_seed(seed)
        self.samples = {}
        for role in ("source", "target"):
            split = splits[f"{role}_test"]
            order = torch.randperm(len(split), generator=generator)[:self.ROWS].to(split.images.device)
            self.samples[role] = (split.images[order], split.labels[order])
        self.palette = palette_for(task, splits["source_test"].num_classes)

    def colour(self, label_maps):
        import torch

        palette = torch.cat([self.palette, torch.zeros(256 - len(self.palette), 3, dtype=torch.uint8)])
        return palette[label_maps.long().cpu()].permute(0, 3, 1, 2).float() / 255

    def grids(self) -> dict[str, tuple[Any, int]]:
        """``{name: (images in [0, 1], images per row)}``; called in eval mode without grad."""
        import torch

        grids = {}
        for role, (images, labels) in self.samples.items():
            device = self.normalize.scale.device
            inputs = self.normalize(images.to(device))
            columns = [images.float().cpu() / 255]
            translated = self.method.translate(inputs) if role == "source" else None
            if translated is not None:
                columns.append(self.denormalize(translated))
            columns += [self.colour(self.method.predict(inputs).argmax(1)), self.colour(labels)]
            grids[f"{role}-segmentation"] = (torch.stack(columns, dim=1).flatten(0, 1), len(columns))
        return grids

    def denormalize(self, images):
        scale = self.normalize.scale.to(images.device)
        shift = self.normalize.shift.to(images.device)
        return ((images.float() + shift) / scale / 255).clamp(0, 1).cpu()


def palette_for(task: TaskSpec, num_classes: int):
    """The task's class colours as a ``(K, 3)`` uint8 tensor; evenly spread hues where it names none."""
    import colorsys

    import torch

    if len(task.palette) >= num_classes:
        return torch.tensor(task.palette[:num_classes], dtype=torch.uint8)
    colours = [colorsys.hsv_to_rgb(i / num_classes, 0.8, 0.5 + 0.5 * (i % 2)) for i in range(num_classes)]
    return torch.tensor([[round(255 * c) for c in colour] for colour in colours], dtype=torch.uint8)


class Snapshotter:
    """Saves a method's image grids (``Method.snapshot``) as PNG at a few points of each phase, and
    for segmentation the side-by-side pictures of :class:`SegmentationPictures`."""

    def __init__(self, method, task: TaskSpec, artifact_dir: Path | None, count: int,
                 pictures: SegmentationPictures | None = None):
        self.method, self.task, self.count, self.pictures = method, task, count, pictures
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
            pictures = self.pictures.grids() if self.pictures is not None else {}
        self.method.train()
        if grids or pictures:
            self.folder.mkdir(parents=True, exist_ok=True)
        for name, (images, per_row) in (grids or {}).items():
            mean = torch.tensor(self.task.mean[:images.shape[1]], device=images.device).view(1, -1, 1, 1)
            std = torch.tensor(self.task.std[:images.shape[1]], device=images.device).view(1, -1, 1, 1)
            path = self.folder / f"{name}-{phase}-{step:06d}.png"
            save_image((images.float() * std + mean).clamp(0, 1).cpu(), path, nrow=per_row, padding=1)
            self.saved.append(str(path))
        for name, (images, per_row) in pictures.items():
            path = self.folder / f"{name}-{phase}-{step:06d}.png"
            save_image(images, path, nrow=per_row, padding=2)
            self.saved.append(str(path))


def load_checkpoint(path: str | os.PathLike):
    """A run's saved weights (a state dict of tensors), read with ``weights_only=True``."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
