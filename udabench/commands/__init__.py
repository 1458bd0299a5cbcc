"""The commands of ``udabench``, one module each; :mod:`udabench.cli` parses the flags and dispatches here."""

from __future__ import annotations

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1


def names(values) -> list[str]:
    """The names of repeatable, comma-separated flags (``--method a,b --method c``)."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def check_device(device: str) -> None:
    """``--device cuda`` where CUDA is missing is an error before any run is planned or stored (torch
    is imported only for that case)."""
    if device == "cuda":
        from udabench.runner import resolve_device

        resolve_device(device)
