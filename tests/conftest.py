"""Fixtures shared by the tests: tiny generated digit folders and an isolated results store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Decoded splits of the tests' generated folders go to a cache of their own, never the user's
# (subprocesses running the CLI inherit it).
os.environ["UDABENCH_CACHE"] = _CACHE_ROOT = tempfile.mkdtemp(prefix="udabench-test-cache-")

# Under pytest-xdist (-n auto) each worker gets its share of the cores for torch's threads, and so do
# the CLI subprocesses it starts: N workers each running as many threads as there are cores would wait
# on each other. Set before torch is imported; an OMP_NUM_THREADS given by the caller wins.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _cores // _WORKERS)))

from datagen import make_hub_folder


def _generate_each_split_once() -> None:
    """Generated datasets (toy digits, scenes, moons) are the same in every test, but each test's
    decoded-data cache starts empty, so each test that trains on one would generate it again (toy
    digits: seconds). Here each generator runs once per split and test process; every call returns
    fresh copies, so no test can change what another gets. Runs in other processes (CLI subprocesses,
    sweep workers) generate as users' runs do."""
    import functools
    import importlib

    from udabench.plugins import load_registry

    for spec in load_registry(warn=False).specs["datasets"].values():
        if not getattr(spec, "generator", None):
            continue
        module_name, _, attribute = spec.generator.partition(":")
        module = importlib.import_module(module_name)
        original = getattr(module, attribute)
        if getattr(original, "generated_once", False):
            continue
        cached = functools.lru_cache(maxsize=None)(original)

        def fresh(split, _cached=cached):
            images, labels = _cached(split)
            return [image.copy() for image in images], labels.copy()

        fresh.generated_once = True
        setattr(module, attribute, fresh)


_generate_each_split_once()


@pytest.fixture(autouse=True)
def own_data_cache(monkeypatch):
    """An empty decoded-data cache for each test (and the subprocesses it starts): what one test decoded
    never shows in another, whatever the order and whichever pytest-xdist worker runs them."""
    monkeypatch.setenv("UDABENCH_CACHE", tempfile.mkdtemp(dir=_CACHE_ROOT))


@pytest.fixture(scope="session")
def tiny_digits(tmp_path_factory) -> dict[str, Path]:
    """``mnist``-like (28x28 grey) and ``usps``-like (16x16 grey) folders in the hub layout."""
    root = tmp_path_factory.mktemp("digits")
    return {
        "mnist": make_hub_folder(root / "mnist", 28, 1, seed=1),
        "usps": make_hub_folder(root / "usps", 16, 1, seed=2),
    }


@pytest.fixture
def store_path(tmp_path) -> Path:
    return tmp_path / "store" / "results.sqlite"


@pytest.fixture(scope="session")
def tiny_office(tmp_path_factory) -> Path:
    """The unpacked Office-31 archive in small: ``amazon`` and ``webcam``, 31 classes x 2 JPEGs of 40x32 px."""
    from datagen import make_office_root

    return make_office_root(tmp_path_factory.mktemp("office31"))
