"""Stored runs as a text file that travels: ``udabench results --export`` and ``udabench import``.

A sweep too long for one machine, or one sitting, is finished elsewhere: export its runs, carry the
file (or commit it beside the sweep file), import them into another store, and the same sweep
command there trains only what is missing. A page published from the merged store shows every run.

An export is one JSON line per stored run, the row exactly as the store holds it (configuration,
metrics, evaluation history, code identity, revision, creation time), and, in a folder beside the
file (``NAME-artifacts/RUN_ID/``), the last picture of each kind that the run drew (``images/``),
which a published page shows, and, where asked, the weights (``model.pt``) of the source models that
other runs start from, so that the runs still to come start from those very weights. A run that
needs a source model whose weights did not travel (``--source-run``) trains that model again, which
a sweep does by itself; the same key, code and thread count give the same weights on the same
kind of CPU, but another instruction set (AVX2 against AVX-512) rounds differently.

A file named ``*.jsonl.gz`` is written and read gzip-compressed (the evaluation histories make a
board's export a few megabytes of text, about a fifth of that compressed); its folder is named as
the plain file's would be.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any, Iterable

from udabench.errors import UdabenchError

# The columns every exported row carries; an import refuses a line without them.
REQUIRED = ("run_id", "key", "method", "task", "seed", "status", "config", "metrics", "created_at")


WEIGHTS_FILE = "model.pt"


def artifacts_dir(path: Path) -> Path:
    """The folder beside an export file that holds its runs' pictures (and weights, where asked):
    ``NAME-artifacts`` for ``NAME.jsonl`` and ``NAME.jsonl.gz``."""
    return path.with_name(f"{Path(path.name.removesuffix('.gz')).stem}-artifacts")


def is_compressed(path: Path) -> bool:
    """Whether an export file is written and read gzip-compressed: its name ends in ``.gz``."""
    return path.suffix == ".gz"


def source_models(records: Iterable[dict[str, Any]]) -> set[str]:
    """The ids of the runs that other runs among ``records`` started from (``--source-run``)."""
    return {str(source)[:12] for record in records
            if (source := (record.get("config") or {}).get("source_run"))}


def export_runs(records: Iterable[dict[str, Any]], path: str | Path, weights: Iterable[str] = ()) -> dict[str, int]:
    """Write ``records`` (rows of a store) to ``path`` and, in a folder beside it, their final pictures
    and the weights of the runs whose ids are in ``weights``; return ``{"runs", "pictures",
    "weights"}``. An existing file and its folder are replaced."""
    from udabench.leaderboard.pictures import final_pictures
    from udabench.plugins import load_registry

    path = Path(path)
    folder = artifacts_dir(path)
    weights = set(weights)
    registry = None
    lines, copies = [], []
    counts = {"pictures": 0, "weights": 0}
    for record in records:
        record = {k: v for k, v in record.items() if k != "artifact_files"}
        stored = Path(record["artifacts"]) if record.get("artifacts") else None
        record["artifacts"] = None
        if stored is None:
            lines.append(json.dumps(record, sort_keys=True))
            continue
        target = folder / record["run_id"]
        files = []
        if (stored / "images").is_dir():
            if registry is None:
                registry = load_registry(warn=False)
            phases = ([phase.name for phase in registry.get("methods", record["method"]).phases]
                      if record["method"] in registry.names("methods") else [])
            pictures = final_pictures(stored / "images", phases)
            files.extend((p["path"], target / "images" / p["path"].name) for p in pictures)
            counts["pictures"] += len(pictures)
        if record["run_id"] in weights and (stored / WEIGHTS_FILE).is_file():
            files.append((stored / WEIGHTS_FILE, target / WEIGHTS_FILE))
            counts["weights"] += 1
        if files:
            record["artifacts"] = f"{folder.name}/{record['run_id']}"
            copies.extend(files)
        lines.append(json.dumps(record, sort_keys=True))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
        for source, target in copies:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        text = "".join(line + "\n" for line in lines)
        if is_compressed(path):  # mtime 0: the same runs give the same bytes, so a commit shows no change
            path.write_bytes(gzip.compress(text.encode(), mtime=0))
        else:
            path.write_text(text)
    except OSError as exc:
        raise UdabenchError(f"cannot write the export {path}: {exc.strerror or exc}") from None
    return {"runs": len(lines), **counts}


def read_export(path: str | Path) -> list[dict[str, Any]]:
    """The rows of an export file, each checked to be a stored run."""
    path = Path(path)
    try:
        text = gzip.decompress(path.read_bytes()).decode() if is_compressed(path) else path.read_text()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError; a cut-off file an EOFError
        raise UdabenchError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UdabenchError(f"{path}, line {number}: not JSON ({exc.msg})") from None
        if isinstance(record, dict) and ("protocol" in record or ("metric" in record and "key" not in record)):
            raise UdabenchError(f"{path} is a leaderboard's export ('udabench publish' writes it; 'udabench "
                                "publish --from-export' reads it); 'udabench import' takes the files of "
                                "'udabench results --export'")
        missing = [name for name in REQUIRED if not isinstance(record, dict) or name not in record]
        if missing:
            raise UdabenchError(f"{path}, line {number}: not a stored run (no {', '.join(missing)})")
        records.append(record)
    return records


def import_runs(paths: Iterable[str | Path], store) -> dict[str, int]:
    """Add the runs of export files to ``store``; return counts of what became of them.

    A run whose key the store holds as ``ok`` is kept as stored (``kept``); a stored ``failed`` row is
    replaced by an imported ``ok`` one. Pictures and weights are copied into the store's artifact folder."""
    counts = {"imported": 0, "kept": 0, "pictures": 0, "weights": 0}
    for path in paths:
        path = Path(path)
        for record in read_export(path):
            stored = store.get(record["key"])
            if stored is not None and (stored["status"] == "ok" or record["status"] != "ok"):
                counts["kept"] += 1
                continue
            source = path.parent / record["artifacts"] if record.get("artifacts") else None
            record["artifacts"] = None
            if source is not None and source.is_dir():
                target = store.artifact_root / record["run_id"]
                try:
                    if target.exists():
                        shutil.rmtree(target)
                    shutil.copytree(source, target)
                except OSError as exc:
                    raise UdabenchError(f"cannot copy the files of run {record['run_id']} into {target}: "
                                        f"{exc.strerror or exc}") from None
                counts["pictures"] += sum(1 for p in target.rglob("*.png"))
                counts["weights"] += (target / WEIGHTS_FILE).is_file()
                record["artifacts"] = str(target)
            store.put(record)
            counts["imported"] += 1
    return counts
