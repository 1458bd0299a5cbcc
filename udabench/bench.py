"""``udabench bench``: how fast a method trains when fed by udabench's input path, against the
per-sample pipeline most reference code uses, and how fast the data loads and the model evaluates.

For each method and task the run is prepared as ``udabench run`` prepares it (names, hyperparameters,
data locations), its splits are loaded (through the decoded-data cache) and the method is built.
Its last phase (the adaptation phase) is timed twice, with the same initial weights and the same
number of steps, one after the other in this process:

* ``udabench``: the run loop's way. Each split is one resident uint8 tensor; a step draws indices
  with :class:`~udabench.runner.IndexSampler`, gathers the batch, augments it on the device where
  the task says so, and normalises it with :class:`~udabench.runner.Normalizer`
  (:class:`IndexedBatches`).
* ``typical``: each training image is PNG-encoded in memory beforehand (from the decoded tensors,
  so already at the task's size: this spares the baseline any resize and favours it), then decoded
  with PIL one sample at a time, turned into a tensor by torchvision's ``ToTensor`` and
  ``Normalize`` (task mean and std; the task's crop and flip where it augments) in the workers of
  one shuffling ``DataLoader`` per domain (``drop_last``, persistent workers)
  (:mod:`udabench.bench_baseline`).
* ``captured`` (``--capture on``, or ``auto`` on CUDA, for a method whose step is static): udabench's
  path with the step compiled whole as a run compiles it (:mod:`udabench.runner.capture`), timed
  third; the compilation happens in its warm-up, whose first step is timed alone
  (``captured_first_step_s`` in ``--json``).

A phase sees only the domains its inputs name (a source-free adaptation phase gets target images
alone). Timed steps are the last ones of a phase of the run's length (3000 steps unless the phase
has its own count), after a warm-up; CUDA is synchronised before the clock is read, and the rate is
the median over rounds. Also measured: evaluation images per second (the runner's ``evaluate`` on
the target test split, at most its first 2,000 images) and the time to load the task's splits with
an empty decoded-data cache (decoding; ``cold``) and again from it (``warm``), in a temporary cache
folder that is removed afterwards.

Importing this module does not import torch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

from udabench.bench_baseline import LoaderBatches, encode_train_splits
from udabench.errors import UdabenchError

# Images of the target test split that evaluation speed is measured on (at most).
EVAL_IMAGES = 2000
ROLES = ("source", "target")

COLUMNS = (  # (JSON key, table heading)
    ("method", "method"),
    ("task", "task"),
    ("device", "device"),
    ("threads", "threads"),
    ("udabench_steps_per_s", "udabench steps/s"),
    ("typical_steps_per_s", "typical steps/s"),
    ("ratio", "ratio"),
    ("captured_steps_per_s", "captured steps/s"),
    ("captured_ratio", "captured ratio"),
    ("udabench_images_per_s", "udabench images/s"),
    ("eval_images_per_s", "eval images/s"),
    ("cold_load_s", "cold load s"),
    ("warm_load_s", "warm load s"),
    ("precision", "precision"),
)


@dataclass
class BenchOptions:
    """How much to time: ``steps`` per round after ``warmup`` steps, the median over ``repeats``
    rounds; ``loader_workers`` DataLoader workers per domain for the typical pipeline."""

    steps: int = 20
    warmup: int = 5
    repeats: int = 3
    loader_workers: int = 2
    eval_images: int = EVAL_IMAGES

    def check(self) -> None:
        for flag, value, least in (("--steps", self.steps, 1), ("--warmup", self.warmup, 0),
                                   ("--repeats", self.repeats, 1), ("--loader-workers", self.loader_workers, 0)):
            if value < least:
                raise UdabenchError(f"{flag} must be {'positive' if least else 'zero or more'} (got {value})")


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- the two input paths ------------------------------------------------------------------------

class IndexedBatches:
    """udabench's way, as the run loop draws a training batch: indices from an
    :class:`~udabench.runner.IndexSampler` per domain, the images gathered from the resident uint8
    tensor, augmented on the device where the task says so, normalised as a whole batch.

    ``splits`` maps the roles the phase sees (``source``, ``target``) to their train splits.
    """

    def __init__(self, splits, task, batch_size: int, device, seed: int = 0, channels_last: bool = False):
        import torch

        from udabench.data.augment import Augmenter
        from udabench.runner import IndexSampler, Normalizer

        self.splits, self.device = dict(splits), torch.device(device)
        self.normalize = Normalizer(task, self.device, channels_last)
        self.augment = Augmenter(task.augment, task.resolution, seed)
        generator = torch.Generator().manual_seed(seed)
        self.samplers = {role: IndexSampler(len(split), batch_size, generator, split.images.device)
                         for role, split in self.splits.items()}

    def draw(self, role: str):
        split = self.splits[role]
        indices = self.samplers[role].next()
        images = split.images[indices].to(self.device, non_blocking=True)
        labels = split.labels[indices].to(self.device, non_blocking=True)
        if self.augment:
            images = self.augment(images)
        return self.normalize(images), labels.long()

    def __call__(self):
        from udabench.method import Batch

        batch = Batch()
        if "source" in self.splits:
            batch.source_x, batch.source_y = self.draw("source")
        if "target" in self.splits:
            batch.target_x, _ = self.draw("target")  # target labels never reach a method
        return batch

    def close(self) -> None:
        pass


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class StepTiming:
    """Seconds of each timed round, the steps per round, and the last step's logged values."""

    seconds: list[float]
    steps: int
    logs: dict[str, float]
    capture: str = "eager"  # as a run's details say: "captured", "eager" or "eager: <why>"
    first_step_s: float | None = None  # the first warm-up step alone (with capture: compiling included)

    @property
    def steps_per_s(self) -> float:
        return self.steps / statistics.median(self.seconds)


def time_phase(method, phase: str, phase_steps: int, next_batch: Callable[[], Any], options: BenchOptions,
               device, precision: str = "fp32", capture: bool = False) -> StepTiming:
    """Warm up, then time ``options.repeats`` rounds of ``options.steps`` updates of ``phase``.

    The steps are numbered as the last ones of a phase of ``phase_steps`` steps (or of as many as
    are run, if more), so that what a method starts late in a phase (3C-GAN's classifier) is timed.
    Each update runs as a run's does: in bf16 autocast for ``precision`` bf16, and with ``capture``
    its static step compiled whole (:class:`~udabench.runner.capture.Capture`).
    """
    from udabench.runner.capture import Capture
    from udabench.runner.execution import autocast

    device = _device(device)
    captured = Capture("on" if capture else "off", device)

    def update(step):
        with autocast(device, precision):
            return method.update(phase, step, next_batch())

    total = options.warmup + options.steps * options.repeats
    length = max(phase_steps, total)
    method.train()
    method.begin_phase(phase, length)
    captured.install(method)
    step = length - total
    logs = {}
    first_step_s = None
    for index in range(options.warmup):
        started = time.perf_counter()
        logs = update(step)
        step += 1
        if index == 0:
            _synchronize(device)
            first_step_s = time.perf_counter() - started
    _synchronize(device)
    seconds = []
    for _ in range(options.repeats):
        started = time.perf_counter()
        for _ in range(options.steps):
            logs = update(step)
            step += 1
        _synchronize(device)
        seconds.append(time.perf_counter() - started)
    captured.uninstall()
    return StepTiming(seconds, options.steps, {name: float(value) for name, value in logs.items()}, captured.status,
                      first_step_s)


def eval_rate(method, split, task, registry, device, batch_size: int, repeats: int, limit: int = EVAL_IMAGES,
              precision: str = "fp32", channels_last: bool = False) -> float:
    """Images per second of the runner's ``evaluate`` (in the layout a run evaluates in) on (the first ``limit`` images of) ``split``:
    the median over ``repeats`` evaluations after a warm-up on one batch (in bf16 autocast for
    ``precision`` bf16, as a run evaluates)."""
    from udabench.runner import Normalizer
    from udabench.runner.evaluation import cpu_evaluation_layout
    from udabench.runner.evaluation import evaluate as run_evaluate
    from udabench.runner.execution import autocast
    from udabench.specs import load_object

    device = _device(device)

    def evaluate(*args):  # as a run's evaluation point does it
        with autocast(device, precision), cpu_evaluation_layout(method):
            return run_evaluate(*args)

    split = dataclasses.replace(split, images=split.images[:limit], labels=split.labels[:limit])
    metrics = {name: (spec, load_object(spec.function))
               for name, spec in registry.specs["metrics"].items() if task.kind in spec.kinds}
    normalize = Normalizer(task, device, channels_last)
    first = dataclasses.replace(split, images=split.images[:batch_size], labels=split.labels[:batch_size])
    evaluate(method, first, normalize, metrics, split.num_classes, batch_size)
    seconds = []
    for _ in range(repeats):
        _synchronize(device)
        started = time.perf_counter()
        evaluate(method, split, normalize, metrics, split.num_classes, batch_size)
        _synchronize(device)
        seconds.append(time.perf_counter() - started)
    return len(split) / statistics.median(seconds)


def task_splits(prepared) -> list[tuple[str, str]]:
    """The task's ``(dataset, split)`` pairs a run loads, each once: train and test of both domains."""
    task = prepared.task
    pairs = []
    for role, name in (("source", task.source), ("target", task.target)):
        test = (task.source_test_split or task.test_split) if role == "source" else task.test_split
        for split in (task.train_split, test):
            if (name, split) not in pairs:
                pairs.append((name, split))
    return pairs


def load_times(prepared, registry) -> tuple[float, float]:
    """Seconds to load the task's splits with an empty decoded-data cache (``cold``: decoding and
    writing the cache) and again from that cache (``warm``: memory-mapping and checking it). The
    cache is a temporary folder, removed afterwards; the user's cache is neither read nor changed."""
    from udabench.data.loading import load_split

    folder = tempfile.mkdtemp(prefix="udabench-bench-cache-")
    previous = os.environ.get("UDABENCH_CACHE")
    os.environ["UDABENCH_CACHE"] = folder
    try:
        times = []
        for _ in ("cold", "warm"):
            started = time.perf_counter()
            loaded = [load_split(registry.get("datasets", name), prepared.sources[name], split, prepared.task)
                      for name, split in task_splits(prepared)]
            times.append(time.perf_counter() - started)
            del loaded
        return times[0], times[1]
    finally:
        if previous is None:
            os.environ.pop("UDABENCH_CACHE", None)
        else:
            os.environ["UDABENCH_CACHE"] = previous
        shutil.rmtree(folder, ignore_errors=True)


# --- one method on one task ----------------------------------------------------------------------

def adaptation_phase(prepared):
    """The method's last phase: the one that adapts (or, for a one-phase method, the only one)."""
    return prepared.method.phases[-1]


def step_speed(prepared, registry, splits, device, batch_size: int, seed: int, options: BenchOptions,
               encoded: dict[str, tuple[list[bytes], Any]] | None = None,
               variants=("udabench", "typical"), precision: str = "fp32",
               channels_last: bool = False) -> tuple[dict[str, StepTiming], Any]:
    """Time the last phase of ``prepared``'s method fed by each of ``variants``, the same initial
    weights for each; returns the timings and the method trained by the first variant. ``precision``
    and ``channels_last`` apply to both variants, as in a run.

    ``splits`` are the run's splits (``load_task_data``); ``encoded`` the PNG bytes and labels of the
    train split of each domain the phase sees (made here if not given).
    """
    from udabench.runner import build_method, seed_everything
    from udabench.runner.execution import to_channels_last

    phase = adaptation_phase(prepared)
    roles = [role for role in ROLES if role in phase.inputs]
    phase_steps = prepared.config["phase_steps"].get(phase.name, 0)
    num_classes = splits["source_train"].num_classes
    timings, kept = {}, None
    for variant in variants:
        if variant in ("udabench", "captured"):
            feed = IndexedBatches({role: splits[f"{role}_train"] for role in roles}, prepared.task, batch_size,
                                  device, seed, channels_last)
        elif variant == "typical":
            if encoded is None:
                encoded = encode_train_splits(splits, roles)
            feed = LoaderBatches({role: encoded[role] for role in roles}, prepared.task, batch_size,
                                 options.loader_workers, device, seed)
        else:
            raise ValueError(f"unknown input path '{variant}'")
        try:
            seed_everything(seed, deterministic=device.type == "cpu")  # as a run: same initial weights
            method = build_method(prepared, device, num_classes)
            if channels_last:
                to_channels_last(method)
            timings[variant] = time_phase(method, phase.name, phase_steps, feed, options, device, precision,
                                          capture=variant == "captured")
        finally:
            feed.close()
        if kept is None:
            kept = method
        del method
    return timings, kept


def _device(device):
    import torch

    return torch.device(device)


def _finite(row: dict[str, Any]) -> None:
    for key, value in row.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UdabenchError(f"bench of {row['method']} on {row['task']}: {key} is {value}")


def _threads(request, default: int) -> int:
    """torch's threads for ``request``, as a run sets them: ``--threads``, else torch's default capped
    at the cores this process may use."""
    from udabench.machine import available_cores

    return request.threads or min(default, available_cores())


def run_bench(registry, requests, options: BenchOptions) -> list[dict[str, Any]]:
    """One row per request (a :class:`~udabench.runner.RunRequest` per method and task), in order.

    Every request is prepared (and so checked) before anything is loaded or timed; bad input raises
    :class:`UdabenchError`. Data, PNG encodings and load times are shared by the rows of a task.
    """
    from udabench.runner import prepare

    options.check()
    prepared = [prepare(registry, request) for request in requests]
    for run in prepared:
        if run.task.kind != "classification":
            raise UdabenchError(f"udabench bench times classification tasks; '{run.task.name}' is a "
                                f"{run.task.kind} task")
    import torch  # after the checks: a mistyped name is answered without the seconds of importing torch

    from udabench.runner import load_task_data, resolve_device
    from udabench.runner.evaluation import default_eval_batch_size
    from udabench.runner.capture import NOT_STATIC, has_static_step, wanted
    from udabench.runner.execution import use_channels_last
    from udabench.specs import load_object

    devices = {request.device: resolve_device(request.device) for request in requests}
    previous_threads = torch.get_num_threads()
    rows = []
    try:
        by_task: dict[str, list[int]] = {}
        for index, run in enumerate(prepared):
            by_task.setdefault(run.task.name, []).append(index)
        total, done = len(prepared), 0
        for task_name, indices in by_task.items():
            first = prepared[indices[0]]
            request = requests[indices[0]]
            device = devices[request.device]
            torch.set_num_threads(_threads(request, previous_threads))
            log(f"{task_name}: loading the splits (through the decoded-data cache)")
            splits = load_task_data(first, registry, device, progress=False)
            log(f"{task_name}: timing loads with an empty cache, then from it")
            cold, warm = load_times(first, registry)
            log(f"{task_name}: load {cold:.2f} s with an empty cache, {warm:.2f} s from it")
            encoded: dict[str, Any] = {}
            for index in indices:
                run, request = prepared[index], requests[index]
                device = devices[request.device]
                torch.set_num_threads(_threads(request, previous_threads))
                done += 1
                phase = adaptation_phase(run)
                roles = [role for role in ROLES if role in phase.inputs]
                missing = [role for role in roles if role not in encoded]
                if missing:
                    log(f"{task_name}: PNG-encoding the train split of {', '.join(missing)} for the typical pipeline")
                    encoded.update(encode_train_splits(splits, missing))
                channels_last = use_channels_last(request.channels_last, device, run.backbone_name)
                # A method whose step is not static has nothing to capture: the row says so, untimed.
                static = has_static_step(load_object(run.method.factory))
                capturing = wanted(request.capture, device)
                variants = ("udabench", "typical") + (("captured",) if capturing and static else ())
                log(f"[{done}/{total}] {run.method.name} on {task_name}, phase '{phase.name}' "
                    f"({'+'.join(roles)}), {device}, {torch.get_num_threads()} thread(s), {request.precision}"
                    f"{', channels-last' if channels_last else ''}: udabench path, then typical"
                    f"{', then captured' if 'captured' in variants else ''}")
                timings, method = step_speed(run, registry, splits, device, request.batch_size, request.seed,
                                             options, encoded, variants=variants, precision=request.precision,
                                             channels_last=channels_last)
                log(f"[{done}/{total}] {run.method.name} on {task_name}: evaluation")
                evals = eval_rate(method, splits["target_test"], run.task, registry, device,
                                  default_eval_batch_size(request.eval_batch_size, device), options.repeats,
                                  options.eval_images,
                                  precision=request.precision, channels_last=channels_last)
                del method
                ours, theirs = timings["udabench"].steps_per_s, timings["typical"].steps_per_s
                if not capturing:
                    capture_status = "off"
                elif not static:
                    capture_status = NOT_STATIC
                else:
                    capture_status = timings["captured"].capture
                captured = timings["captured"].steps_per_s if capture_status == "captured" else None
                # The captured variant's first step compiles (and on CUDA records the graph).
                first_captured = timings["captured"].first_step_s if capture_status == "captured" else None
                row = {
                    "method": run.method.name, "task": task_name, "device": str(device),
                    "threads": torch.get_num_threads(), "precision": request.precision,
                    "channels_last": channels_last,
                    "udabench_steps_per_s": ours, "typical_steps_per_s": theirs, "ratio": ours / theirs,
                    "captured_steps_per_s": captured, "captured_ratio": captured / theirs if captured else None,
                    "capture": capture_status, "captured_first_step_s": first_captured,
                    "udabench_images_per_s": ours * request.batch_size * len(roles),
                    "eval_images_per_s": evals, "cold_load_s": cold, "warm_load_s": warm,
                    "phase": phase.name, "inputs": roles, "batch_size": request.batch_size,
                    "steps": options.steps, "warmup": options.warmup, "repeats": options.repeats,
                    "loader_workers": options.loader_workers, "seed": request.seed,
                    "backbone": run.backbone_name,
                }
                _finite(row)
                rows.append(row)
                log(f"[{done}/{total}] {run.method.name} on {task_name}: udabench {ours:.2f} steps/s, typical "
                    f"{theirs:.2f} steps/s ({ours / theirs:.2f}x)"
                    + (f", captured {captured:.2f} steps/s ({captured / theirs:.2f}x)" if captured else "")
                    + (f" after a first step of {first_captured:.1f} s (compiling)" if first_captured else "")
                    + (f" (capture: {capture_status})" if capture_status not in ("off", "captured") else "")
                    + f", evaluation {evals:,.0f} images/s")
            del splits
    finally:
        torch.set_num_threads(previous_threads)
    return rows


def precision_ratios(rows: list[dict[str, Any]]) -> list[str]:
    """For each method and task timed in both precisions: bf16 steps/s over fp32 steps/s (udabench's
    path), measured in the same call."""
    rates = {(row["method"], row["task"], row["precision"]): row["udabench_steps_per_s"] for row in rows}
    return [f"{method} on {task}: bf16 / fp32 udabench steps/s = {rates[method, task, 'bf16'] / rate:.2f}x"
            for (method, task, precision), rate in rates.items()
            if precision == "fp32" and (method, task, "bf16") in rates]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a GitHub-style table with the columns of :data:`COLUMNS`."""
    from tabulate import tabulate

    def cell(key, value):
        if value is None:
            return "–"
        if key.endswith("ratio"):
            return f"{value:.2f}x"
        if key.endswith("steps_per_s"):
            return f"{value:.2f}"
        if key.endswith("images_per_s"):
            return f"{value:,.0f}"
        if key.endswith("_s"):
            return f"{value:.2f}"
        return value

    body = [[cell(key, row[key]) for key, _ in COLUMNS] for row in rows]
    return tabulate(body, headers=[heading for _, heading in COLUMNS], tablefmt="github",
                    disable_numparse=True, colalign=["left"] * 3 + ["right"] * (len(COLUMNS) - 3))
