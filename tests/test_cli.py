"""The command line as a user calls it: help, listing, runs, results, and every bad input."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from datagen import REPO, ForkedCli, make_hub_folder, run_cli, write_parquet_split
from udabench.cli import main

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


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["list", "methods"], ["list", "tasks", "-v"],
                                  ["list", "datasets"], ["list", "backbones"], ["list", "metrics"]])
def test_help_and_list_do_not_import_torch(args):
    process = subprocess.run([sys.executable, "-c", IMPORT_CHECK.format(args=args)], capture_output=True,
                             text=True, cwd=REPO, timeout=120)
    assert "HEAVY []" in process.stderr, process.stderr


def test_help_explains_every_run_option():
    process = run_cli("run", "--help")
    assert process.returncode == 0
    for option in ("--method", "--task", "--seed", "--steps", "--batch-size", "--device", "--set", "--backbone",
                   "--data", "--data-root", "--store", "--rerun", "--json", "--no-progress"):
        assert option in process.stdout


def test_list_shows_the_providing_distribution():
    process = run_cli("list", "methods", "-v")
    assert process.returncode == 0
    lines = {line.split("|")[1].strip(): line for line in process.stdout.splitlines() if line.startswith("| ")}
    assert "udabench" in lines["dann"] and "udabench" in lines["source-only"]
    assert "trade_off = 1.0" in process.stdout  # hyperparameters with defaults


def test_list_tasks_verbose_shows_reported_numbers():
    process = run_cli("list", "tasks", "-v")
    assert "DANN: 85.1" in process.stdout and "ADDA: 89.4 +- 0.2" in process.stdout


@pytest.fixture
def cli(capfd):
    """``udabench ARGS`` in this process: main's return value and what reached file descriptors 1 and 2.

    For runs whose point is what they train, store and print, not how a process starts or exits.
    Those whose point is a process of their own use :func:`forked`; ``run_cli`` starts a new
    interpreter, where what matters is how udabench starts.
    """

    def call(*args) -> subprocess.CompletedProcess:
        capfd.readouterr()  # output of earlier steps is not this call's
        code = main([str(arg) for arg in args])
        captured = capfd.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return call


def forked(*args) -> subprocess.CompletedProcess:
    """``udabench ARGS`` in a process of its own, forked from this one (no second torch import)."""
    return ForkedCli(*args).completed()


@pytest.fixture
def data_args(tiny_digits):
    return ["--data", f"mnist={tiny_digits['mnist']}", "--data", f"usps={tiny_digits['usps']}"]


def run_args(data_args, store_path, *extra):
    return ["run", "--method", "dann", "--task", "mnist-usps", *data_args, "--device", "cpu", "--steps", "3",
            "--batch-size", "8", "--store", store_path, "--set", "bottleneck_dim=16", "--set", "discriminator_dim=16",
            *extra]


def stored_rows(store_path):
    if not store_path.exists():
        return 0
    with sqlite3.connect(store_path) as connection:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def test_run_json_is_one_object_and_progress_stays_on_stderr(data_args, store_path, cli):
    process = forked(*run_args(data_args, store_path, "--json"))
    assert process.returncode == 0, process.stderr
    record = json.loads(process.stdout)  # exactly one JSON document: extra output would fail here
    assert process.stdout.count("\n") == 1
    for key in ("run_id", "method", "task", "seed", "config"):
        assert key in record
    assert 0 <= record["metrics"]["accuracy"] <= 1 and 0 <= record["metrics"]["source_accuracy"] <= 1
    assert record["config"]["hparams"]["bottleneck_dim"] == 16
    assert "dann mnist-usps" in process.stderr and "step" in process.stderr  # the progress bar
    assert record["versions"]["torch"] and record["device"] == "cpu"

    again = cli(*run_args(data_args, store_path, "--json"))
    assert again.returncode == 0 and json.loads(again.stdout)["run_id"] == record["run_id"]
    assert "already stored" in again.stderr
    assert stored_rows(store_path) == 1

    listing = cli("results", "--store", store_path, "--method", "dann")
    assert record["run_id"] in listing.stdout
    assert record["run_id"] not in cli("results", "--store", store_path, "--method", "source-only").stdout
    shown = json.loads(cli("results", "--store", store_path, "--show", record["run_id"][:6]).stdout)
    assert shown["key"] == record["key"] and shown["artifacts"].endswith(record["run_id"])


def test_run_summary_without_json(data_args, store_path, cli):
    process = cli(*run_args(data_args, store_path, "--no-progress"))
    assert process.returncode == 0, process.stderr
    assert "target test: accuracy" in process.stdout and "source test: accuracy" in process.stdout
    assert ", seed 0, 3 steps, batch 8, backbone dann-digits, cpu" in process.stdout.splitlines()[0]
    assert process.stderr == ""


def test_run_summary_names_each_phases_own_steps(data_args, store_path, cli):
    process = cli("run", "--method", "adabn", "--task", "mnist-usps", *data_args, "--device", "cpu",
                  "--batch-size", "8", "--store", store_path, "--set", "source_steps=3", "--set", "adapt_steps=2",
                  "--no-progress")
    assert process.returncode == 0, process.stderr
    assert ", seed 0, source 3 + adapt 2, batch 8, backbone" in process.stdout.splitlines()[0]


def test_diverging_run_is_stored_as_failed(data_args, store_path, cli):
    process = cli(*run_args(data_args, store_path, "--set", "lr=1e30", "--steps", "10", "--json"))
    assert process.returncode == 1
    assert "became nan" in process.stderr and "stored as failed" in process.stderr
    assert "Traceback" not in process.stderr
    assert json.loads(process.stdout)["status"] == "failed"
    failed = cli("results", "--store", store_path, "--status", "failed", "--json")
    assert len(failed.stdout.splitlines()) == 1


def bad_input_cases(tmp_path, tiny_digits):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "train-00000-of-00001.parquet").write_bytes(b"PAR1 garbage")
    (corrupt / "test-00000-of-00001.parquet").write_bytes(b"PAR1 garbage")
    empty = tmp_path / "empty"
    empty.mkdir()
    import numpy as np

    rgba = tmp_path / "rgba"
    write_parquet_split(rgba, "train", np.zeros((4, 28, 28, 4), np.uint8), [0, 1, 2, 3])
    write_parquet_split(rgba, "test", np.zeros((4, 28, 28, 4), np.uint8), [0, 1, 2, 3])
    tiny = make_hub_folder(tmp_path / "tiny", 4, 1, seed=0, n_train=8, n_test=8)
    bad_labels = tmp_path / "labels"
    write_parquet_split(bad_labels, "train", np.zeros((4, 28, 28, 1), np.uint8), [0, 1, 2, 12], num_classes=13)
    write_parquet_split(bad_labels, "test", np.zeros((4, 28, 28, 1), np.uint8), [0, 1, 2, 3])
    usps = f"usps={tiny_digits['usps']}"
    return {
        "unknown method": (["--method", "danm", "--task", "mnist-usps"], "unknown method 'danm'; did you mean 'dann'"),
        "unknown task": (["--method", "dann", "--task", "mnist-usp"], "unknown task 'mnist-usp'; did you mean 'mnist-usps'"),
        "unknown backbone": (["--method", "dann", "--task", "mnist-usps", "--backbone", "lenett"],
                             "unknown backbone 'lenett'; did you mean 'lenet'"),
        "unknown dataset": (["--method", "dann", "--task", "mnist-usps", "--data", "mnits=x"],
                            "--data names 'mnits'"),
        "missing folder": (["--method", "dann", "--task", "mnist-usps", "--data", f"mnist={tmp_path / 'nope'}"],
                           "does not exist"),
        "no readable split": (["--method", "dann", "--task", "mnist-usps", "--data", f"mnist={empty}"],
                              "holds no readable split"),
        "corrupt parquet": (["--method", "dann", "--task", "mnist-usps", "--data", f"mnist={corrupt}", "--data", usps],
                            "could not read mnist"),
        "channels": (["--method", "dann", "--task", "mnist-usps", "--data", f"mnist={rgba}", "--data", usps],
                     "(4 channels)"),
        "size": (["--method", "dann", "--task", "mnist-usps", "--data", f"mnist={tiny}", "--data", usps],
                 "expected 28x28 px images (every mnist image is), found 4x4 px"),
        "labels": (["--method", "dann", "--task", "mnist-usps", "--data", f"mnist={bad_labels}", "--data", usps],
                   "expected 10 classes (0, 1, 2, 3, 4, 5, ... (10 in all)), found 13 class names"),
        "swapped": (["--method", "dann", "--task", "mnist-usps", "--data", f"mnist={tiny_digits['usps']}",
                     "--data", f"usps={tiny_digits['mnist']}"], "found 16x16 px"),
        "steps": (["--method", "dann", "--task", "mnist-usps", "--steps", "0"], "--steps must be positive"),
        "batch size": (["--method", "dann", "--task", "mnist-usps", "--batch-size", "-1"],
                       "--batch-size must be positive"),
        "hyperparameter": (["--method", "dann", "--task", "mnist-usps", "--set", "tradeoff=2"],
                           "did you mean 'trade_off'"),
        "cuda": (["--method", "dann", "--task", "mnist-usps", "--device", "cuda", "--data",
                  f"mnist={tiny_digits['mnist']}", "--data", usps], "CUDA is not available"),
    }


# A bad input checked in a process of its own (exit status, nothing else on stderr). The others run
# in this process: main's return value and what reaches file descriptors 1 and 2 are the same, and
# each process would add seconds of importing torch and the datasets library.
IN_A_PROCESS = ("unknown method",)


def test_bad_input_is_one_line_exit_2_and_nothing_stored(tmp_path, tiny_digits, store_path, cli):
    import torch

    cases = bad_input_cases(tmp_path, tiny_digits)
    if torch.cuda.is_available():
        del cases["cuda"]
    for name, (args, message) in cases.items():
        call = run_cli if name in IN_A_PROCESS else cli
        process = call("run", *args, "--store", store_path, "--no-progress", "--steps" if "--steps" not in args
                       else "--seed", "2" if "--steps" not in args else "0")
        assert process.returncode == 2, (name, process.stderr)
        lines = process.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("udabench: error: "), (name, process.stderr)
        assert message in lines[0], (name, lines[0])
        assert process.stdout == ""
    assert stored_rows(store_path) == 0


def test_results_show_unknown_run(store_path):
    from udabench.store import Store

    Store(store_path)  # an existing, empty store
    process = run_cli("results", "--store", store_path, "--show", "deadbeef")
    assert process.returncode == 2 and "no stored run 'deadbeef'" in process.stderr


def test_source_run_from_the_store(data_args, store_path, cli):
    source = cli("run", "--method", "source-only", "--task", "mnist-usps", *data_args, "--device", "cpu",
                 "--steps", "2", "--batch-size", "8", "--store", store_path, "--json", "--no-progress")
    source_id = json.loads(source.stdout)["run_id"]
    unknown = run_cli("run", "--method", "shot", "--task", "mnist-usps", "--source-run", "0123abc",
                      "--store", store_path)
    assert unknown.returncode == 2 and "no stored run '0123abc'" in unknown.stderr
    wrong_task = run_cli("run", "--method", "shot", "--task", "usps-mnist", "--source-run", source_id,
                         "--store", store_path)
    assert wrong_task.returncode == 2 and "was trained on task 'mnist-usps'" in wrong_task.stderr
    adapted = cli("run", "--method", "shot", "--task", "mnist-usps", *data_args, "--device", "cpu", "--steps",
                  "2", "--batch-size", "8", "--store", store_path, "--source-run", source_id, "--json",
                  "--no-progress", "--set", "bottleneck_bn=false")
    assert adapted.returncode == 0, adapted.stderr
    record = json.loads(adapted.stdout)
    assert record["config"]["phase_steps"] == {"adapt": 2}
    assert record["config"]["source_run"].startswith(source_id)


def test_more_bad_input_is_one_line_exit_2_and_nothing_stored(tmp_path, tiny_digits, store_path, cli):
    data = ["--data", f"mnist={tiny_digits['mnist']}", "--data", f"usps={tiny_digits['usps']}"]
    cases = {
        "dropout": (["--set", "dropout=1.5"], "hyperparameter 'dropout' must be below 1"),
        "seed": (["--seed", "-1"], "--seed must be between 0 and"),
        "batch": (["--batch-size", "100000"], "would draw each of the 48 source training images about 2083 times"),
    }
    for name, (extra, message) in cases.items():
        call = forked if name == "batch" else cli  # the batch check stops a process before memory runs out
        process = call("run", "--method", "dann", "--task", "mnist-usps", *data, "--device", "cpu", "--steps", "2",
                       "--store", store_path, "--no-progress", *extra)
        lines = process.stderr.strip().splitlines()
        assert process.returncode == 2 and len(lines) == 1 and message in lines[0], (name, process.stderr)
    assert not store_path.exists() or stored_rows(store_path) == 0
    typo = tmp_path / "typo" / "x.sqlite"
    for command in (["results"], ["results", "--show", "abc"]):
        process = cli(*command, "--store", typo)
        assert process.returncode == 2 and "no results database at" in process.stderr
    assert not typo.exists() and not typo.parent.exists()


def test_sweep_dry_run_json_is_one_object_per_planned_run(tiny_digits, store_path, cli):
    process = cli("sweep", "--method", "dann,source-only", "--task", "mnist-usps", "--seeds", "0,1",
                  "--data", f"mnist={tiny_digits['mnist']}", "--data", f"usps={tiny_digits['usps']}",
                  "--store", store_path, "--dry-run", "--json")
    assert process.returncode == 0, process.stderr
    rows = [json.loads(line) for line in process.stdout.splitlines()]
    assert len(rows) == 4 and {row["status"] for row in rows} == {"pending"}
    assert {(row["method"], row["seed"]) for row in rows} == {("dann", 0), ("dann", 1), ("source-only", 0),
                                                              ("source-only", 1)}
    assert {row["estimated_s"] for row in rows} == {None}  # an empty store: nothing to estimate from


def test_a_source_free_method_refuses_a_source_model_that_saw_target_data(data_args, store_path, cli):
    common = [*data_args, "--device", "cpu", "--steps", "2", "--batch-size", "8", "--store", store_path, "--json",
              "--no-progress"]
    dann = json.loads(cli("run", "--method", "dann", "--task", "mnist-usps", *common).stdout)["run_id"]
    refused = forked("run", "--method", "shot", "--task", "mnist-usps", "--source-run", dann, *common)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr
    assert "'shot' is source-free" in lines[0] and "trained on target images in phase 'train'" in lines[0]
    assert stored_rows(store_path) == 1
    # A UDA method may start from it: the rule is about source-free results only.
    allowed = cli("run", "--method", "adda", "--task", "mnist-usps", "--source-run", dann, *common)
    assert allowed.returncode == 0, allowed.stderr


def test_a_source_free_run_from_a_stored_source_model_needs_no_source_data(data_args, store_path, tiny_digits,
                                                                           cli):
    common = ["--device", "cpu", "--steps", "3", "--batch-size", "8", "--store", store_path, "--json", "--no-progress"]
    source = json.loads(cli("run", "--method", "source-only", "--task", "mnist-usps", *data_args,
                            *common).stdout)["run_id"]
    for method in ("shot", "3cgan"):
        process = cli("run", "--method", method, "--task", "mnist-usps", "--source-run", source,
                      "--data", "mnist=/nonexistent/source", "--data", f"usps={tiny_digits['usps']}",
                      "--set", "bottleneck_bn=false", *common)
        assert process.returncode == 0, process.stderr
        record = json.loads(process.stdout)
        assert "source_accuracy" not in record["metrics"] and "accuracy" in record["metrics"]
        assert record["details"]["data"]["mnist"]["kind"] == "not loaded"
        assert "source-accuracy" not in record["details"]["selection"]
        assert set(record["config"]["data"]) == {"usps"}


def test_a_source_run_of_another_network_is_one_line_saying_how_to_match_it(data_args, store_path, cli):
    common = [*data_args, "--device", "cpu", "--steps", "2", "--batch-size", "8", "--store", store_path, "--json",
              "--no-progress"]
    plain = json.loads(cli("run", "--method", "source-only", "--task", "mnist-usps", *common).stdout)
    assert plain["config"]["hparams"]["bottleneck_bn"] is False  # source-only's default
    refused = cli("run", "--method", "adabn", "--task", "mnist-usps", "--source-run", plain["run_id"], *common)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1
    assert "trained with bottleneck_bn=false" in lines[0] and "add --set bottleneck_bn=false" in lines[0]
    matched = cli("run", "--method", "shot", "--task", "mnist-usps", "--source-run", plain["run_id"],
                  "--set", "bottleneck_bn=false", *common)
    assert matched.returncode == 0, matched.stderr
