"""``udabench run``: one method on one task, trained, evaluated and stored."""

from __future__ import annotations

import json
import sys

from udabench import options
from udabench.commands import EXIT_RUN_FAILED, check_device
from udabench.commands.summary import print_run


def command_run(args) -> int:
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
    # The rest of the options are checked with the names, where prepare() checks the request.
    options.check(args, ("checkpoint_minutes", "eval_points"))
    if args.resolution:
        request.resolution = options.parse_resolution(args.resolution)
    request.source_run = args.source_run
    if args.source_run or request.overrides.get("generator_from", "none") != "none":
        resolve_stored_runs(request, Store(args.store))
    registry = load_registry()
    prepared = prepare(registry, request)
    check_device(request.device)
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
    print_run(record, args.json, store, prepared.method)
    return 0
