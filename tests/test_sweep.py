"""Sweeps: the file format, expansion into keyed runs, scheduling, kill-and-resume, executors."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from datagen import REPO
from udabench.cli import main
from udabench.errors import UdabenchError
from udabench.executors import schedule
from udabench.plugins import load_registry
from udabench.store import Store
from udabench.sweep import (Job, SweepConfig, describe_duration, estimate_seconds, expand, plan, read_sweep_file,
                            remaining_seconds)


@pytest.fixture(scope="module")
def registry():
    return load_registry(warn=False)


def data_flags(tiny_digits):
    return ["--data", f"mnist={tiny_digits['mnist']}", "--data", f"usps={tiny_digits['usps']}"]


def config_for(tiny_digits, **kwargs) -> SweepConfig:
    values = dict(tasks=["mnist-usps"], seeds=[0], steps=5, batch_size=8, device="cpu",
                  data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])})
    values.update(kwargs)
    return SweepConfig(**values)


# the sweep file


def test_sweep_file_is_read_with_paths_relative_to_it(tmp_path, tiny_digits):
    (tmp_path / "sub").mkdir()
    file = tmp_path / "sub" / "digits.toml"
    file.write_text(
        'name = "digits"\nmethods = ["dann", "source-only"]\ntasks = ["mnist-usps"]\nseeds = [0, 1]\n'
        'steps = 7\nbatch_size = 8\ndevice = "cpu"\n'
        f'data = {{ mnist = "../{tiny_digits["mnist"].name}", usps = "{tiny_digits["usps"]}" }}\n'
        '[set]\nlr = 0.02\n[grid]\ndropout = [0.0, 0.5]\n[method.dann]\nset = { grl_gamma = 5 }\nsteps = 9\n'
    )
    config = read_sweep_file(file)
    assert config.name == "digits" and config.methods == ["dann", "source-only"] and config.seeds == [0, 1]
    assert config.set == {"lr": "0.02"} and config.grid == {"dropout": ["0.0", "0.5"]}
    assert config.data["mnist"] == str(tmp_path / tiny_digits["mnist"].name)  # relative to the file
    assert config.data["usps"] == str(tiny_digits["usps"])
    assert config.per_method["dann"]["steps"] == 9 and config.per_method["dann"]["set"] == {"grl_gamma": "5"}


@pytest.mark.parametrize("text, message", [
    ('methods = ["dann"]\nworkers = 3\n', "unknown key of sweep file s.toml 'workers'"),
    ('methods = "dann"\n', "'methods' must be a list"),
    ('seeds = [0, "1"]\n', "'seeds' must be a list of integers"),
    ('steps = true\n', "'steps' must be a int"),
    ('[grid]\nlr = 0.1\n', "grid 'lr' must be a non-empty list"),
    ('[method.dann]\nsteps = 3\nlrr = 1\n', "unknown key of sweep file s.toml [method.dann] 'lrr'"),
    ('methods = [\n', "sweep file"),
])
def test_bad_sweep_files_are_one_line_errors(tmp_path, text, message):
    file = tmp_path / "s.toml"
    file.write_text(text)
    with pytest.raises(UdabenchError) as error:
        read_sweep_file(file)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_missing_sweep_file(tmp_path):
    with pytest.raises(UdabenchError, match="does not exist"):
        read_sweep_file(tmp_path / "nope.toml")


# expansion


def test_expansion_is_the_product_with_stable_keys(registry, tiny_digits):
    config = config_for(tiny_digits, methods=["source-only", "dann"], seeds=[0, 1], grid={"lr": ["0.01", "0.02"]},
                        set={"grl_gamma": "5"}, per_method={"dann": {"set": {}, "grid": {}, "steps": 6}})
    jobs = expand(config, registry)
    assert len(jobs) == 2 * 2 * 2
    assert len({job.key for job in jobs}) == 8
    assert [job.key for job in expand(config, registry)] == [job.key for job in jobs]  # stable
    dann = [job for job in jobs if job.request.method == "dann"]
    assert all(job.request.overrides["grl_gamma"] == "5" and job.request.steps == 6 for job in dann)
    source_only = [job for job in jobs if job.request.method == "source-only"]
    assert all("grl_gamma" not in job.request.overrides for job in source_only)  # only where it exists
    assert sorted(job.request.overrides["lr"] for job in source_only) == ["0.01", "0.01", "0.02", "0.02"]


def test_expansion_rejects_bad_input_before_anything_runs(registry, tiny_digits):
    with pytest.raises(UdabenchError, match="unknown hyperparameter of the sweep's methods 'lrr'"):
        expand(config_for(tiny_digits, methods=["dann"], grid={"lrr": ["1"]}), registry)
    with pytest.raises(UdabenchError, match="unknown method 'danm'"):
        expand(config_for(tiny_digits, methods=["danm"]), registry)
    with pytest.raises(UdabenchError, match="takes a float"):
        expand(config_for(tiny_digits, methods=["dann"], set={"lr": "fast"}), registry)
    with pytest.raises(UdabenchError, match="unknown dataset 'mnistn'"):
        expand(config_for(tiny_digits, methods=["dann"], data={"mnistn": "x"}), registry)
    config = config_for(tiny_digits, methods=["dann"])
    config.data["mnistm"] = "elsewhere"  # no task of this sweep uses it: it is handed to no run
    assert expand(config, registry)[0].request.data == {k: v for k, v in config.data.items() if k != "mnistm"}
    with pytest.raises(UdabenchError, match="at least one method"):
        expand(config_for(tiny_digits), registry)
    with pytest.raises(UdabenchError, match="unknown method 'ada'"):
        expand(config_for(tiny_digits, methods=["dann"], per_method={"ada": {"set": {}, "grid": {}}}), registry)
    # a table for a registered method that the sweep leaves out is unused, not an error
    assert len(expand(config_for(tiny_digits, methods=["dann"], per_method={"adda": {"set": {}, "grid": {}}}),
                      registry)) == 1


def test_shared_source_runs_once_per_task_and_seed(registry, tiny_digits):
    config = config_for(tiny_digits, methods=["adda", "shot", "dann"], seeds=[0, 1], share_source=True,
                        set={"source_steps": "4"}, per_method={"shot": {"set": {}, "grid": {}, "batch_size": 4}})
    jobs = expand(config, registry)
    sources = [job for job in jobs if job.request.method == "source-only"]
    assert len(sources) == 2 and all(job.request.steps == 4 and job.request.batch_size == 8 for job in sources)
    assert jobs[:2] == sources  # they go first
    for job in jobs:
        if job.request.method in ("adda", "shot"):
            source = next(s for s in sources if s.request.seed == job.request.seed)
            assert job.depends_on == source.key and job.request.source_run == source.key
        else:
            assert job.depends_on is None
    assert len(jobs) == 2 + 3 * 2


# scheduling


def test_schedule_respects_dependencies_and_capacity():
    jobs = [Job(None, "a"), Job(None, "b", depends_on="a"), Job(None, "c"), Job(None, "d", depends_on="c"),
            Job(None, "e", depends_on="stored-elsewhere")]
    in_flight, started, most = [], [], 0

    def submit(job):
        nonlocal most
        assert job.depends_on is None or job.depends_on not in "abcde" or job.depends_on in finished
        in_flight.append(job.key)
        started.append(job.key)
        most = max(most, len(in_flight))
        return job.key

    finished = []

    def wait_any(handles):
        key = handles[0]
        in_flight.remove(key)
        finished.append(key)
        return [(key, f"done {key}")]

    announced, ended = [], []
    outcomes = schedule(jobs, submit, wait_any, lambda job, outcome: ended.append(job.key), capacity=2,
                        on_start=lambda job: announced.append((job.key, list(ended))))
    assert sorted(outcomes) == [f"done {k}" for k in "abcde"] and most == 2
    assert started.index("b") > finished.index("a") and started.index("d") > finished.index("c")
    # each job is announced once, when it is handed out, and before it ends
    assert [key for key, _ in announced] == started and all(key not in before for key, before in announced)


# the command


def test_dry_run_lists_runs_and_plan_sees_stored_ones(tiny_digits, store_path, capsys, registry):
    args = ["sweep", "--method", "source-only", "--task", "mnist-usps", "--seeds", "0-2", "--steps", "3",
            "--batch-size", "8", "--device", "cpu", "--eval-points", "1", "--store", str(store_path),
            *data_flags(tiny_digits)]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr()
    assert out.out.count("pending") == 3 and "3 to run" in out.err
    assert main(args) == 0
    out = capsys.readouterr()
    assert "3 ok" in out.err and "3 of 3 runs stored as ok" in out.err
    # the bar names the run in flight and when it started
    assert re.search(r"running: source-only mnist-usps seed 0 \(from \d\d:\d\d\)", out.err), out.err
    assert main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().out.count("stored") == 3
    # two more seeds: their time is estimated from the three stored runs of the method
    assert main([*[a if a != "0-2" else "0-4" for a in args], "--dry-run"]) == 0
    assert re.search(r"sweep: the runs to run take (about \d+ min|under a minute) of one worker's time, estimated "
                     r"from the stored runs of their methods\n", capsys.readouterr().err)
    config = config_for(tiny_digits, methods=["source-only"], seeds=[0, 1, 2], steps=3, eval_points=1)
    state = plan(expand(config, registry), Store(store_path), retry_failed=False)
    assert len(state.done) == 3 and not state.pending


def test_failed_runs_are_recorded_and_retried_only_when_asked(tiny_digits, store_path, capsys):
    args = ["sweep", "--method", "dann", "--task", "mnist-usps", "--steps", "3", "--batch-size", "8",
            "--device", "cpu", "--eval-points", "1", "--set", "lr=1e30", "--store", str(store_path),
            *data_flags(tiny_digits)]
    assert main(args) == 1
    out = capsys.readouterr().err
    assert "failed" in out and "became" in out
    [row] = Store(store_path).query()
    assert row["status"] == "failed" and row["error"]
    assert main(args) == 0  # not retried
    assert "1 stored as failed (not retried" in capsys.readouterr().err
    assert main([*args, "--retry-failed"]) == 1
    assert "0 stored as failed" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--executor", "dask"], "unknown executor 'dask'"),
    (["--workers", "0"], "--workers must be positive"),
    (["--seeds", "a-b"], "--seeds expects integers"),
    (["--grid", "lr"], "--grid expects NAME=VALUE"),
])
def test_sweep_bad_flags_exit_2(tiny_digits, store_path, capsys, extra, message):
    code = main(["sweep", "--method", "dann", "--task", "mnist-usps", "--store", str(store_path),
                 *data_flags(tiny_digits), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not store_path.exists() or not Store(store_path).query()


def test_ray_executor_without_ray_names_the_extra(tiny_digits, store_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code = main(["sweep", "--method", "source-only", "--task", "mnist-usps", "--steps", "2", "--device", "cpu",
                 "--executor", "ray", "--store", str(store_path), *data_flags(tiny_digits)])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'udabench[ray]'" in err


def test_kill_a_sweep_and_resume_it(tiny_digits, tmp_path, capfd):
    """SIGKILL the whole sweep (workers included) once some runs are stored, then run it again."""
    store_path = tmp_path / "store" / "results.sqlite"
    args = ["sweep", "--method", "source-only", "--task", "mnist-usps", "--seeds", "0-3", "--steps", "30",
            "--batch-size", "16", "--device", "cpu", "--eval-points", "2", "--workers", "2", "--threads", "1",
            "--store", store_path, *data_flags(tiny_digits)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONSAFEPATH": "1"}
    sweep = subprocess.Popen([sys.executable, "-m", "udabench.cli", *map(str, args)], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def rows():
        if not store_path.exists():
            return []
        try:
            with sqlite3.connect(store_path, timeout=30) as connection:
                return connection.execute("SELECT run_id, status, created_at FROM runs ORDER BY run_id").fetchall()
        except sqlite3.OperationalError:  # the sweep is still creating the store
            return []

    deadline = time.time() + 240
    while len(rows()) < 1 and time.time() < deadline and sweep.poll() is None:
        time.sleep(0.2)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    before = rows()
    assert 1 <= len(before) < 4, f"the sweep should be killed part-way, it had stored {len(before)} runs"
    assert all(status == "ok" for _, status, _ in before)  # nothing half-written

    # The kill is the process-level part; resuming is the same command again, run here without a new
    # interpreter (its workers are still spawned processes), capturing file descriptors 1 and 2.
    def again_in_process():
        capfd.readouterr()
        code = main([str(arg) for arg in args])
        return subprocess.CompletedProcess(args, code, *capfd.readouterr())

    resumed = again_in_process()
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(before)} already stored" in resumed.stderr and f"{4 - len(before)} to run" in resumed.stderr
    after = rows()
    assert len(after) == 4 and all(status == "ok" for _, status, _ in after)
    assert set(before) <= set(after)  # the runs finished before the kill were not run again
    folders = {p.name for p in (store_path.parent / "runs").iterdir()}
    assert folders == {run_id for run_id, _, _ in after}  # no half-written artifact folder left over
    again = again_in_process()
    assert again.returncode == 0 and "4 already stored" in again.stderr and "0 to run" in again.stderr


def test_ray_executor_runs_a_small_sweep_on_a_local_instance(tiny_digits, store_path, capsys):
    pytest.importorskip("ray")
    # Two runs: one per Ray worker process that a 2-core machine starts. Scheduling across more runs
    # is the local executor's, tested above; here the point is the Ray side (remote call, store).
    args = ["sweep", "--method", "source-only,dann", "--task", "mnist-usps", "--seeds", "0", "--steps", "3",
            "--batch-size", "8", "--device", "cpu", "--eval-points", "1", "--executor", "ray", "--threads", "1",
            "--store", str(store_path), *data_flags(tiny_digits)]
    assert main(args) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "2 ok" in err
    rows = Store(store_path).query()
    assert len(rows) == 2 and {r["status"] for r in rows} == {"ok"}
    assert {r["method"] for r in rows} == {"source-only", "dann"}


def test_segmentation_sweeps_take_a_resolution_and_leave_out_classification_only_methods(registry, tmp_path):
    file = tmp_path / "seg.toml"
    file.write_text('methods = ["suit", "dann"]\ntasks = ["toy-scenes", "toy-digits-m"]\nresolution = "40x24"\n')
    config = read_sweep_file(file)
    assert config.resolution == (24, 40)
    jobs = expand(config, registry)
    by_pair = {(job.request.method, job.request.task): job.request for job in jobs}
    assert set(by_pair) == {("suit", "toy-scenes"), ("suit", "toy-digits-m"), ("dann", "toy-digits-m")}
    assert config.skipped == {("dann", "toy-scenes")}
    assert by_pair["suit", "toy-scenes"].resolution == (24, 40)
    assert by_pair["suit", "toy-digits-m"].resolution is None  # a classification task keeps its size
    file.write_text('methods = ["suit"]\ntasks = ["toy-scenes"]\nresolution = "big"\n')
    with pytest.raises(UdabenchError, match="'resolution': expected WIDTHxHEIGHT"):
        read_sweep_file(file)
    with pytest.raises(UdabenchError, match="no method of the sweep trains on"):
        expand(SweepConfig(methods=["dann"], tasks=["toy-scenes"]), registry)


def test_sweep_on_cuda_without_cuda_stores_nothing(tiny_digits, store_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["sweep", "--method", "dann", "--task", "mnist-usps", "--store", str(store_path),
                 "--device", "cuda", "--steps", "2", *data_flags(tiny_digits)])
    err = capsys.readouterr().err
    assert code == 2 and "CUDA is not available" in err and len(err.strip().splitlines()) == 1
    assert not store_path.exists()


def test_a_cuda_sweep_can_be_planned_without_cuda(tiny_digits, store_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["sweep", "--method", "dann", "--task", "mnist-usps", "--store", str(store_path),
                 "--device", "cuda", "--steps", "2", "--dry-run", *data_flags(tiny_digits)])
    captured = capsys.readouterr()
    assert code == 0 and "CUDA is not available" not in captured.err
    assert "pending" in captured.out and "dann mnist-usps seed 0" in captured.out


class FakeStore:
    def __init__(self, rows):
        self.rows = rows

    def query(self, status=None):
        return [row for row in self.rows if status is None or row["status"] == status]


def stored(method, task, steps, train_s, total_s, status="ok"):
    return {"method": method, "task": task, "status": status, "config": {"phase_steps": {"train": steps}},
            "timings": {"train_s": train_s, "total_s": total_s}}


def test_run_times_are_estimated_from_stored_runs_of_the_method(tiny_digits, registry):
    jobs = expand(config_for(tiny_digits, methods=["source-only", "dann"], tasks=["mnist-usps", "usps-mnist"],
                             steps=300), registry)
    key = {(job.request.method, job.request.task): job.key for job in jobs}
    store = FakeStore([
        stored("source-only", "mnist-usps", 100, 10.0, 14.0),  # 0.1 s a step, 4 s outside training
        stored("source-only", "mnist-usps", 200, 40.0, 46.0),  # 0.2 s a step, 6 s
        stored("source-only", "mnist-usps", 100, 30.0, 35.0),  # 0.3 s a step, 5 s
        stored("source-only", "svhn-mnist", 100, 90.0, 90.0),  # another task: used only where none match
        stored("dann", "mnist-usps", 100, 1.0, 2.0, status="failed"),  # a failed run says nothing
    ])
    estimates = estimate_seconds(jobs, store)
    assert estimates[key["source-only", "mnist-usps"]] == pytest.approx(0.2 * 300 + 5.0)  # medians
    # no stored run on usps-mnist: the medians over the method's runs on every task (0.25 s a step, 4.5 s)
    assert estimates[key["source-only", "usps-mnist"]] == pytest.approx(0.25 * 300 + 4.5)
    assert key["dann", "mnist-usps"] not in estimates and key["dann", "usps-mnist"] not in estimates


def test_time_left_shares_the_estimates_among_the_workers():
    estimates = {"a": 100.0, "b": 300.0, "c": 50.0}
    # b started 120 s ago and has 180 s left; a waits; d has no estimate; two workers share the work
    left, unknown = remaining_seconds(estimates, ["a", "d"], {"b": 880.0}, workers=2, now=1000.0)
    assert left == pytest.approx((100.0 + 180.0) / 2) and unknown == 1
    # a run past its estimate counts as done, never as negative time
    assert remaining_seconds(estimates, [], {"c": 0.0}, workers=1, now=1000.0) == (0.0, 0)
    assert [describe_duration(s) for s in (20, 40 * 60, 3 * 3600 + 20 * 60 + 10, 2 * 3600 + 10)] == [
        "under a minute", "about 40 min", "about 3 h 20 min", "about 2 h"]
