"""The training loop: a prepared run loaded, built, restored, trained phase by phase, evaluated and recorded."""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from udabench.errors import UdabenchError
from udabench.machine import available_cores
from udabench.plugins import Registry
from udabench.runner.build import build_method
from udabench.runner.capture import Capture
from udabench.runner.checkpoints import SOURCE_MODEL_FILE, _take_stored_weights
from udabench.runner.evaluation import Evaluator, default_eval_batch_size, main_metric
from udabench.runner.execution import autocast, to_channels_last, use_channels_last
from udabench.runner.pictures import SegmentationPictures, Snapshotter
from udabench.runner.point_pictures import PointPictures
from udabench.runner.request import PreparedRun, RunRequest
from udabench.runner.resume import RESUME_FILE, Checkpointing
from udabench.runner.results import RunFailed, RunResult
from udabench.runner.task_data import Normalizer, TrainingBatches, _describe_data, load_task_data
from udabench.selection import evaluation_steps


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


# A batch may hold a small split's images a few times over (tests train on 48 images at batch 128), but
# not far more: --batch-size 100000 on USPS's 7,291 images filled 22 GB before the first step ended.
MAX_BATCH_PASSES = 4


def execute(prepared: PreparedRun, registry: Registry, request: RunRequest,
            artifact_dir: Path | None = None) -> RunResult:
    """Train and evaluate; raises :class:`RunFailed` if training diverges."""
    import torch

    started = time.perf_counter()
    device = resolve_device(request.device)
    # Never more threads than cores this process may use (torch counts the host's under a CPU quota).
    torch.set_num_threads(request.threads or min(torch.get_num_threads(), available_cores()))
    result = RunResult(prepared.run_id, prepared.key, prepared.method.name, prepared.task.name,
                       request.seed, prepared.config, "running", device=str(device))
    seed_everything(request.seed, deterministic=device.type == "cpu")
    splits, data_details = load(prepared, registry, request, device)
    loaded = time.perf_counter()
    run = Training(prepared, registry, request, device, splits, result, artifact_dir)
    checkpoints = Checkpointing(artifact_dir / RESUME_FILE, run, request.checkpoint_every) \
        if artifact_dir is not None else None
    wrappers = [Capturing(run.capture, run.method), *([checkpoints] if checkpoints is not None else [])]
    try:
        run.train(wrappers, checkpoints.first_phase if checkpoints is not None else 0)
    except Diverged as exc:
        run.bar.close()
        result.status, result.error = "failed", str(exc)
        result.timings = {"load_s": loaded - started, "train_s": time.perf_counter() - loaded}
        if checkpoints is not None:
            checkpoints.discard()  # resuming would diverge again
        raise RunFailed(f"run {prepared.run_id} failed: {result.error}", result) from None
    trained = time.perf_counter()
    run.snapshotter.finish()  # pictures that need every snapshot (a point task's decision regions)
    run.record(data_details)
    if checkpoints is not None:
        checkpoints.discard()  # the run is complete: nothing left to resume
    train_s = trained - loaded - run.eval_time
    result.timings = {"load_s": loaded - started, "train_s": train_s, "eval_s": run.eval_time,
                      "total_s": time.perf_counter() - started,
                      "steps_per_s": sum(prepared.config["phase_steps"].values()) / max(train_s, 1e-9)}
    result.status = "ok"
    return result


def load(prepared: PreparedRun, registry: Registry, request: RunRequest, device):
    """The run's splits on ``device``, and where each dataset came from (for the result's details)."""
    splits = load_task_data(prepared, registry, device, request.progress)
    for role in ("source", "target"):
        size = len(splits[f"{role}_train"]) if f"{role}_train" in splits else None
        if size is not None and request.batch_size > MAX_BATCH_PASSES * size:
            raise UdabenchError(
                f"--batch-size {request.batch_size} would draw each of the {size:,} {role} training images about "
                f"{request.batch_size // size} times per batch; use at most {MAX_BATCH_PASSES * size:,}")
    data_details = {name: _describe_data(prepared.sources[name], splits, role)
                    for role, name in (("source", prepared.task.source), ("target", prepared.task.target))
                    if name in prepared.sources}
    if "source_train" not in splits:
        data_details[prepared.task.source] = {"kind": "not loaded", "location": None, "revision": None, "sizes": {},
                                              "note": f"source-free: adapts the source model of run "
                                                      f"{request.source_run[:12]} without source data"}
    return splits, data_details


def run_pictures(method, splits, normalize, prepared: PreparedRun, seed: int, class_names):
    """The pictures a run draws besides the method's own grids: side-by-side predictions for
    segmentation, decision regions for a task of points, else none."""
    task = prepared.task
    if task.kind == "segmentation":
        return SegmentationPictures(method, splits, normalize, task, seed)
    if task.points:
        return PointPictures(method, splits, normalize, task, seed,
                             f"{prepared.method.name} on {task.name}, seed {seed}", class_names)
    return None


class Capturing:
    """``--capture`` around a run's steps: each phase's static step compiled once the method has begun
    the phase (or left eager where it cannot be), the method's own step put back after the run."""

    def __init__(self, capture: Capture, method):
        self.capture, self.method = capture, method

    def before_phase(self, index: int) -> None:
        self.capture.install(self.method)

    def after_step(self, index: int, step: int, steps: int) -> None:
        """Nothing: the compiled step runs as the method's own update."""

    def after_run(self) -> None:
        self.capture.uninstall()


class Diverged(Exception):
    """A logged loss became NaN or infinite; the message says where and what to do."""


class Losses:
    """The values a phase's ``update`` calls return, summed on the device, and averaged into a history
    record every few steps over the steps that logged each value (some losses skip some steps)."""

    def __init__(self, method_name: str):
        self.method_name = method_name
        self.sums: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.count = 0

    def add(self, logs) -> None:
        import torch

        for name, value in logs.items():
            if not isinstance(value, torch.Tensor):
                raise UdabenchError(f"method '{self.method_name}' returned {type(value).__name__} for '{name}' from "
                                    "update(); return detached scalar tensors")
            if value.dtype in (torch.bfloat16, torch.float16):  # a loss computed in autocast: sum in fp32
                value = value.float()
            self.sums[name] = self.sums.get(name, 0.0) + value.detach()
            self.counts[name] = self.counts.get(name, 0) + 1
        self.count += 1

    def record(self, phase: str, step: int) -> dict[str, Any]:
        """The averages since the last record, which start afresh."""
        record = {name: float(total) / self.counts[name] for name, total in self.sums.items()}
        record.update(phase=phase, step=step)
        self.sums, self.counts, self.count = {}, {}, 0
        return record

    def state(self) -> dict[str, Any]:
        return {"sums": self.sums, "counts": self.counts, "count": self.count}

    def load_state(self, state: dict[str, Any]) -> None:
        self.sums, self.counts, self.count = state["sums"], state["counts"], state["count"]


def check_finite(record: dict[str, Any]) -> None:
    """:class:`Diverged` if a value of a history record is not finite."""
    non_finite = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
    if non_finite:
        raise Diverged(f"{', '.join(non_finite)} became {record[non_finite[0]]} in phase '{record['phase']}' near "
                       f"step {record['step']}; lower the learning rate (--set lr=...)")


class Training:
    """A run built on its device: the method (with any stored weights it starts from), its batches,
    evaluator and pictures, and the progress of its steps; :meth:`train` runs the phases."""

    def __init__(self, prepared: PreparedRun, registry: Registry, request: RunRequest, device, splits,
                 result: RunResult, artifact_dir: Path | None):
        from tqdm.auto import tqdm

        self.prepared, self.request, self.device, self.result = prepared, request, device, result
        self.dense = prepared.task.kind == "segmentation"
        num_classes = next(splits[f"{role}_train"].num_classes for role in ("source", "target")
                           if f"{role}_train" in splits)
        self.method = method = build_method(prepared, device, num_classes)
        self.channels_last = use_channels_last(request.channels_last, device, prepared.backbone_name)
        if self.channels_last:
            to_channels_last(method)
        normalize = Normalizer(prepared.task, device, self.channels_last)
        self.capture = Capture(request.capture, device)
        self._start_from_stored_runs()
        self.batches = TrainingBatches(splits, prepared.task, request.batch_size, request.seed, normalize, device)
        class_names = prepared.task.classes or registry.get("datasets", prepared.task.source).classes
        self.evaluator = Evaluator(method, splits, normalize, registry, prepared.task, class_names,
                                   default_eval_batch_size(request.eval_batch_size, device), request.seed)
        self.snapshotter = Snapshotter(method, prepared.task, artifact_dir, request.snapshots,
                                       run_pictures(method, splits, normalize, prepared, request.seed, class_names),
                                       class_names)
        self.artifact_dir = artifact_dir
        self.phases = [p for p in prepared.method.phases if p.name in prepared.config["phase_steps"]]
        self.losses = Losses(prepared.method.name)
        self.start_step, self.done, self.eval_time = 0, 0, 0.0
        self.bar = tqdm(total=sum(prepared.config["phase_steps"].values()),
                        desc=f"{prepared.method.name} {prepared.task.name}", unit="step",
                        disable=not request.progress, file=sys.stderr, dynamic_ncols=True)

    def _start_from_stored_runs(self) -> None:
        """The source model of ``--source-run`` and the generator of ``--set generator_from``, where asked for."""
        prepared, request = self.prepared, self.request
        if request.source_checkpoint:
            _take_stored_weights(self.method.load_source_weights, request.source_checkpoint,
                                 f"--source-run {request.source_run[:12]}: its weights do not fit",
                                 prepared.method.name)
        generator_from = prepared.hparams.get("generator_from", "none")
        if generator_from != "none" and not request.generator_checkpoint:
            raise UdabenchError(f"--set generator_from={generator_from}: the stored run was not looked up; "
                                "'udabench run' does that (with --store)")
        if request.generator_checkpoint:
            _take_stored_weights(self.method.load_generator_weights, request.generator_checkpoint,
                                 "--set generator_from: the stored run's generator does not fit", prepared.method.name)

    def train(self, wrappers, first_phase: int = 0) -> None:
        """Every phase from ``first_phase`` on, its steps wrapped by ``wrappers`` (:class:`Capturing`,
        :class:`~udabench.runner.resume.Checkpointing`): each is told before a phase's first step
        (the method has begun the phase), after each step, and after the last phase."""
        import torch

        self.method.train()
        for index, phase in enumerate(self.phases):
            if self.prepared.method.setting == "source-free" and "source" not in phase.inputs:
                self.batches.forget_source()
            if index < first_phase:
                continue
            steps = self.prepared.config["phase_steps"][phase.name]
            self.method.begin_phase(phase.name, steps)
            self.losses, self.start_step = Losses(self.prepared.method.name), 0
            for wrapper in wrappers:
                wrapper.before_phase(index)
            last_phase = index == len(self.phases) - 1
            eval_steps = set(evaluation_steps(steps, self.request.eval_points)) if last_phase else set()
            log_every = self.request.log_every or max(1, min(50, steps // 20))
            for step in range(self.start_step, steps):
                self.step(phase, step, steps, log_every)
                if step + 1 in eval_steps:
                    self.evaluate(phase.name, step + 1)
                for wrapper in wrappers:
                    wrapper.after_step(index, step + 1, steps)
            if index == 0 and len(self.phases) > 1 and phase.inputs == {"source"}:
                self.save_source_model()
        self.bar.close()
        for wrapper in wrappers:
            wrapper.after_run()
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def step(self, phase, step: int, steps: int, log_every: int) -> None:
        """Step ``step`` (from 0) of ``phase``: a batch, the method's update, the log record and the
        snapshot pictures when due."""
        batch = self.batches.batch(phase.inputs)  # target labels never leave the runner
        with autocast(self.device, self.request.precision):  # bf16 autocast, or nothing for fp32
            logs = self.method.update(phase.name, step, batch)
        self.losses.add(logs)
        self.done += 1
        if self.losses.count == log_every or step + 1 == steps:
            record = self.losses.record(phase.name, step + 1)
            self.result.history.append(record)
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if isinstance(v, float)}, refresh=False)
            check_finite(record)  # the record stays in the history: it shows where the run diverged
        self.snapshotter.maybe_save(phase.name, step + 1, steps)
        self.bar.update(1)

    def evaluate(self, phase: str, step: int) -> None:
        evaluating = time.perf_counter()
        with autocast(self.device, self.request.precision):
            self.evaluator(phase, step)
        self.eval_time += time.perf_counter() - evaluating

    def save_source_model(self) -> None:
        """The method at the end of its source phase, for 'udabench plot --features'."""
        import torch

        if self.artifact_dir is None or self.dense:
            return
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.detach().cpu() for k, v in self.method.state_dict().items()},
                   self.artifact_dir / SOURCE_MODEL_FILE)

    def record(self, data_details: dict[str, Any]) -> None:
        """The result's metrics and details, from the last evaluation, and the trained weights."""
        import torch

        from udabench.selection import selections

        result, evaluator = self.result, self.evaluator
        final = evaluator.points[-1]
        result.metrics = {k: v for k, v in final.items() if k not in ("phase", "step", "entropy", "snd")}
        result.details = {
            "evaluations": evaluator.points,
            "selection": selections(evaluator.points, main_metric(self.prepared.task)),
            "data": data_details,
            "channels_last": self.channels_last,
            "capture": self.capture.status,
        }
        if self.dense:
            result.details["per_class_iou"] = evaluator.per_class_iou()
        else:  # rows: true classes, columns: predicted ones
            result.details["per_class_accuracy"] = evaluator.per_class_accuracy()
            result.details["confusion"] = evaluator.confusion.tolist()
        if self.artifact_dir is not None:
            self.artifact_dir.mkdir(parents=True, exist_ok=True)
            weights = self.artifact_dir / "model.pt"
            torch.save({k: v.detach().cpu() for k, v in self.method.state_dict().items()}, weights)
            result.checkpoint = str(weights)
