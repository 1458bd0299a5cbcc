"""Resume and lock: a run stopped part-way continues from its last checkpoint and, on the CPU, ends
with the numbers of a run that was never stopped; two identical runs never both train."""

from __future__ import annotations

import json
import signal
import time

import pytest

from datagen import ForkedCli
from udabench.jobs import run_and_store
from udabench.plugins import load_registry
from udabench.runner import RunRequest
from udabench.runner.resume import RESUME_FILE
from udabench.store import Store

# Short runs with every phase a method has, tiny networks where the method allows.
METHODS = {
    "dann": {"bottleneck_dim": "16", "discriminator_dim": "16"},
    "3cgan": {"source_steps": "6", "bottleneck_dim": "16", "generator_width": "8", "discriminator_width": "8",
              "target_statistics_steps": "3", "classifier_warmup": "0.2"},
    "label2image-reg": {"source_steps": "4", "gan_steps": "5", "bottleneck_dim": "16", "generator_width": "4",
                        "discriminator_width": "4"},
}


@pytest.fixture(scope="module")
def registry():
    return load_registry(warn=False)


def request_for(tiny_digits, method, **kwargs):
    return RunRequest(method=method, task="mnist-usps", steps=8, batch_size=8, device="cpu", threads=1,
                      data={"mnist": str(tiny_digits["mnist"]), "usps": str(tiny_digits["usps"])},
                      overrides=METHODS[method], progress=False, log_every=2, eval_points=3, checkpoint_every=0,
                      **kwargs)


def comparable(record):
    return {"metrics": record["metrics"], "history": record["history"],
            "evaluations": record["details"]["evaluations"]}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_stopped_run_resumes_to_the_numbers_of_an_unstopped_one(method, registry, tiny_digits, tmp_path,
                                                                  monkeypatch):
    whole, _ = run_and_store(request_for(tiny_digits, method), Store(tmp_path / "a" / "r.sqlite"), registry)

    store = Store(tmp_path / "b" / "r.sqlite")
    factory = registry.get("methods", method).factory
    from udabench.specs import load_object

    cls = load_object(factory)
    original = cls.update
    calls = {"n": 0}
    total = sum(whole["config"]["phase_steps"].values())
    stop_at = total - 4  # in the last phase, after an evaluation point and a phase change

    def stopping(self, phase, step, batch):
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise KeyboardInterrupt
        return original(self, phase, step, batch)

    monkeypatch.setattr(cls, "update", stopping)
    with pytest.raises(KeyboardInterrupt):
        run_and_store(request_for(tiny_digits, method), store, registry)
    assert store.get(whole["key"]) is None
    assert (store.artifact_root / whole["run_id"] / RESUME_FILE).is_file()
    monkeypatch.setattr(cls, "update", original)

    resumed, ran = run_and_store(request_for(tiny_digits, method), store, registry)
    assert ran and resumed["key"] == whole["key"]
    assert comparable(resumed) == comparable(whole)
    assert not (store.artifact_root / whole["run_id"] / RESUME_FILE).exists()


def test_a_checkpoint_of_another_run_is_never_taken_up(registry, tiny_digits, tmp_path):
    from udabench.runner import prepare
    from udabench.runner.resume import load, save

    request = request_for(tiny_digits, "dann")
    prepared = prepare(registry, request)
    path = tmp_path / RESUME_FILE
    save(path, {"key": "somebody-else", "phase": 0, "step": 5})
    assert load(path, prepared.key) is None
    path.write_bytes(b"not a checkpoint")
    assert load(path, prepared.key) is None


def _cli(args, store):
    """The command in a process of its own (forked: it starts without importing torch again)."""
    return ForkedCli(*args, "--store", store)


def _run_args(tiny_digits, steps):
    return ["run", "--method", "dann", "--task", "mnist-usps", "--data", f"mnist={tiny_digits['mnist']}",
            "--data", f"usps={tiny_digits['usps']}", "--device", "cpu", "--threads", "1", "--steps", str(steps),
            "--batch-size", "8", "--set", "bottleneck_dim=16", "--set", "discriminator_dim=16", "--json",
            "--no-progress", "--checkpoint-minutes", "0"]


def test_kill_9_then_the_same_command_resumes_with_equal_metrics(tiny_digits, tmp_path, capfd):
    from udabench.cli import main

    args = _run_args(tiny_digits, 100)
    capfd.readouterr()
    assert main([*args, "--store", str(tmp_path / "a" / "r.sqlite")]) == 0  # the run never stopped, in this process
    expected = json.loads(capfd.readouterr().out)

    store = tmp_path / "b" / "r.sqlite"
    victim = _cli(args, store)
    checkpoint = tmp_path / "b" / "runs" / expected["run_id"] / RESUME_FILE
    # Every step replaces the checkpoint (--checkpoint-minutes 0): kill once it has been written three
    # times, some steps past the first, however fast or slow this machine runs the steps.
    written = set()
    deadline = time.time() + 300
    while len(written) < 3 and time.time() < deadline and victim.poll() is None:
        try:
            stat = checkpoint.stat()
            written.add((stat.st_ino, stat.st_mtime_ns))
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    assert victim.poll() is None, "the run finished before it could be killed; give it more steps"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert checkpoint.is_file()

    again = _cli(args, store)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "resuming run" in err
    resumed = json.loads(out)
    assert resumed["metrics"] == expected["metrics"]
    assert resumed["history"] == expected["history"]


def test_two_identical_runs_started_together_train_once(tiny_digits, tmp_path):
    store = tmp_path / "r.sqlite"
    args = [*_run_args(tiny_digits, 200), "--checkpoint-minutes", "5"]
    first, second = _cli(args, store), _cli(args, store)  # whichever takes the lock first trains
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    records = [json.loads(out) for out, _ in outputs]
    assert records[0]["key"] == records[1]["key"] and records[0]["metrics"] == records[1]["metrics"]
    import sqlite3

    with sqlite3.connect(store) as connection:
        assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    errors = "".join(err for _, err in outputs)
    assert "being trained by another process" in errors and "already stored" in errors
