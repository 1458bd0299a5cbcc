"""Leaderboards: the runs stored with udabench on a suite's tasks, beside the numbers the papers report.

A suite (``udabench.specs.SuiteSpec``) names its tasks and the thesis-defence slides' tables (``ReportedTable``). A
leaderboard lists the tables' rows in paper order and, under the paper row of the same udabench
method, one row per reproduced variant (method, backbone, step budget, non-default hyperparameters):
mean ± sample standard deviation over seeds of the number a model-selection rule picks from each run.

The leaderboard is computed from *export entries*, one small JSON object per run with only what it
needs, so that a published table can be regenerated from its ``<suite>-runs.jsonl`` without the
results store, byte for byte. Importing this package never imports torch or pandas.

Modules: ``common`` (formats, numbers as printed), ``entries`` (export entries and files), ``board``
(rows, cells and the footer), ``render`` (Markdown, CSV, LaTeX, the published page), ``commands``
(``udabench leaderboard`` and ``udabench publish``).
"""

from udabench.leaderboard.board import Board, Cell, Row, build
from udabench.leaderboard.commands import board_for, command_leaderboard, command_publish
from udabench.leaderboard.common import (ABSENT, EMPTY, FORMATS, ORACLE_MARK, Segment, all_tables, check_format,
                                         get_suite, number, reported_text)
from udabench.leaderboard.entries import (CONFIG_KEYS, ENTRY_KEYS, entries_from_store, export_entries, export_entry,
                                          export_name, export_text, read_export)
from udabench.leaderboard.notes import data_description
from udabench.leaderboard.render import (board_grid, footer_comments, heading_of, latex_escape, publication, publish,
                                         render_board, render_reported, reported_grid)
from udabench.leaderboard.variants import Variant, budget_of, non_default_hparams, variant_of

__all__ = [
    "ABSENT", "CONFIG_KEYS", "EMPTY", "ENTRY_KEYS", "FORMATS", "ORACLE_MARK", "Board", "Cell", "Row", "Segment",
    "Variant", "all_tables", "board_for", "board_grid", "budget_of", "build", "check_format", "command_leaderboard",
    "command_publish", "data_description", "entries_from_store", "export_entries", "export_entry", "export_name",
    "export_text", "footer_comments", "get_suite", "heading_of", "latex_escape", "non_default_hparams", "number",
    "publication", "publish", "read_export", "render_board", "render_reported", "reported_grid", "reported_text",
    "variant_of",
]
