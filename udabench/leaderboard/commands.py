"""``udabench leaderboard`` and ``udabench publish``."""

from __future__ import annotations

from pathlib import Path

from udabench.errors import UdabenchError
from udabench.leaderboard.board import Board, build
from udabench.leaderboard.common import check_format, get_suite, all_tables
from udabench.leaderboard.entries import entries_from_store, export_name, read_export_file
from udabench.leaderboard.render import footer_comments, publish, render_board, render_reported
from udabench.selection import DEFAULT_RULE, get_rule

# --- the commands -----------------------------------------------------------------------------------


def _load(args, registry, suite):
    """(the entries of the store or the export, the protocol of ``--protocol`` or of the export's header,
    the export's header or None)."""
    from udabench.leaderboard.protocol import Protocol, load_protocol

    if args.store and args.from_export:
        raise UdabenchError("give --store or --from-export, not both")
    header = None
    if args.from_export:
        header, entries = read_export_file(args.from_export, suite)
    else:
        entries = entries_from_store(args.store, suite)
    if getattr(args, "protocol", None):
        return entries, load_protocol(args.protocol, registry, suite), header
    if header is not None:
        return entries, Protocol.from_header(header, str(args.from_export)), header
    return entries, None, header


def _min_seeds(args, default: int) -> int:
    value = getattr(args, "min_seeds", None)
    if value is None:
        return default
    if value < 1:
        raise UdabenchError(f"--min-seeds must be at least 1 (got {value})")
    return value


def _board(args, registry, suite, default_min_seeds: int) -> Board:
    return _board_and_header(args, registry, suite, default_min_seeds)[0]


def _board_and_header(args, registry, suite, default_min_seeds: int) -> tuple[Board, dict | None]:
    rule = get_rule(args.selection or DEFAULT_RULE)
    grid_rule = get_rule(getattr(args, "grid_selection", None) or rule.name)
    entries, protocol, header = _load(args, registry, suite)
    board = build(suite, entries, rule.name, registry, protocol=protocol,
                  min_seeds=_min_seeds(args, default_min_seeds), grid_rule=grid_rule.name)
    return board, header


def command_leaderboard(args) -> int:
    """``udabench leaderboard``: see ``udabench leaderboard --help``."""
    import sys

    from udabench.plugins import load_registry

    fmt = check_format(args.format)
    get_rule(args.selection or DEFAULT_RULE)
    registry = load_registry()
    suite = get_suite(registry, args.suite) if args.suite else None
    if args.reported_only:
        if args.store or args.from_export or args.selection or getattr(args, "protocol", None):
            raise UdabenchError("--reported-only prints the papers' tables alone; --store, --from-export, "
                                "--protocol and --selection do not apply")
        tables = all_tables(registry, suite)
        if not tables:
            raise UdabenchError("no registered suite has reported tables")
        sys.stdout.write(render_reported(tables, fmt))
        return 0
    if suite is None:
        raise UdabenchError(f"leaderboard needs --suite NAME (known: {', '.join(registry.names('suites'))}), or "
                            "--reported-only for the papers' tables")
    board = _board(args, registry, suite, 1)
    sys.stdout.write(render_board(board, fmt))
    if fmt == "csv":
        sys.stderr.write(footer_comments(board))
    if args.plot:
        from udabench.plots import plot_board

        print(f"plot: {plot_board(board, args.plot)}", file=sys.stderr)
    return 0


def board_for(args) -> Board:
    """The board of ``args.suite`` under ``args.selection`` (and ``args.protocol``, ``args.min_seeds``,
    ``args.grid_selection`` where given), from the store or ``args.from_export``."""
    from udabench.plugins import load_registry

    registry = load_registry()
    return _board(args, registry, get_suite(registry, args.suite), 1)


def check_publishable(board: Board, allow_dirty: bool) -> None:
    """A published page is of one protocol, from clean checkouts, and of one code identity per method."""
    import json

    if board.protocol is None:
        raise UdabenchError("publish needs --protocol SWEEP.toml: a published page shows the runs of one protocol "
                            "('udabench leaderboard' shows every stored run)")
    dirty = sorted({entry["git_revision"][:7] + "-dirty" for entry in board.runs
                    if (entry.get("git_revision") or "").endswith("-dirty")})
    if dirty and not allow_dirty:
        count = sum(1 for entry in board.runs if (entry.get("git_revision") or "").endswith("-dirty"))
        raise UdabenchError(f"{count} of the page's {len(board.runs)} runs were made from a modified checkout "
                            f"({', '.join(dirty)}); rerun them from a commit, or pass --allow-dirty")
    identities: dict[str, set[str]] = {}
    for entry in board.runs:
        code = (entry.get("config") or {}).get("code")
        identities.setdefault(entry["method"], set()).add(json.dumps(code, sort_keys=True) if code else "not recorded")
    mixed = [method for method, found in sorted(identities.items()) if len(found) > 1]
    if mixed:
        raise UdabenchError(f"the runs of {mixed[0]} on this page were made by {len(identities[mixed[0]])} versions "
                            "of its code; a page shows one code identity per method")


def _page_pictures(args, registry, board: Board, header: dict | None, out: Path) -> list[dict[str, str]]:
    """The pictures the page shows: copied from the runs' folders in the store, or, from an export,
    those its header lists that are in the page's folder (a warning names the missing ones)."""
    import sys

    from udabench.leaderboard.pictures import collect_pictures, present_pictures

    if args.from_export:
        present, missing = present_pictures((header or {}).get("pictures") or [], out)
        if missing:
            print(f"udabench: warning: {len(missing)} picture(s) that {Path(args.from_export).name} lists are not in "
                  f"{out} ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); the page leaves them out",
                  file=sys.stderr)
        return present
    from udabench.store import Store

    shown = {row.method for row in board.rows if row.kind == "reproduced" and row.method}
    return collect_pictures(board.runs, shown, Store(args.store, must_exist=True), registry, out, board.suite.name)


def command_publish(args) -> int:
    """``udabench publish``: see ``udabench publish --help``."""
    import sys

    from udabench.plugins import load_registry

    registry = load_registry()
    if not args.suite:
        raise UdabenchError(f"publish needs --suite NAME (known: {', '.join(registry.names('suites'))})")
    suite = get_suite(registry, args.suite)
    board, header = _board_and_header(args, registry, suite, 3)
    allow_dirty = bool(getattr(args, "allow_dirty", False))
    check_publishable(board, allow_dirty)
    out = Path(args.out)
    target = out / export_name(suite)
    same_file = bool(args.from_export) and target.exists() and target.resolve() == Path(args.from_export).resolve()
    board.pictures = _page_pictures(args, registry, board, header, out)
    page, runs = publish(board, board.runs, out, write_export=not same_file, allow_dirty=allow_dirty)
    count = len(board.runs)
    print(f"udabench: wrote {page} and {runs} ({count} run(s))" if not same_file
          else f"udabench: wrote {page} from {runs} ({count} run(s))", file=sys.stderr)
    return 0
