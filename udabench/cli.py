"""The ``udabench`` command line: ``run``, ``sweep``, ``list``, ``results``, ``import``, ``leaderboard``,
``publish``, ``plot``, ``bench``, ``cache`` and ``check``.

Listing, help and leaderboards never import torch or datasets: those load only when a run starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time

from udabench import __version__
from udabench.errors import UdabenchError

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1


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
    run.add_argument("--seed", type=int, default=0, help="random seed for Python, NumPy and torch (default 0)")
    run.add_argument("--steps", type=int, default=3000,
                     help="training steps of each phase that has no step count of its own (default 3000)")
    run.add_argument("--batch-size", type=int, default=128, help="images per domain per step (default 128)")
    run.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when available; default)")
    run.add_argument("--threads", type=int,
                     help="CPU threads for torch (default: torch's choice, capped at the cores this process may "
                          "use, counting a CPU affinity or cgroup quota; give each of several runs sharing the "
                          "cores its share, e.g. 1 each for two runs on two cores)")
    _add_execution_arguments(run)
    run.add_argument("--set", dest="overrides", action="append", metavar="NAME=VALUE",
                     help="override a method hyperparameter (repeatable; 'udabench list methods -v' shows them)")
    run.add_argument("--backbone", help="override the task's backbone, e.g. lenet or timm:resnet18")
    run.add_argument("--data", action="append", metavar="DATASET=PATH",
                     help="read DATASET from a local folder (hub parquet layout, image folder, or the "
                          "official archive layout) instead of the hub; DATASET=hub: its Hugging Face Hub copy, "
                          "also with --data-root (repeatable). A copy whose classes, labels, channels or (for "
                          "MNIST, USPS and the like) image size do not fit the dataset is refused")
    run.add_argument("--data-root", help="folder with one sub-folder per dataset, named as the dataset (default: "
                                         "$UDABENCH_DATA); a dataset without its sub-folder there stops the run "
                                         "(no quiet switch to the hub copy: --data DATASET=hub asks for it)")
    run.add_argument("--store", help="results database (default: $UDABENCH_STORE or the user data directory)")
    run.add_argument("--source-run", metavar="RUN",
                     help="for a method whose first phase trains on source only (3c-gan, shot, adda): take the "
                          "source model from this stored run (same task and backbone) instead of training it")
    run.add_argument("--resolution", metavar="WIDTHxHEIGHT",
                     help="segmentation tasks: keep and train on images of this size instead of the task's "
                          "(e.g. 512x256 for a GTA5 -> Cityscapes run that fits a smaller GPU or a CPU)")
    run.add_argument("--snapshots", type=int, default=4,
                     help="how many times per phase a method's image grids are saved (default 4; 0: never)")
    run.add_argument("--eval-points", type=int, default=5,
                     help="evaluations spread over the last phase, the last at its end, among which the model "
                          "selection rules of the leaderboards choose (default 5)")
    run.add_argument("--rerun", action="store_true", help="train again even if this run is already stored")
    run.add_argument("--checkpoint-minutes", type=float, default=5.0,
                     help="minutes between resume checkpoints (default 5; 0: after every step); a run that is "
                          "killed or interrupted continues from its last checkpoint when the same command is "
                          "run again, and on the CPU ends with the same numbers")
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
    sweep.add_argument("--steps", type=int, help="steps of each phase without its own count (default 3000)")
    sweep.add_argument("--batch-size", type=int, help="images per domain per step (default 128)")
    sweep.add_argument("--device", help="cpu, cuda, or auto (default)")
    sweep.add_argument("--set", dest="overrides", action="append", metavar="NAME=VALUE",
                       help="hyperparameter for every method of the sweep that has it (repeatable)")
    sweep.add_argument("--grid", action="append", metavar="NAME=V1,V2",
                       help="sweep a hyperparameter over values, for the methods that have it (repeatable: "
                            "the product of all grids)")
    sweep.add_argument("--backbone", help="override the tasks' backbone")
    sweep.add_argument("--data", action="append", metavar="DATASET=PATH", help="as for 'udabench run'")
    sweep.add_argument("--data-root", help="as for 'udabench run'")
    sweep.add_argument("--eval-points", type=int, help="evaluations over each run's last phase (default 5)")
    sweep.add_argument("--share-source", action="store_true",
                       help="methods that pretrain on source take that model from one shared source-only run "
                            "per task and seed, run first")
    sweep.add_argument("--executor", default="local", help="local (default) or ray")
    sweep.add_argument("--workers", type=int,
                       help="runs at once (local: worker processes; ray: at most this many in flight; default 1)")
    sweep.add_argument("--workers-per-gpu", type=int, metavar="N",
                       help="local, GPU runs: N runs at once on each visible GPU (CUDA_VISIBLE_DEVICES, else all "
                            "that torch sees), each worker pinned to one GPU and runs spread round-robin; instead "
                            "of --workers; an error with --device cpu")
    sweep.add_argument("--resolution", metavar="WIDTHxHEIGHT",
                       help="the size the sweep's segmentation tasks keep and train on (as for 'udabench run'; "
                            "classification tasks keep theirs)")
    sweep.add_argument("--threads", type=int,
                       help="torch CPU threads per run (default: the cores this process may use divided by "
                            "the runs at once)")
    _add_execution_arguments(sweep, defaults=False)
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


PRECISION_HELP = ("fp32 (default) or bf16: bf16 autocast around each training update and the evaluation forward "
                  "passes, on CUDA or the CPU; a bf16 run is a different run from an fp32 one (its own key)")
CAPTURE_HELP = ("compile the whole training step of a method whose step is static (DANN) with torch.compile, "
                "replayed as a CUDA graph on CUDA: on, off, or auto (default: on for CUDA, off on the CPU, where "
                "compiling costs more than it saves); falls back to eager if compiling fails; not part of the run key")
CHANNELS_LAST_HELP = ("memory format of the network and its input batches: on, off, or auto (default: on for a "
                      "timm ResNet backbone on CUDA, off otherwise); a layout only, not part of the run key")


# The values of udabench.runner.execution, named here so that building the parser imports no runner code.
PRECISIONS = ("fp32", "bf16")
CHANNELS_LAST = ("auto", "on", "off")
CAPTURE = ("auto", "on", "off")


def _add_execution_arguments(parser, defaults: bool = True) -> None:
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32" if defaults else None, help=PRECISION_HELP)
    parser.add_argument("--channels-last", choices=CHANNELS_LAST, default="auto" if defaults else None,
                        help=CHANNELS_LAST_HELP)
    parser.add_argument("--capture", choices=CAPTURE, default="auto" if defaults else None, help=CAPTURE_HELP)


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
    bench.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when available; default)")
    bench.add_argument("--steps", type=int, default=20, help="timed steps per round (default 20)")
    bench.add_argument("--warmup", type=int, default=5, help="untimed steps before the rounds (default 5)")
    bench.add_argument("--repeats", type=int, default=3,
                       help="rounds; each rate is the median over them (default 3)")
    bench.add_argument("--batch-size", type=int, default=128, help="images per domain per step (default 128)")
    bench.add_argument("--threads", type=int,
                       help="CPU threads for torch (default: as for 'udabench run', torch's choice capped at the cores "
                            "this process may use)")
    bench.add_argument("--precision", default="fp32", metavar="{fp32,bf16}[,...]",
                       help="fp32 (default) or bf16 (autocast around each update and evaluation, as 'udabench run "
                            "--precision bf16'); fp32,bf16 times both, one row each, and prints bf16's steps/s over "
                            "fp32's")
    bench.add_argument("--channels-last", choices=CHANNELS_LAST, default="auto", help=CHANNELS_LAST_HELP)
    bench.add_argument("--capture", choices=CAPTURE, default="auto",
                       help="also time udabench's path with the step compiled whole, as 'udabench run --capture' "
                            "compiles it, for methods whose step is static (DANN): on, off, or auto (default: on "
                            "for CUDA); the compilation happens in the warm-up steps")
    bench.add_argument("--loader-workers", type=int, default=2,
                       help="DataLoader workers per domain of the typical pipeline (default 2; 0 loads in the "
                            "training process)")
    bench.add_argument("--seed", type=int, default=0, help="seed of the initial weights and batches (default 0)")
    bench.add_argument("--set", dest="overrides", action="append", metavar="NAME=VALUE",
                       help="hyperparameter for every method that has it, as for 'udabench run' (repeatable)")
    bench.add_argument("--backbone", help="override the tasks' backbone")
    bench.add_argument("--data", action="append", metavar="DATASET=PATH",
                       help="as for 'udabench run'; given to the tasks that use DATASET (repeatable)")
    bench.add_argument("--data-root", help="as for 'udabench run'")
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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return {"run": cmd_run, "sweep": cmd_sweep, "list": cmd_list, "results": cmd_results,
                "leaderboard": cmd_leaderboard, "publish": cmd_publish, "plot": cmd_plot, "bench": cmd_bench,
                "cache": cmd_cache, "check": cmd_check, "import": cmd_import}[args.command](args)
    except UdabenchError as exc:
        print(f"udabench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("udabench: interrupted", file=sys.stderr)
        return 130


def _parse_resolution(text: str) -> tuple[int, int]:
    from udabench.specs import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise UdabenchError(f"--resolution: {exc}") from None


def cmd_run(args) -> int:
    from udabench.hparams import parse_assignments
    from udabench.jobs import resolve_stored_runs, run_and_store
    from udabench.plugins import load_registry
    from udabench.runner import RunFailed, RunRequest, prepare
    from udabench.store import Store

    request = RunRequest(
        method=args.method, task=args.task, seed=args.seed, steps=args.steps, batch_size=args.batch_size,
        device=args.device, overrides=parse_assignments(args.overrides, "--set"), backbone=args.backbone,
        data=parse_assignments(args.data, "--data"), data_root=args.data_root, progress=not args.no_progress,
        threads=args.threads, snapshots=args.snapshots, eval_points=args.eval_points,
        checkpoint_every=args.checkpoint_minutes * 60, precision=args.precision, channels_last=args.channels_last,
        capture=args.capture,
    )
    if args.checkpoint_minutes < 0:
        raise UdabenchError(f"--checkpoint-minutes must not be negative (got {args.checkpoint_minutes})")
    if args.eval_points <= 0:
        raise UdabenchError(f"--eval-points must be positive (got {args.eval_points})")
    if args.resolution:
        request.resolution = _parse_resolution(args.resolution)
    request.source_run = args.source_run
    if args.source_run or request.overrides.get("generator_from", "none") != "none":
        resolve_stored_runs(request, Store(args.store))
    registry = load_registry()
    prepared = prepare(registry, request)
    _check_device(request.device)
    store = Store(args.store)  # opened (and created) only once the request is known to be good
    try:
        record, ran = run_and_store(request, store, registry, prepared, rerun=args.rerun)
    except RunFailed as failure:
        print(f"udabench: error: {failure} (stored as failed)", file=sys.stderr)
        if args.json:
            print(json.dumps(store.get(prepared.run_id), sort_keys=True))
        return EXIT_RUN_FAILED
    if not ran:
        print(f"udabench: run {prepared.run_id} is already stored; showing it (--rerun trains again)",
              file=sys.stderr)
    _print_run(record, args.json, store, prepared.method)
    return 0


def _print_run(record: dict, as_json: bool, store, method_spec=None) -> None:
    from udabench.leaderboard.board import budget_of

    if as_json:
        print(json.dumps({**record, "store": str(store.path)}, sort_keys=True))
        return
    metrics, timings, config = record["metrics"], record["timings"], record["config"]
    # Several phases: each one's own step count (e.g. "source 3000 + adapt 1500"); then batch size, precision.
    budget = (budget_of(config, method_spec) if len(config.get("phase_steps") or {}) > 1 else
              f"{config['steps']} steps, batch {config['batch_size']}"
              + (f", {config['precision']}" if config.get("precision", "fp32") != "fp32" else ""))
    print(f"run {record['run_id']}: {record['method']} on {record['task']}, seed {record['seed']}, {budget}, "
          f"backbone {config['backbone']}, {record['device']}")
    if record["status"] != "ok":
        print(f"  status: {record['status']}: {record['error']}")
        return
    if "miou" in metrics:
        subsets = [k for k in metrics if k.startswith("miou") and k != "miou"]
        print(f"  target test: mIoU {metrics['miou']:.4f}"
              + "".join(f", {k} {metrics[k]:.4f}" for k in subsets)
              + f", pixel accuracy {metrics.get('pixel_accuracy', float('nan')):.4f}")
        print(_source_line(metrics, "source_miou", "mIoU"))
        iou = (record.get("details") or {}).get("per_class_iou") or []
        if iou:
            print("  target IoU per class: " + ", ".join(
                f"{name} {'-' if value is None else f'{value:.3f}'}" for name, value in iou))
    else:
        print(f"  target test: accuracy {metrics['accuracy']:.4f}, mean class accuracy "
              f"{metrics.get('mean_class_accuracy', float('nan')):.4f}")
        print(_source_line(metrics, "source_accuracy", "accuracy"))
        for line in _class_lines(record, full_matrix=False):
            print(line)
    print(f"  time: {timings['total_s']:.1f} s ({timings['steps_per_s']:.1f} steps/s, data {timings['load_s']:.1f} s)")
    print(f"  stored in {store.path}; artifacts in {record['artifacts']}")


def _source_line(metrics, name: str, label: str) -> str:
    if name not in metrics:
        return "  source test: not measured (a source-free run from a stored source model loads no source data)"
    return f"  source test: {label} {metrics[name]:.4f}"


# A run's summary prints the whole confusion matrix up to this many classes, its largest cells beyond.
SUMMARY_MATRIX_CLASSES = 12


def _class_lines(record: dict, full_matrix: bool) -> list[str]:
    """A classification run's target accuracy per class, a warning when one class takes most of the
    predictions, and its confusion matrix (rows true classes, columns predicted ones)."""
    details = record.get("details") or {}
    accuracy, confusion = details.get("per_class_accuracy"), details.get("confusion")
    if not accuracy or not confusion:
        return []
    names = [name for name, _ in accuracy]
    lines = ["  target accuracy per class: " + ", ".join(
        f"{name} {'-' if value is None else f'{value:.3f}'}" for name, value in accuracy)]
    total = sum(map(sum, confusion))
    predicted = [sum(row[j] for row in confusion) for j in range(len(names))]
    top = max(range(len(names)), key=predicted.__getitem__)
    if total and predicted[top] * 2 >= total and predicted[top] >= 2 * sum(confusion[top]):
        lines.append(f"  predicted '{names[top]}' for {predicted[top]} of {total} target test images "
                     f"({predicted[top] / total:.0%}; {sum(confusion[top])} are '{names[top]}'): the model does not "
                     "tell the target's classes apart; look for what the target images show that the source's never "
                     "do (colour, contrast, size) before comparing methods")
    if full_matrix or len(names) <= SUMMARY_MATRIX_CLASSES:
        short = max(map(len, names)) <= 6  # long class names head their rows, numbered; columns by number
        header = names if short else [str(i) for i in range(len(names))]
        labels = names if short else [f"{i} {name}" for i, name in enumerate(names)]
        width = max(max(len(str(v)) for row in confusion for v in row), *map(len, header))
        label_width = max(map(len, labels))
        lines.append("  target confusion matrix (rows: true class, columns: predicted):")
        lines.append("    " + " " * label_width + " " + " ".join(h.rjust(width) for h in header))
        for label, row in zip(labels, confusion):
            lines.append(f"    {label.ljust(label_width)} " + " ".join(str(v).rjust(width) for v in row))
    else:
        cells = sorted(((row[j], i, j) for i, row in enumerate(confusion) for j in range(len(row)) if i != j and row[j]),
                       reverse=True)[:5]
        lines.append("  most frequent target confusions (true -> predicted): " + (", ".join(
            f"{names[i]} -> {names[j]} {n}" for n, i, j in cells) or "none")
            + f"; the full matrix: udabench results --show {record['run_id']}")
    return lines


def _check_device(device: str) -> None:
    """``--device cuda`` where CUDA is missing is an error before any run is planned or stored (torch
    is imported only for that case)."""
    if device == "cuda":
        from udabench.runner import resolve_device

        resolve_device(device)


def _names(values) -> list[str]:
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def _seeds(text: str) -> list[int]:
    seeds = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            seeds.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise UdabenchError(f"--seeds expects integers like 0,1,2 or 0-4, got '{text}'") from None
    return seeds


def cmd_sweep(args) -> int:
    from udabench.executors import make_executor
    from udabench.hparams import parse_assignments
    from udabench.jobs import as_dict, describe
    from udabench.plugins import load_registry
    from udabench.store import Store
    from udabench.sweep import (EXECUTORS, SweepConfig, describe_duration, estimate_seconds, expand, plan,
                                read_sweep_file, remaining_seconds)

    config = read_sweep_file(args.file) if args.file else SweepConfig()
    if args.method:
        config.methods = _names(args.method)
    if args.task:
        config.tasks = _names(args.task)
    if args.seeds:
        config.seeds = _seeds(args.seeds)
    for flag, attribute in (("steps", "steps"), ("batch_size", "batch_size"), ("device", "device"),
                            ("threads", "threads"), ("backbone", "backbone"), ("data_root", "data_root"),
                            ("eval_points", "eval_points"), ("precision", "precision"),
                            ("channels_last", "channels_last"), ("capture", "capture")):
        if getattr(args, flag) is not None:
            setattr(config, attribute, getattr(args, flag))
    if args.resolution:
        config.resolution = _parse_resolution(args.resolution)
    config.share_source = config.share_source or args.share_source
    config.data.update(parse_assignments(args.data, "--data"))
    config.set.update(parse_assignments(args.overrides, "--set"))
    for name, values in parse_assignments(args.grid, "--grid").items():
        config.grid[name] = [v.strip() for v in values.split(",") if v.strip()]
    if args.executor not in EXECUTORS:
        raise UdabenchError(f"unknown executor '{args.executor}' (known: {', '.join(EXECUTORS)})")
    if args.workers_per_gpu is not None:
        config.workers_per_gpu = args.workers_per_gpu
    workers = 1 if args.workers is None else args.workers
    for flag, value in (("--steps", config.steps), ("--batch-size", config.batch_size), ("--workers", workers),
                        ("--workers-per-gpu", config.workers_per_gpu)):
        if value is not None and value <= 0:
            raise UdabenchError(f"{flag} must be positive (got {value})")
    if config.workers_per_gpu is not None:
        if args.executor != "local":
            raise UdabenchError("--workers-per-gpu is for the local executor; with Ray, --gpus-per-run 0.25 "
                                "puts four runs on a GPU")
        if config.device == "cpu":
            raise UdabenchError("--workers-per-gpu places runs on GPUs, but the sweep's device is cpu; use "
                                "--workers for CPU runs")
        if args.workers is not None:
            raise UdabenchError("give --workers or --workers-per-gpu, not both (with --workers-per-gpu N a "
                                "sweep runs N runs per visible GPU at once)")
    if config.threads is not None and config.threads <= 0:
        raise UdabenchError(f"--threads must be positive (got {config.threads})")

    if not args.dry_run:  # a plan needs no CUDA: a GPU sweep can be planned on any machine
        _check_device(config.device)
    registry = load_registry()
    jobs = expand(config, registry)
    store = Store(args.store)
    for job in jobs:  # --set generator_from=RUN: the run's key names the full key of RUN
        if job.request.overrides.get("generator_from", "none") != "none":
            from udabench.jobs import resolve_stored_runs
            from udabench.runner import prepare

            resolve_stored_runs(job.request, store)
            job.key = prepare(registry, job.request).key
    state = plan(jobs, store, args.retry_failed)
    if config.skipped:
        pairs = ", ".join(f"{method} on {task}" for method, task in sorted(config.skipped))
        print(f"sweep: left out {len(config.skipped)} method/task pair(s) of a task kind the method does not "
              f"train on: {pairs}", file=sys.stderr)
    print(f"sweep{' ' + config.name if config.name else ''}: {len(jobs)} runs: {len(state.done)} already stored, "
          f"{len(state.failed)} stored as failed (not retried; --retry-failed), {len(state.pending)} to run",
          file=sys.stderr)
    estimates = estimate_seconds(state.pending, store) if state.pending else {}
    if estimates:
        unknown = len(state.pending) - len(estimates)
        print(f"sweep: the runs to run take {describe_duration(sum(estimates.values()))} of one worker's time, "
              f"estimated from the stored runs of their methods"
              + (f" ({unknown} of them have none and are not counted)" if unknown else ""), file=sys.stderr)
    if args.dry_run:
        done, failed = {j.key for j in state.done}, {j.key for j in state.failed}
        for job in jobs:
            status = "stored" if job.key in done else "failed" if job.key in failed else "pending"
            if args.json:
                print(json.dumps({"run_id": job.run_id, "key": job.key, "status": status, "label": job.label(),
                                  "method": job.request.method, "task": job.request.task, "seed": job.request.seed,
                                  "depends_on": job.depends_on, "estimated_s": estimates.get(job.key)},
                                 sort_keys=True))
                continue
            after = f" (after {job.depends_on[:12]})" if job.depends_on else ""
            if job.rerun:
                after += " (stored without its weights, which runs of this sweep need: trained again first)"
            print(f"{job.run_id}  {status:7}  {job.label()}{after}")
        return 0
    if not state.pending:
        return 0
    executor = make_executor(args.executor, workers, config.threads, args.address, args.gpus_per_run,
                             config.workers_per_gpu, config.device)
    if config.workers_per_gpu is not None:
        print(f"sweep: {executor.workers} runs at once, {config.workers_per_gpu} on each of GPU(s) "
              f"{', '.join(executor.gpus)}, {executor.threads} CPU thread(s) each", file=sys.stderr)
    from tqdm.auto import tqdm

    # With estimates the bar says what is left from them: tqdm's own, the mean time of the runs done so
    # far, misleads when cheap and expensive methods share a sweep.
    parallel = (config.workers_per_gpu * len(executor.gpus) if config.workers_per_gpu is not None
                else getattr(executor, "workers", None))
    bar_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]" if estimates and parallel else None
    bar = tqdm(total=len(state.pending), desc="sweep", unit="run", file=sys.stderr, dynamic_ncols=True,
               bar_format=bar_format)
    running: dict[str, str] = {}  # key -> what the bar says of a run in flight
    started: dict[str, float] = {}  # key -> when the run in flight started
    waiting = [job.key for job in state.pending]

    def show_running():
        parts = []
        if bar_format and (waiting or started):
            left, unknown = remaining_seconds(estimates, waiting, started, parallel, time.time())
            parts.append(f"{describe_duration(left)} left" + (f" + {unknown} run(s) not estimated" if unknown else ""))
        if running:
            parts.append(f"running: {'; '.join(running.values())}")
        bar.set_postfix_str("; ".join(parts), refresh=True)

    def on_start(job):
        running[job.key] = f"{job.label()} (from {time.strftime('%H:%M')})"
        started[job.key] = time.time()
        if job.key in waiting:
            waiting.remove(job.key)
        show_running()

    def on_outcome(job, outcome):
        running.pop(job.key, None)
        started.pop(job.key, None)
        if job.key in waiting:  # finished without starting (e.g. blocked by a failed source run)
            waiting.remove(job.key)
        bar.update(1)
        bar.write(describe(outcome), file=sys.stderr)
        show_running()
        if args.json:
            print(json.dumps(as_dict(outcome), sort_keys=True), flush=True)

    show_running()
    outcomes = executor.run(state.pending, str(store.path), on_outcome, rerun=args.retry_failed, on_start=on_start)
    bar.close()
    counts = {status: sum(o.status == status for o in outcomes) for status in ("ok", "stored", "failed", "blocked")}
    print("sweep finished: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
          + f"; {len(state.done) + counts['ok'] + counts['stored']} of {len(jobs)} runs stored as ok", file=sys.stderr)
    return EXIT_RUN_FAILED if counts["failed"] or counts["blocked"] else 0


def cmd_list(args) -> int:
    from tabulate import tabulate

    from udabench.plugins import load_registry

    registry = load_registry(warn=False)
    kind = args.kind
    clashes = registry.conflicts[kind]
    for line in registry.warnings:  # a clash of this kind is the error below, said once
        if not any(line.startswith(f"udabench: {kind[:-1]} '{name}' is registered") for name in clashes):
            print(line, file=sys.stderr)
    if clashes:
        raise UdabenchError(registry.conflict_message(kind, sorted(clashes)[0]))
    if (args.data or args.data_root) and kind != "datasets":
        raise UdabenchError("--data and --data-root apply to 'udabench list datasets'")
    if kind == "datasets":
        import os

        from udabench.data.inventory import hub_label, inventory
        from udabench.hparams import parse_assignments

        data = parse_assignments(args.data, "--data")
        unknown = sorted(set(data) - set(registry.names("datasets")))
        if unknown:
            raise UdabenchError(f"--data names {', '.join(unknown)}, which no plugin registers")
        data_root = args.data_root or os.environ.get("UDABENCH_DATA")
        found = {name: inventory(registry.specs[kind][name], data.get(name), data_root)
                 for name in registry.names(kind)}
    rows = []
    for name in registry.names(kind):
        spec = registry.specs[kind][name]
        provider = registry.providers[kind][name]
        if kind == "methods":
            rows.append([name, spec.setting, " -> ".join(p.name for p in spec.phases), provider, spec.description])
        elif kind == "tasks":
            height, width = spec.size
            problems = registry.task_problems(spec, clashes=False)  # a clash has had its own warning
            if problems:
                print(f"udabench: task '{name}' from '{provider}' cannot run: {'; '.join(problems)}; fix the name "
                      "in its TaskSpec, or install the plugin that registers it", file=sys.stderr)
            flag = {n: n if registry.resolves(k, n) else f"{n} (registered twice)" if n in registry.conflicts[k]
                    else f"{n} (not registered)"  # marked in the table
                    for k, n in (("datasets", spec.source), ("datasets", spec.target), ("backbones", spec.backbone))}
            rows.append([name, f"{flag[spec.source]} -> {flag[spec.target]}", f"{width}x{height}x{spec.channels}",
                         flag[spec.backbone], provider, spec.description])
        elif kind == "datasets":
            rows.append([name, hub_label(spec), found[name].origin, found[name].images_cell(spec),
                         f"{spec.image_size[1]}x{spec.image_size[0]}x{spec.channels}", spec.num_classes, provider])
        elif kind == "suites":
            rows.append([name, ", ".join(spec.tasks), ", ".join(t.name for t in spec.tables), provider])
        else:
            rows.append([name, provider, spec.description])
    headers = {
        "methods": ["method", "setting", "phases", "provided by", "description"],
        "tasks": ["task", "source -> target", "input", "backbone", "provided by", "description"],
        "datasets": ["dataset", "hub id@revision", "data from", "images", "image", "classes", "provided by"],
        "backbones": ["backbone", "provided by", "description"],
        "metrics": ["metric", "provided by", "description"],
        "suites": ["suite", "tasks", "tables", "provided by"],
    }[kind]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    if args.verbose:
        for name in registry.names(kind):
            _print_details(kind, registry.specs[kind][name], registry)
            if kind == "datasets" and found[name].problem:
                print(f"  a run stops: {found[name].problem}")
    return 0


def _print_details(kind: str, spec, registry) -> None:
    if kind == "methods":
        print(f"\n{spec.name} hyperparameters (--set NAME=VALUE):")
        for hp_name, default in spec.hparams.items():
            help_text = spec.hparam_help.get(hp_name, "")
            print(f"  {hp_name} = {default!r}  {help_text}".rstrip())
    elif kind == "tasks":
        height, width = spec.size
        print(f"\n{spec.name}: {spec.source} -> {spec.target} at {width}x{height}, {spec.channels} channel(s), "
              f"normalised with mean {', '.join(map(str, spec.mean))} and std {', '.join(map(str, spec.std))}; "
              f"backbone {spec.backbone}; splits {spec.train_split} (train) and {spec.test_split} (test)")
        if spec.base:
            base = registry.specs["tasks"].get(spec.base)
            own = [f.name for f in dataclasses.fields(spec) if base is not None and f.name not in _NOT_INHERITED
                   and getattr(spec, f.name) != getattr(base, f.name)]
            print(f"  based on {spec.base}; its own values: {', '.join(own) or 'none'}")
        print("  protocol hyperparameters (replace method defaults; --set wins): "
              + (", ".join(f"{k}={v!r}" for k, v in spec.hparams.items()) or "none"))
        if spec.kind == "segmentation":
            subsets = "".join(f"; {name} over {len(names)} of them" for name, names in spec.class_subsets.items())
            print(f"  segmentation at {width}x{height} (--resolution changes it), "
                  f"{len(spec.classes)} classes ({', '.join(spec.classes)}){subsets}; training batches: "
                  f"{', '.join(spec.augment) or 'as stored'} (image and label map together)")
        elif spec.augment or spec.stored_resolution != spec.resolution:
            print(f"  images kept at {spec.stored_resolution}x{spec.stored_resolution}; training "
                  f"batches: {', '.join(spec.augment) or 'centre crop'} to {width}x{height} "
                  f"(on the device); evaluation: centre {width}x{height} crop")
        if spec.reported:
            print("  reported in the papers (%):")
        for row in spec.reported:
            std = f" +- {row.std}" if row.std is not None else ""
            print(f"    {row.method}: {row.value}{std}  [{row.source}]")
    elif kind == "suites":
        print(f"\n{spec.name}: {spec.title}; metric {spec.metric}; {spec.description}")
        for table in spec.tables:
            print(f"  {table.name}: {table.title}  [{table.source}]")
    elif kind == "datasets":
        from udabench.data.inventory import revision_line

        print(f"\n{spec.name}: {spec.description}; homepage {spec.homepage or '-'}"
              + (f"; official archive reader {spec.local_loader}" if spec.local_loader else ""))
        print(f"  revision: {revision_line(spec)}")
        if spec.sizes:
            print(f"  nominal sizes (spec): {', '.join(f'{s} {n:,}' for s, n in spec.sizes.items())}")
        print(f"  image_size {spec.image_size[1]}x{spec.image_size[0]}, {spec.channels} channel(s): "
              + ("every image's size; a local copy of another size is refused" if spec.fixed_size
                 else "nominal (images may vary; runs resize them)"))


_NUMBER = r"(?:-?[\d.eE+-]+|null|NaN|-?Infinity)"
_NUMBER_LIST = re.compile(rf'\[\s*(?:"(?:[^"\\]|\\.)*"\s*,\s*)?{_NUMBER}(?:\s*,\s*{_NUMBER})*\s*\]')
# Fields a task made with TaskSpec.based_on never takes from its base (and the bookkeeping ones).
_NOT_INHERITED = ("name", "description", "suite", "reported", "base", "base_fields")


def cmd_import(args) -> int:
    from udabench.store import Store
    from udabench.transfer import import_runs

    store = Store(args.store)
    counts = import_runs(args.files, store)
    print(f"udabench: imported {counts['imported']} run(s) ({counts['pictures']} picture(s), the weights of "
          f"{counts['weights']}) into {store.path}; kept {counts['kept']} the store already held", file=sys.stderr)
    return 0


def cmd_results(args) -> int:
    from udabench.store import Store

    store = Store(args.store, must_exist=True)
    if args.show and args.export:
        raise UdabenchError("give --show (one run) or --export (the runs as filtered), not both")
    if args.show:
        record = store.get(args.show)
        if record is None:
            raise UdabenchError(f"no stored run '{args.show}' in {store.path}")
        from pathlib import Path

        folder = Path(record["artifacts"]) if record["artifacts"] else None
        record["artifact_files"] = sorted(str(p) for p in folder.rglob("*") if p.is_file()) if folder else []
        # A list of numbers (a confusion matrix row), or a name and its numbers (per-class values), on
        # one line rather than one line per value.
        print(re.sub(_NUMBER_LIST, lambda m: json.dumps(json.loads(m.group(0))),
                     json.dumps(record, indent=2, sort_keys=True)))
        # stdout stays one JSON document; the per-class reading of it goes to the terminal beside it.
        for line in _class_lines(record, full_matrix=True):
            print(line, file=sys.stderr)
        return 0
    if args.weights and not args.export:
        raise UdabenchError("--weights goes with --export FILE")
    records = store.query(method=args.method, task=args.task, status=args.status)
    shared = set()
    if args.protocol:
        from udabench.plugins import load_registry
        from udabench.sweep import expand, read_sweep_file

        jobs = expand(read_sweep_file(args.protocol), load_registry(warn=False))
        planned = {job.key for job in jobs}
        shared = {job.run_id for job in jobs if job.shared_source}
        records = [record for record in records if record["key"] in planned]
    if args.export:
        from udabench.transfer import export_runs, source_models

        weights = shared | source_models(store.query()) if args.weights else set()
        counts = export_runs(records, args.export, weights)
        print(f"udabench: exported {counts['runs']} run(s), {counts['pictures']} picture(s) and the weights of "
              f"{counts['weights']} source model(s) to {args.export}", file=sys.stderr)
        return 0
    if args.json:
        for record in records:
            print(json.dumps(record, sort_keys=True))
        return 0
    from tabulate import tabulate

    from udabench.code import code_status
    from udabench.plugins import load_registry

    registry = load_registry()
    rows = [[r["run_id"], r["method"], r["task"], r["seed"], r["status"],
             _fmt(r["metrics"].get("accuracy", r["metrics"].get("miou"))),
             _fmt(r["metrics"].get("source_accuracy", r["metrics"].get("source_miou"))),
             r["config"].get("steps"), r["device"], code_status(r, registry), r["created_at"]] for r in records]
    print(tabulate(rows, headers=["run", "method", "task", "seed", "status", "target acc/mIoU", "source acc/mIoU",
                                  "steps", "device", "code", "created"], tablefmt="github"))
    print(f"{len(records)} run(s) in {store.path}", file=sys.stderr)
    return 0


def cmd_leaderboard(args) -> int:
    from udabench.leaderboard import command_leaderboard

    return command_leaderboard(args)


def cmd_plot(args) -> int:
    from udabench.plots import plot_board, plot_run

    if args.run:
        if args.selection or args.from_export or args.protocol:
            raise UdabenchError("--selection, --protocol and --from-export apply to --suite, not to --run")
        from udabench.store import Store

        store = Store(args.store, must_exist=True)
        record = store.get(args.run)
        if record is None:
            raise UdabenchError(f"no stored run '{args.run}' in {store.path}")
        if args.features:
            path = _plot_features(args, store, record)
        else:
            path = plot_run(record, args.out or f"run-{record['run_id']}.png")
    else:
        if args.features or args.data or args.data_root:
            raise UdabenchError("--features, --data and --data-root apply to --run, not to --suite")
        from udabench.leaderboard import board_for

        path = plot_board(board_for(args), args.out or f"{args.suite}.png")
    print(path)
    return 0


def _plot_features(args, store, record):
    """``udabench plot --run RUN --features``: the features before and after adaptation."""
    from udabench.hparams import parse_assignments
    from udabench.plots import _pyplot, plot_features
    from udabench.plugins import load_registry
    from udabench.runner.pictures import feature_panels

    _pyplot()  # no matplotlib: say so before models and data are loaded
    registry = load_registry()
    panels, classes, note = feature_panels(record, store, registry, parse_assignments(args.data, "--data"),
                                           args.data_root)
    if note:
        print(f"udabench: {note}", file=sys.stderr)
    title = f"run {record['run_id']}: {record['method']} on {record['task']}, seed {record['seed']}"
    path, embedding_note = plot_features(panels, classes, args.out or f"run-{record['run_id']}-features.png", title,
                                         args.embedding)
    if embedding_note:
        print(f"udabench: {embedding_note}", file=sys.stderr)
    return path


def cmd_publish(args) -> int:
    from udabench.leaderboard import command_publish

    return command_publish(args)


def cmd_bench(args) -> int:
    from udabench.bench import BenchOptions, format_table, precision_ratios, run_bench
    from udabench.hparams import parse_assignments
    from udabench.plugins import load_registry
    from udabench.runner import RunRequest

    options = BenchOptions(steps=args.steps, warmup=args.warmup, repeats=args.repeats,
                           loader_workers=args.loader_workers)
    options.check()
    registry = load_registry()
    methods, tasks, precisions = _names(args.method), _names(args.task), _names([args.precision])
    data = parse_assignments(args.data, "--data")
    overrides = parse_assignments(args.overrides, "--set")
    used = set()
    requests = []
    for task_name in tasks:
        task = registry.get("tasks", task_name)
        datasets = {task.source, task.target}
        used |= datasets
        for method in methods:
            for precision in precisions:
                # --steps of 'udabench run' stays at its default: it sets the phase length, not the timed steps.
                requests.append(RunRequest(
                    method=method, task=task_name, seed=args.seed, batch_size=args.batch_size, device=args.device,
                    overrides=overrides, backbone=args.backbone, data_root=args.data_root, threads=args.threads,
                    data={name: path for name, path in data.items() if name in datasets}, progress=False,
                    precision=precision, channels_last=args.channels_last, capture=args.capture))
    unused = sorted(set(data) - used)
    if unused:
        raise UdabenchError(f"--data names {', '.join(unused)}, which none of the tasks ({', '.join(tasks)}) uses")
    rows = run_bench(registry, requests, options)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
        for line in precision_ratios(rows):
            print(line)
    return 0


def cmd_cache(args) -> int:
    from udabench.data import cache

    folder = cache.cache_folder()
    if folder is None:
        print("the decoded-data cache is off (UDABENCH_CACHE=off)")
        return 0
    entries = cache.entries(folder)
    if args.clear:
        freed = cache.clear(folder)
        print(f"removed {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} from {folder}, "
              f"freed {freed / 1e6:.2f} MB")
        return 0
    from tabulate import tabulate

    rows = []
    for entry in entries:
        size = entry.get("size")
        size = f"{size[1]}x{size[0]}" if isinstance(size, list) and len(size) == 2 else "-"
        rows.append([entry.get("dataset", "?"), entry.get("split", "?"), size, f"{entry['bytes'] / 1e6:.2f}",
                     entry.get("source", "")])
    if rows:
        print(tabulate(rows, headers=["dataset", "split", "size", "MB", "source"], tablefmt="github",
                       disable_numparse=True, colalign=["left", "left", "left", "right", "left"]))
    total = sum(entry["bytes"] for entry in entries)
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {total / 1e6:.2f} MB in {folder}")
    return 0


def cmd_check(args) -> int:
    from udabench.check import command_check

    return command_check(args)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main())
