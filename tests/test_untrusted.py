"""Files from someone else: an export (``udabench import``) can delete nothing, run nothing and read
nothing outside its place. Each crafted input is refused with one line naming the file, the line and
the field, and the tree around it is byte for byte what it was."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from udabench.cli import main
from udabench.store import Store

KEY = "0123456789abcdef" * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def tree_digest(root: Path) -> str:
    """A hash of every path below ``root`` with its kind and contents (links by their target)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + os.readlink(path).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
        digest.update(b"\1")
    return digest.hexdigest()


def row(**changes) -> dict:
    record = {"run_id": KEY[:12], "key": KEY, "method": "source-only", "task": "toy-2d", "seed": 0, "status": "ok",
              "config": {"steps": 10}, "metrics": {"accuracy": 0.5}, "created_at": "2026-12-01T00:00:00",
              "artifacts": None}
    record.update(changes)
    return record


@pytest.fixture
def place(tmp_path):
    """A user's folder: a store with a run folder of its own, a victim folder beside it, an export."""
    store = Store(tmp_path / "store" / "results.sqlite")
    (store.artifact_root / "aaaaaaaaaaaa").mkdir(parents=True)
    (store.artifact_root / "aaaaaaaaaaaa" / "model.pt").write_bytes(b"the user's own weights")
    victim = tmp_path / "victim" / "important"
    victim.mkdir(parents=True)
    (victim / "thesis.tex").write_text("years of work")
    export = tmp_path / "incoming" / "runs.jsonl"
    (export.parent / "runs-artifacts").mkdir(parents=True)
    return {"root": tmp_path, "store": store, "export": export, "victim": victim}


def refused(place, lines, capsys, *expected: str) -> str:
    """Import ``lines``; assert exit code 2, one line naming ``expected`` and nothing changed."""
    place["export"].write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                                       for line in lines))
    before = tree_digest(place["root"])
    code = main(["import", str(place["export"]), "--store", str(place["store"].path)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and all(text in err for text in expected), err
    assert tree_digest(place["root"]) == before
    assert place["store"].query() == []
    return err


def artifacts(place, run_id=KEY[:12]) -> Path:
    folder = place["export"].parent / "runs-artifacts" / run_id
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "images" / "generated-adapt-000010.png").write_bytes(PNG)
    return folder


class Payload:
    """Unpickling it runs a shell command that touches ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant_checkpoint(path: Path, key: str, marker: Path) -> None:
    """A resume checkpoint of run ``key`` whose loading with pickle would touch ``marker``."""
    import torch

    torch.save({"key": key, "payload": Payload(marker)}, path)


# --- the two attacks --------------------------------------------------------------------------------


def test_a_run_id_that_climbs_out_of_the_store_deletes_nothing(place, capsys):
    sibling = place["export"].parent / "loot"
    sibling.mkdir()
    (sibling / "x.png").write_bytes(PNG)
    err = refused(place, [row(run_id="../../victim/important", artifacts="loot")], capsys,
                  "runs.jsonl, line 1", "field 'run_id'")
    assert (place["victim"] / "thesis.tex").read_text() == "years of work"
    assert err.startswith("udabench: ")


def test_a_planted_resume_checkpoint_is_never_imported_and_never_run(place, capsys, tmp_path):
    from udabench.plugins import load_registry
    from udabench.runner import RunRequest, prepare

    marker = tmp_path / "pwned"
    request = RunRequest(method="source-only", task="toy-2d", steps=10)
    key = prepare(load_registry(warn=False), request).key
    folder = artifacts(place, key[:12])
    plant_checkpoint(folder / "resume.pt", key, marker)
    refused(place, [row(key=key, run_id=key[:12], status="failed", artifacts=f"runs-artifacts/{key[:12]}")], capsys,
            "line 1", "field 'artifacts'", "resume.pt")
    # the user's next run of that key trains from scratch and runs nothing
    assert main(["run", "--method", "source-only", "--task", "toy-2d", "--steps", "10", "--device", "cpu",
                 "--store", str(place["store"].path), "--no-progress"]) == 0
    capsys.readouterr()
    assert not marker.exists()


# --- crafted export lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("changes, field", [
    ({"artifacts": "/etc"}, "artifacts"),
    ({"artifacts": "../incoming/runs-artifacts/" + KEY[:12]}, "artifacts"),
    ({"artifacts": "runs-artifacts/../../victim"}, "artifacts"),
    ({"artifacts": "runs-artifacts/aaaaaaaaaaaa"}, "artifacts"),  # another run's folder
    ({"artifacts": ["runs-artifacts", KEY[:12]]}, "artifacts"),
    ({"run_id": "/tmp/x"}, "run_id"),
    ({"run_id": "aaaaaaaaaaaa"}, "run_id"),  # not its key's
    ({"key": "../" + KEY[3:]}, "key"),
    ({"key": KEY.upper()}, "key"),
    ({"method": "../../x"}, "method"),
    ({"task": "a/b"}, "task"),
    ({"seed": "0"}, "seed"),
    ({"seed": True}, "seed"),
    ({"config": []}, "config"),
    ({"metrics": "0.9"}, "metrics"),
    ({"status": "running"}, "status"),
])
def test_a_field_that_is_not_what_an_export_writes_is_refused(place, capsys, changes, field):
    artifacts(place)
    refused(place, [row(**changes)], capsys, "runs.jsonl, line 1", f"field '{field}'")


def test_a_linked_artifacts_folder_is_refused(place, capsys):
    (place["export"].parent / "runs-artifacts" / KEY[:12]).symlink_to(place["victim"], target_is_directory=True)
    refused(place, [row(artifacts=f"runs-artifacts/{KEY[:12]}")], capsys, "line 1", "field 'artifacts'", "link")


@pytest.mark.parametrize("name, content, words", [
    ("images/evil.png", b"#!/bin/sh\nrm -rf ~\n", "not a PNG"),
    ("run.sh", b"#!/bin/sh\n", "not a file an export writes"),
    ("images/notes.txt", b"hello", "not a file an export writes"),
    ("nested/model.pt", b"x", "not one an export writes"),
])
def test_a_file_an_export_never_writes_is_refused(place, capsys, name, content, words):
    folder = artifacts(place)
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    refused(place, [row(artifacts=f"runs-artifacts/{KEY[:12]}")], capsys, "line 1", "field 'artifacts'", words)


def test_a_linked_file_inside_the_artifacts_is_refused(place, capsys):
    folder = artifacts(place)
    (folder / "model.pt").symlink_to(place["victim"] / "thesis.tex")
    refused(place, [row(artifacts=f"runs-artifacts/{KEY[:12]}")], capsys, "line 1", "model.pt is a link")


def test_a_repeated_field_a_repeated_run_and_a_huge_line_are_refused(place, capsys):
    text = json.dumps(row())
    refused(place, [text[:-1] + ', "seed": 1}'], capsys, "line 1", "field 'seed' given twice")
    refused(place, [row(), row(seed=0)], capsys, "line 2", "field 'key' repeats the run of line 1")
    from udabench import transfer

    huge = json.dumps(row(error="x" * (transfer.LONGEST_LINE + 1)))
    refused(place, [huge], capsys, "line 1", "longer than any stored run's row")


def test_a_bad_line_after_good_ones_imports_nothing(place, capsys):
    artifacts(place)
    good = row(artifacts=f"runs-artifacts/{KEY[:12]}")
    other = row(key="f" * 64, run_id="f" * 12)
    refused(place, [good, other, row(key="e" * 64, run_id="e" * 12, method="a/b")], capsys, "line 3",
            "field 'method'")
    assert not (place["store"].artifact_root / KEY[:12]).exists()


def test_a_clean_export_imports_its_pictures_and_weights_and_nothing_else(place, capsys):
    folder = artifacts(place)
    (folder / "model.pt").write_bytes(b"weights")
    place["export"].write_text(json.dumps(row(artifacts=f"runs-artifacts/{KEY[:12]}")) + "\n")
    assert main(["import", str(place["export"]), "--store", str(place["store"].path)]) == 0
    capsys.readouterr()
    landed = place["store"].artifact_root / KEY[:12]
    assert sorted(str(p.relative_to(landed)) for p in landed.rglob("*")) == [
        "images", "images/generated-adapt-000010.png", "model.pt"]
    assert (place["store"].artifact_root / "aaaaaaaaaaaa" / "model.pt").read_bytes() == b"the user's own weights"


# --- resume checkpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, words", [
    ("hostile", "holds objects other than tensors and plain values"),
    ("truncated", "cannot be read"),
    ("another run's", "belongs to another run"),
])
def test_a_resume_checkpoint_that_is_not_the_runs_own_is_one_line_and_a_fresh_start(tmp_path, capsys, kind, words):
    import torch

    from udabench.plugins import load_registry
    from udabench.runner import RunRequest, prepare

    marker = tmp_path / "pwned"
    store = Store(tmp_path / "store" / "results.sqlite")
    key = prepare(load_registry(warn=False), RunRequest(method="source-only", task="toy-2d", steps=10)).key
    folder = store.artifact_root / key[:12]
    folder.mkdir(parents=True)
    if kind == "hostile":
        plant_checkpoint(folder / "resume.pt", key, marker)
    elif kind == "truncated":
        torch.save({"key": key, "step": 3}, folder / "resume.pt")
        (folder / "resume.pt").write_bytes((folder / "resume.pt").read_bytes()[:40])
    else:
        torch.save({"key": "0" * 64, "step": 3}, folder / "resume.pt")
    code = main(["run", "--method", "source-only", "--task", "toy-2d", "--steps", "10", "--device", "cpu",
                 "--store", str(store.path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0 and not marker.exists()
    lines = [line for line in err.splitlines() if "resume checkpoint" in line]
    assert len(lines) == 1 and words in lines[0] and "starts afresh" in lines[0]
    assert store.get(key)["status"] == "ok"
