"""Training steps per second of the DANN step: udabench's input path against a per-sample pipeline.

Both variants train the same model (the ``dann`` method on ``mnist-usps``: the ``dann-digits``
backbone, batch 128 source + 128 target, 28x28 grey, CPU) with the same ``method.update``; only the
way a batch is produced differs:

* ``udabench``: both domains decoded once by ``load_split`` into uint8 tensors; each step draws
  indices with ``IndexSampler`` and normalises the gathered images with ``Normalizer``, as
  ``runner.execute`` does.
* ``pil-dataloader``: what most reference code does. A ``Dataset`` keeps the encoded PNGs, decodes
  each sample with PIL and applies ``Resize(28)``, ``ToTensor()`` and ``Normalize(0.5, 0.5)`` to it;
  one ``DataLoader`` per domain (2 workers, shuffle, drop_last) serves the batches. Its workers
  are persistent, which spares this baseline a worker restart at each pass.

Each round times a fixed number of steps after a short warm-up; ``extra_info["steps_per_s"]`` holds
the median rate, and the run ends with a line giving the udabench / pil-dataloader ratio. With
``--benchmark-disable`` (the project's default) each variant runs once, for a few steps, as a plain
test of the same code. Needs the real data in ``../shared/data`` (next to
the repository); skips without it.

    pytest tests/benchmarks -q --benchmark-enable --benchmark-columns=median,ops,rounds
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402
from torchvision import transforms  # noqa: E402

from udabench.data.loading import load_split  # noqa: E402
from udabench.method import Batch  # noqa: E402
from udabench.plugins import load_registry  # noqa: E402
from udabench.runner import IndexSampler, Normalizer, RunRequest, build_method, prepare  # noqa: E402

DATA_ROOT = Path(os.path.abspath(__file__)).parents[2].parent / "shared" / "data"
FOLDERS = {"mnist": "mnist-t10k", "usps": "usps"}  # udabench dataset name -> folder under DATA_ROOT
TASK = "mnist-usps"
BATCH = 128
WARMUP_STEPS = 5
STEPS = 20  # timed steps per round
ROUNDS = 3
QUICK_STEPS = 3  # the single untimed run when benchmarking is disabled
LOADER_WORKERS = 2  # per domain
SEED = 0
# One intra-op thread for the training step in both variants: on two cores that other work shares,
# a second OpenMP thread mostly waits at barriers and makes the step several times slower and noisy.
# (The loader's workers run one thread each regardless.)
TORCH_THREADS = 1
DEVICE = torch.device("cpu")


@pytest.fixture(scope="module")
def prepared():
    missing = [folder for folder in FOLDERS.values() if not (DATA_ROOT / folder).is_dir()]
    if missing:
        pytest.skip(f"real digit data not found: expected {', '.join(missing)} under ../shared/data "
                    "next to the repository (Hugging Face parquet layout)")
    registry = load_registry(warn=False)
    request = RunRequest(method="dann", task=TASK, seed=SEED, batch_size=BATCH, device="cpu",
                         data={name: str(DATA_ROOT / folder) for name, folder in FOLDERS.items()},
                         progress=False)
    return registry, prepare(registry, request)


@pytest.fixture(scope="module")
def decoded(prepared):
    """The train split of each domain, decoded once to ``(N, 1, 28, 28)`` uint8 by udabench."""
    registry, run = prepared
    task = run.task
    return {role: load_split(registry.get("datasets", name), run.sources[name], task.train_split, task)
            for role, name in (("source", task.source), ("target", task.target))}


@pytest.fixture(scope="module")
def encoded(prepared):
    """The train split of each domain as it is stored: PNG bytes and labels, nothing decoded."""
    import pyarrow.parquet as pq

    _, run = prepared
    out = {}
    for role, name in (("source", run.task.source), ("target", run.task.target)):
        files = sorted(Path(run.sources[name].location).glob(f"{run.task.train_split}-*.parquet"))
        assert files, f"no {run.task.train_split} parquet files for {name}"
        images, labels = [], []
        for path in files:
            table = pq.read_table(path, columns=["image", "label"])
            images += [item["bytes"] for item in table.column("image").to_pylist()]
            labels += table.column("label").to_pylist()
        out[role] = (images, labels)
    return out


def pil_transform(resolution: int):
    return transforms.Compose([transforms.Resize(resolution), transforms.ToTensor(),
                               transforms.Normalize((0.5,), (0.5,))])


class EncodedImages(Dataset):
    """PNG bytes decoded and transformed one sample at a time, in the DataLoader's workers."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = Image.open(io.BytesIO(self.images[index])).convert("L")
        return self.transform(image), self.labels[index]


class IndexedBatches:
    """udabench's way: gather by index from resident uint8 tensors, then normalise the whole batch."""

    def __init__(self, splits, task):
        generator = torch.Generator().manual_seed(SEED)
        self.splits = splits
        self.normalize = Normalizer(task, DEVICE)
        self.samplers = {role: IndexSampler(len(split), BATCH, generator, split.images.device)
                         for role, split in splits.items()}

    def _draw(self, role):
        split = self.splits[role]
        indices = self.samplers[role].next()
        images = self.normalize(split.images[indices].to(DEVICE, non_blocking=True))
        return images, split.labels[indices].to(DEVICE, non_blocking=True)

    def __call__(self) -> Batch:
        source_x, source_y = self._draw("source")
        target_x, _ = self._draw("target")
        return Batch(source_x, source_y, target_x)

    def close(self):
        pass


class LoaderBatches:
    """The per-sample way: one shuffling DataLoader per domain, restarted at the end of each pass."""

    def __init__(self, encoded, resolution):
        self.loaders, self.iterators = {}, {}
        for offset, (role, (images, labels)) in enumerate(encoded.items()):
            dataset = EncodedImages(images, labels, pil_transform(resolution))
            self.loaders[role] = DataLoader(dataset, batch_size=BATCH, shuffle=True, drop_last=True,
                                            num_workers=LOADER_WORKERS, persistent_workers=True,
                                            generator=torch.Generator().manual_seed(SEED + offset))
            self.iterators[role] = iter(self.loaders[role])

    def _next(self, role):
        try:
            return next(self.iterators[role])
        except StopIteration:
            self.iterators[role] = iter(self.loaders[role])
            return next(self.iterators[role])

    def __call__(self) -> Batch:
        source_x, source_y = self._next("source")
        target_x, _ = self._next("target")
        return Batch(source_x.to(DEVICE), source_y.to(DEVICE), target_x.to(DEVICE))

    def close(self):
        self.iterators.clear()  # dropping the last references shuts the workers down
        self.loaders.clear()


def test_pipelines_feed_the_same_inputs(decoded, encoded, prepared):
    """The comparison is only fair if both variants hand the step the same normalised images."""
    _, run = prepared
    normalize = Normalizer(run.task, DEVICE)
    transform = pil_transform(run.task.resolution)
    for role, split in decoded.items():
        images, labels = encoded[role]
        assert len(split) == len(images)
        count = 64
        ours = normalize(split.images[:count])
        theirs = torch.stack([transform(Image.open(io.BytesIO(b)).convert("L")) for b in images[:count]])
        assert ours.shape == theirs.shape == (count, 1, run.task.resolution, run.task.resolution)
        assert torch.equal(split.labels[:count], torch.tensor(labels[:count]))
        # Images stored at the task's size (MNIST) must match exactly; resized ones (USPS, 16x16)
        # go through two bilinear implementations that may round a pixel to the neighbouring grey
        # level, i.e. 2/255 after normalisation.
        resized = Image.open(io.BytesIO(images[0])).size != (run.task.resolution, run.task.resolution)
        tolerance = (2.0 / 255 if resized else 0.0) + 1e-5
        assert (ours - theirs).abs().max().item() <= tolerance, role


@pytest.mark.benchmark(group="dann-step-cpu", warmup=False)
@pytest.mark.parametrize("variant", ["udabench", "pil-dataloader"])
def test_dann_step_speed(benchmark, variant, prepared, step_rates, request):
    registry, run = prepared
    num_classes = registry.get("datasets", run.task.source).num_classes
    threads = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    next_batch = None
    try:
        if variant == "udabench":
            next_batch = IndexedBatches(request.getfixturevalue("decoded"), run.task)
        else:
            next_batch = LoaderBatches(request.getfixturevalue("encoded"), run.task.resolution)
        torch.manual_seed(SEED)  # the same initial weights for both variants
        method = build_method(run, DEVICE, num_classes)
        steps_per_round = STEPS if benchmark.enabled else QUICK_STEPS
        planned = WARMUP_STEPS + steps_per_round * (ROUNDS if benchmark.enabled else 1)
        method.begin_phase("train", planned)
        method.train()
        state = {"step": 0, "logs": {}, "batch": None}

        def train(steps):
            for _ in range(steps):
                batch = next_batch()
                state["logs"] = method.update("train", state["step"], batch)
                state["step"] += 1
            state["batch"] = batch

        train(WARMUP_STEPS)  # also starts the DataLoader workers and fills their prefetch queues
        before = [p.detach().clone() for p in method.parameters()]
        benchmark.pedantic(train, args=(steps_per_round,), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    finally:
        if next_batch is not None:
            next_batch.close()
        torch.set_num_threads(threads)

    timed_rounds = ROUNDS if benchmark.enabled else 1
    assert state["step"] == WARMUP_STEPS + steps_per_round * timed_rounds
    batch = state["batch"]
    for images in (batch.source_x, batch.target_x):
        assert images.shape == (BATCH, 1, run.task.resolution, run.task.resolution)
        assert images.dtype == torch.float32
        assert -1.0 <= images.min().item() and images.max().item() <= 1.0
    assert batch.source_y.shape == (BATCH,) and 0 <= batch.source_y.min() and batch.source_y.max() < num_classes
    logs = {name: float(value) for name, value in state["logs"].items()}
    assert {"loss", "class_loss", "domain_loss"} <= logs.keys()
    assert all(math.isfinite(value) for value in logs.values()), logs
    assert any(not torch.equal(old, new.detach()) for old, new in zip(before, method.parameters())), \
        "the timed steps did not change the model"

    benchmark.extra_info.update(variant=variant, steps_per_round=steps_per_round, batch=f"{BATCH}+{BATCH}",
                                torch_threads=TORCH_THREADS, loader_workers_per_domain=(
                                    LOADER_WORKERS if variant == "pil-dataloader" else 0))
    if benchmark.enabled and benchmark.stats:
        rate = steps_per_round / benchmark.stats.stats.median
        benchmark.extra_info["steps_per_s"] = round(rate, 3)
        step_rates[variant] = rate
