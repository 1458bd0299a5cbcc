"""What every part of the leaderboard shares: formats, the marks of empty cells, numbers as printed."""

from __future__ import annotations

from udabench.errors import UdabenchError
from udabench.specs import ReportedTable, SuiteSpec

FORMATS = ("markdown", "csv", "latex")
EMPTY = "–"  # a leaderboard cell with no number
ABSENT = "-"  # a cell the paper leaves empty, printed as the slides print it
ORACLE_MARK = "(oracle: uses target labels)"

Segment = tuple[str, bool]  # text, bold


# --- validation -------------------------------------------------------------------------------------


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise UdabenchError(f"unknown format '{name}' (known: {', '.join(FORMATS)})")
    return name


def get_suite(registry, name: str) -> SuiteSpec:
    """The registered suite ``name``; an unknown name is a one-line error listing the known ones."""
    return registry.get("suites", name)


def all_tables(registry, suite: SuiteSpec | None = None) -> list[ReportedTable]:
    """The tables of ``suite``, or of every registered suite (suites by name, each table once)."""
    suites = [suite] if suite is not None else [registry.specs["suites"][name] for name in registry.names("suites")]
    tables, seen = [], set()
    for spec in suites:
        for table in spec.tables:
            if table.name not in seen:
                seen.add(table.name)
                tables.append(table)
    return tables


# --- numbers as printed -----------------------------------------------------------------------------


def number(value: float) -> str:
    """A reported number as the paper prints it (96.01, 73.0, 0.03)."""
    return repr(float(value))


def reported_text(value: float, std: float | None) -> str:
    return f"{number(value)} ± {number(std)}" if std is not None else number(value)


def _percent(value: float) -> str:
    """One decimal, halves rounded up as a reader would round the printed numbers (the mean of 85.1 and
    73.0 is 79.1, although the float 79.05 lies just below 79.05)."""
    from decimal import ROUND_HALF_UP, Decimal

    text = str(Decimal(repr(round(value, 9))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return "0.0" if text == "-0.0" else text


def _signed(value: float) -> str:
    text = f"{value:+.1f}"
    return "+0.0" if text == "-0.0" else text
