"""``udabench leaderboard`` and ``udabench publish``."""

from __future__ import annotations

from pathlib import Path

from udabench.errors import UdabenchError
from udabench.leaderboard.board import Board, build
from udabench.leaderboard.common import check_format, get_suite, all_tables
from udabench.leaderboard.entries import entries_from_store, export_name, read_export
from udabench.leaderboard.render import footer_comments, publish, render_board, render_reported
from udabench.selection import DEFAULT_RULE, get_rule

# --- the commands -----------------------------------------------------------------------------------


def _load(args, registry, suite):
    if args.store and args.from_export:
        raise UdabenchError("give --store or --from-export, not both")
    if args.from_export:
        return read_export(args.from_export, suite)
    return entries_from_store(args.store, suite)


def command_leaderboard(args) -> int:
    """``udabench leaderboard``: see ``udabench leaderboard --help``."""
    import sys

    from udabench.plugins import load_registry

    fmt = check_format(args.format)
    rule = get_rule(args.selection or DEFAULT_RULE)
    registry = load_registry()
    suite = get_suite(registry, args.suite) if args.suite else None
    if args.reported_only:
        if args.store or args.from_export or args.selection:
            raise UdabenchError("--reported-only prints the papers' tables alone; --store, --from-export and "
                                "--selection do not apply")
        tables = all_tables(registry, suite)
        if not tables:
            raise UdabenchError("no registered suite has reported tables")
        sys.stdout.write(render_reported(tables, fmt))
        return 0
    if suite is None:
        raise UdabenchError(f"leaderboard needs --suite NAME (known: {', '.join(registry.names('suites'))}), or "
                            "--reported-only for the papers' tables")
    board = build(suite, _load(args, registry, suite), rule.name, registry)
    sys.stdout.write(render_board(board, fmt))
    if fmt == "csv":
        sys.stderr.write(footer_comments(board))
    if args.plot:
        from udabench.plots import plot_board

        print(f"plot: {plot_board(board, args.plot)}", file=sys.stderr)
    return 0


def board_for(args) -> Board:
    """The board of ``args.suite`` under ``args.selection``, from the store or ``args.from_export``."""
    from udabench.plugins import load_registry

    rule = get_rule(args.selection or DEFAULT_RULE)
    registry = load_registry()
    suite = get_suite(registry, args.suite)
    return build(suite, _load(args, registry, suite), rule.name, registry)


def command_publish(args) -> int:
    """``udabench publish``: see ``udabench publish --help``."""
    import sys

    from udabench.plugins import load_registry

    rule = get_rule(args.selection or DEFAULT_RULE)
    registry = load_registry()
    if not args.suite:
        raise UdabenchError(f"publish needs --suite NAME (known: {', '.join(registry.names('suites'))})")
    suite = get_suite(registry, args.suite)
    entries = _load(args, registry, suite)
    board = build(suite, entries, rule.name, registry)
    out = Path(args.out)
    target = out / export_name(suite)
    same_file = bool(args.from_export) and target.exists() and target.resolve() == Path(args.from_export).resolve()
    page, runs = publish(board, entries, out, write_export=not same_file)
    print(f"udabench: wrote {page} and {runs} ({len(entries)} run(s))" if not same_file
          else f"udabench: wrote {page} from {runs} ({len(entries)} run(s))", file=sys.stderr)
    return 0
