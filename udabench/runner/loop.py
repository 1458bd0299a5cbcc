"""The training loop: a prepared run on its device, trained phase by phase, evaluated and saved."""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from udabench.data import augment as augment_module
from udabench.errors import UdabenchError
from udabench.machine import available_cores
from udabench.plugins import Registry
from udabench.runner.build import build_method
from udabench.runner.capture import Capture
from udabench.runner import resume
from udabench.runner.checkpoints import _take_stored_weights
from udabench.runner.evaluation import Evaluator, default_eval_batch_size, main_metric
from udabench.runner.execution import autocast, to_channels_last, use_channels_last
from udabench.runner.pictures import SOURCE_MODEL_FILE, Snapshotter, run_pictures
from udabench.runner.request import PreparedRun, RunRequest
from udabench.runner.results import RunFailed, RunResult
from udabench.runner.task_data import IndexSampler, Normalizer, _describe_data, load_task_data
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
    from tqdm.auto import tqdm

    started = time.perf_counter()
    device = resolve_device(request.device)
    # Never more threads than cores this process may use (torch counts the host's under a CPU quota).
    torch.set_num_threads(request.threads or min(torch.get_num_threads(), available_cores()))
    result = RunResult(prepared.run_id, prepared.key, prepared.method.name, prepared.task.name,
                       request.seed, prepared.config, "running", device=str(device))
    seed_everything(request.seed, deterministic=device.type == "cpu")
    splits = load_task_data(prepared, registry, device, request.progress)
    roles = [role for role in ("source", "target") if f"{role}_train" in splits]
    for role in roles:
        size = len(splits[f"{role}_train"])
        if request.batch_size > MAX_BATCH_PASSES * size:
            raise UdabenchError(
                f"--batch-size {request.batch_size} would draw each of the {size:,} {role} training images about "
                f"{request.batch_size // size} times per batch; use at most {MAX_BATCH_PASSES * size:,}")
    num_classes = splits[f"{roles[0]}_train"].num_classes
    data_details = {name: _describe_data(prepared.sources[name], splits, role)
                    for role, name in (("source", prepared.task.source), ("target", prepared.task.target))
                    if name in prepared.sources}
    if "source_train" not in splits:
        data_details[prepared.task.source] = {"kind": "not loaded", "location": None, "revision": None, "sizes": {},
                                              "note": f"source-free: adapts the source model of run "
                                                      f"{request.source_run[:12]} without source data"}
    loaded = time.perf_counter()

    method = build_method(prepared, device, num_classes)
    channels_last = use_channels_last(request.channels_last, device, prepared.backbone_name)
    if channels_last:
        to_channels_last(method)
    normalize = Normalizer(prepared.task, device, channels_last)
    capture = Capture(request.capture, device)
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
                for role in roles}

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
                          default_eval_batch_size(request.eval_batch_size, device), request.seed)
    snapshotter = Snapshotter(method, prepared.task, artifact_dir, request.snapshots,
                              run_pictures(method, splits, normalize, prepared, request.seed, class_names), class_names)
    total_steps = sum(prepared.config["phase_steps"].values())
    resume_path = artifact_dir / resume.RESUME_FILE if artifact_dir is not None else None
    saved = resume.load(resume_path, prepared.key) if resume_path is not None else None
    generators = {"sampler": generator, **({"augment": augment.generator} if augment else {})}
    bar = tqdm(total=total_steps, desc=f"{prepared.method.name} {prepared.task.name}", unit="step",
               disable=not request.progress, file=sys.stderr, dynamic_ncols=True)
    done, eval_time = 0, 0.0
    method.train()
    phases = [p for p in prepared.method.phases if p.name in prepared.config["phase_steps"]]
    if saved is not None:
        bar.write(f"udabench: resuming run {prepared.run_id} at step {saved['step']} of phase "
                  f"'{phases[saved['phase']].name}' from its last checkpoint", file=sys.stderr)
    last_checkpoint = time.perf_counter()
    for index, phase in enumerate(phases):
        if prepared.method.setting == "source-free" and "source" not in phase.inputs:
            # From here on the source training data no longer exists for this run.
            splits.pop("source_train", None)
            samplers.pop("source", None)
        steps = prepared.config["phase_steps"][phase.name]
        if saved is not None and index < saved["phase"]:
            continue
        last_phase = index == len(phases) - 1
        eval_steps = set(evaluation_steps(steps, request.eval_points)) if last_phase else {steps}
        log_every = request.log_every or max(1, min(50, steps // 20))
        method.begin_phase(phase.name, steps)
        capture.install(method)  # compile the phase's static step (--capture), or leave it eager
        sums: dict[str, Any] = {}
        counts: dict[str, int] = {}
        count = 0
        first_step = 0
        if saved is not None:
            first_step, done, eval_time = saved["step"], saved["done"], saved["eval_time"]
            sums, counts, count = saved["sums"], saved["counts"], saved["count"]
            _restore(saved, method, samplers, generators, result, evaluator, snapshotter)
            bar.update(done)
            saved = None

        def checkpoint(next_step):
            """Everything the rest of the run depends on, after ``next_step`` steps of this phase."""
            resume.save(resume_path, {
                "key": prepared.key, "phase": index, "step": next_step, "done": done, "eval_time": eval_time,
                "sums": sums, "counts": counts, "count": count,
                **resume.training_state(method),
                "random": resume.random_states(generators),
                "samplers": {role: sampler.state() for role, sampler in samplers.items()},
                "history": result.history, "evaluations": evaluator.points, "confusion": evaluator.confusion,
                "snapshots": snapshotter.saved,
            })

        for step in range(first_step, steps):
            batch = Batch()
            if "source" in phase.inputs:
                batch.source_x, batch.source_y = draw("source")
            if "target" in phase.inputs:
                batch.target_x, _ = draw("target")  # target labels never leave the runner
            with autocast(device, request.precision):  # bf16 autocast, or nothing for fp32
                logs = method.update(phase.name, step, batch)
            for name, value in logs.items():
                if not isinstance(value, torch.Tensor):
                    raise UdabenchError(
                        f"method '{prepared.method.name}' returned {type(value).__name__} for '{name}' from "
                        "update(); return detached scalar tensors"
                    )
                if value.dtype in (torch.bfloat16, torch.float16):  # a loss computed in autocast: sum in fp32
                    value = value.float()
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
                    if resume_path is not None:
                        resume_path.unlink(missing_ok=True)  # resuming would diverge again
                    raise RunFailed(f"run {prepared.run_id} failed: {result.error}", result)
                sums, counts, count = {}, {}, 0
            snapshotter.maybe_save(phase.name, step + 1, steps)
            bar.update(1)
            if last_phase and step + 1 in eval_steps:
                evaluating = time.perf_counter()
                with autocast(device, request.precision):
                    evaluator(phase.name, step + 1)
                eval_time += time.perf_counter() - evaluating
            if resume_path is not None and (step + 1 == steps
                                            or time.perf_counter() - last_checkpoint >= request.checkpoint_every):
                checkpoint(step + 1)
                last_checkpoint = time.perf_counter()
        if artifact_dir is not None and index == 0 and len(phases) > 1 and phase.inputs == {"source"} and not dense:
            artifact_dir.mkdir(parents=True, exist_ok=True)  # the source model, for 'udabench plot --features'
            torch.save({k: v.detach().cpu() for k, v in method.state_dict().items()}, artifact_dir / SOURCE_MODEL_FILE)
    bar.close()
    capture.uninstall()
    if device.type == "cuda":
        torch.cuda.synchronize()
    trained = time.perf_counter()
    snapshotter.finish()  # pictures that need every snapshot (a point task's decision regions)

    from udabench.selection import selections

    final = evaluator.points[-1]
    result.metrics = {k: v for k, v in final.items() if k not in ("phase", "step", "entropy", "snd")}
    result.details = {
        "evaluations": evaluator.points,
        "selection": selections(evaluator.points, main_metric(prepared.task)),
        "data": data_details,
        "channels_last": channels_last,
        "capture": capture.status,
    }
    if dense:
        result.details["per_class_iou"] = evaluator.per_class_iou()
    else:  # rows: true classes, columns: predicted ones
        result.details["per_class_accuracy"] = evaluator.per_class_accuracy()
        result.details["confusion"] = evaluator.confusion.tolist()

    if artifact_dir is not None:
        artifact_dir.mkdir(parents=True, exist_ok=True)
        weights = artifact_dir / "model.pt"
        torch.save({k: v.detach().cpu() for k, v in method.state_dict().items()}, weights)
        result.checkpoint = str(weights)
        resume_path.unlink(missing_ok=True)  # the run is complete: nothing left to resume
    result.timings = {
        "load_s": loaded - started,
        "train_s": trained - loaded - eval_time,
        "eval_s": eval_time,
        "total_s": time.perf_counter() - started,
        "steps_per_s": total_steps / max(trained - loaded - eval_time, 1e-9),
    }
    result.status = "ok"
    return result


def _restore(saved, method, samplers, generators, result, evaluator, snapshotter) -> None:
    """Put a resumed run back where its checkpoint left it (the current phase already begun)."""
    resume.load_training_state(method, saved)
    for role, state in saved["samplers"].items():
        if role in samplers:
            samplers[role].load_state(state)
    resume.set_random_states(saved["random"], generators)
    result.history[:] = saved["history"]
    evaluator.points[:] = saved["evaluations"]
    evaluator.confusion = saved["confusion"]
    snapshotter.saved[:] = saved["snapshots"]
