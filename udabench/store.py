"""Run results in one embedded SQLite file: one row per run key, with everything needed to trust it."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Iterable

from udabench.errors import UdabenchError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    method      TEXT NOT NULL,
    task        TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    status      TEXT NOT NULL,
    error       TEXT,
    config      TEXT NOT NULL,
    metrics     TEXT NOT NULL,
    timings     TEXT NOT NULL,
    history     TEXT NOT NULL,
    versions    TEXT NOT NULL,
    git_revision TEXT,
    device      TEXT,
    artifacts   TEXT,
    created_at  TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_method_task ON runs (method, task);
"""
COLUMNS = ("run_id", "key", "method", "task", "seed", "status", "error", "config", "metrics", "timings", "history",
           "versions", "git_revision", "device", "artifacts", "created_at", "details")
JSON_COLUMNS = ("config", "metrics", "timings", "history", "versions", "details")
# Columns added after the first release, with their definitions: older stores gain them on open.
ADDED_COLUMNS = {"details": "TEXT NOT NULL DEFAULT '{}'"}


def default_store_path() -> Path:
    """``UDABENCH_STORE`` if set, else ``results.sqlite`` in the user's data directory."""
    if os.environ.get("UDABENCH_STORE"):
        return Path(os.environ["UDABENCH_STORE"]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("udabench")) / "results.sqlite"


class Store:
    """The results database. Each call opens its own connection, so worker processes can share it."""

    def __init__(self, path: str | os.PathLike | None = None, must_exist: bool = False):
        """Open (or create) the database at ``path``; with ``must_exist`` (commands that only read) a
        missing file is an error rather than a new, empty database."""
        self.path = Path(path).expanduser() if path else default_store_path()
        if must_exist and not self.path.is_file():
            raise UdabenchError(f"no results database at {self.path} (runs are stored by 'udabench run' and "
                                "'udabench sweep'; check --store or $UDABENCH_STORE)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as connection:
                connection.executescript(SCHEMA)
                present = {row["name"] for row in connection.execute("PRAGMA table_info(runs)")}
                for column, definition in ADDED_COLUMNS.items():
                    if column not in present:
                        connection.execute(f"ALTER TABLE runs ADD COLUMN {column} {definition}")
                connection.commit()
        except (OSError, sqlite3.Error) as exc:
            raise UdabenchError(f"cannot open the results store {self.path}: {exc}") from None

    @property
    def artifact_root(self) -> Path:
        return self.path.parent / "runs"

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=60)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    def get(self, run_id_or_key: str) -> dict[str, Any] | None:
        """A run by id, full key, or unique id prefix."""
        with closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT * FROM runs WHERE run_id = ? OR key = ? OR run_id LIKE ? LIMIT 2",
                (run_id_or_key, run_id_or_key, run_id_or_key + "%"),
            ).fetchall()
        if len(rows) > 1:
            raise UdabenchError(f"run id prefix '{run_id_or_key}' is ambiguous")
        return _decode(rows[0]) if rows else None

    def save(self, result, versions: dict[str, str], git_revision: str | None, artifacts: str | None) -> None:
        """Insert the run, or replace the stored row of the same key (a rerun of a failed run)."""
        row = {
            "run_id": result.run_id, "key": result.key, "method": result.method, "task": result.task,
            "seed": result.seed, "status": result.status, "error": result.error,
            "config": result.config, "metrics": result.metrics, "timings": result.timings,
            "history": result.history, "versions": versions, "git_revision": git_revision,
            "device": result.device, "artifacts": artifacts, "details": result.details,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        for column in JSON_COLUMNS:
            row[column] = json.dumps(row[column], sort_keys=True)
        columns = ", ".join(row)
        placeholders = ", ".join("?" for _ in row)
        with closing(self._connect()) as connection, connection:
            connection.execute(f"INSERT OR REPLACE INTO runs ({columns}) VALUES ({placeholders})",
                               tuple(row.values()))

    def put(self, record: dict[str, Any]) -> None:
        """Write a whole row as given (an imported run keeps its creation time), replacing one of the same
        key or id."""
        row = {column: record.get(column) for column in COLUMNS}
        for column in JSON_COLUMNS:
            empty = [] if column == "history" else {}
            row[column] = json.dumps(row[column] if row[column] is not None else empty, sort_keys=True)
        columns = ", ".join(row)
        placeholders = ", ".join("?" for _ in row)
        try:
            with closing(self._connect()) as connection, connection:
                connection.execute("DELETE FROM runs WHERE key = ? OR run_id = ?", (row["key"], row["run_id"]))
                connection.execute(f"INSERT INTO runs ({columns}) VALUES ({placeholders})", tuple(row.values()))
        except sqlite3.Error as exc:
            raise UdabenchError(f"cannot store run {row['run_id']} in {self.path}: {exc}") from None

    def query(self, method: str | None = None, task: str | None = None, status: str | None = None,
              seeds: Iterable[int] | None = None) -> list[dict[str, Any]]:
        clauses, params = [], []
        for column, value in (("method", method), ("task", task), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if seeds is not None:
            seeds = list(seeds)
            clauses.append(f"seed IN ({', '.join('?' for _ in seeds)})")
            params.extend(seeds)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with closing(self._connect()) as connection:
            rows = connection.execute(f"SELECT * FROM runs {where} ORDER BY created_at, run_id", params).fetchall()
        return [_decode(row) for row in rows]


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    for column in JSON_COLUMNS:
        record[column] = json.loads(record[column])
    return record


def environment_versions() -> dict[str, str]:
    """Versions of the packages that shape a result."""
    from importlib import metadata

    versions = {}
    for package in ("udabench", "torch", "timm", "datasets", "numpy", "pluggy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    import platform
    import sys

    versions["python"] = platform.python_version()
    if "torch" in sys.modules:  # the instruction set torch's CPU kernels use: AVX2 and AVX-512 round differently
        versions["cpu_capability"] = sys.modules["torch"].backends.cpu.get_cpu_capability()
    return versions


def git_revision(start: Path | None = None) -> str | None:
    """The commit of the checkout udabench runs from (with ``-dirty`` if modified), if it is one."""
    import subprocess

    folder = start or Path(__file__).resolve().parent
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                                  text=True, timeout=5)
        if revision.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=5)
        return revision.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
