"""``udabench cache``: the decoded-data cache listed and cleared."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from datagen import REPO
from udabench.cli import main

IMPORT_CHECK = """
import sys
from udabench.cli import main
try:
    main({args!r})
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "datasets", "pandas", "timm") if m in sys.modules)
print("HEAVY", heavy, file=sys.stderr)
"""


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("UDABENCH_CACHE", str(folder))
    return folder


@pytest.mark.parametrize("args", [["cache"], ["cache", "--help"]])
def test_cache_listing_does_not_import_torch(args, tmp_path):
    process = subprocess.run([sys.executable, "-c", IMPORT_CHECK.format(args=args)], capture_output=True,
                             text=True, cwd=REPO, timeout=120,
                             env={**os.environ, "UDABENCH_CACHE": str(tmp_path / "cache")})
    assert "HEAVY []" in process.stderr, process.stderr


def test_cache_lists_and_clears(tiny_digits, cache_dir, capsys):
    from udabench.data.loading import load_split, resolve_source
    from udabench.plugins import load_registry

    registry = load_registry(warn=False)
    assert main(["cache"]) == 0
    assert capsys.readouterr().out.strip() == f"0 entries, 0.00 MB in {cache_dir}"

    spec = registry.get("datasets", "usps")
    load_split(spec, resolve_source(spec, tiny_digits["usps"]), "train", registry.get("tasks", "mnist-usps"))
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [cell.strip() for cell in lines[0].strip("|").split("|")] == ["dataset", "split", "size", "MB", "source"]
    row = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert row[:3] == ["usps", "train", "28x28"] and float(row[3]) >= 0 and "usps" in row[4]
    assert lines[-1].startswith("1 entry, ") and lines[-1].endswith(f" MB in {cache_dir}")

    assert main(["cache", "--clear"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"removed 1 entry from {cache_dir}, freed ") and out.strip().endswith(" MB")
    assert main(["cache"]) == 0
    assert capsys.readouterr().out.strip() == f"0 entries, 0.00 MB in {cache_dir}"


def test_cache_off(monkeypatch, capsys):
    monkeypatch.setenv("UDABENCH_CACHE", "off")
    assert main(["cache", "--clear"]) == 0
    assert "off" in capsys.readouterr().out
