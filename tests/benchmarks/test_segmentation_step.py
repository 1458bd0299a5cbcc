"""Training images per second of SUIT's adapt step against a source-only step of the same network.

Cases (each built through ``prepare`` and ``build_method`` as a run builds it, fed random batches, so
that the time is the step's and not the data's):

* ``suit`` and ``source-only`` on ``gta5-cityscapes`` with ``fcn8s-vgg16`` and with ``deeplabv2``,
  batch ``UDABENCH_BENCH_BATCH`` (default 1) at ``UDABENCH_BENCH_RESOLUTION`` (default 512x256,
  WIDTHxHEIGHT). A SUIT step counts its source images: it also translates them, runs the network on
  source and translated source, the fixed content network twice and the discriminator.
* ``dann`` and ``source-only`` on ``office31-a-w`` with ResNet-50 (``timm:resnet50``), 32 source
  (+ 32 target for DANN) images of 224x224: an Office-31-sized step.

Random weights everywhere (``weights=none``): speed does not depend on them, and nothing is
downloaded. ``UDABENCH_BENCH_DEVICE`` (default: cuda when available, else cpu) picks the device.
``extra_info["images_per_s"]`` holds the median rate; the run ends with a table of rates and of
each method's rate relative to source-only on the same network. With ``--benchmark-disable`` (the
project's default) each case runs one step at 64x32 on the CPU, as a plain test of the same code.

    UDABENCH_BENCH_RESOLUTION=512x256 pytest tests/benchmarks/test_segmentation_step.py -q \\
        -n 0 --benchmark-enable --benchmark-columns=median,rounds
"""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from udabench.api import Batch  # noqa: E402
from udabench.plugins import load_registry  # noqa: E402
from udabench.runner import RunRequest, build_method, prepare  # noqa: E402
from udabench.specs import parse_size  # noqa: E402

WARMUP_STEPS = 2
STEPS = 5
ROUNDS = 3

SEGMENTATION = [(method, backbone) for backbone in ("fcn8s-vgg16", "deeplabv2") for method in ("source-only", "suit")]
OFFICE = [("source-only", "timm:resnet50"), ("dann", "timm:resnet50")]


def _device(enabled: bool):
    if not enabled:
        return torch.device("cpu")
    wanted = os.environ.get("UDABENCH_BENCH_DEVICE")
    return torch.device(wanted or ("cuda" if torch.cuda.is_available() else "cpu"))


def _build(method: str, task: str, backbone: str, device, tmp_path, resolution=None):
    registry = load_registry(warn=False)
    task_spec = registry.get("tasks", task)
    empty = tmp_path / "no-data"  # the step needs no data; prepare needs a folder to name
    empty.mkdir(exist_ok=True)
    request = RunRequest(method=method, task=task, backbone=backbone, device=device.type, progress=False,
                         overrides={"weights": "none"}, resolution=resolution,
                         data={task_spec.source: str(empty), task_spec.target: str(empty)})
    prepared = prepare(registry, request)
    num_classes = len(task_spec.classes) if task_spec.classes else registry.get("datasets", task_spec.source).num_classes
    model = build_method(prepared, device, num_classes)
    phase = prepared.method.phases[-1]
    model.begin_phase(phase.name, 10 ** 6)
    return model, phase, prepared.task, num_classes


def _batch(phase, task, batch_size: int, num_classes: int, device):
    height, width = task.size
    generator = torch.Generator(device="cpu").manual_seed(0)
    images = lambda: torch.randn(batch_size, task.channels, height, width, generator=generator).to(device)  # noqa: E731
    batch = Batch()
    if "source" in phase.inputs:
        batch.source_x = images()
        shape = (batch_size, height, width) if task.kind == "segmentation" else (batch_size,)
        batch.source_y = torch.randint(0, num_classes, shape, generator=generator).to(device)
    if "target" in phase.inputs:
        batch.target_x = images()
    return batch


def _time_steps(benchmark, model, phase, batch, steps, device, enabled):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def run():
        for step in range(steps):
            model.update(phase.name, step, batch)
        sync()

    if not enabled:
        benchmark.pedantic(run, rounds=1, iterations=1)  # runs once: benchmarking is disabled
        return None
    for step in range(WARMUP_STEPS):
        model.update(phase.name, step, batch)
    sync()
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    return benchmark.stats.stats.median


def _record(benchmark, rates, key, images, seconds, device):
    if seconds is None:
        return
    rate = images / seconds
    benchmark.extra_info.update(images_per_s=rate, device=str(device))
    if device.type == "cuda":
        benchmark.extra_info["gpu"] = torch.cuda.get_device_name(device)
    rates[key] = rate


@pytest.mark.parametrize(("method", "backbone"), SEGMENTATION)
def test_segmentation_step(benchmark, method, backbone, tmp_path, segmentation_rates):
    enabled = not benchmark.disabled
    device = _device(enabled)
    resolution = parse_size(os.environ.get("UDABENCH_BENCH_RESOLUTION", "512x256")) if enabled else (32, 64)
    batch_size = int(os.environ.get("UDABENCH_BENCH_BATCH", "1"))
    model, phase, task, classes = _build(method, "gta5-cityscapes", backbone, device, tmp_path, resolution)
    batch = _batch(phase, task, batch_size, classes, device)
    seconds = _time_steps(benchmark, model, phase, batch, STEPS if enabled else 1, device, enabled)
    height, width = task.size
    _record(benchmark, segmentation_rates, (f"{backbone} {width}x{height}", method), STEPS * batch_size, seconds,
            device)


@pytest.mark.parametrize(("method", "backbone"), OFFICE)
def test_office_step(benchmark, method, backbone, tmp_path, segmentation_rates):
    enabled = not benchmark.disabled
    device = _device(enabled)
    batch_size = 32 if enabled else 2
    model, phase, task, classes = _build(method, "office31-a-w", backbone, device, tmp_path)
    batch = _batch(phase, task, batch_size, classes, device)
    seconds = _time_steps(benchmark, model, phase, batch, STEPS if enabled else 1, device, enabled)
    _record(benchmark, segmentation_rates, (f"resnet50 224x224 office31", method), STEPS * batch_size, seconds,
            device)
