"""The SQLite results store: one row per key, filters, prefixes, concurrent writers."""

from __future__ import annotations

import multiprocessing

import pytest

from udabench.errors import UdabenchError
from udabench.runner import RunResult
from udabench.store import Store, default_store_path


def result(run_id: str, method="dann", task="mnist-usps", seed=0, status="ok", accuracy=0.5) -> RunResult:
    return RunResult(run_id, run_id * 4, method, task, seed, {"steps": 3}, status, {"accuracy": accuracy},
                     {"total_s": 1.0}, [{"loss": 1.0, "step": 1}], "cpu")


def test_save_get_and_replace(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    store.save(result("aaaa11112222", status="failed"), {"torch": "x"}, "abc", None)
    store.save(result("aaaa11112222", accuracy=0.9), {"torch": "x"}, "abc", "runs/aaaa11112222")
    assert len(store.query()) == 1
    record = store.get("aaaa11112222")
    assert record["status"] == "ok" and record["metrics"] == {"accuracy": 0.9}
    assert record["history"] == [{"loss": 1.0, "step": 1}] and record["versions"] == {"torch": "x"}
    assert store.get("aaaa1111")["run_id"] == "aaaa11112222"  # a unique prefix
    assert store.get("ffff") is None


def test_filters_and_ambiguous_prefix(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    store.save(result("ab0000000001", seed=0), {}, None, None)
    store.save(result("ab0000000002", method="source-only", seed=1), {}, None, None)
    store.save(result("cd0000000003", task="usps-mnist", seed=2, status="failed"), {}, None, None)
    assert [r["run_id"] for r in store.query(method="dann")] == ["ab0000000001", "cd0000000003"]
    assert [r["run_id"] for r in store.query(task="usps-mnist")] == ["cd0000000003"]
    assert [r["run_id"] for r in store.query(status="ok", seeds=[1])] == ["ab0000000002"]
    with pytest.raises(UdabenchError, match="ambiguous"):
        store.get("ab")


def test_default_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("UDABENCH_STORE", str(tmp_path / "elsewhere.sqlite"))
    assert default_store_path() == tmp_path / "elsewhere.sqlite"
    monkeypatch.delenv("UDABENCH_STORE")
    assert default_store_path().name == "results.sqlite" and "udabench" in str(default_store_path())


def _write_many(args):
    path, worker = args
    store = Store(path)
    for index in range(20):
        store.save(result(f"{worker:02d}{index:010d}"), {}, None, None)


def test_many_writers_lose_no_rows(tmp_path):
    path = tmp_path / "r.sqlite"
    Store(path)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_write_many, [(path, worker) for worker in range(4)])
    assert len(Store(path).query()) == 80


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UdabenchError, match="cannot open the results store"):
        Store(blocker / "sub" / "r.sqlite")


def test_versions_name_the_cpu_instruction_set_torch_uses():
    import torch

    from udabench.store import environment_versions

    versions = environment_versions()
    assert versions["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
