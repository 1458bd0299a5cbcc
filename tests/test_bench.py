"""``udabench bench`` and ``udabench cache`` on tiny generated data: the rows, the two input paths
and bad input. Speeds are never asserted here (see tests/benchmarks)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile

import pytest

from datagen import REPO, run_cli
from udabench import bench, bench_baseline
from udabench.cli import main
from udabench.data import cache

QUICK = ["--steps", "2", "--warmup", "1", "--repeats", "1", "--loader-workers", "0", "--batch-size", "8",
         "--device", "cpu", "--threads", "1"]

IMPORT_CHECK = """
import sys
from udabench.cli import main
try:
    main({args!r})
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "datasets", "pandas", "timm") if m in sys.modules)
print("HEAVY", heavy, file=sys.stderr)
"""


@pytest.fixture
def data_args(tiny_digits):
    return ["--data", f"mnist={tiny_digits['mnist']}", "--data", f"usps={tiny_digits['usps']}"]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("UDABENCH_CACHE", str(folder))
    return folder


def test_bench_json_rows(data_args, cache_dir, tmp_path, monkeypatch, capsys):
    scratch = tmp_path / "scratch"  # where the cold/warm load measurement makes its temporary cache
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    from udabench.runner import capture

    # The bench's third timing, not the compiler (tests/test_capture.py compiles): the "compiled" step
    # is the eager one, wrapped as a run wraps it.
    monkeypatch.setattr(capture, "_compile", lambda function, device: function)
    code = main(["bench", "--method", "dann", "--method", "source-only", "--task", "mnist-usps", *QUICK,
                 *data_args, "--json", "--capture", "on"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)  # stdout holds the JSON alone; progress went to stderr
    assert "bench:" in err and "bench:" not in out
    assert [(row["method"], row["task"]) for row in rows] == [("dann", "mnist-usps"), ("source-only", "mnist-usps")]
    for row in rows:
        assert {key for key, _ in bench.COLUMNS} <= row.keys()
        assert row["device"] == "cpu" and row["threads"] == 1
        for key in ("udabench_steps_per_s", "typical_steps_per_s", "ratio", "udabench_images_per_s",
                    "eval_images_per_s", "cold_load_s", "warm_load_s"):
            assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] > 0, (key, row[key])
        assert row["ratio"] == pytest.approx(row["udabench_steps_per_s"] / row["typical_steps_per_s"])
    dann, source_only = rows
    # DANN's step is static: timed a third time, compiled; source-only's is not, and the row says why.
    assert dann["capture"] == "captured" and dann["captured_steps_per_s"] > 0
    assert dann["captured_ratio"] == pytest.approx(dann["captured_steps_per_s"] / dann["typical_steps_per_s"])
    assert source_only["captured_steps_per_s"] is None and "not static" in source_only["capture"]
    assert dann["captured_first_step_s"] > 0 and source_only["captured_first_step_s"] is None
    assert dann["phase"] == "train" and dann["inputs"] == ["source", "target"]
    assert source_only["inputs"] == ["source"]  # a phase that sees source only gets no target batch
    assert dann["udabench_images_per_s"] == pytest.approx(dann["udabench_steps_per_s"] * 16)
    assert source_only["udabench_images_per_s"] == pytest.approx(source_only["udabench_steps_per_s"] * 8)
    assert dann["cold_load_s"] == source_only["cold_load_s"]  # measured once per task
    # The run's splits went through the user's cache; the timing's own cache folder is gone.
    assert {(entry["dataset"], entry["split"]) for entry in cache.entries()} == {
        ("mnist", "train"), ("mnist", "test"), ("usps", "train"), ("usps", "test")}
    assert not [path for path in scratch.iterdir() if path.name.startswith("udabench-bench-cache-")]


def test_bench_table(data_args, cache_dir, capsys):
    code = main(["bench", "--method", "3cgan", "--task", "mnist-usps", *QUICK, *data_args])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    headers = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert headers == [heading for _, heading in bench.COLUMNS]
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert cells[:4] == ["3cgan", "mnist-usps", "cpu", "1"] and cells[6].endswith("x")
    assert cells[7:9] == ["–", "–"]  # --capture auto on the CPU: no compiled step timed
    assert "phase 'adapt' (target)" in err  # the source-free adaptation phase sees target images only


def test_the_two_paths_feed_the_same_normalised_images(tiny_digits, cache_dir):
    torch = pytest.importorskip("torch")
    from udabench.plugins import load_registry
    from udabench.runner import Normalizer, RunRequest, load_task_data, prepare

    registry = load_registry(warn=False)
    run = prepare(registry, RunRequest(method="3cgan", task="mnist-usps", device="cpu", progress=False,
                                       data={name: str(path) for name, path in tiny_digits.items()}))
    splits = load_task_data(run, registry, torch.device("cpu"), progress=False)
    target = splits["target_train"]
    encoded = bench_baseline.encode_train_splits(splits, ["target"])
    dataset = bench_baseline.EncodedImages(*encoded["target"], bench_baseline.pil_transform(run.task), "L")
    theirs = torch.stack([dataset[i][0] for i in range(len(dataset))])
    ours = Normalizer(run.task, torch.device("cpu"))(target.images)
    assert theirs.shape == ours.shape == (len(target), 1, 28, 28)
    assert (theirs - ours).abs().max().item() <= 1e-5
    assert [dataset[i][1] for i in range(len(dataset))] == target.labels.tolist()

    for feed in (bench.IndexedBatches({"target": target}, run.task, 8, "cpu"),
                 bench_baseline.LoaderBatches(encoded, run.task, 8, 0, "cpu")):
        for _ in range(len(target) // 8 + 2):  # past the end of a pass
            batch = feed()
        feed.close()
        assert batch.source_x is None and batch.source_y is None
        assert batch.target_x.shape == (8, 1, 28, 28) and batch.target_x.dtype == torch.float32


def test_per_sample_transform_follows_the_task_augmentation():
    pytest.importorskip("torchvision")
    from PIL import Image

    from udabench.plugins import load_registry

    task = load_registry(warn=False).get("tasks", "office31-a-w")
    transform = bench_baseline.pil_transform(task)
    names = [type(step).__name__ for step in transform.transforms]
    assert names == ["RandomResizedCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert transform(Image.new("RGB", (task.stored_resolution,) * 2)).shape == (3, task.resolution, task.resolution)


@pytest.mark.parametrize("args, message", [
    (["--method", "no-such-method", "--task", "mnist-usps"], "unknown method 'no-such-method'"),
    (["--method", "dann", "--task", "no-such-task"], "unknown task 'no-such-task'"),
    (["--method", "label2image-seg", "--task", "mnist-usps"], "does not train on classification tasks"),
    (["--method", "source-only", "--task", "toy-scenes"], "times classification tasks"),
    (["--method", "dann", "--task", "synsign-gtsrb"], "dataset 'synsigns' has no Hugging Face Hub copy"),
    (["--method", "dann", "--task", "mnist-usps", "--data", "gtsrb=/nowhere"], "--data names gtsrb"),
    (["--method", "dann", "--task", "mnist-usps", "--data", "mnist=/nowhere/mnist"], "does not exist"),
    (["--method", "dann", "--task", "mnist-usps", "--repeats", "0"], "--repeats must be positive"),
    (["--method", "dann", "--task", "mnist-usps", "--loader-workers", "-1"], "--loader-workers must be zero or more"),
])
def test_bad_input_is_one_line_exit_2(args, message, capsys):
    assert main(["bench", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("udabench: error: ") and message in err, err


def test_bad_method_from_the_command_line():
    process = run_cli("bench", "--method", "dan", "--task", "mnist-usps", "--device", "cpu")
    assert process.returncode == 2
    assert process.stdout == ""
    assert process.stderr.strip().splitlines() == [
        process.stderr.strip()] and "unknown method 'dan'; did you mean 'dann'?" in process.stderr


@pytest.mark.parametrize("args", [["bench", "--help"], ["cache"], ["cache", "--help"]])
def test_help_and_cache_listing_do_not_import_torch(args, tmp_path):
    process = subprocess.run([sys.executable, "-c", IMPORT_CHECK.format(args=args)], capture_output=True,
                             text=True, cwd=REPO, timeout=120,
                             env={**os.environ, "UDABENCH_CACHE": str(tmp_path / "cache")})
    assert "HEAVY []" in process.stderr, process.stderr


def test_bench_help_says_the_baseline_is_favoured():
    process = run_cli("bench", "--help")
    assert process.returncode == 0
    text = " ".join(process.stdout.split())
    assert "already at the task's size" in text and "favours the baseline" in text
    for option in ("--method", "--task", "--device", "--steps", "--warmup", "--repeats", "--batch-size",
                   "--threads", "--loader-workers", "--data", "--data-root", "--json"):
        assert option in process.stdout


def test_cache_lists_and_clears(tiny_digits, cache_dir, capsys):
    from udabench.data.loading import load_split, resolve_source
    from udabench.plugins import load_registry

    registry = load_registry(warn=False)
    assert main(["cache"]) == 0
    assert capsys.readouterr().out.strip() == f"0 entries, 0.00 MB in {cache_dir}"

    spec = registry.get("datasets", "usps")
    load_split(spec, resolve_source(spec, tiny_digits["usps"]), "train", registry.get("tasks", "mnist-usps"))
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [cell.strip() for cell in lines[0].strip("|").split("|")] == ["dataset", "split", "size", "MB", "source"]
    row = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert row[:3] == ["usps", "train", "28x28"] and float(row[3]) >= 0 and "usps" in row[4]
    assert lines[-1].startswith("1 entry, ") and lines[-1].endswith(f" MB in {cache_dir}")

    assert main(["cache", "--clear"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"removed 1 entry from {cache_dir}, freed ") and out.strip().endswith(" MB")
    assert main(["cache"]) == 0
    assert capsys.readouterr().out.strip() == f"0 entries, 0.00 MB in {cache_dir}"


def test_cache_off(monkeypatch, capsys):
    monkeypatch.setenv("UDABENCH_CACHE", "off")
    assert main(["cache", "--clear"]) == 0
    assert "off" in capsys.readouterr().out
