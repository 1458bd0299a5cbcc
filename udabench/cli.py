"""The ``udabench`` command line: ``run``, ``list`` and ``results``.

Listing and help never import torch or datasets: those load only when a run starts.
"""

from __future__ import annotations

import argparse
import json
import sys

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
                     help="CPU threads for torch (default: torch's choice; 1 is faster when several runs share "
                          "the cores)")
    run.add_argument("--set", dest="overrides", action="append", metavar="NAME=VALUE",
                     help="override a method hyperparameter (repeatable; 'udabench list methods -v' shows them)")
    run.add_argument("--backbone", help="override the task's backbone, e.g. lenet or timm:resnet18")
    run.add_argument("--data", action="append", metavar="DATASET=PATH",
                     help="read DATASET from a local folder (hub parquet layout, image folder, or the "
                          "official archive layout) instead of the hub (repeatable)")
    run.add_argument("--data-root", help="folder with one sub-folder per dataset (default: $UDABENCH_DATA); "
                                         "datasets not found there load from their Hugging Face Hub id")
    run.add_argument("--store", help="results database (default: $UDABENCH_STORE or the user data directory)")
    run.add_argument("--source-run", metavar="RUN",
                     help="for a method whose first phase trains on source only (3c-gan, shot, adda): take the "
                          "source model from this stored run (same task and backbone) instead of training it")
    run.add_argument("--snapshots", type=int, default=4,
                     help="how many times per phase a method's image grids are saved (default 4; 0: never)")
    run.add_argument("--rerun", action="store_true", help="train again even if this run is already stored")
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a summary")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars on stderr")

    listing = commands.add_parser(
        "list", help="show registered methods, tasks, datasets, backbones or metrics",
        description="Show what the installed plugins register, and which distribution provides each.",
    )
    listing.add_argument("kind", choices=["methods", "tasks", "datasets", "backbones", "metrics"])
    listing.add_argument("-v", "--verbose", action="store_true",
                         help="more detail: hyperparameters of methods, data sources and reported numbers")

    results = commands.add_parser(
        "results", help="list and filter stored runs",
        description="List the runs in the results store, newest last, or show one run in full.",
    )
    results.add_argument("--method", help="only runs of this method")
    results.add_argument("--task", help="only runs of this task")
    results.add_argument("--status", choices=["ok", "failed"], help="only runs with this status")
    results.add_argument("--show", metavar="RUN", help="print one run in full (id or id prefix)")
    results.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    results.add_argument("--store", help="results database (default: $UDABENCH_STORE or the user data directory)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return {"run": cmd_run, "list": cmd_list, "results": cmd_results}[args.command](args)
    except UdabenchError as exc:
        print(f"udabench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("udabench: interrupted", file=sys.stderr)
        return 130


def cmd_run(args) -> int:
    from udabench.hparams import parse_assignments
    from udabench.plugins import load_registry
    from udabench.runner import RunFailed, RunRequest, execute, prepare
    from udabench.store import Store, environment_versions, git_revision

    request = RunRequest(
        method=args.method, task=args.task, seed=args.seed, steps=args.steps, batch_size=args.batch_size,
        device=args.device, overrides=parse_assignments(args.overrides, "--set"), backbone=args.backbone,
        data=parse_assignments(args.data, "--data"), data_root=args.data_root, progress=not args.no_progress,
        threads=args.threads, snapshots=args.snapshots,
    )
    if args.source_run:
        request.source_run, request.source_checkpoint = _source_run(Store(args.store), args)
    registry = load_registry()
    prepared = prepare(registry, request)
    store = Store(args.store)  # opened (and created) only once the request is known to be good
    stored = store.get(prepared.run_id)
    if stored is not None and stored["status"] == "ok" and not args.rerun:
        print(f"udabench: run {prepared.run_id} is already stored; showing it (--rerun trains again)",
              file=sys.stderr)
        _print_run(stored, args.json, store)
        return 0
    artifact_dir = store.artifact_root / prepared.run_id
    try:
        result = execute(prepared, registry, request, artifact_dir)
    except RunFailed as failure:
        store.save(failure.result, environment_versions(), git_revision(), None)
        print(f"udabench: error: {failure} (stored as failed)", file=sys.stderr)
        if args.json:
            print(json.dumps(store.get(prepared.run_id), sort_keys=True))
        return EXIT_RUN_FAILED
    store.save(result, environment_versions(), git_revision(), str(artifact_dir))
    _print_run(store.get(prepared.run_id), args.json, store)
    return 0


def _source_run(store, args) -> tuple[str, str]:
    """The key and checkpoint of the stored run named by ``--source-run``, checked for fit."""
    from pathlib import Path

    record = store.get(args.source_run)
    if record is None:
        raise UdabenchError(f"--source-run: no stored run '{args.source_run}' in {store.path}")
    if record["status"] != "ok":
        raise UdabenchError(f"--source-run: run {record['run_id']} has status '{record['status']}'")
    if record["task"] != args.task:
        raise UdabenchError(f"--source-run: run {record['run_id']} was trained on task '{record['task']}', "
                            f"not '{args.task}'")
    backbone = record["config"].get("backbone")
    if args.backbone and backbone != args.backbone:
        raise UdabenchError(f"--source-run: run {record['run_id']} used backbone '{backbone}', not '{args.backbone}'")
    checkpoint = Path(record["artifacts"] or "") / "model.pt"
    if not checkpoint.is_file():
        raise UdabenchError(f"--source-run: run {record['run_id']} has no checkpoint at {checkpoint}")
    return record["key"], str(checkpoint)


def _print_run(record: dict, as_json: bool, store) -> None:
    if as_json:
        print(json.dumps({**record, "store": str(store.path)}, sort_keys=True))
        return
    metrics, timings, config = record["metrics"], record["timings"], record["config"]
    print(f"run {record['run_id']}: {record['method']} on {record['task']}, seed {record['seed']}, "
          f"{config['steps']} steps, batch {config['batch_size']}, backbone {config['backbone']}, {record['device']}")
    if record["status"] != "ok":
        print(f"  status: {record['status']}: {record['error']}")
        return
    print(f"  target test: accuracy {metrics['accuracy']:.4f}, mean class accuracy "
          f"{metrics.get('mean_class_accuracy', float('nan')):.4f}")
    print(f"  source test: accuracy {metrics['source_accuracy']:.4f}")
    print(f"  time: {timings['total_s']:.1f} s ({timings['steps_per_s']:.1f} steps/s, data {timings['load_s']:.1f} s)")
    print(f"  stored in {store.path}; artifacts in {record['artifacts']}")


def cmd_list(args) -> int:
    from tabulate import tabulate

    from udabench.plugins import load_registry

    registry = load_registry()
    kind = args.kind
    rows = []
    for name in registry.names(kind):
        spec = registry.specs[kind][name]
        provider = registry.providers[kind][name]
        if kind == "methods":
            rows.append([name, spec.setting, " -> ".join(p.name for p in spec.phases), provider, spec.description])
        elif kind == "tasks":
            rows.append([name, f"{spec.source} -> {spec.target}", f"{spec.resolution}x{spec.resolution}x{spec.channels}",
                         spec.backbone, provider, spec.description])
        elif kind == "datasets":
            sizes = ", ".join(f"{s} {n}" for s, n in spec.sizes.items())
            hub = f"{spec.hub_id}@{spec.revision}" if spec.hub_id else "(no hub copy)"
            rows.append([name, hub, f"{spec.image_size[0]}x{spec.image_size[1]}x{spec.channels}",
                         spec.num_classes, sizes, provider])
        else:
            rows.append([name, provider, spec.description])
    headers = {
        "methods": ["method", "setting", "phases", "provided by", "description"],
        "tasks": ["task", "source -> target", "input", "backbone", "provided by", "description"],
        "datasets": ["dataset", "hub id@revision", "image", "classes", "splits", "provided by"],
        "backbones": ["backbone", "provided by", "description"],
        "metrics": ["metric", "provided by", "description"],
    }[kind]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    if args.verbose:
        for name in registry.names(kind):
            _print_details(kind, registry.specs[kind][name])
    return 0


def _print_details(kind: str, spec) -> None:
    if kind == "methods":
        print(f"\n{spec.name} hyperparameters (--set NAME=VALUE):")
        for hp_name, default in spec.hparams.items():
            help_text = spec.hparam_help.get(hp_name, "")
            print(f"  {hp_name} = {default!r}  {help_text}".rstrip())
    elif kind == "tasks" and (spec.reported or spec.hparams):
        if spec.hparams:
            print(f"\n{spec.name}: protocol hyperparameters (replace method defaults): "
                  + ", ".join(f"{k}={v!r}" for k, v in spec.hparams.items()))
        print(f"\n{spec.name}: reported in the papers (%):")
        for row in spec.reported:
            std = f" +- {row.std}" if row.std is not None else ""
            print(f"  {row.method}: {row.value}{std}  [{row.source}]")
    elif kind == "datasets":
        print(f"\n{spec.name}: {spec.description}; homepage {spec.homepage or '-'}"
              + (f"; official archive reader {spec.local_loader}" if spec.local_loader else ""))


def cmd_results(args) -> int:
    from udabench.store import Store

    store = Store(args.store)
    if args.show:
        record = store.get(args.show)
        if record is None:
            raise UdabenchError(f"no stored run '{args.show}' in {store.path}")
        from pathlib import Path

        folder = Path(record["artifacts"]) if record["artifacts"] else None
        record["artifact_files"] = sorted(str(p) for p in folder.rglob("*") if p.is_file()) if folder else []
        print(json.dumps(record, indent=2, sort_keys=True))
        return 0
    records = store.query(method=args.method, task=args.task, status=args.status)
    if args.json:
        for record in records:
            print(json.dumps(record, sort_keys=True))
        return 0
    from tabulate import tabulate

    rows = [[r["run_id"], r["method"], r["task"], r["seed"], r["status"],
             _fmt(r["metrics"].get("accuracy")), _fmt(r["metrics"].get("source_accuracy")),
             r["config"].get("steps"), r["device"], r["created_at"]] for r in records]
    print(tabulate(rows, headers=["run", "method", "task", "seed", "status", "target acc", "source acc",
                                  "steps", "device", "created"], tablefmt="github"))
    print(f"{len(records)} run(s) in {store.path}", file=sys.stderr)
    return 0


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main())
