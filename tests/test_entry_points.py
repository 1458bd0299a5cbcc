"""Plugins the way third parties ship them: real distributions, built and installed with pip into a
fresh environment, found by a fresh interpreter through the ``udabench`` entry-point group.

Each environment is a virtual environment on top of the one running the tests (so torch, datasets
and udabench itself are not installed again); only the test distributions live in it.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import site
import subprocess
import sys
import textwrap
from importlib import metadata, util
from pathlib import Path

import pytest

# Its tests share one module-scoped environment: under pytest-xdist they run on one worker, which builds it once.
pytestmark = pytest.mark.xdist_group("entry-points-environment")

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "udabench-example"

GOOD = "udabench-testplugin-good"
BROKEN = "udabench-testplugin-broken"
CLASH_A = "udabench-testplugin-clash-a"
CLASH_B = "udabench-testplugin-clash-b"
MISSING_MODULE = "udabench_tp_missing_dependency"


def _require_installed_udabench():
    try:
        metadata.distribution("udabench")
    except metadata.PackageNotFoundError:
        pytest.skip("udabench is not installed (pip install -e .): its built-in entry points are unavailable")
    if util.find_spec("pip") is None or util.find_spec("setuptools") is None:
        pytest.skip("pip and setuptools are needed to build and install test distributions")


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "UDABENCH_DATA")}
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
        HF_HOME=str(tmp / "hf"), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1",
        UDABENCH_STORE=str(tmp / "default-store" / "results.sqlite"),
    )
    return env


class Environment:
    """A virtual environment made from ``sys.executable``, with test distributions pip-installed."""

    def __init__(self, root: Path):
        self.root = root
        self.env = _clean_env(root)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root / "venv")],
                       check=True, capture_output=True, timeout=120)
        self.python = root / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        purelib = Path(self.check("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
        # When the tests run inside a virtual environment, --system-site-packages reaches the base
        # interpreter's packages, not that environment's: add its site directories (processing their
        # .pth files, which an editable install of udabench relies on) after the new one's.
        parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
        if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
            parents.append(site.getusersitepackages())
        bridge = "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents)
        (purelib / "_udabench_tests_parent.pth").write_text(bridge + "\n")
        self.purelib = purelib

    def run(self, *args, timeout=300) -> subprocess.CompletedProcess:
        # Run away from the checkout, so nothing is imported from the working directory.
        return subprocess.run([str(self.python), *map(str, args)], capture_output=True, text=True,
                              env=self.env, cwd=self.root, timeout=timeout)

    def check(self, *args, timeout=300) -> subprocess.CompletedProcess:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def install(self, *projects: Path) -> None:
        self.check("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--ignore-installed",
                   "--quiet", *projects, timeout=300)

    def udabench(self, *args, timeout=300) -> subprocess.CompletedProcess:
        return self.run("-m", "udabench.cli", *args, timeout=timeout)


def write_distribution(folder: Path, name: str, module: str, source: str) -> Path:
    """A minimal setuptools project: one module, registered in the ``udabench`` group."""
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "0.0.1"
        dependencies = ["udabench"]

        [project.entry-points.udabench]
        {module} = "{module}"

        [tool.setuptools]
        py-modules = ["{module}"]
        """))
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    return folder


def method_plugin(name: str) -> str:
    return f"""\
        from udabench.hookspecs import hookimpl
        from udabench.hparams import TASK_MODEL_HPARAMS
        from udabench.specs import MethodSpec, Phase


        @hookimpl
        def udabench_methods():
            return [MethodSpec("{name}", "udabench_source_only.method:SourceOnly", "uda",
                               (Phase("train", frozenset({{"source"}})),), dict(TASK_MODEL_HPARAMS),
                               description="registered by a test distribution")]
        """


GOOD_SOURCE = method_plugin("tp-method") + """\


        @hookimpl
        def udabench_datasets():
            from udabench.specs import DatasetSpec

            return [DatasetSpec("tp-shapes", "shapes of a test distribution", None, "main", ("train", "test"),
                                ("circle", "square"), (8, 8), 1)]
        """

BROKEN_SOURCE = f"""\
        import {MISSING_MODULE}  # a dependency that is not installed
        """


def table(stdout: str) -> dict[str, dict[str, str]]:
    """The rows of a ``udabench list`` table (GitHub format), by their first column."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    headers = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(headers, cells))
    return rows


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> Environment:
    """One environment holding a working plugin, a plugin that fails to import, and the example."""
    _require_installed_udabench()
    root = tmp_path_factory.mktemp("plugins")
    good = write_distribution(root / "src" / "good", GOOD, "udabench_tp_good", GOOD_SOURCE)
    broken = write_distribution(root / "src" / "broken", BROKEN, "udabench_tp_broken", BROKEN_SOURCE)
    # Build the example from a copy, so the build leaves nothing in the checkout.
    example = root / "src" / "udabench-example"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    environment = Environment(root)
    environment.install(good, broken, example)
    return environment


@pytest.fixture(scope="module")
def clash_env(tmp_path_factory) -> Environment:
    """An environment where two distributions register a method of the same name."""
    _require_installed_udabench()
    root = tmp_path_factory.mktemp("clash")
    first = write_distribution(root / "src" / "a", CLASH_A, "udabench_tp_clash_a", method_plugin("tp-clash"))
    second = write_distribution(root / "src" / "b", CLASH_B, "udabench_tp_clash_b", method_plugin("tp-clash"))
    environment = Environment(root)
    environment.install(first, second)
    return environment


def test_installed_distribution_registers_with_its_name_as_provider(plugin_env):
    methods = plugin_env.udabench("list", "methods")
    assert methods.returncode == 0, methods.stderr
    rows = table(methods.stdout)
    assert rows["tp-method"]["provided by"] == GOOD
    assert rows["tp-method"]["setting"] == "uda"
    assert rows["source-only"]["provided by"] == "udabench"

    datasets = plugin_env.udabench("list", "datasets")
    assert datasets.returncode == 0, datasets.stderr
    rows = table(datasets.stdout)
    assert rows["tp-shapes"]["provided by"] == GOOD
    assert rows["tp-shapes"]["classes"] == "2"
    assert rows["mnist"]["provided by"] == "udabench"


def test_plugin_that_fails_to_import_is_one_warning_line(plugin_env):
    result = plugin_env.udabench("list", "methods")
    assert result.returncode == 0
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("udabench: ")
    assert f"'{BROKEN}'" in warnings[0]
    assert f"ModuleNotFoundError: No module named '{MISSING_MODULE}'" in warnings[0]
    # Every other plugin, built-in or installed beside the broken one, still registers.
    rows = table(result.stdout)
    assert {"source-only", "dann", "tp-method", "entropy-min"} <= set(rows)


def test_same_method_from_two_distributions_is_an_error_naming_both(clash_env):
    result = clash_env.udabench("list", "methods")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("udabench: error: ")
    assert "'tp-clash'" in lines[0]
    assert f"'{CLASH_A}'" in lines[0] and f"'{CLASH_B}'" in lines[0]


def test_example_plugin_is_listed_with_its_hyperparameters(plugin_env):
    result = plugin_env.udabench("list", "methods", "-v")
    assert result.returncode == 0
    row = table(result.stdout)["entropy-min"]
    assert row["provided by"] == "udabench-example"
    assert (row["setting"], row["phases"]) == ("uda", "train")
    details = result.stdout.split("entropy-min hyperparameters", 1)[1].split("\n\n", 1)[0]
    assert "entropy_weight = 0.1" in details
    assert "bottleneck_dim = 256" in details  # the shared task-model recipe
    # Listing stays light: the plugin module does not import torch.
    light = plugin_env.run("-c", "import sys, udabench_example.plugin; print('torch' in sys.modules)")
    assert light.stdout.strip() == "False", light.stderr
    # The installed copy is the one imported, not the checkout's.
    where = plugin_env.check("-c", "import udabench_example; print(udabench_example.__file__)").stdout
    assert Path(where.strip()).resolve().is_relative_to(plugin_env.purelib.resolve())


def write_hub_folder(folder: Path, size: int, seed: int, n_train: int = 16, n_test: int = 10) -> Path:
    """A digits-like dataset in the hub's parquet layout: grey PNGs and integer labels."""
    import datasets
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images = []
        for _ in range(n):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8), mode="L").save(buffer, "PNG")
            images.append({"bytes": buffer.getvalue(), "path": None})
        labels = [i % 10 for i in range(n)]
        table = datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)
        table.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return folder


def test_example_method_trains_through_the_cli(plugin_env, tmp_path):
    mnist = write_hub_folder(tmp_path / "mnist", 28, seed=1)
    usps = write_hub_folder(tmp_path / "usps", 16, seed=2)
    store = tmp_path / "results.sqlite"

    bad = plugin_env.udabench("run", "--method", "entropy-min", "--task", "mnist-usps", "--set", "entropy_weight=much",
                              "--store", store)
    assert bad.returncode == 2
    assert "entropy_weight" in bad.stderr and "float" in bad.stderr

    result = plugin_env.udabench(
        "run", "--method", "entropy-min", "--task", "mnist-usps", "--data", f"mnist={mnist}", "--data", f"usps={usps}",
        "--steps", "3", "--batch-size", "8", "--device", "cpu", "--json", "--store", store, "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    record = json.loads(lines[0])
    assert (record["method"], record["task"], record["status"]) == ("entropy-min", "mnist-usps", "ok")
    assert 0.0 <= record["metrics"]["accuracy"] <= 1.0
    assert record["config"]["hparams"]["entropy_weight"] == 0.1
    assert record["config"]["steps"] == 3
    # The method's own logs reach the history: a mean entropy over 10 classes lies in [0, ln 10].
    last = record["history"][-1]
    assert last["step"] == 3
    assert 0.0 <= last["entropy"] <= math.log(10) + 1e-6
    assert math.isfinite(last["loss"]) and math.isfinite(last["class_loss"])
    assert Path(record["store"]) == store
