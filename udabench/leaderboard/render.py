"""The board and the papers' tables as Markdown, CSV or LaTeX, and the published page."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from udabench.errors import UdabenchError
from udabench.leaderboard.board import Board, Cell
from udabench.leaderboard.common import (ABSENT, EMPTY, ORACLE_MARK, Segment, _percent, _signed, number,
                                         reported_text)
from udabench.leaderboard.entries import export_name, export_text
from udabench.leaderboard.pictures import pictures_section
from udabench.specs import ReportedTable

# --- rendering helpers ------------------------------------------------------------------------------


def _md_cell(segments: Sequence[Segment]) -> str:
    text = "".join(f"**{part}**" if bold and part else part for part, bold in segments)
    return text.replace("|", "\\|")


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "→": r"$\rightarrow$", "·": r"$\cdot$", "–": "--", "↓": r"$\downarrow$"}


def latex_escape(text: str) -> str:
    """Text for LaTeX: special characters escaped, ±, →, ·, – as LaTeX, `code` in typewriter type."""
    import re

    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for char, replacement in _LATEX_UNICODE.items():
        out = out.replace(char, replacement)
    return re.sub(r"`([^`]*)`", r"\\texttt{\1}", out)


def _latex_cell(segments: Sequence[Segment]) -> str:
    return "".join(f"\\textbf{{{latex_escape(part)}}}" if bold and part else latex_escape(part)
                   for part, bold in segments)


def _markdown_table(header: Sequence[Sequence[Segment]], body: Sequence[Sequence[Sequence[Segment]]]) -> str:
    from tabulate import tabulate

    return tabulate([[_md_cell(cell) for cell in row] for row in body], headers=[_md_cell(c) for c in header],
                    tablefmt="github", disable_numparse=True)


def _latex_table(header, body, headings: set[int]) -> str:
    width = len(header)
    lines = ["\\begin{tabular}{" + "l" * width + "}", "\\hline",
             " & ".join(_latex_cell(cell) for cell in header) + " \\\\", "\\hline"]
    for index, row in enumerate(body):
        if index in headings:
            lines.append(f"\\multicolumn{{{width}}}{{l}}{{\\textit{{{_latex_cell(row[0])}}}}} \\\\")
        else:
            lines.append(" & ".join(_latex_cell(cell) for cell in row) + " \\\\")
    lines += ["\\hline", "\\end{tabular}"]
    return "\n".join(lines)


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _plain(text: str) -> list[Segment]:
    return [(text, False)]


# --- the papers' tables as printed ------------------------------------------------------------------


def _reported_cell(row, key) -> list[Segment]:
    if key not in row.cells:
        return _plain(ABSENT)
    value, std = row.cells[key]  # the paper bolds the value, not its ± std
    return [(number(value), key in row.bold)] + ([(f" ± {number(std)}", False)] if std is not None else [])


def _first_of_block(rows) -> list[str]:
    """Each row's backbone where a block of rows with the same backbone starts, else "" (merged cells)."""
    shown, previous = [], object()
    for row in rows:
        shown.append((row.backbone or "") if row.backbone != previous else "")
        previous = row.backbone
    return shown


def reported_grid(table: ReportedTable):
    """(header, body, indices of group-heading rows) of a table laid out as the slides print it."""
    backbones = _first_of_block(table.rows)
    if table.transposed:
        header = [_plain("Method")] + [_plain(row.printed_label) for row in table.rows]
        body = []
        if table.backbone_label:
            body.append([_plain(table.backbone_label)] + [_plain(b) for b in backbones])
        for key, label in table.columns:
            body.append([_plain(label)] + [_reported_cell(row, key) for row in table.rows])
        return header, body, set()
    header = [_plain("Method")] + ([_plain(table.backbone_label)] if table.backbone_label else []) + [
        _plain(label) for _, label in table.columns]
    body, headings, group = [], set(), ""
    for row, backbone in zip(table.rows, backbones):
        if row.group and row.group != group:
            headings.add(len(body))
            body.append([[(row.group, False)]] + [_plain("")] * (len(header) - 1))
        group = row.group
        body.append([_plain(row.printed_label)] + ([_plain(backbone)] if table.backbone_label else [])
                    + [_reported_cell(row, key) for key, _ in table.columns])
    return header, body, headings


def render_reported(tables: Sequence[ReportedTable], fmt: str, level: int = 2) -> str:
    """The tables as the thesis-defence slides show them: title, source, columns as printed, "-", "±", bold, groups."""
    if fmt == "csv":
        keys = list(dict.fromkeys(key for table in tables for key, _ in table.columns))
        header = ["table", "group", "label", "backbone", "udabench_method", "bold"]
        header += [part for key in keys for part in (key, f"{key} std")]
        rows = []
        for table in tables:
            for row in table.rows:
                line = [table.name, row.group, row.printed_label, row.backbone or "", row.udabench_method or "",
                        ";".join(key for key, _ in table.columns if key in row.bold)]
                for key in keys:
                    value, std = row.cells.get(key, (None, None))
                    line += [number(value) if value is not None else "", number(std) if std is not None else ""]
                rows.append(line)
        return _csv_text(header, rows)
    blocks = []
    for table in tables:
        header, body, headings = reported_grid(table)
        if fmt == "markdown":
            for index in headings:
                body[index][0] = [(f"*{body[index][0][0][0]}*", False)]
            blocks.append(f"{'#' * level} {table.title}\n\nSource: {table.source}.\n\n"
                          f"{_markdown_table(header, body)}\n")
        else:
            blocks.append(f"\\noindent\\textbf{{{latex_escape(table.title)}}}\\\\\nSource: "
                          f"{latex_escape(table.source)}.\n\n{_latex_table(header, body, headings)}\n")
    return "\n".join(blocks)


# --- the leaderboard --------------------------------------------------------------------------------


def heading_of(board: Board) -> str:
    mark = f" {ORACLE_MARK}" if board.rule.uses_target_labels else ""
    scope = (f"protocol `{board.protocol.name}`" if board.protocol is not None
             else "no protocol: every stored run")
    return f"{board.suite.name} leaderboard: {board.suite.title}, selection rule `{board.rule.name}`{mark}, {scope}"


def _reproduced_segments(cell: Cell) -> list[Segment]:
    if not cell.values:
        return _plain(EMPTY)
    if not cell.shown:
        return _plain(f"{EMPTY} (n={cell.n} < {cell.min_seeds})")
    core = _percent(cell.mean) + (f" ± {_percent(cell.std)}" if cell.std is not None else "")
    segments = [(core, cell.bold), (f" (n={cell.n})", False)]
    if cell.reported is not None:
        diff = f" ({_signed(cell.diff)})" if cell.diff is not None else ""
        segments.append((f" · paper {reported_text(*cell.reported)}{diff}", False))
    return segments


def _avg_segments(row) -> list[Segment]:
    return [(_percent(row.avg), row.avg_bold)] if row.avg is not None else _plain(EMPTY)


def board_grid(board: Board):
    tasks = list(board.suite.tasks)
    header = [_plain(text) for text in ("method", "numbers", "backbone", "budget", *tasks, "Avg")]
    body, headings = [], set()
    for row in board.rows:
        if row.kind == "heading":
            headings.add(len(body))
            body.append([_plain(row.label)] + [_plain("")] * (len(header) - 1))
            continue
        if row.kind == "reported":
            cells = [_plain(reported_text(*row.cells[t].reported)) if row.cells[t].reported else _plain(EMPTY)
                     for t in tasks]
        else:
            cells = [_reproduced_segments(row.cells[t]) for t in tasks]
        body.append([_plain(row.label), _plain(row.kind), _plain(row.backbone or EMPTY),
                     _plain(row.budget or EMPTY), *cells, _avg_segments(row)])
    return header, body, headings


def _csv_number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_board(board: Board, fmt: str, level: int = 2) -> str:
    if fmt == "csv":
        tasks = list(board.suite.tasks)
        header = ["numbers", "table", "group", "label", "udabench_method", "backbone", "budget"]
        header += [f"{task} {part}" for task in tasks for part in ("mean", "std", "n", "reported", "reported std",
                                                                  "diff")]
        header.append("avg")
        rows = []
        for row in board.rows:
            if row.kind == "heading":
                continue
            line = [row.kind, row.table, row.group, row.label, row.method or "", row.backbone, row.budget]
            for task in tasks:
                cell = row.cells[task]
                value, std = cell.reported if cell.reported else (None, None)
                shown = cell.values and cell.shown
                line += [_csv_number(cell.mean if shown else None), _csv_number(cell.std if shown else None),
                         str(cell.n) if cell.values else "",
                         number(value) if value is not None else "", number(std) if std is not None else "",
                         _csv_number(cell.diff)]
            line.append(_csv_number(row.avg))
            rows.append(line)
        return _csv_text(header, rows)
    header, body, headings = board_grid(board)
    if fmt == "markdown":
        for index in headings:
            body[index][0] = [(f"*{body[index][0][0][0]}*", False)]
        footer = "\n".join(f"- {line}" for line in board.footer)
        return f"{'#' * level} {heading_of(board)}\n\n{_markdown_table(header, body)}\n\n{footer}\n"
    items = "\n".join(f"\\item {latex_escape(line)}" for line in board.footer)
    return (f"\\noindent\\textbf{{{latex_escape(heading_of(board))}}}\n\n{_latex_table(header, body, headings)}\n\n"
            f"\\begin{{itemize}}\n{items}\n\\end{{itemize}}\n")


def footer_comments(board: Board) -> str:
    """The footer as ``#`` lines, for stderr beside a CSV that holds the numbers alone."""
    return "".join(f"# {line}\n" for line in board.footer)

# --- publishing -------------------------------------------------------------------------------------


def regenerate_command(board: Board, allow_dirty: bool = False) -> str:
    """The command that writes a published page again from its runs file, in the page's folder."""
    suite, rule = board.suite, board.rule
    return (f"udabench publish --suite {suite.name} --selection {rule.name} --grid-selection {board.grid_rule.name} "
            f"--min-seeds {board.min_seeds}{' --allow-dirty' if allow_dirty else ''} "
            f"--from-export {export_name(suite)} --out .")


def publication(board: Board, allow_dirty: bool = False) -> str:
    """The Markdown page of a published leaderboard: heading, what it shows, the board, the papers' tables."""
    suite = board.suite
    rule = board.rule
    protocol = board.protocol
    mark = f" {ORACLE_MARK}" if rule.uses_target_labels else ""
    scope = (f"the runs made with udabench under the protocol `{protocol.name}` (`{protocol.file}`), by the code "
             f"current when the page was written," if protocol is not None else "the runs stored with udabench")
    intro = (f"Target test {suite.metric_label} (%) of {scope} on the tasks of the `{suite.name}` "
             f"suite ({', '.join(suite.tasks)}): mean ± standard deviation over seeds of the number the "
             f"model-selection rule `{rule.name}`{mark} picks from each run, under the matching rows of the papers' "
             f"tables, which follow for reference. The runs behind it are listed in `{export_name(suite)}`; "
             f"`{regenerate_command(board, allow_dirty)}`, "
             f"run in this folder, writes this page again from that file.")
    parts = [f"# {suite.title}: the `{suite.name}` leaderboard\n", intro + "\n", render_board(board, "markdown", 2)]
    if board.pictures:
        parts.append(pictures_section(board.pictures, 2))
    parts += ["## The papers' tables\n", render_reported(suite.tables, "markdown", 3)]
    return "\n".join(parts)


def publish(board: Board, entries: Sequence[dict[str, Any]], out_dir: str | Path,
            write_export: bool = True, allow_dirty: bool = False) -> tuple[Path, Path]:
    """Write ``<suite>.md`` and (unless ``write_export`` is false) ``<suite>-runs.jsonl`` into ``out_dir``:
    the runs file starts with the board's protocol as its header line."""
    out = Path(out_dir)
    header = board.protocol.header() if board.protocol is not None else None
    if header is not None and board.pictures:
        header["pictures"] = list(board.pictures)
    try:
        out.mkdir(parents=True, exist_ok=True)
        page = out / f"{board.suite.name}.md"
        runs = out / export_name(board.suite)
        page.write_text(publication(board, allow_dirty), encoding="utf-8")
        if write_export:
            runs.write_text(export_text(entries, header), encoding="utf-8")
    except OSError as exc:
        raise UdabenchError(f"cannot write the leaderboard into {out}: {exc.strerror or exc}") from None
    return page, runs
