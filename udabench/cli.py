"""The ``udabench`` command line: ``run``, ``sweep``, ``list``, ``results``, ``import``, ``leaderboard``,
``publish``, ``plot``, ``bench``, ``cache`` and ``check``: the parser, and the dispatch to each command's
module (:mod:`udabench.commands`, :mod:`udabench.leaderboard`, :mod:`udabench.check`).

Listing, help and leaderboards never import torch or datasets: those load only when a run starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from udabench import __version__
from udabench.commands import EXIT_BAD_INPUT
from udabench.errors import UdabenchError
from udabench.options import BENCH, RUN, SWEEP, add_flags


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="udabench",
        description="Benchmark unsupervised domain adaptation methods as plugins: run them, store the "
                    "results, compare them with the papers.",
        epilog="Run 'udabench COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"udabench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run", help="train and evaluate one method on one task",
        description="Train METHOD on TASK (labelled source, unlabelled target), evaluate on the target "
                    "and source test splits, store the run and print a summary. A run whose key (method, "
                    "task, seed, configuration, data) is already stored is not trained again.",
    )
    run.add_argument("--method", required=True, help="a registered method (see 'udabench list methods')")
    run.add_argument("--task", required=True, help="a registered task (see 'udabench list tasks')")
    add_flags(run, RUN, "seed", "steps", "batch_size", "device", "threads", "precision", "channels_last", "capture")
    run.add_argument("--set", dest="overrides", action="append", metavar="NAME=VALUE",
                     help="override a method hyperparameter (repeatable; 'udabench list methods -v' shows them)")
    add_flags(run, RUN, "backbone")
    run.add_argument("--data", action="append", metavar="DATASET=PATH",
                     help="read DATASET from a local folder (hub parquet layout, image folder, or the "
                          "official archive layout) instead of the hub; DATASET=hub: its Hugging Face Hub copy, "
                          "also with --data-root (repeatable). A copy whose classes, labels, channels or (for "
                          "MNIST, USPS and the like) image size do not fit the dataset is refused")
    add_flags(run, RUN, "data_root")
    run.add_argument("--store", help="results database (default: $UDABENCH_STORE or the user data directory)")
    run.add_argument("--source-run", metavar="RUN",
                     help="for a method whose first phase trains on source only (3c-gan, shot, adda): take the "
                          "source model from this stored run (same task and backbone) instead of training it")
    add_flags(run, RUN, "resolution", "snapshots", "eval_points")
    run.add_argument("--rerun", action="store_true", help="train again even if this run is already stored")
    add_flags(run, RUN, "checkpoint_minutes")
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a summary")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars on stderr")

    sweep = commands.add_parser(
        "sweep", help="run methods x tasks x seeds (x hyperparameter grids), resumable, on several workers",
        description="Run every combination of the given methods, tasks, seeds and grid values. Finished runs "
                    "(same key as 'udabench run') are never trained again and failed ones only with "
                    "--retry-failed, so the same command resumes a sweep that was stopped or killed; "
                    "unfinished runs continue from their last checkpoint (every 5 minutes and at each phase "
                    "end). The progress bar names the runs in flight and when they started, and the time left as "
                    "estimated from the store's finished runs of the same methods. Flags override the "
                    "sweep file.",
        epilog="Sweep file (TOML) keys: name, methods, tasks, seeds, steps, batch_size, device, threads, "
               "backbone, eval_points, snapshots, share_source, workers_per_gpu, precision, channels_last, "
               "capture, resolution (segmentation tasks, \"512x256\"), data "
               "(table DATASET = PATH, relative to the "
               "file), data_root, set (table NAME = VALUE), grid (table NAME = [VALUES]), and per-method "
               "tables [method.NAME] with set, grid, steps, batch_size.",
    )
    sweep.add_argument("file", nargs="?", help="a TOML sweep file (optional when the flags say everything)")
    sweep.add_argument("--method", action="append", metavar="NAME[,NAME]",
                       help="methods to run (repeatable or comma-separated)")
    sweep.add_argument("--task", action="append", metavar="NAME[,NAME]", help="tasks (repeatable or comma-separated)")
    sweep.add_argument("--seeds", metavar="LIST", help="seeds, e.g. 0,1,2 or 0-4 (default 0)")
    add_flags(sweep, SWEEP, "steps", "batch_size", "device")
    sweep.add_argument("--set", dest="overrides", action="append", metavar="NAME=VALUE",
                       help="hyperparameter for every method of the sweep that has it (repeatable)")
    sweep.add_argument("--grid", action="append", metavar="NAME=V1,V2",
                       help="sweep a hyperparameter over values, for the methods that have it (repeatable: "
                            "the product of all grids)")
    add_flags(sweep, SWEEP, "backbone")
    sweep.add_argument("--data", action="append", metavar="DATASET=PATH", help="as for 'udabench run'")
    add_flags(sweep, SWEEP, "data_root", "eval_points", "share_source")
    sweep.add_argument("--executor", default="local", help="local (default) or ray")
    sweep.add_argument("--workers", type=int,
                       help="runs at once (local: worker processes; ray: at most this many in flight; default 1)")
    add_flags(sweep, SWEEP, "workers_per_gpu", "resolution", "threads", "precision", "channels_last", "capture")
    sweep.add_argument("--address", help="ray: address of the cluster (default: start a local Ray instance)")
    sweep.add_argument("--gpus-per-run", type=float, default=0.0,
                       help="ray: GPUs each run asks for, e.g. 0.25 to put four runs on one GPU (default 0)")
    sweep.add_argument("--retry-failed", action="store_true", help="train again the runs stored as failed")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs and their state, train nothing")
    sweep.add_argument("--store", help="results database (default: $UDABENCH_STORE or the user data directory)")
    sweep.add_argument("--json", action="store_true",
                       help="print one JSON line per run outcome on stdout (with --dry-run: one per planned run)")

    listing = commands.add_parser(
        "list", help="show registered methods, tasks, datasets, backbones, metrics or suites",
        description="Show what the installed plugins register, and which distribution provides each. "
                    "'list datasets' also says where a run would read each dataset from (with the same --data "
                    "and --data-root) and how many images that copy holds: counted in a local folder, or as "
                    "the decoded-data cache or the datasets cache recorded them; otherwise 'unknown until "
                    "loaded' beside the spec's nominal sizes (the original release's or the paper's).",
    )
    listing.add_argument("kind", choices=["methods", "tasks", "datasets", "backbones", "metrics", "suites"])
    listing.add_argument("-v", "--verbose", action="store_true",
                         help="more detail: hyperparameters of methods, data sources and hub revisions, "
                              "reported numbers")
    listing.add_argument("--data", action="append", metavar="DATASET=PATH",
                         help="with datasets: a local copy, as for 'udabench run' (repeatable)")
    listing.add_argument("--data-root", help="with datasets: as for 'udabench run' (default: $UDABENCH_DATA)")

    results = commands.add_parser(
        "results", help="list and filter stored runs",
        description="List the runs in the results store, newest last, or show one run in full. The 'code' "
                    "column compares the code that trained each run with the code installed now: current, "
                    "changed (its method's or backbone's source changed; the same command trains it again), "
                    "gone (no longer registered) or unrecorded (stored before runs recorded their code).",
    )
    results.add_argument("--method", help="only runs of this method")
    results.add_argument("--task", help="only runs of this task")
    results.add_argument("--status", choices=["ok", "failed"], help="only runs with this status")
    results.add_argument("--show", metavar="RUN", help="print one run in full (id or id prefix)")
    results.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    results.add_argument("--protocol", metavar="SWEEP_FILE",
                         help="only the runs that this sweep file plans (its shared source models included), as "
                              "'udabench sweep' would plan them now")
    results.add_argument("--export", metavar="FILE",
                         help="write the runs (as filtered) to FILE, one JSON line each, with their final pictures "
                              "in FILE's folder under NAME-artifacts/, for 'udabench import' on another machine or "
                              "in a later session (model weights only with --weights); a FILE named *.jsonl.gz is "
                              "gzip-compressed, about a fifth of the size")
    results.add_argument("--weights", action="store_true",
                         help="with --export: also the weights of the source models that other runs start from "
                              "(a sweep's shared source models: those other stored runs name, and with --protocol "
                              "those its sweep file plans), so that the runs still to come start from these very "
                              "weights instead of training them again (about 1 MB per digit network)")
    results.add_argument("--store", help="results database (default: $UDABENCH_STORE or the user data directory)")
    importing = commands.add_parser(
        "import", help="add the runs of 'udabench results --export' files to a store",
        description="Add exported runs to the results store, as they were stored where they ran (configuration, "
                    "numbers, code identity, revision, time), with their pictures. A run the store already "
                    "holds as ok is kept; a stored failed run is replaced by an imported ok one. A sweep then "
                    "trains only what neither store had; a shared source model whose weights did not travel "
                    "('results --export --weights' carries them) is trained again when a run of the sweep still "
                    "needs it.",
    )
    importing.add_argument("files", nargs="+", metavar="FILE",
                           help="export files (JSON lines; *.jsonl.gz gzip-compressed)")
    importing.add_argument("--store", help="results database (default: $UDABENCH_STORE or the user data directory)")
    _add_leaderboard_parsers(commands)
    _add_bench_parser(commands)
    cache = commands.add_parser(
        "cache", help="list or clear the decoded-data cache",
        description="Runs keep each split they decode (at the task's size and channels) in a cache folder and "
                    "memory-map it back at later runs. List its entries (dataset, split, size, MB) and the folder, "
                    "or remove them. The folder is $UDABENCH_CACHE (off: no cache), else the user cache directory.",
    )
    cache.add_argument("--clear", action="store_true", help="remove every entry and say how much was freed")
    check = commands.add_parser(
        "check", help="check an installed plugin's datasets, tasks and methods",
        description="Check what one installed plugin registers: its specs, that its tasks resolve their datasets, "
                    "backbone and base task, and that its datasets load (generated, from --data or --data-root, or "
                    "with --hub from the hub) with labels in range and a sample that converts to the size of each "
                    "task that uses them. Exit code 1 when something needs fixing.",
    )
    check.add_argument("plugin", help="the plugin's distribution name or entry-point name")
    check.add_argument("--data", action="append", metavar="DATASET=PATH", help="a local copy to check (repeatable)")
    check.add_argument("--data-root", help="folder with one sub-folder per dataset (default: $UDABENCH_DATA)")
    check.add_argument("--hub", action="store_true", help="also load datasets that have no local copy from the hub")
    check.add_argument("--samples", type=int, default=64, help="images decoded per split (default 64)")
    return parser


def _add_bench_parser(commands) -> None:
    bench = commands.add_parser(
        "bench", help="time methods' training steps fed by udabench's input path against a per-sample pipeline",
        description="For each method and task: prepare the run as 'udabench run' does, load its splits (through "
                    "the decoded-data cache), build the method and time the updates of its last (adaptation) "
                    "phase fed two ways, with the same initial weights and number of steps, one after the other: "
                    "udabench's path (batches drawn by index from resident uint8 tensors, normalised as a whole, as "
                    "a run does) and the typical per-sample pipeline (each image PNG-encoded in memory beforehand, "
                    "decoded with PIL per sample, torchvision ToTensor and Normalize with the task's mean and std, "
                    "one shuffling DataLoader per domain with persistent workers). The baseline's images are "
                    "encoded from the decoded tensors, so they are already at the task's size and need no resize: "
                    "this favours the baseline. Also measured: evaluation images/s (the target test split, at most "
                    "2,000 images) and the time to load the task's four splits with an empty decoded-data cache "
                    "(cold) and again from it (warm), in a temporary cache folder removed afterwards. Prints a "
                    "table (--json: a JSON list of rows) on stdout and progress on stderr.",
        epilog="Columns: udabench and typical steps/s (median over the rounds), ratio (udabench / typical), "
               "captured steps/s and captured ratio (the step compiled whole, over typical; – where not timed), "
               "udabench images/s (training images per second through udabench's path, both domains), eval "
               "images/s, cold and warm load s (the same for every method of a task), precision.",
    )
    bench.add_argument("--method", action="append", required=True, metavar="NAME[,NAME]",
                       help="methods to time (repeatable or comma-separated)")
    bench.add_argument("--task", action="append", required=True, metavar="NAME[,NAME]",
                       help="classification tasks (repeatable or comma-separated)")
    add_flags(bench, BENCH, "device")
    bench.add_argument("--steps", type=int, default=20, help="timed steps per round (default 20)")
    bench.add_argument("--warmup", type=int, default=5, help="untimed steps before the rounds (default 5)")
    bench.add_argument("--repeats", type=int, default=3,
                       help="rounds; each rate is the median over them (default 3)")
    add_flags(bench, BENCH, "batch_size", "threads", "precision", "channels_last", "capture")
    bench.add_argument("--loader-workers", type=int, default=2,
                       help="DataLoader workers per domain of the typical pipeline (default 2; 0 loads in the "
                            "training process)")
    add_flags(bench, BENCH, "seed")
    bench.add_argument("--set", dest="overrides", action="append", metavar="NAME=VALUE",
                       help="hyperparameter for every method that has it, as for 'udabench run' (repeatable)")
    add_flags(bench, BENCH, "backbone")
    bench.add_argument("--data", action="append", metavar="DATASET=PATH",
                       help="as for 'udabench run'; given to the tasks that use DATASET (repeatable)")
    add_flags(bench, BENCH, "data_root")
    bench.add_argument("--json", action="store_true", help="print a JSON list of the rows instead of a table")


def _add_leaderboard_parsers(commands) -> None:
    from udabench.selection import RULES

    rules = ", ".join(RULES)
    for name in ("leaderboard", "publish"):
        publish = name == "publish"
        sub = commands.add_parser(
            name,
            help="write a suite's leaderboard page and its runs file" if publish
            else "compare a suite's stored runs with the papers' numbers",
            description="Write DIR/SUITE.md (the leaderboard of one protocol, its provenance, the final "
                        "pictures of the lowest-seed run of each method and task, and the papers' tables), "
                        "DIR/SUITE-pictures/ (those pictures, copied from the runs' folders) and "
                        "DIR/SUITE-runs.jsonl (the runs behind it, from which the page can be written again "
                        "without the store). Refuses runs of a modified checkout (unless --allow-dirty) and "
                        "runs of more than one code identity per method." if publish
            else "Print a suite's leaderboard: the papers' rows in paper order and, under each, the reproduced "
                 "rows with the mean ± std over seeds, an Avg column and the paper's number (with the difference "
                 "only where the protocols match); a footer says where the runs come from. With --protocol: the "
                 "runs that sweep file plans, one row per method; without: every stored run, one row per variant. "
                 "--reported-only prints the papers' tables as the thesis-defence slides show them.",
        )
        sub.add_argument("--suite", metavar="NAME", help="a registered suite (see 'udabench list suites')")
        sub.add_argument("--selection", metavar="RULE",
                         help=f"model-selection rule: which evaluation point of each run counts ({rules}; default "
                              "last; oracle uses target labels and is marked as such)")
        sub.add_argument("--protocol", metavar="SWEEP.toml",
                         help="show only the runs this sweep file plans now (method, task, seed, hyperparameters, "
                              "budget, data, code), one row per method" + (
                                  "; required unless --from-export names a published runs file" if publish
                                  else "; without it: every stored run, nothing bold"))
        sub.add_argument("--grid-selection", metavar="RULE",
                         help="rule that chooses one value of the protocol's grid per method and task by the mean "
                              "over seeds of its score (entropy, snd, source-accuracy; oracle uses target labels; "
                              "default: --selection)")
        sub.add_argument("--min-seeds", type=int, metavar="N",
                         help=f"a cell with fewer seeds shows no number (default {3 if publish else 1})")
        if not publish:
            sub.add_argument("--format", default="markdown", metavar="{markdown,csv,latex}",
                             help="output format (default markdown)")
            sub.add_argument("--plot", metavar="PNG",
                             help="also draw the suite's accuracy per method and task with error bars to this "
                                  "PNG file (needs matplotlib: pip install 'udabench[plot]')")
            sub.add_argument("--reported-only", action="store_true",
                             help="print the papers' tables alone (all suites' unless --suite), no store needed")
        sub.add_argument("--store", help="results database (default: $UDABENCH_STORE or the user data directory)")
        sub.add_argument("--from-export", metavar="FILE",
                         help="read the runs from a SUITE-runs.jsonl written by 'udabench publish' instead of the store")
        if publish:
            sub.add_argument("--out", default="leaderboards", metavar="DIR",
                             help="folder for SUITE.md and SUITE-runs.jsonl (default: leaderboards)")
            sub.add_argument("--allow-dirty", action="store_true",
                             help="publish runs made from a modified checkout (revision ending in -dirty)")

    plot = commands.add_parser(
        "plot", help="draw a suite's results, a run's training curves or its features as PNG",
        description="--suite: accuracy per method and task, mean over seeds with one standard deviation as "
                    "error bar (where n > 1; a spread over 10 points is flagged) and the paper's number as a "
                    "diamond, n and step budget in the legend. --run: the logged losses of each phase over "
                    "the steps and the evaluation points (target and source test accuracy). --run with "
                    "--features: a 2-D embedding of the features of 500 source and 500 target test images "
                    "under the model before adaptation and the adapted model, side by side, coloured by "
                    "class. Needs matplotlib (pip install 'udabench[plot]'; t-SNE also needs scikit-learn, "
                    "included there).",
    )
    what = plot.add_mutually_exclusive_group(required=True)
    what.add_argument("--suite", metavar="NAME", help="a registered suite (see 'udabench list suites')")
    what.add_argument("--run", metavar="RUN", help="a stored run (id or id prefix)")
    plot.add_argument("--selection", metavar="RULE", help=f"with --suite: model-selection rule ({rules}; default last)")
    plot.add_argument("--from-export", metavar="FILE", help="with --suite: read the runs from a SUITE-runs.jsonl")
    plot.add_argument("--protocol", metavar="SWEEP.toml",
                      help="with --suite: only the runs this sweep file plans now, as 'udabench leaderboard "
                           "--protocol' shows them (an export's header stands for it with --from-export)")
    plot.add_argument("--features", action="store_true",
                      help="with --run: the task model's features before and after adaptation (the model before "
                           "is the run's source phase, its --source-run, or a stored source-only run of the same "
                           "task, seed and backbone)")
    plot.add_argument("--embedding", choices=("tsne", "pca"), default="tsne",
                      help="with --features: t-SNE (default; PCA where scikit-learn is missing) or PCA")
    plot.add_argument("--data", action="append", default=[], metavar="DATASET=PATH",
                      help="with --features: a dataset's local copy, as for 'udabench run' (repeatable)")
    plot.add_argument("--data-root", metavar="DIR", help="with --features: folder with one sub-folder per dataset")
    plot.add_argument("--out", metavar="PNG",
                      help="output file (default: SUITE.png, run-RUN.png or run-RUN-features.png here)")
    plot.add_argument("--store", help="results database (default: $UDABENCH_STORE or the user data directory)")


# Each command's implementation, imported only when it runs: listing and help import no torch.
COMMANDS = {
    "run": "udabench.commands.run:command_run",
    "sweep": "udabench.commands.sweep:command_sweep",
    "list": "udabench.commands.listing:command_list",
    "results": "udabench.commands.results:command_results",
    "import": "udabench.commands.results:command_import",
    "leaderboard": "udabench.leaderboard:command_leaderboard",
    "publish": "udabench.leaderboard:command_publish",
    "plot": "udabench.commands.plot:command_plot",
    "bench": "udabench.commands.bench:command_bench",
    "cache": "udabench.commands.cache:command_cache",
    "check": "udabench.check:command_check",
}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module, function = COMMANDS[args.command].split(":")
    try:
        return getattr(importlib.import_module(module), function)(args)
    except UdabenchError as exc:
        print(f"udabench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("udabench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
