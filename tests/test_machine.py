"""Threads: a run never starts more torch threads than the cores it may use."""

from __future__ import annotations

import os

from udabench import machine
from udabench.executors import LocalExecutor


def test_cores_follow_the_affinity_and_a_cgroup_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    monkeypatch.setattr(machine, "_cgroup_quota", lambda: None)
    assert machine.available_cores() == 8
    monkeypatch.setattr(machine, "_cgroup_quota", lambda: 1.5)  # 150 ms per 100 ms period
    assert machine.available_cores() == 2
    monkeypatch.setattr(machine, "_cgroup_quota", lambda: 0.2)
    assert machine.available_cores() == 1


def test_a_sweep_gives_each_worker_its_share(monkeypatch):
    monkeypatch.setattr(machine, "available_cores", lambda: 8)
    assert machine.thread_share(2) == 4
    assert machine.thread_share(3) == 2
    assert machine.thread_share(16) == 1
    assert LocalExecutor(workers=4).threads == 2
    assert LocalExecutor(workers=4, threads=3).threads == 3  # --threads overrides


def test_a_run_caps_torch_threads_at_its_cores_unless_told(monkeypatch, tiny_digits):
    import torch

    from udabench.plugins import load_registry
    from udabench.runner import RunRequest, execute, prepare
    from udabench.runner import loop

    registry = load_registry(warn=False)
    data = {"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(8)  # what torch picks on a large host whose quota allows one core
        monkeypatch.setattr(loop, "available_cores", lambda: 1)
        request = RunRequest(method="source-only", task="mnist-usps", steps=1, batch_size=4, device="cpu",
                             data=data, progress=False, eval_points=1)
        execute(prepare(registry, request), registry, request)
        assert torch.get_num_threads() == 1
        told = RunRequest(**{**request.__dict__, "threads": 2})
        execute(prepare(registry, told), registry, told)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
