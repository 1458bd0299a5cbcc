"""Suite plots a reader can read: seeds and budget in the legend, no error bar for one seed, the
paper's number as a diamond unlike any error bar, and a spread over 10 points flagged."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


def test_suite_plot_legend_error_bars_paper_marks_and_spread(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from udabench.leaderboard.board import Board, Cell, Row
    from udabench.plots import LARGE_SPREAD, plot_board
    from udabench.specs import SuiteSpec

    suite = SuiteSpec("s", "A suite", ("t1", "t2"), metric="accuracy")
    rows = [
        Row("reproduced", "dann", budget="train 3000, batch 128",
            cells={"t1": Cell([80.0, 82.0, 84.0], reported=(85.0, None)), "t2": Cell([50.0])}),
        Row("reproduced", "shot", budget="adapt 1000, batch 64",
            cells={"t1": Cell([40.0, 70.0, 90.0]), "t2": Cell([60.0, 61.0, 62.0], reported=(70.0, 1.0))}),
    ]
    board = Board(suite=suite, rule=SimpleNamespace(name="last"), rows=rows, footer=[])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = {}
    real_close = plt.close

    def keep(figure):
        axis = figure.axes[0]
        drawn["labels"] = [text.get_text() for text in axis.get_legend().get_texts()]
        drawn["errorbars"] = [len(line.get_segments()) for line in axis.collections]
        drawn["hatched"] = [bool(patch.get_hatch()) for patch in axis.patches]
        drawn["diamonds"] = [line for line in axis.lines if line.get_marker() == "D"]
        drawn["flags"] = [text.get_text() for text in axis.texts]
        real_close(figure)

    monkeypatch.setattr(plt, "close", keep)
    plot_board(board, tmp_path / "suite.png")
    assert drawn["labels"][:2] == ["dann (n=1-3; train 3000, batch 128)", "shot (n=3; adapt 1000, batch 64)"]
    assert "the paper's number for that method" in drawn["labels"]
    assert any(f"> {LARGE_SPREAD:g} points" in label for label in drawn["labels"])
    assert sum(drawn["errorbars"]) == 3  # dann's t1 and both of shot's; none for dann's one seed on t2
    assert drawn["hatched"] == [False, False, True, False]  # shot on t1: std 25 points
    assert drawn["flags"] == ["!"]
    assert len(drawn["diamonds"]) == 2 and all(line.get_markerfacecolor() == "white" for line in drawn["diamonds"])
