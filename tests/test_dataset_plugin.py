"""A plugin that adds data, the way a third party ships it: ``examples/udabench-example-meter`` (a
local-only dataset and a task based on ``mnist-usps``) built and pip-installed into a fresh
environment, with the mistakes such a plugin can make, each ending in one line that says what to do.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys

import pytest

from datagen import REPO, make_hub_folder
from test_entry_points import Environment, _require_installed_udabench, table, write_distribution

from udabench.plugins import DISABLE_VARIABLE

# Its tests share module-scoped environments: under pytest-xdist they run on one worker, which builds them once.
pytestmark = pytest.mark.xdist_group("dataset-plugin-environments")

EXAMPLE = REPO / "examples" / "udabench-example-meter"
EXAMPLE_DIST = "udabench-example-meter"

NO_HOOKIMPL = "udabench-testplugin-nohookimpl"
NO_HOOKIMPL_SOURCE = """\
    from udabench.specs import DatasetSpec


    def udabench_datasets():  # no @hookimpl: pluggy never calls it
        return [DatasetSpec("tp-forgotten", "never registered", None, "v1", ("train", "test"), ("a", "b"), (8, 8), 1)]
    """

BAD_TASKS = "udabench-testplugin-badtasks"
BAD_TASKS_SOURCE = """\
    from udabench.hookspecs import hookimpl
    from udabench.specs import TaskSpec


    @hookimpl
    def udabench_tasks():
        return [TaskSpec("tp-typo-task", "mnist", "meter-digit", 28, 1, "dann-digits"),
                TaskSpec.based_on("mnist-usp", name="tp-typo-base", target="usps")]
    """

CLASH = "udabench-testplugin-mnist-clash"
CLASH_SOURCE = """\
    from udabench.hookspecs import hookimpl
    from udabench.specs import DatasetSpec


    @hookimpl
    def udabench_datasets():
        return [DatasetSpec("mnist", "another MNIST", None, "v1", ("train", "test"), tuple("0123456789"), (28, 28), 1)]
    """


@pytest.fixture(scope="module")
def meter_env(tmp_path_factory) -> Environment:
    """The example data plugin, beside a plugin whose hook lacks @hookimpl and one with mistyped names."""
    _require_installed_udabench()
    root = tmp_path_factory.mktemp("meter")
    example = root / "src" / "udabench-example-meter"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    nohook = write_distribution(root / "src" / "nohook", NO_HOOKIMPL, "udabench_tp_nohookimpl", NO_HOOKIMPL_SOURCE)
    bad = write_distribution(root / "src" / "bad", BAD_TASKS, "udabench_tp_badtasks", BAD_TASKS_SOURCE)
    environment = Environment(root)
    environment.install(example, nohook, bad)
    return environment


@pytest.fixture(scope="module")
def meter_data(tmp_path_factory):
    """A 28x28 grey MNIST-like folder and a 32x32 RGB meter-digits folder, both in the hub layout."""
    root = tmp_path_factory.mktemp("meter-data")
    return {"mnist": make_hub_folder(root / "mnist", 28, 1, seed=11),
            "meter-digits": make_hub_folder(root / "meter-digits", 32, 3, seed=12)}


def data_args(meter_data):
    return [arg for name, path in meter_data.items() for arg in ("--data", f"{name}={path}")]


def test_example_dataset_and_task_are_listed(meter_env):
    datasets = meter_env.udabench("list", "datasets")
    assert datasets.returncode == 0, datasets.stderr
    row = table(datasets.stdout)["meter-digits"]
    assert row["provided by"] == EXAMPLE_DIST and row["hub id@revision"] == "(no hub copy)"
    assert (row["image"], row["classes"]) == ("32x32x3", "10")

    tasks = meter_env.udabench("list", "tasks", "-v")
    assert tasks.returncode == 0, tasks.stderr
    row = table(tasks.stdout)["mnist-meter"]
    assert (row["source -> target"], row["input"], row["backbone"]) == ("mnist -> meter-digits", "28x28x1",
                                                                         "dann-digits")
    block = tasks.stdout.split("\nmnist-meter: ", 1)[1].split("\n\n", 1)[0]
    assert "normalised with mean 0.5 and std 0.5" in block
    assert "based on mnist-usps; its own values: target" in block
    assert "protocol hyperparameters (replace method defaults; --set wins): none" in block
    usps_mnist = tasks.stdout.split("\nusps-mnist: ", 1)[1].split("\n\n", 1)[0]
    assert "lr=0.1" in usps_mnist


def test_a_hook_without_hookimpl_is_one_warning_line(meter_env):
    result = meter_env.udabench("list", "methods")
    assert result.returncode == 0
    lines = [line for line in result.stderr.splitlines() if NO_HOOKIMPL in line]
    assert lines == [f"udabench: plugin 'udabench_tp_nohookimpl' from distribution '{NO_HOOKIMPL}' registers "
                     "nothing: udabench_datasets lacks @hookimpl (from udabench.hookspecs import hookimpl, then put "
                     "@hookimpl above each)"]


def test_mistyped_names_in_tasks_are_flagged_by_list(meter_env):
    result = meter_env.udabench("list", "tasks")
    assert result.returncode == 0
    rows = table(result.stdout)
    assert rows["tp-typo-task"]["source -> target"] == "mnist -> meter-digit (not registered)"
    assert "tp-typo-base" not in rows
    lines = result.stderr.splitlines()
    assert (f"udabench: task 'tp-typo-task' from '{BAD_TASKS}' cannot run: its target dataset 'meter-digit' is not "
            "registered (did you mean 'meter-digits'?); fix the name in its TaskSpec, or install the plugin that "
            "registers it") in lines
    assert (f"udabench: task 'tp-typo-base' from distribution '{BAD_TASKS}' is based on 'mnist-usp', which no "
            "plugin registers (did you mean 'mnist-usps'?); fix the name given to TaskSpec.based_on or install the "
            "plugin that registers it; the task is left out") in lines


def test_example_task_trains_and_reports_classes(meter_env, meter_data, tmp_path):
    store = tmp_path / "results.sqlite"
    missing = meter_env.udabench("run", "--method", "source-only", "--task", "mnist-meter", "--store", store,
                                 "--data", f"mnist={meter_data['mnist']}")
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[-1].startswith("udabench: error: dataset 'meter-digits' has no Hugging Face "
                                                      "Hub copy: download it (https://example.org/meter-digits) and "
                                                      "pass --data meter-digits=PATH")

    result = meter_env.udabench("run", "--method", "source-only", "--task", "mnist-meter", *data_args(meter_data),
                                "--steps", "3", "--batch-size", "8", "--device", "cpu", "--store", store,
                                "--no-progress", "--set", "bottleneck_dim=16")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "source-only on mnist-meter" in out
    assert "target accuracy per class: 0 " in out
    matrix = out.split("target confusion matrix (rows: true class, columns: predicted):\n", 1)[1].splitlines()
    assert matrix[0].split() == [str(d) for d in range(10)]
    counts = [[int(v) for v in line.split()[1:]] for line in matrix[1:11]]
    assert sum(map(sum, counts)) == 30 and [line.split()[0] for line in matrix[1:11]] == [str(d) for d in range(10)]
    assert all(sum(row) == 3 for row in counts)  # the generated test split has 3 images of each digit

    run_id = out.split()[1].rstrip(":")
    shown = meter_env.udabench("results", "--store", store, "--show", run_id)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["details"]["confusion"] == counts
    assert [name for name, _ in record["details"]["per_class_accuracy"]] == [str(d) for d in range(10)]
    assert "target confusion matrix" in shown.stderr and "target accuracy per class" in shown.stderr
    assert "[" + ", ".join(map(str, counts[0])) + "]" in shown.stdout  # one line per row, not per number


def test_check_loads_the_plugin_data_at_the_task_size(meter_env, meter_data):
    result = meter_env.udabench("check", EXAMPLE_DIST, "--data", f"meter-digits={meter_data['meter-digits']}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "task mnist-meter: ok (mnist -> meter-digits, 28x28x1, backbone dann-digits, based on mnist-usps)" \
        in result.stdout
    assert "dataset meter-digits: ok (10 classes, 2 splits, local files only; loaded from" in result.stdout
    assert "train 48, test 30 images" in result.stdout
    assert result.stdout.splitlines()[-1] == f"{EXAMPLE_DIST}: no problems found"
    # Without data the dataset is checked as a spec, and the report says how to load it.
    bare = meter_env.udabench("check", "meter")  # the entry-point name works too
    assert bare.returncode == 0
    assert "note: data not loaded: no local copy given (--data meter-digits=PATH checks it too)" in bare.stdout

    bad = meter_env.udabench("check", BAD_TASKS)
    assert bad.returncode == 1
    assert "task tp-typo-task: 1 problem(s)" in bad.stdout
    assert "problem: task 'tp-typo-base' from distribution" in bad.stdout
    assert bad.stdout.splitlines()[-1] == f"{BAD_TASKS}: 2 problem(s)"

    unknown = meter_env.udabench("check", "udabench-no-such-plugin")
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines()[-1].startswith("udabench: error: no installed plugin is called "
                                                      "'udabench-no-such-plugin'")


def test_check_says_when_a_dataset_is_too_small_for_a_task(tmp_path, monkeypatch):
    from udabench.check import check_plugin
    from udabench.plugins import load_registry

    monkeypatch.syspath_prepend(str(EXAMPLE))  # the checkout's copy, in this process only
    try:
        meter_plugin = importlib.import_module("udabench_example_meter.plugin")
        tiny = make_hub_folder(tmp_path / "tiny-meter", 6, 3, seed=3, n_train=4, n_test=4)  # 6x6 px, task 28x28
        registry = load_registry(extra_plugins=[(meter_plugin, EXAMPLE_DIST)], warn=False)
        _, items = check_plugin(registry, EXAMPLE_DIST, {"meter-digits": str(tiny)}, None, hub=False)
    finally:
        for name in ("udabench_example_meter.plugin", "udabench_example_meter"):
            sys.modules.pop(name, None)
    dataset = next(item for item in items if item.kind == "dataset")
    assert len(dataset.problems) == 2  # train and test
    assert dataset.problems[0].startswith("for task 'mnist-meter': meter-digits from ")
    assert dataset.problems[0].endswith("split 'train' has images of 6x6 px, too small for the task's 28x28 input "
                                        "(at most 4x upsampling)")


def test_data_naming_a_folder_of_several_datasets_is_one_line(meter_env, meter_data, tmp_path):
    parent = tmp_path / "downloads"  # what a user unpacked both datasets into
    for name, size, channels in (("mnist", 28, 1), ("meter-digits", 32, 3)):
        make_hub_folder(parent / name, size, channels, seed=5, n_train=4, n_test=4)
    result = meter_env.udabench("run", "--method", "source-only", "--task", "mnist-meter", "--data",
                                f"mnist={meter_data['mnist']}", "--data", f"meter-digits={parent}", "--store",
                                tmp_path / "results.sqlite", "--device", "cpu")
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        f"udabench: error: data folder for 'meter-digits' holds several datasets (parquet files in meter-digits, "
        f"mnist): {parent}; name the one for 'meter-digits', e.g. --data meter-digits={parent / 'meter-digits'} "
        f"(or --data-root {parent}, which reads each dataset from its own sub-folder)"]


@pytest.fixture(scope="module")
def clash_env(tmp_path_factory) -> Environment:
    """A distribution that registers a dataset called 'mnist', as the built-in digits plugin does."""
    _require_installed_udabench()
    root = tmp_path_factory.mktemp("mnist-clash")
    clash = write_distribution(root / "src" / "clash", CLASH, "udabench_tp_mnist_clash", CLASH_SOURCE)
    environment = Environment(root)
    environment.install(clash)
    return environment


def test_a_clash_stops_only_the_commands_that_use_the_name(clash_env, tmp_path):
    advice = (f"dataset 'mnist' is registered twice: by 'udabench' and by '{CLASH}'; to use it, leave one out: "
              f"pip uninstall {CLASH}, or skip it with {DISABLE_VARIABLE}={CLASH}")
    methods = clash_env.udabench("list", "methods")
    assert methods.returncode == 0 and "dann" in table(methods.stdout)
    assert methods.stderr.splitlines() == [f"udabench: {advice}"]
    tasks = clash_env.udabench("list", "tasks")
    assert tasks.returncode == 0 and tasks.stderr.splitlines() == [f"udabench: {advice}"]
    assert table(tasks.stdout)["mnist-usps"]["source -> target"] == "mnist (registered twice) -> usps"

    run = clash_env.udabench("run", "--method", "dann", "--task", "mnist-usps", "--store", tmp_path / "r.sqlite")
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == f"udabench: error: {advice}"
    datasets = clash_env.udabench("list", "datasets")
    assert datasets.returncode == 2 and datasets.stdout == ""
    assert datasets.stderr.splitlines() == [f"udabench: error: {advice}"]

    clash_env.env[DISABLE_VARIABLE] = CLASH
    try:
        fixed = clash_env.udabench("list", "datasets")
        assert fixed.returncode == 0 and fixed.stderr == ""
        assert table(fixed.stdout)["mnist"]["provided by"] == "udabench"
        clash_env.env[DISABLE_VARIABLE] = "udabench-testplugin-mnist-clsh"
        typo = clash_env.udabench("list", "methods")
        assert f"udabench: {DISABLE_VARIABLE} names 'udabench-testplugin-mnist-clsh', which is no installed " \
               f"plugin's distribution or entry-point name (did you mean '{CLASH}'?)" in typo.stderr
    finally:
        del clash_env.env[DISABLE_VARIABLE]
