"""``udabench plot``: a suite's results, a run's training curves or its features, as PNG."""

from __future__ import annotations

import sys

from udabench.errors import UdabenchError


def command_plot(args) -> int:
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
    from udabench.features import feature_panels

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
