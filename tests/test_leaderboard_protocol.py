"""Leaderboards under a protocol: only the runs a sweep file plans, seeds enough for a number, bold among
like, an Avg column, grids chosen by a label-free rule, paper differences only where protocols match,
and a published page from clean runs of one code identity.

No training: runs are stored from the sweep's own planned jobs (their keys and configurations, as
``udabench sweep`` would store them) with made-up evaluation points.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from types import SimpleNamespace

import pytest

from udabench.cli import main
from udabench.plugins import load_registry
from udabench.runner import prepare, run_key
from udabench.selection import selections
from udabench.store import Store
from udabench.sweep import expand, read_sweep_file

CLEAN = "0123456789abcdef0123456789abcdef01234567"
FULL = {"mnist": {"kind": "parquet", "location": "mnist", "revision": None, "sizes": {"train": 60000, "test": 10000}},
        "usps": {"kind": "parquet", "location": "usps", "revision": None, "sizes": {"train": 7291, "test": 2007}}}
SMALL = {**FULL, "mnist": {**FULL["mnist"], "location": "mnist-t10k", "sizes": {"train": 7000, "test": 3000}}}


@pytest.fixture(scope="module")
def registry():
    return load_registry(warn=False)


def sweep_file(path, tiny_digits, methods=("dann",), tasks=("mnist-usps",), seeds=(0, 1, 2), steps=300, extra=""):
    path.write_text(
        f'name = "tiny"\nmethods = {json.dumps(list(methods))}\ntasks = {json.dumps(list(tasks))}\n'
        f'seeds = {json.dumps(list(seeds))}\nsteps = {steps}\nbatch_size = 8\ndevice = "cpu"\n{extra}'
        f'[data]\nmnist = "{tiny_digits["mnist"]}"\nusps = "{tiny_digits["usps"]}"\n')
    return path


def jobs_of(path, registry):
    return expand(read_sweep_file(path), registry)


def point(accuracy, entropy=1.0, snd=1.0, source=0.5, step=100):
    return {"phase": "train", "step": step, "accuracy": accuracy, "mean_class_accuracy": accuracy,
            "source_accuracy": source, "entropy": entropy, "snd": snd}


def save_job(store, registry, job, accuracy=None, *, evaluations=None, git=CLEAN, data=FULL, config_change=None,
             created="2026-11-27T10:00:00Z", artifacts=None):
    """Store ``job`` as a sweep would (its key and configuration), with made-up evaluation points."""
    config = prepare(registry, job.request).config
    key = job.key
    if config_change:
        config = config_change(json.loads(json.dumps(config)))
        key = run_key(job.request.method, job.request.task, job.request.seed, config)  # another configuration
    evaluations = evaluations or [point(accuracy)]
    task = registry.get("tasks", job.request.task)
    result = SimpleNamespace(
        run_id=key[:12], key=key, method=job.request.method, task=job.request.task, seed=job.request.seed,
        status="ok", error=None, config=config,
        metrics={k: v for k, v in evaluations[-1].items() if k not in ("phase", "step", "entropy", "snd")},
        timings={"total_s": 1.0}, history=[], device="cpu",
        details={"evaluations": evaluations, "selection": selections(evaluations),
                 "data": {name: data[name] for name in (task.source, task.target)}})
    store.save(result, {"udabench": "0.1.0", "torch": "2.14.1", "python": "3.11.7"}, git,
               str(artifacts) if artifacts else None)
    with sqlite3.connect(store.path) as connection:
        connection.execute("UPDATE runs SET created_at = ? WHERE run_id = ?", (created, key[:12]))
    return key[:12]


def cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows_of(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|--"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def footer(markdown: str) -> list[str]:
    return [line[2:] for line in markdown.splitlines() if line.startswith("- ")]


def line_starting(markdown: str, start: str) -> str:
    return next(line for line in footer(markdown) if line.startswith(start))


# --- which runs a protocol shows ---------------------------------------------------------------------


def test_a_sweep_marks_its_shared_source_runs(tmp_path, tiny_digits, registry):
    shot = sweep_file(tmp_path / "shot.toml", tiny_digits, methods=("shot",), seeds=(0,),
                      extra="share_source = true\n")
    jobs = jobs_of(shot, registry)
    assert [(job.request.method, job.shared_source) for job in jobs] == [("source-only", True), ("shot", False)]
    both = sweep_file(tmp_path / "both.toml", tiny_digits, methods=("source-only", "shot"), seeds=(0,),
                      extra="share_source = true\n[method.shot]\nset = { source_steps = 300 }\n")
    jobs = jobs_of(both, registry)  # the shared source model is also the protocol's source-only run when their
    # networks agree; source-only leaves out the bottleneck's batch norm by default, SHOT keeps it
    assert [(job.request.method, job.shared_source) for job in jobs] == [("source-only", True),
                                                                          ("source-only", False), ("shot", False)]
    same_network = sweep_file(tmp_path / "same.toml", tiny_digits, methods=("source-only", "shot"), seeds=(0,),
                              extra="share_source = true\n[method.shot]\nset = { source_steps = 300, "
                                    "bottleneck_bn = false }\n")
    jobs = jobs_of(same_network, registry)
    assert [(job.request.method, job.shared_source) for job in jobs] == [("source-only", False), ("shot", False)]


def test_only_the_protocols_runs_count_and_the_footer_says_what_was_left_out(tmp_path, tiny_digits, registry,
                                                                               capsys):
    store = Store(tmp_path / "runs.sqlite")
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits)
    for job, accuracy in zip(jobs_of(protocol, registry), (0.88, 0.90, 0.89)):
        save_job(store, registry, job, accuracy)
    trial = sweep_file(tmp_path / "trial.toml", tiny_digits, seeds=(0,), steps=5)
    save_job(store, registry, jobs_of(trial, registry)[0], 0.115)  # a 5-step trial run
    other_seed = sweep_file(tmp_path / "seed.toml", tiny_digits, seeds=(7,))
    save_job(store, registry, jobs_of(other_seed, registry)[0], 0.2)
    first = jobs_of(protocol, registry)[0]

    def older(config):
        config["code"]["method"] = "udabench-dann 0.0.1 0000000000000000"
        return config

    save_job(store, registry, first, 0.3, config_change=older)  # the same run, by code changed since

    code, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--protocol", protocol)
    assert code == 0
    assert "selection rule `last`, protocol `tiny`" in out.splitlines()[0]
    assert rows_of(out)["dann"][3] == "**89.0 ± 1.0** (n=3) · paper 85.1"  # no 11.5, 20.0 or 30.0 in it
    assert "11.5" not in out and "20.0 (n=1)" not in out
    assert line_starting(out, "Protocol `tiny` (tiny.toml): methods dann on mnist-usps, seeds 0, 1, 2; budgets: "
                              "dann: 300 steps, batch 8")
    assert line_starting(out, "Protocol runs:") == (
        "Protocol runs: 3 of the 3 it plans on these tasks are stored; of the 6 stored ok runs on the suite's tasks, "
        "3 were left out: 1 another method, task or seed than the protocol's; 1 older code (its method's or "
        "backbone's source changed since, or was not recorded); 1 trial or shorter runs (fewer steps than the "
        "protocol's).")
    assert line_starting(out, "Runs:") == "Runs: 3 used of the protocol's 3 stored; none excluded."

    code, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path)  # the exploratory view
    assert code == 0 and out.splitlines()[0].endswith("no protocol: every stored run")
    assert "**" not in out.split("\n\n- ")[0]  # nothing bold: rows of different budgets and code
    assert footer(out)[0].startswith("No protocol: every stored ok run")
    labels = [line.split("|")[1].strip() for line in out.splitlines() if "| reproduced" in line]
    assert labels.count("dann") == 2  # 300 and 5 steps: two variants


def test_a_protocol_that_misses_the_suite_is_one_line(tmp_path, tiny_digits, capsys):
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits)
    store = Store(tmp_path / "runs.sqlite")
    code, _, err = cli(capsys, "leaderboard", "--suite", "office31", "--store", store.path, "--protocol", protocol)
    assert code == 2 and err.count("\n") == 1
    assert "protocol tiny.toml: none of its tasks (mnist-usps) is a task of suite 'office31'" in err


# --- seeds, bold, Avg --------------------------------------------------------------------------------


@pytest.fixture
def two_tasks(tmp_path, tiny_digits, registry):
    """dann with 3 seeds on two tasks; source-only better but with 2 seeds, on mnist-usps alone."""
    store = Store(tmp_path / "runs.sqlite")
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits, methods=("source-only", "dann"),
                          tasks=("mnist-usps", "usps-mnist"))
    values = {("dann", "mnist-usps"): (0.88, 0.90, 0.89), ("dann", "usps-mnist"): (0.70, 0.72, 0.74),
              ("source-only", "mnist-usps"): (0.95, 0.97)}
    for job in jobs_of(protocol, registry):
        accuracies = values.get((job.request.method, job.request.task), ())
        if job.request.seed < len(accuracies):
            save_job(store, registry, job, accuracies[job.request.seed])
    return store, protocol


def test_cells_with_fewer_seeds_than_asked_show_no_number_and_are_never_bold(two_tasks, capsys):
    store, protocol = two_tasks
    args = ["leaderboard", "--suite", "digits", "--store", store.path, "--protocol", protocol]
    code, out, _ = cli(capsys, *args, "--min-seeds", 3)
    assert code == 0
    rows = rows_of(out)
    assert rows["source-only"][3] == "– (n=2 < 3)"
    assert rows["dann"][3] == "**89.0 ± 1.0** (n=3) · paper 85.1"  # the best of the cells with 3 seeds
    assert "a cell with fewer than 3 seeds shows – (n=k < 3) and no number" in line_starting(out, "Reproduced cells")
    assert line_starting(out, "Bold: the best reproduced mean of its column (Avg included) among the cells of this "
                              "protocol with at least 3 seeds; the papers' numbers are never bold here")
    _, out, _ = cli(capsys, *args)  # the leaderboard's default: one seed is enough
    rows = rows_of(out)
    assert rows["source-only"][3].startswith("**96.0 ± 1.4** (n=2)") and "**" not in rows["dann"][3]
    assert "**" not in rows["DANN [43]"][3]  # the paper's numbers are never bold on the board


def test_avg_is_the_mean_over_the_reproduced_tasks_and_missing_where_a_row_lacks_one(two_tasks, capsys):
    store, protocol = two_tasks
    code, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--protocol", protocol)
    assert code == 0
    rows = rows_of(out)
    assert rows["method"][-1] == "Avg"
    assert rows["dann"][-1] == "**80.5**"  # (89.0 + 72.0) / 2, the only row with both tasks
    assert rows["source-only"][-1] == "–"  # no usps-mnist: an average over other tasks would not compare
    assert rows["DANN [43]"][-1] == "79.1"  # the paper row has both tasks: (85.1 + 73.0) / 2, halves up
    assert rows["ADDA [44]"][-1] == "89.8"
    assert rows["CORAL [5]"][-1] == "–"  # the paper leaves usps-mnist empty
    assert line_starting(out, "Avg:") == ("Avg: the mean over mnist-usps, usps-mnist (the tasks with reproduced "
                                          "numbers here); – where a row lacks one of them.")
    code, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--protocol", protocol,
                       "--format", "csv")
    import csv
    import io

    table = list(csv.DictReader(io.StringIO(out)))
    assert next(r for r in table if r["label"] == "dann")["avg"] == "80.50"
    assert next(r for r in table if r["label"] == "source-only")["avg"] == ""


# --- grids -------------------------------------------------------------------------------------------


def test_a_grid_is_chosen_per_task_by_the_label_free_rule_not_by_test_accuracy(tmp_path, tiny_digits, registry,
                                                                               capsys):
    store = Store(tmp_path / "runs.sqlite")
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits, extra="[grid]\nlr = [0.01, 0.03]\n")
    jobs = jobs_of(protocol, registry)
    assert len(jobs) == 6
    for job in jobs:
        if job.request.overrides["lr"] == "0.01":  # more accurate on target test, but unsure predictions
            save_job(store, registry, job, evaluations=[point(0.90 + 0.01 * job.request.seed, entropy=0.8)])
        else:  # less accurate, confident: entropy prefers it
            save_job(store, registry, job, evaluations=[point(0.80 + 0.01 * job.request.seed, entropy=0.2)])
    args = ["leaderboard", "--suite", "digits", "--store", store.path, "--protocol", protocol]

    code, out, _ = cli(capsys, *args, "--grid-selection", "entropy")
    assert code == 0
    reproduced = [line for line in out.splitlines() if "| reproduced" in line]
    assert len(reproduced) == 1  # one row per method, not one per grid point
    row = rows_of(out)["dann (grid lr by `entropy`)"]
    assert row[3].startswith("**81.0 ± 1.0** (n=3)")  # lr=0.03, although lr=0.01 has 91.0 on target test
    grid = line_starting(out, "Grid selection `entropy`:")
    assert "lowest mean over seeds of the score `entropy` at the point rule `last` picks" in grid
    assert "dann on mnist-usps: lr=0.03 [lr=0.01 0.8 (n=3), lr=0.03 0.2 (n=3)]" in grid
    assert line_starting(out, "Runs:") == "Runs: 3 used of the protocol's 6 stored; 3 of grid points not chosen."
    assert "(oracle: uses target labels)" not in grid

    code, out, _ = cli(capsys, *args, "--grid-selection", "oracle")
    assert code == 0
    assert rows_of(out)["dann (grid lr by `oracle`)"][3].startswith("**91.0 ± 1.0** (n=3)")
    assert line_starting(out, "Grid selection `oracle` (oracle: uses target labels):")

    code, _, err = cli(capsys, *args)  # `last` has no score to rank grid points by
    assert code == 2 and err.count("\n") == 1
    assert "protocol tiny.toml tries several values of dann's lr; choose them with a rule that scores runs" in err


# --- the papers' numbers -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DeclaredTable:
    """A paper table that states its protocol (what ``declared_protocol`` reads), around a seed table."""

    table: object
    protocol: dict

    def __getattr__(self, name):
        return getattr(self.table, name)


def test_the_signed_difference_appears_only_where_the_protocols_match(tmp_path, tiny_digits, registry):
    from udabench.leaderboard import build, entries_from_store
    from udabench.leaderboard.protocol import load_protocol
    from udabench.specs import ReportedRow, ReportedTable, SuiteSpec

    paper = ReportedTable("t", "A paper", "Someone et al.", (("mnist-usps", "MNIST→USPS"),),
                          (ReportedRow("DANN", {"mnist-usps": (85.1, None)}, "dann", backbone="DANN-digits"),))
    protocol_path = sweep_file(tmp_path / "tiny.toml", tiny_digits)

    def board(data, table):
        store = Store(tmp_path / f"{len(list(tmp_path.glob('*.sqlite')))}.sqlite")
        for job, accuracy in zip(jobs_of(protocol_path, registry), (0.88, 0.90, 0.89)):
            save_job(store, registry, job, accuracy, data=data)
        suite = SuiteSpec("tiny", "Tiny", ("mnist-usps",), (table,))
        protocol = load_protocol(protocol_path, registry, suite)
        result = build(suite, entries_from_store(str(store.path), suite), "last", registry, protocol=protocol)
        row = next(row for row in result.rows if row.kind == "reproduced")
        return row.cells["mnist-usps"], result.footer

    cell, lines = board(FULL, DeclaredTable(paper, {"steps": 300}))  # network named, full sets, same budget
    assert cell.comparable and cell.diff == pytest.approx(89.0 - 85.1)
    assert any(line.startswith("Data on mnist-usps: mnist (source): train 60000 (full); usps (target): train 7291 "
                               "(full), test 2007 (full); the protocols match") for line in lines)

    cell, lines = board(SMALL, DeclaredTable(paper, {"steps": 300}))  # 7,000 MNIST images: no difference
    assert not cell.comparable and cell.diff is None
    data = next(line for line in lines if line.startswith("Data on mnist-usps"))
    assert data == ("Data on mnist-usps: mnist (source): train 7000 (full: 60000); usps (target): train 7291 "
                    "(full), test 2007 (full); the paper numbers beside them carry no signed difference: the runs "
                    "did not use the full datasets.")

    cell, lines = board(FULL, DeclaredTable(paper, {"steps": 1000}))  # a budget smaller than the paper's
    assert cell.diff is None and "the runs trained 300 steps, fewer than the paper's 1000" in " ".join(lines)

    cell, lines = board(FULL, paper)  # the seed's tables record no budget
    assert cell.diff is None and "the paper's step budget is not recorded with its table" in " ".join(lines)

    unnamed = dataclasses.replace(paper, rows=(dataclasses.replace(paper.rows[0], backbone=None),))
    cell, lines = board(FULL, DeclaredTable(unnamed, {"steps": 300}))
    assert cell.diff is None and "the paper names no network" in " ".join(lines)


# --- provenance and publishing -----------------------------------------------------------------------


def test_the_footer_names_source_models_code_and_revisions(tmp_path, tiny_digits, registry, capsys):
    store = Store(tmp_path / "runs.sqlite")
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits, methods=("shot",), seeds=(0,),
                          extra="share_source = true\n")
    source, shot = jobs_of(protocol, registry)
    save_job(store, registry, source, 0.6)
    save_job(store, registry, shot, 0.9)
    code, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--protocol", protocol)
    assert code == 0
    labels = [line.split("|")[1].strip() for line in out.splitlines() if "| reproduced" in line]
    assert labels == ["shot"]  # the shared source model is provenance, not a row
    assert line_starting(out, "Source models:") == f"Source models: shot: source model from run {source.run_id} " \
                                                   "(source-only)."
    identity = prepare(registry, shot.request).config["code"]
    assert f"shot: {identity['method']}, backbone dann-digits {identity['backbone']}" in line_starting(out, "Code:")
    assert "Methods that start from a source model take the protocol's shared source-only run" in out
    assert line_starting(out, "Protocol runs:") == ("Protocol runs: 1 of the 1 it plans on these tasks are stored, "
                                                    "and 1 of its 1 shared source models; of the 2 stored ok runs on "
                                                    "the suite's tasks, 0 were left out.")
    assert line_starting(out, "Git revisions:") == "Git revisions: 0123456 (1 run)."


def test_publish_needs_a_protocol_and_clean_runs_and_its_export_gives_the_same_bytes(two_tasks, tmp_path, capsys):
    store, protocol = two_tasks
    code, out, err = cli(capsys, "publish", "--suite", "digits", "--store", store.path, "--out", tmp_path / "x")
    assert code == 2 and out == "" and err.count("\n") == 1 and "publish needs --protocol SWEEP.toml" in err

    first, second = tmp_path / "from-store", tmp_path / "from-export"
    assert cli(capsys, "publish", "--suite", "digits", "--store", store.path, "--protocol", protocol,
               "--out", first)[0] == 0
    page, runs = first / "digits.md", first / "digits-runs.jsonl"
    text = page.read_text(encoding="utf-8")
    assert "protocol `tiny`" in text and "| source-only " in text
    assert "– (n=2 < 3)" in text  # publish asks for 3 seeds by default
    assert ("`udabench publish --suite digits --selection last --grid-selection last --min-seeds 3 --from-export "
            "digits-runs.jsonl --out .`") in text
    lines = runs.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])["protocol"]
    assert header["name"] == "tiny" and header["file"] == "tiny.toml" and len(lines) == 1 + 8
    assert str(tmp_path) not in runs.read_text(encoding="utf-8")  # no machine paths in what is published

    # the export alone (no store, no data, no sweep file) writes the same page again
    assert cli(capsys, "publish", "--suite", "digits", "--from-export", runs, "--out", second)[0] == 0
    assert (second / "digits.md").read_bytes() == page.read_bytes()
    assert (second / "digits-runs.jsonl").read_bytes() == runs.read_bytes()
    _, from_store, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--protocol", protocol)
    _, from_export, _ = cli(capsys, "leaderboard", "--suite", "digits", "--from-export", runs)
    assert from_store == from_export

    # a page of one code identity per method
    entries = [json.loads(line) for line in lines]
    entries[1]["config"]["code"]["method"] = "udabench-x 0.0.1 0000000000000000"
    (tmp_path / "mixed.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    code, _, err = cli(capsys, "publish", "--suite", "digits", "--from-export", tmp_path / "mixed.jsonl",
                       "--out", tmp_path / "y")
    assert code == 2 and err.count("\n") == 1 and "a page shows one code identity per method" in err


def test_publish_refuses_runs_of_a_modified_checkout_unless_allowed(tmp_path, tiny_digits, registry, capsys):
    store = Store(tmp_path / "runs.sqlite")
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits)
    for job, accuracy in zip(jobs_of(protocol, registry), (0.88, 0.90, 0.89)):
        save_job(store, registry, job, accuracy, git=CLEAN if job.request.seed else "fedcba9876543210-dirty")
    args = ["publish", "--suite", "digits", "--store", store.path, "--protocol", protocol, "--out", tmp_path / "out"]
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "1 of the page's 3 runs were made from a modified checkout (fedcba9-dirty); rerun them from a commit, " \
           "or pass --allow-dirty" in err
    assert not (tmp_path / "out").exists()
    assert cli(capsys, *args, "--allow-dirty")[0] == 0
    text = (tmp_path / "out" / "digits.md").read_text(encoding="utf-8")
    assert "--allow-dirty --from-export" in text and "fedcba9-dirty (1 run)" in text


def test_a_page_of_clean_commits_with_one_code_hash_per_method_says_the_code_is_the_same(tmp_path, tiny_digits,
                                                                                         registry, capsys):
    store = Store(tmp_path / "runs.sqlite")
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits)
    for job, accuracy in zip(jobs_of(protocol, registry), (0.88, 0.90, 0.89)):
        save_job(store, registry, job, accuracy, git=CLEAN if job.request.seed else "fedcba9876543210")
    assert cli(capsys, "publish", "--suite", "digits", "--store", store.path, "--protocol", protocol,
               "--out", tmp_path / "out")[0] == 0
    text = (tmp_path / "out" / "digits.md").read_text(encoding="utf-8")
    assert "Git revisions: 0123456 (2 runs); fedcba9 (1 run). Between these commits no method's or backbone's " \
           "code changed" in text


def test_a_published_page_shows_the_final_pictures_of_one_run_per_method_and_task(tmp_path, tiny_digits, registry,
                                                                                capsys):
    from PIL import Image

    store = Store(tmp_path / "runs.sqlite")
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits, tasks=("mnist-usps", "usps-mnist"))
    colours = {}
    for job in jobs_of(protocol, registry):
        folder = tmp_path / "artifacts" / f"{job.request.task}-{job.request.seed}"
        images = folder / "images"
        images.mkdir(parents=True)
        for index, (name, step) in enumerate([("generated", 100), ("generated", 300), ("translations", 200),
                                              ("generated", 20)]):  # the highest step is the last, not the newest file
            # the same translations on both tasks (as a shared phase draws), different samples
            blue = 7 if name == "translations" or job.request.task == "mnist-usps" else 9
            colour = (job.request.seed * 60, index * 50, blue)
            Image.new("RGB", (4, 4), colour).save(images / f"{name}-train-{step:06d}.png")
            colours[(job.request.task, job.request.seed, name, step)] = colour
        (images / "notes.txt").write_text("not a picture")
        save_job(store, registry, job, 0.8 + job.request.seed / 100, artifacts=folder)

    out = tmp_path / "page"
    assert cli(capsys, "publish", "--suite", "digits", "--store", store.path, "--protocol", protocol,
               "--out", out)[0] == 0
    pictures = sorted(p.name for p in (out / "digits-pictures").iterdir())
    # a picture identical to one already copied is shown from that file, not copied again
    assert pictures == ["dann-mnist-usps-generated.png", "dann-mnist-usps-translations.png",
                        "dann-usps-mnist-generated.png"]
    # the seed-0 run's last picture of each name
    assert Image.open(out / "digits-pictures" / "dann-usps-mnist-generated.png").getpixel((0, 0)) == \
        colours[("usps-mnist", 0, "generated", 300)]
    assert Image.open(out / "digits-pictures" / "dann-mnist-usps-translations.png").getpixel((0, 0)) == \
        colours[("mnist-usps", 0, "translations", 200)]
    page = (out / "digits.md").read_text(encoding="utf-8")
    seed0 = [job for job in jobs_of(protocol, registry) if job.request.seed == 0 and job.request.task == "usps-mnist"]
    caption = f"dann on usps-mnist, seed 0 (run {seed0[0].key[:12]}): generated, phase train, step 300"
    assert f"![{caption}](digits-pictures/dann-usps-mnist-generated.png)" in page
    assert page.index("What the runs drew at their end") < page.index("The papers' tables")
    twin = f"dann on usps-mnist, seed 0 (run {seed0[0].key[:12]}): translations, phase train, step 200; the same " \
           "picture, byte for byte, as that of dann on mnist-usps, seed 0: both runs drew it from the same model"
    assert f"![{twin}](digits-pictures/dann-mnist-usps-translations.png)" in page
    assert page.count("(digits-pictures/") == 4
    assert str(tmp_path) not in page and str(tmp_path) not in (out / "digits-runs.jsonl").read_text(encoding="utf-8")

    # from the export alone, without the pictures: a warning, and a page without them
    bare = tmp_path / "bare"
    code, _, err = cli(capsys, "publish", "--suite", "digits", "--from-export", out / "digits-runs.jsonl",
                       "--out", bare)
    assert code == 0 and "4 picture(s) that digits-runs.jsonl lists are not in" in err
    assert "What the runs drew" not in (bare / "digits.md").read_text(encoding="utf-8")
    # in the page's own folder: the same page again
    before = (out / "digits.md").read_bytes()
    assert cli(capsys, "publish", "--suite", "digits", "--from-export", out / "digits-runs.jsonl", "--out", out)[0] == 0
    assert (out / "digits.md").read_bytes() == before


def test_a_picture_over_a_mebibyte_is_published_with_a_palette_and_says_so(tmp_path, tiny_digits, registry, capsys):
    import numpy as np
    from PIL import Image

    from udabench.leaderboard.pictures import MAX_PICTURE_BYTES

    store = Store(tmp_path / "runs.sqlite")
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits)
    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)  # incompressible
    for job in jobs_of(protocol, registry):
        folder = tmp_path / "artifacts" / f"{job.request.seed}"
        (folder / "images").mkdir(parents=True)
        Image.fromarray(noise).save(folder / "images" / "generated-train-000100.png")
        save_job(store, registry, job, 0.8 + job.request.seed / 100, artifacts=folder)
    original = tmp_path / "artifacts" / "0" / "images" / "generated-train-000100.png"
    assert original.stat().st_size > MAX_PICTURE_BYTES

    out = tmp_path / "page"
    assert cli(capsys, "publish", "--suite", "digits", "--store", store.path, "--protocol", protocol,
               "--out", out)[0] == 0
    published = out / "digits-pictures" / "dann-mnist-usps-generated.png"
    assert published.stat().st_size <= MAX_PICTURE_BYTES
    with Image.open(published) as image:
        assert image.mode == "P" and image.size == (700, 700)
    megabytes = original.stat().st_size / 1e6
    assert f"step 100; shown with at most 256 colours (the run's picture is {megabytes:.1f} MB)" in \
        (out / "digits.md").read_text(encoding="utf-8")


def test_plot_suite_under_a_protocol_draws_the_protocols_board(two_tasks, tmp_path, monkeypatch, capsys):
    import udabench.plots

    store, protocol = two_tasks
    drawn = []
    monkeypatch.setattr(udabench.plots, "plot_board", lambda board, out: drawn.append(board) or out)
    assert cli(capsys, "plot", "--suite", "digits", "--store", store.path, "--protocol", protocol,
               "--out", tmp_path / "p.png")[0] == 0
    board = drawn[-1]
    assert board.protocol is not None and board.protocol.name == "tiny" and len(board.runs) == 8
    code, _, err = cli(capsys, "plot", "--run", "abc", "--protocol", protocol, "--store", store.path)
    assert code == 2 and "--selection, --protocol and --from-export apply to --suite, not to --run" in err


def test_the_footer_names_the_runs_still_rising_at_their_end(tmp_path, tiny_digits, registry, capsys):
    """A budget that ended on a slope shows: the runs whose target accuracy rose by more than a point
    over the last 40 % of their final phase are named, with their mean rise."""
    from udabench.leaderboard.entries import final_trend

    store = Store(tmp_path / "runs.sqlite")
    protocol = sweep_file(tmp_path / "tiny.toml", tiny_digits, tasks=("mnist-usps", "usps-mnist"))
    curves = {"mnist-usps": [0.50, 0.70, 0.80, 0.84, 0.86],  # +6 points from step 180 to 300: still rising
              "usps-mnist": [0.50, 0.70, 0.80, 0.805, 0.80]}  # flat at the end
    for job in jobs_of(protocol, registry):
        values = curves[job.request.task]
        save_job(store, registry, job, evaluations=[point(v, step=60 * (i + 1)) for i, v in enumerate(values)])
    _, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--protocol", protocol)
    line = line_starting(out, "Convergence:")
    assert "over the last 40% of their final phase" in line
    assert "dann on mnist-usps (3 of 3 runs, +6.0 points on average)" in line and "usps-mnist" not in line

    flat = [point(v, step=60 * (i + 1)) for i, v in enumerate(curves["usps-mnist"])]
    assert final_trend(flat, "accuracy") == {"phase": "train", "from_step": 180, "to_step": 300,
                                             "change": pytest.approx(0.0)}
    # only the final phase counts, and one point is no trend
    two_phases = [{**point(0.1, step=500), "phase": "source"}, point(0.7, step=50), point(0.9, step=100)]
    assert final_trend(two_phases, "accuracy")["change"] == pytest.approx(0.2)
    assert final_trend([point(0.9)], "accuracy") is None and final_trend([], "accuracy") is None
