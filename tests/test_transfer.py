"""Runs that travel: ``udabench results --export`` and ``udabench import``, and a sweep that resumes
from imported runs, training again only the source model whose weights stayed behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from udabench.cli import main
from udabench.store import Store


def sweep_args(tiny_digits, store: Path, methods: str) -> list[str]:
    return ["sweep", "--method", methods, "--task", "mnist-usps", "--seeds", "0", "--steps", "3",
            "--batch-size", "8", "--device", "cpu", "--eval-points", "1", "--share-source", "--set", "source_steps=3",
            "--store", str(store),
            "--data", f"mnist={tiny_digits['mnist']}", "--data", f"usps={tiny_digits['usps']}"]


def without(record: dict, *names: str) -> dict:
    return {k: v for k, v in record.items() if k not in names}


def test_exported_runs_import_elsewhere_and_a_sweep_there_trains_only_what_is_missing(tiny_digits, tmp_path,
                                                                                     capsys):
    here, there = tmp_path / "here" / "r.sqlite", tmp_path / "there" / "r.sqlite"
    assert main(sweep_args(tiny_digits, here, "adda")) == 0
    capsys.readouterr()
    stored = {r["run_id"]: r for r in Store(here).query()}
    assert sorted(r["method"] for r in stored.values()) == ["adda", "source-only"]
    adda = next(r for r in stored.values() if r["method"] == "adda")
    source_id = next(r for r in stored.values() if r["method"] == "source-only")["run_id"]
    # two grids of the same kind and one of another: only the last of each kind travels
    images = Path(adda["artifacts"]) / "images"
    images.mkdir(parents=True, exist_ok=True)
    for name in ("samples-adapt-1.png", "samples-adapt-3.png", "translations-adapt-2.png"):
        (images / name).write_bytes(b"\x89PNG\r\n\x1a\n" + name.encode())

    export = tmp_path / "carried" / "runs.jsonl"
    assert main(["results", "--export", str(export), "--store", str(here)]) == 0
    assert "exported 2 run(s), 2 picture(s) and the weights of 0 source model(s)" in capsys.readouterr().err
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert {line["run_id"] for line in lines} == set(stored)
    carried = export.parent / "runs-artifacts" / adda["run_id"] / "images"
    assert sorted(p.name for p in carried.iterdir()) == ["samples-adapt-3.png", "translations-adapt-2.png"]
    # with --weights the shared source model's weights travel too: a sweep elsewhere starts from them
    with_weights = tmp_path / "carried" / "weights.jsonl"
    assert main(["results", "--export", str(with_weights), "--weights", "--store", str(here)]) == 0
    assert "the weights of 1 source model(s)" in capsys.readouterr().err
    elsewhere = tmp_path / "elsewhere" / "r.sqlite"
    assert main(["import", str(with_weights), "--store", str(elsewhere)]) == 0
    assert "the weights of 1)" in capsys.readouterr().err
    assert main([*sweep_args(tiny_digits, elsewhere, "adda,shot"), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "2 already stored, 0 stored as failed (not retried; --retry-failed), 1 to run" in out.err
    assert main(["results", "--weights", "--store", str(here)]) == 2
    assert "--weights goes with --export" in capsys.readouterr().err

    # --protocol keeps the runs a sweep file plans: the same sweep as a file, then one of another seed
    protocol = tmp_path / "sweep.toml"
    text = ('methods = ["adda"]\ntasks = ["mnist-usps"]\nseeds = [SEED]\nsteps = 3\nbatch_size = 8\n'
            'device = "cpu"\neval_points = 1\nshare_source = true\nset = { source_steps = "3" }\n'
            f'data = {{ mnist = "{tiny_digits["mnist"]}", usps = "{tiny_digits["usps"]}" }}\n')
    for seed, runs in ((0, 2), (1, 0)):
        protocol.write_text(text.replace("SEED", str(seed)))
        assert main(["results", "--protocol", str(protocol), "--export", str(tmp_path / "p.jsonl"),
                     "--store", str(here)]) == 0
        assert f"exported {runs} run(s)" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "here")  # the first machine is gone: only the file and its folder remain

    assert main(["import", str(export), "--store", str(there)]) == 0
    assert "imported 2 run(s) (2 picture(s), the weights of 0)" in capsys.readouterr().err
    arrived = {r["run_id"]: r for r in Store(there).query()}
    for run_id, record in stored.items():  # the rows as they were stored, creation time and revision included
        assert without(arrived[run_id], "artifacts") == without(record, "artifacts")
    landed = Path(arrived[adda["run_id"]]["artifacts"]) / "images" / "samples-adapt-3.png"
    assert landed.read_bytes() == b"\x89PNG\r\n\x1a\nsamples-adapt-3.png"
    assert main(["import", str(export), "--store", str(there)]) == 0  # importing again changes nothing
    err = capsys.readouterr().err
    assert "imported 0 run(s)" in err and "kept 2 the store already held" in err

    # SHOT needs the shared source model, whose weights did not travel: the sweep trains it again
    # (the same key gives the same weights and numbers) and then SHOT; ADDA stays as imported.
    assert main([*sweep_args(tiny_digits, there, "adda,shot"), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "1 already stored, 0 stored as failed (not retried; --retry-failed), 2 to run" in out.err
    assert f"{source_id}  pending  source-only mnist-usps seed 0 (stored without its weights" in out.out
    assert main(sweep_args(tiny_digits, there, "adda,shot")) == 0
    assert "2 ok" in capsys.readouterr().err
    after = {r["run_id"]: r for r in Store(there).query()}
    source = next(r for r in stored.values() if r["method"] == "source-only")
    assert after[source["run_id"]]["metrics"] == source["metrics"]
    assert (Path(after[source["run_id"]]["artifacts"]) / "model.pt").is_file()
    assert after[adda["run_id"]]["created_at"] == adda["created_at"]
    assert any(r["method"] == "shot" and r["status"] == "ok" for r in after.values())


def test_an_imported_ok_run_replaces_a_failed_one_and_not_the_reverse(tmp_path, capsys):
    from udabench.runner import RunResult

    def row(status, accuracy):
        return RunResult("ab12ab12ab12", "ab12" * 16, "dann", "mnist-usps", 0, {"steps": 3}, status,
                         {"accuracy": accuracy}, {"total_s": 1.0}, [], "cpu")

    good, bad = Store(tmp_path / "good.sqlite"), Store(tmp_path / "bad.sqlite")
    good.save(row("ok", 0.9), {}, "abc", None)
    bad.save(row("failed", 0.1), {}, "abc", None)
    assert main(["results", "--export", str(tmp_path / "good.jsonl"), "--store", str(good.path)]) == 0
    assert main(["results", "--export", str(tmp_path / "bad.jsonl"), "--store", str(bad.path)]) == 0
    assert main(["import", str(tmp_path / "bad.jsonl"), "--store", str(good.path)]) == 0
    assert good.get("ab12")["metrics"] == {"accuracy": 0.9}
    assert main(["import", str(tmp_path / "good.jsonl"), "--store", str(bad.path)]) == 0
    assert bad.get("ab12")["status"] == "ok" and bad.get("ab12")["metrics"] == {"accuracy": 0.9}
    capsys.readouterr()


@pytest.mark.parametrize("text, message", [
    ('{"protocol": {"name": "digits"}}\n', "is a leaderboard's export"),
    ('{"run_id": "a", "method": "dann", "metric": 0.5}\n', "is a leaderboard's export"),
    ("not json\n", "line 1: not JSON"),
    ('{"run_id": "a", "key": "a"}\n', "line 1: not a stored run (no method, task, seed, status"),
])
def test_import_refuses_what_is_not_an_export_of_runs(tmp_path, capsys, text, message):
    path = tmp_path / "x.jsonl"
    path.write_text(text)
    assert main(["import", str(path), "--store", str(tmp_path / "r.sqlite")]) == 2
    assert message in capsys.readouterr().err
    assert Store(tmp_path / "r.sqlite").query() == []


def test_import_of_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["import", str(tmp_path / "nowhere.jsonl"), "--store", str(tmp_path / "r.sqlite")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_an_export_named_gz_is_compressed_reproducible_and_imports_as_the_plain_one(tmp_path, capsys):
    import gzip

    from udabench.runner import RunResult

    store = Store(tmp_path / "r.sqlite")
    store.save(RunResult("cd34cd34cd34", "cd34" * 16, "dann", "mnist-usps", 0, {"steps": 3}, "ok",
                         {"accuracy": 0.9}, {"total_s": 1.0}, [{"step": 1, "loss": 0.5}] * 200, "cpu"), {}, "abc", None)
    plain, packed = tmp_path / "out" / "runs.jsonl", tmp_path / "out" / "runs.jsonl.gz"
    for path in (plain, packed):
        assert main(["results", "--export", str(path), "--store", str(store.path)]) == 0
    first = packed.read_bytes()
    assert gzip.decompress(first).decode() == plain.read_text()
    assert len(first) < plain.stat().st_size / 5
    assert main(["results", "--export", str(packed), "--store", str(store.path)]) == 0
    assert packed.read_bytes() == first  # no time stamp inside: an unchanged store gives an unchanged file
    elsewhere = Store(tmp_path / "elsewhere.sqlite")
    assert main(["import", str(packed), "--store", str(elsewhere.path)]) == 0
    assert "imported 1 run(s)" in capsys.readouterr().err
    assert elsewhere.get("cd34")["metrics"] == {"accuracy": 0.9}
    packed.write_bytes(first[:len(first) // 2])  # cut off in transfer: one line, not a traceback
    assert main(["import", str(packed), "--store", str(tmp_path / "third.sqlite")]) == 2
    assert "cannot read" in capsys.readouterr().err
