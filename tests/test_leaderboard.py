"""Leaderboards: the seed's tables as data, aggregation of stored runs, selection rules, formats, publishing.

No training here: runs are written with ``Store.save`` from small stand-ins for a run result, since a
leaderboard only aggregates what the store holds.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
from types import SimpleNamespace

import pytest

from datagen import REPO
from udabench.cli import main
from udabench.plugins import load_registry
from udabench.selection import selections
from udabench.store import Store

SHOT_STEPS = {"adapt": 3000}


@pytest.fixture(scope="module")
def registry():
    return load_registry(warn=False)


def defaults(registry, method, task):
    spec, task_spec = registry.get("methods", method), registry.get("tasks", task)
    return {**spec.hparams, **{k: v for k, v in task_spec.hparams.items() if k in spec.hparams}}


def points(*accuracies):
    """Evaluation points with the given target accuracies and neutral label-free scores."""
    return [{"phase": "train", "step": 100 * (i + 1), "accuracy": a, "mean_class_accuracy": a,
             "source_accuracy": 0.5, "entropy": 1.0, "snd": 1.0} for i, a in enumerate(accuracies)]


MNIST_DATA = {"kind": "parquet", "location": "mnist-t10k", "revision": None, "sizes": {"train": 7000, "test": 3000}}
USPS_DATA = {"kind": "parquet", "location": "usps", "revision": None, "sizes": {"train": 7291, "test": 2007}}


def save(store, registry, run_id, method, task, seed, accuracy=None, *, evaluations=None, details=True, set=None,
         steps=3000, phase_steps=None, backbone="dann-digits", created="2026-11-27T10:00:00Z", device="cpu",
         git="0123456789abcdef0123456789abcdef01234567", source_run=None):
    hparams = {**defaults(registry, method, task), **(set or {})}
    config = {"steps": steps, "phase_steps": phase_steps or {"train": steps}, "batch_size": 128,
              "backbone": backbone, "hparams": hparams,
              "data": {"mnist": "parquet:aaaa", "usps": "parquet:bbbb"}}
    if source_run:
        config["source_run"] = source_run
    evaluations = evaluations or (points(accuracy) if accuracy is not None else None)
    final = evaluations[-1]
    run_details = {}
    if details:
        run_details = {"evaluations": evaluations, "selection": selections(evaluations),
                       "data": {"mnist": MNIST_DATA, "usps": USPS_DATA}}
    result = SimpleNamespace(
        run_id=run_id, key=run_id * 4, method=method, task=task, seed=seed, status="ok", error=None, config=config,
        metrics={k: v for k, v in final.items() if k not in ("phase", "step", "entropy", "snd")},
        timings={"total_s": 1.0}, history=[], device=device, details=run_details,
    )
    store.save(result, {"udabench": "0.1.0", "torch": "2.14.1", "python": "3.11.7"}, git, None)
    with sqlite3.connect(store.path) as connection:  # a fixed date, so that outputs can be compared
        connection.execute("UPDATE runs SET created_at = ? WHERE run_id = ?", (created, run_id))


@pytest.fixture
def store(tmp_path, registry):
    """DANN on two tasks (3 seeds on mnist-usps), SHOT better than it, two source-only variants."""
    store = Store(tmp_path / "runs.sqlite")
    for seed, accuracy in enumerate((0.88, 0.90, 0.89)):
        save(store, registry, f"dann0000000{seed}", "dann", "mnist-usps", seed, accuracy,
             created=f"2026-11-27T10:0{seed}:00Z")
    # usps-mnist's protocol sets lr 0.1: DANN with lr 0.1 there is the default variant, the same row
    save(store, registry, "dann00000010", "dann", "usps-mnist", 0, 0.95)
    for seed, accuracy in enumerate((0.93, 0.95)):
        save(store, registry, f"shot0000000{seed}", "shot", "mnist-usps", seed, accuracy, phase_steps=SHOT_STEPS,
             source_run="f" * 64)
    save(store, registry, "srco00000000", "source-only", "mnist-usps", 0, 0.50)
    save(store, registry, "srco00000001", "source-only", "mnist-usps", 0, 0.77, set={"bottleneck_bn": True},
         created="2026-11-28T09:00:00Z", device="cuda:0", git="fedcba9876543210fedcba9876543210fedcba98-dirty")
    save(store, registry, "fail00000000", "dann", "mnist-mnistm", 0, 0.1)
    with sqlite3.connect(store.path) as connection:
        connection.execute("UPDATE runs SET status = 'failed' WHERE run_id = 'fail00000000'")
    return store


def cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_rows(markdown: str) -> dict[str, list[str]]:
    """Markdown table rows by their first cell (the last row of a label wins)."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|--"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def section(markdown: str, title_start: str) -> str:
    """The text from the heading that starts with ``title_start`` to the next heading."""
    parts = markdown.split("\n## ")
    return next(part for part in parts if part.lstrip("# ").startswith(title_start))


# --- the seed's tables --------------------------------------------------------------------------


def test_reported_tables_print_back_with_the_seeds_numbers(capsys):
    code, out, _ = cli(capsys, "leaderboard", "--reported-only")
    assert code == 0
    digits = table_rows(section(out, "Label2Image-DA: digit"))
    assert digits["DANN [43]"] == ["85.1", "73.0", "77.4", "73.9", "35.7"]
    assert digits["MMD [7]"] == ["81.1", "-", "76.9", "71.1", "-"]
    assert digits["ADDA [44]"] == ["89.4 ± 0.2", "90.1 ± 0.8", "-", "76.0 ± 1.8", "-"]
    assert digits["DuplexGAN [48]"][:2] == ["96.01", "98.75"]
    assert digits["Label2Image-DA with L_reg"] == ["**98.1** ± 0.3", "99.4 ± 0.1", "99.2 ± 0.1", "**99.5** ± 0.03",
                                                   "**91.3** ± 0.2"]
    assert digits["Label2Image-DA"][4] == "-"
    assert digits["Method"] == ["MNIST→USPS", "USPS→MNIST", "MNIST→MNIST-M", "SVHN→MNIST", "MNIST→SVHN"]
    text = section(out, "Label2Image-DA: digit")
    assert text.index("*Not GAN-based Adaptation*") < text.index("DANN [43]") < text.index("*GAN-based Adaptation*")
    assert text.index("*Our results*") < text.index("| SourceOnly")
    assert "IEEE TIP 2020" in text

    synthetic = table_rows(section(out, "3C-GAN: adaptation from synthetic"))
    assert synthetic["3C-GAN (Ours)"] == ["95.9", "99.6"] and synthetic["Source-Only"] == ["86.2", "78.3"]
    office = table_rows(section(out, "3C-GAN: Office-31"))
    assert office["Method"] == ["A→W", "D→W", "W→D", "A→D", "D→A", "W→A", "Avg"]
    assert office["ResNet50 [40]"][0] == "68.4 ± 0.2" and office["ResNet50 [40]"][6] == "76.1"
    assert office["Our Model"][0] == "**93.7** ± 0.2" and office["Our Model"][6] == "89.6"  # Avg is not bold
    assert office["GenToAdapt [110]"][5] == "71.4 ± 0.4"

    suit = table_rows(section(out, "SUIT: GTA5"))  # transposed: methods are columns
    assert suit["Method"][0] == "SourceOnly" and suit["Method"][-1] == "SUIT w/ Avg.W"
    assert suit["Base Net"][0] == "FCN8s-VGG16" and suit["Base Net"][10] == "Deeplab-v2"
    assert suit["mIoU (%)"] == ["26.4", "27.1", "28.9", "28.8", "30.9", "35.0", "35.4", "36.2", "38.9", "40.6",
                                "34.2", "41.4", "42.3", "43.7", "45.3"]
    transplant = section(out, "SUIT: the generator")
    assert "| Method" in transplant and "Seg Net" in transplant
    assert table_rows(transplant)["SourceOnly"] == ["Deeplab-v3 [12]", "35.2", "38.8"]
    assert table_rows(transplant)["OutputSpaceAdapt [128]"] == ["", "41.4", "45.9"]
    label2image = table_rows(section(out, "Label2Image-DA: GTA5"))
    assert label2image["Method"][4] == "CyCADA pixel-only [41]"
    assert label2image["mIoU (%)"][4] == "34.8" and label2image["mIoU (%)"][-1] == "43.8"
    assert label2image["Base Net"][7] == "Deeplab-v2"
    assert out.count("## 3C-GAN: adaptation from synthetic") == 1  # shared by two suites, printed once


def test_reported_only_for_one_suite_and_in_latex_and_csv(capsys):
    code, out, _ = cli(capsys, "leaderboard", "--reported-only", "--suite", "office31", "--format", "latex")
    assert code == 0 and "\\begin{tabular}" in out and "\\textbf{93.7} $\\pm$ 0.2" in out
    assert "accuracy (\\%)" in out and "Label2Image" not in out
    code, out, _ = cli(capsys, "leaderboard", "--reported-only", "--suite", "signs", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["label"] for r in rows][-1] == "3C-GAN (Ours)" and rows[-1]["synsign-gtsrb"] == "99.6"
    assert rows[0]["udabench_method"] == "dann" and rows[0]["syndigits-svhn"] == "91.1"


def test_tasks_take_their_reported_rows_from_the_tables(registry):
    from udabench_digits.reported import DIGITS_TABLE, SYNTHETIC_TABLE

    assert registry.get("tasks", "mnist-usps").reported == DIGITS_TABLE.reported_for("mnist-usps")
    syndigits = registry.get("tasks", "syndigits-svhn").reported
    assert syndigits == SYNTHETIC_TABLE.reported_for("syndigits-svhn")
    assert [(r.method, r.value, r.udabench_method) for r in syndigits][-1] == ("3C-GAN (Ours)", 95.9, "3cgan")
    assert registry.get("tasks", "synsign-gtsrb").reported == SYNTHETIC_TABLE.reported_for("synsign-gtsrb")
    adda = next(r for r in registry.get("tasks", "usps-mnist").reported if r.method == "ADDA")
    assert (adda.value, adda.std, adda.udabench_method) == (90.1, 0.8, "adda") and "TIP 2020" in adda.source


def test_suites_are_registered_by_their_plugins(registry, capsys):
    suites = {name: registry.get("suites", name) for name in registry.names("suites")}
    assert set(suites) == {"digits", "signs", "office31", "segmentation"}
    assert suites["digits"].tasks == ("mnist-usps", "usps-mnist", "mnist-mnistm", "svhn-mnist", "mnist-svhn",
                                      "syndigits-svhn")
    assert [t.name for t in suites["digits"].tables] == ["label2image-digits", "3cgan-synthetic"]
    assert suites["signs"].tables == (suites["digits"].tables[1],)
    assert suites["segmentation"].metric == "miou"
    assert [t.name for t in suites["segmentation"].tables] == ["suit-gta5-cityscapes", "suit-transplant",
                                                               "label2image-segmentation"]
    assert suites["office31"].tasks[0] == "office31-a-w" and len(suites["office31"].tasks) == 6
    segmentation_rows = [row for table in suites["segmentation"].tables for row in table.rows]
    assert {"source-only", "cycada", "cycada-pixel", "label2image-seg", "suit", "suit-avgw"} == {
        row.udabench_method for row in segmentation_rows} - {None}
    registry = load_registry(warn=False)
    for row in segmentation_rows:  # every method a segmentation row names trains on segmentation tasks
        if row.udabench_method:
            assert "segmentation" in registry.get("methods", row.udabench_method).kinds
    code, out, _ = cli(capsys, "list", "suites")
    line = next(line for line in out.splitlines() if line.startswith("| office31"))
    assert "office31-a-w" in line and "3cgan-office31" in line and "udabench" in line


# --- the leaderboard ----------------------------------------------------------------------------


def test_cells_show_mean_std_n_and_the_paper_number_without_a_difference_across_protocols(store, capsys):
    code, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path)
    assert code == 0
    rows = table_rows(out)
    assert rows["DANN [43]"][:4] == ["reported", "–", "–", "85.1"]
    dann = rows["dann"]
    assert dann[:3] == ["reproduced", "dann-digits", "train 3000, batch 128"]
    assert dann[3] == "89.0 ± 1.0 (n=3) · paper 85.1"  # 7,000 MNIST images, no network named: no difference
    assert dann[4] == "95.0 (n=1) · paper 73.0"  # usps-mnist: lr 0.1 is that task's protocol
    data = next(line for line in out.splitlines() if line.startswith("- Data on mnist-usps"))
    assert data == ("- Data on mnist-usps: mnist (source): train 7000 (full: 60000); usps (target): train 7291 (full), "
                    "test 2007 (full); the paper numbers beside them carry no signed difference: the paper names no "
                    "network; the runs did not use the full datasets; the paper's step budget is not recorded with "
                    "its table.")
    assert dann[5] == "–"  # the failed mnist-mnistm run is not used
    # reproduced rows sit under the paper row of their method
    assert out.index("| DANN [43]") < out.index("| dann ") < out.index("| ADDA [44]")
    assert "| source-only (bottleneck_bn=true)" in out


def test_nothing_is_bold_without_a_protocol(store, capsys):
    _, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path)
    rows = table_rows(out)
    assert rows["shot"][3] == "94.0 ± 1.4 (n=2)"  # no paper row for SHOT: no paper number beside it
    assert "**" not in out.split("\n\n- ")[0].split("| *Reproduced with")[1]
    assert "shot" in out.split("Reproduced with udabench, no row")[1]
    assert out.splitlines()[0].endswith(", no protocol: every stored run")


def test_variants_split_into_rows(store, registry, capsys):
    save(store, registry, "dann00000500", "dann", "mnist-usps", 0, 0.70, steps=500)
    save(store, registry, "dann000000lr", "dann", "mnist-usps", 0, 0.60, set={"lr": 0.05, "trade_off": 0.3})
    _, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path)
    rows = [line for line in out.splitlines() if "| reproduced" in line]
    labels = [line.split("|")[1].strip() for line in rows]
    assert labels.count("dann") == 2 and "dann (lr=0.05, trade_off=0.3)" in labels
    assert "source-only" in labels and "source-only (bottleneck_bn=true)" in labels
    short = next(line for line in rows if "train 500, batch 128" in line)
    assert "70.0 (n=1)" in short
    assert next(line for line in rows if "| shot" in line).count("source from a stored run") == 1


def test_selection_rules_pick_their_evaluation_point_and_oracle_is_marked(tmp_path, registry, capsys):
    store = Store(tmp_path / "runs.sqlite")
    evaluations = [  # each rule picks another point
        {"phase": "train", "step": 1, "accuracy": 0.90, "source_accuracy": 0.70, "entropy": 0.50, "snd": 1.0},
        {"phase": "train", "step": 2, "accuracy": 0.86, "source_accuracy": 0.72, "entropy": 0.10, "snd": 1.2},
        {"phase": "train", "step": 3, "accuracy": 0.84, "source_accuracy": 0.95, "entropy": 0.40, "snd": 1.1},
        {"phase": "train", "step": 4, "accuracy": 0.82, "source_accuracy": 0.71, "entropy": 0.30, "snd": 2.0},
        {"phase": "train", "step": 5, "accuracy": 0.80, "source_accuracy": 0.73, "entropy": 0.35, "snd": 1.3},
    ]
    save(store, registry, "dann00000000", "dann", "mnist-usps", 0, evaluations=evaluations)
    expected = {"last": "80.0", "oracle": "90.0", "entropy": "86.0", "source-accuracy": "84.0", "snd": "82.0"}
    for rule, value in expected.items():
        code, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--selection", rule)
        assert code == 0
        assert table_rows(out)["dann"][3] == f"{value} (n=1) · paper 85.1"
        heading = out.splitlines()[0]
        assert f"selection rule `{rule}`" in heading
        assert ("(oracle: uses target labels)" in heading) == (rule == "oracle")
        selection_line = next(line for line in out.splitlines() if line.startswith("- Selection rule"))
        assert ("(oracle: uses target labels)" in selection_line) == (rule == "oracle")  # footer too


def test_runs_without_evaluation_points_count_for_last_only(tmp_path, registry, capsys):
    store = Store(tmp_path / "runs.sqlite")
    save(store, registry, "dann00000000", "dann", "mnist-usps", 0, 0.80)
    save(store, registry, "dann00000001", "dann", "mnist-usps", 1, 0.90, details=False)
    _, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path)
    assert table_rows(out)["dann"][3].startswith("85.0 ± 7.1 (n=2)")
    assert "Runs: 2 used of 2 stored ok on the suite's tasks; none excluded" in out
    _, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--selection", "entropy")
    assert table_rows(out)["dann"][3].startswith("80.0 (n=1)")
    assert "Runs: 1 used of 2 stored ok on the suite's tasks; 1 excluded for lack of evaluation points" in out
    # the run without details names its data by fingerprint; the other by folder and sizes
    _, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path)
    assert "mnist: parquet folder 'mnist-t10k' (train 7000, test 3000 images) (1 run)" in out
    assert "mnist: fingerprint parquet:aaaa, no folder name or sizes recorded (1 run)" in out


def test_a_seed_counts_once_per_variant_the_newest_run(tmp_path, registry, capsys):
    store = Store(tmp_path / "runs.sqlite")
    save(store, registry, "dann00000old", "dann", "mnist-usps", 0, 0.50, created="2026-01-01T00:00:00Z")
    save(store, registry, "dann00000new", "dann", "mnist-usps", 0, 0.70, created="2026-02-01T00:00:00Z")
    _, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path)
    assert table_rows(out)["dann"][3].startswith("70.0 (n=1)")
    assert "1 left out as a repeat of a seed already in its row (the newest run counts)" in out


def test_footer_says_where_the_numbers_come_from(store, capsys):
    _, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path)
    footer = out.split("\n\n- ", 1)[1]
    assert "Selection rule `last`: the model at the end of training" in footer
    assert "Runs: 8 used of 8 stored ok on the suite's tasks; none excluded." in footer
    assert "Devices: cpu (7 runs); cuda:0 (1 run)." in footer
    assert "Step budgets: adapt 3000, batch 128, source from a stored run (2 runs); train 3000, batch 128 (6 runs)." \
        in footer
    assert "Seeds: 0, 1, 2." in footer
    assert "Run dates: 2026-11-27T10:00:00Z to 2026-11-28T09:00:00Z." in footer
    assert "Versions: udabench 0.1.0; torch 2.14.1; python 3.11.7." in footer
    assert "Git revisions: 0123456 (7 runs); fedcba9-dirty (1 run)." in footer
    assert "Between these commits" not in footer  # a modified checkout's code is not known to be the same
    assert "usps: parquet folder 'usps' (train 7291, test 2007 images) (8 runs)" in footer
    assert 'Li et al., "Generating Target Image-Label Pairs' in footer


def test_csv_has_one_row_per_table_row_and_no_bold(store, capsys):
    code, out, err = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--format", "csv")
    assert code == 0 and "**" not in out
    rows = list(csv.DictReader(io.StringIO(out)))
    dann = next(r for r in rows if r["label"] == "dann")
    assert (dann["mnist-usps mean"], dann["mnist-usps std"], dann["mnist-usps n"]) == ("89.00", "1.00", "3")
    assert (dann["mnist-usps reported"], dann["mnist-usps diff"]) == ("85.1", "")  # protocols differ
    assert dann["avg"] == "92.00"  # mnist-usps and usps-mnist, the tasks with reproduced numbers
    adda = next(r for r in rows if r["label"] == "ADDA [44]")
    assert (adda["numbers"], adda["mnist-usps reported"], adda["mnist-usps reported std"]) == (
        "reported", "89.4", "0.2")
    assert adda["mnist-usps mean"] == "" and adda["table"] == "label2image-digits"
    assert adda["avg"] == f"{(89.4 + 90.1) / 2:.2f}"
    assert "# Selection rule `last`" in err  # the footer goes to stderr, beside the data


def test_latex_escapes(store, capsys):
    code, out, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--format", "latex")
    assert code == 0
    assert "\\begin{tabular}" in out and "\\end{tabular}" in out
    assert "94.0 $\\pm$ 1.4 (n=2)" in out
    assert "source-only (bottleneck\\_bn=true)" in out and "accuracy (\\%)" in out
    assert "89.0 $\\pm$ 1.0 (n=3) $\\cdot$ paper 85.1 &" in out
    assert "\\multicolumn{11}{l}{\\textit{Not GAN-based Adaptation}}" in out


# --- publishing ---------------------------------------------------------------------------------


def test_publish_needs_a_protocol_and_an_export_without_one_reads_as_every_stored_run(store, tmp_path, capsys):
    """Publishing under a protocol, and writing a page again from its export: test_leaderboard_protocol.py."""
    from udabench.leaderboard import export_entries, export_text

    code, out, err = cli(capsys, "publish", "--suite", "digits", "--store", store.path, "--out", tmp_path / "out")
    assert code == 2 and out == "" and err.count("\n") == 1 and "publish needs --protocol SWEEP.toml" in err
    assert not (tmp_path / "out").exists()

    registry = load_registry(warn=False)
    entries = export_entries(store.query(status="ok"), registry.get("suites", "digits"))
    assert len(entries) == 8  # the ok runs on the suite's tasks, sorted
    order = [(e["task"], e["method"], e["seed"], e["created_at"], e["run_id"]) for e in entries]
    assert order == sorted(order)
    assert set(entries[0]) == {"run_id", "method", "task", "seed", "backbone", "config", "metric", "selection",
                               "evaluation_points", "device", "created_at", "versions", "git_revision", "data",
                               "scores", "trend"}
    assert set(entries[0]["selection"]) == {"last", "source-accuracy", "entropy", "snd", "oracle"}
    assert entries[0]["scores"]["last"] == {"entropy": 1.0, "snd": 1.0, "source_accuracy": 0.5}
    runs = tmp_path / "digits-runs.jsonl"  # an export without a protocol header, as written before protocols
    runs.write_text(export_text(entries), encoding="utf-8")
    for rule in ("last", "entropy"):
        _, from_store, _ = cli(capsys, "leaderboard", "--suite", "digits", "--store", store.path, "--selection", rule)
        _, from_export, _ = cli(capsys, "leaderboard", "--suite", "digits", "--from-export", runs, "--selection", rule)
        assert from_store == from_export and "no protocol: every stored run" in from_export
    code, _, err = cli(capsys, "publish", "--suite", "digits", "--from-export", runs, "--out", tmp_path / "out")
    assert code == 2 and "publish needs --protocol SWEEP.toml" in err


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["leaderboard", "--suite", "digitz"], "unknown suite 'digitz'; did you mean 'digits'?"),
    (["leaderboard", "--suite", "digits", "--selection", "best"], "unknown selection rule 'best'; known: last"),
    (["leaderboard", "--suite", "digits", "--format", "html"], "unknown format 'html' (known: markdown, csv, latex)"),
    (["leaderboard", "--reported-only", "--format", "xml"], "unknown format 'xml'"),
    (["leaderboard"], "leaderboard needs --suite NAME (known: digits, office31, segmentation, signs)"),
    (["publish", "--suite", "nope"], "unknown suite 'nope'"),
    (["publish", "--suite", "digits", "--selection", "oracl"], "unknown selection rule 'oracl'"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, capsys, tmp_path):
    code, out, err = cli(capsys, *args, *(["--store", tmp_path / "none.sqlite"] if args[0] == "publish" else []))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("udabench: error: ") and message in err


def test_missing_store_and_bad_export_are_one_line_errors(tmp_path, capsys):
    code, _, err = cli(capsys, "leaderboard", "--suite", "digits", "--store", tmp_path / "missing.sqlite")
    assert code == 2 and "no results store at" in err and err.count("\n") == 1
    assert not (tmp_path / "missing.sqlite").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    code, _, err = cli(capsys, "leaderboard", "--suite", "digits", "--from-export", bad)
    assert code == 2 and "line 1 is not JSON" in err


IMPORT_CHECK = """
import sys
from udabench.cli import main
main({args!r})
heavy = sorted(m for m in ("torch", "datasets", "pandas", "timm") if m in sys.modules)
print("HEAVY", heavy, file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["leaderboard", "--reported-only"], ["list", "suites", "-v"]])
def test_leaderboard_and_list_suites_import_nothing_heavy(args):
    process = subprocess.run([sys.executable, "-c", IMPORT_CHECK.format(args=args)], capture_output=True, text=True,
                             cwd=REPO, timeout=120)
    assert "HEAVY []" in process.stderr, process.stderr


# pictures


def png_size(path):
    """(width, height) from a PNG header, checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plot_of_a_suite_draws_one_bar_per_reproduced_row_and_task(store, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "digits.png"
    assert main(["plot", "--suite", "digits", "--store", str(store.path), "--out", str(out)]) == 0
    width, height = png_size(out)
    assert width > height > 300
    from udabench.leaderboard import board_for
    from udabench.plots import plot_board

    board = board_for(SimpleNamespace(suite="digits", selection=None, store=str(store.path), from_export=None))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real_close = plt.close
    drawn = {}
    plt.close = lambda figure: drawn.setdefault("bars", [p for a in figure.axes for p in a.patches])
    try:
        plot_board(board, tmp_path / "again.png")
    finally:
        plt.close = real_close
    cells = sum(1 for row in board.rows if row.kind == "reproduced" for cell in row.cells.values() if cell.n)
    assert len(drawn["bars"]) == cells


def test_leaderboard_plot_flag_and_run_curves(store, tmp_path, capsys, registry):
    pytest.importorskip("matplotlib")
    out = tmp_path / "board.png"
    assert main(["leaderboard", "--suite", "digits", "--store", str(store.path), "--plot", str(out)]) == 0
    assert png_size(out)[0] > 0
    record = store.get("dann00000000")
    record["history"] = [{"phase": "train", "step": s, "loss": 1.0 / s, "domain_loss": 0.7} for s in (10, 20, 30)]
    from udabench.plots import plot_run

    width, height = png_size(plot_run(record, tmp_path / "run.png"))
    assert width > 0 and height > 0
    capsys.readouterr()
    assert main(["plot", "--run", "dann00000000", "--store", str(store.path), "--out", str(tmp_path / "x.png")]) == 2
    assert "no training history" in capsys.readouterr().err  # the stand-in runs have none
    assert main(["plot", "--run", "nope", "--store", str(store.path)]) == 2
    assert "no stored run 'nope'" in capsys.readouterr().err


def test_plot_without_matplotlib_names_the_extra(store, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["plot", "--suite", "digits", "--store", str(store.path), "--out", str(tmp_path / "p.png")])
    assert code == 2 and "pip install 'udabench[plot]'" in capsys.readouterr().err


def test_segmentation_board_shows_miou_and_miou13_beside_the_papers(tmp_path, registry, capsys):
    """SUIT on both segmentation tasks: mIoU on GTA5 -> Cityscapes, the 13-class mIoU on SYNTHIA's."""
    store = Store(tmp_path / "seg.sqlite")
    for run_id, task, miou, miou13 in (("suitgta50000", "gta5-cityscapes", 0.40, None),
                                       ("suitsyn00000", "synthia-cityscapes", 0.30, 0.45)):
        point = {"phase": "adapt", "step": 100, "miou": miou, "pixel_accuracy": 0.8, "source_miou": 0.7,
                 "entropy": 0.5, "snd": 1.0, **({"miou13": miou13} if miou13 is not None else {})}
        config = {"steps": 100, "phase_steps": {"source": 100, "adapt": 100}, "batch_size": 8,
                  "backbone": "fcn8s-vgg16", "hparams": defaults(registry, "suit", task), "data": {}}
        result = SimpleNamespace(
            run_id=run_id, key=run_id * 4, method="suit", task=task, seed=0, status="ok", error=None,
            config=config, metrics={k: v for k, v in point.items() if k not in ("phase", "step", "entropy", "snd")},
            timings={"total_s": 1.0}, history=[], device="cuda:0",
            details={"evaluations": [point], "selection": selections([point], "miou"), "data": {}})
        store.save(result, {"udabench": "0.1.0"}, "0" * 40, None)
    code, out, _ = cli(capsys, "leaderboard", "--suite", "segmentation", "--store", store.path)
    assert code == 0
    reproduced = [line for line in out.splitlines() if "| suit " in line and "reproduced" in line]
    assert len(reproduced) == 1
    cells = [cell.strip() for cell in reproduced[0].strip("|").split("|")]
    assert cells[-3].startswith("40.0") and cells[-3].endswith("paper 38.9")  # FCN8s row of SUIT's table
    assert cells[-2].startswith("45.0")  # miou13, not the 16-class 30.0
    assert "paper" not in cells[-2]  # the papers give SYNTHIA numbers for DeepLab rows only, not FCN8s
    assert cells[-1] == "42.5"  # Avg of the two
    assert "network" not in next(line for line in out.splitlines() if line.startswith("- Data on gta5-cityscapes"))
    assert "miou (miou13 on synthia-cityscapes)" in out


def test_a_source_free_runs_unread_source_data_is_named_as_such(registry):
    from udabench.leaderboard.notes import data_description, data_sizes

    loaded = {"kind": "parquet", "location": "mnist", "sizes": {"train": 60000, "test": 10000}}
    unread = {"kind": "not loaded", "location": None, "revision": None, "sizes": {},
              "note": "source-free: adapts the source model of run 0123456789ab without source data"}
    usps = {"kind": "parquet", "location": "usps", "sizes": {"train": 7291, "test": 2007}}
    assert data_description("mnist", unread, None) == "mnist: not loaded (source-free: adapts a stored source model)"
    assert data_description("mnist", loaded, None) == "mnist: parquet folder 'mnist' (train 60000, test 10000 images)"
    text, full = data_sizes([{"data": {"mnist": loaded, "usps": usps}}, {"data": {"mnist": unread, "usps": usps}}],
                            "mnist-usps", registry)
    assert text.startswith("mnist (source): not loaded by source-free runs or train 60000 (full); usps (target)")
    assert full  # a run that read no source data does not make the sets partial
    text, full = data_sizes([{"data": {"mnist": {}, "usps": usps}}], "mnist-usps", registry)
    assert "mnist (source): sizes not recorded" in text and not full
