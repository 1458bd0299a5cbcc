"""``udabench results`` and ``udabench import``: the stored runs, listed, shown, exported and imported."""

from __future__ import annotations

import json
import re
import sys

from udabench.commands.summary import class_lines, fmt
from udabench.errors import UdabenchError

_NUMBER = r"(?:-?[\d.eE+-]+|null|NaN|-?Infinity)"
_NUMBER_LIST = re.compile(rf'\[\s*(?:"(?:[^"\\]|\\.)*"\s*,\s*)?{_NUMBER}(?:\s*,\s*{_NUMBER})*\s*\]')


def command_import(args) -> int:
    from udabench.store import Store
    from udabench.transfer import import_runs

    store = Store(args.store)
    counts = import_runs(args.files, store)
    print(f"udabench: imported {counts['imported']} run(s) ({counts['pictures']} picture(s), the weights of "
          f"{counts['weights']}) into {store.path}; kept {counts['kept']} the store already held", file=sys.stderr)
    return 0


def command_results(args) -> int:
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
        for line in class_lines(record, full_matrix=True):
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
             fmt(r["metrics"].get("accuracy", r["metrics"].get("miou"))),
             fmt(r["metrics"].get("source_accuracy", r["metrics"].get("source_miou"))),
             r["config"].get("steps"), r["device"], code_status(r, registry), r["created_at"]] for r in records]
    print(tabulate(rows, headers=["run", "method", "task", "seed", "status", "target acc/mIoU", "source acc/mIoU",
                                  "steps", "device", "code", "created"], tablefmt="github"))
    print(f"{len(records)} run(s) in {store.path}", file=sys.stderr)
    return 0
