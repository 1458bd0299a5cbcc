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
import re
import shutil
from pathlib import Path
from typing import Any, Iterable

from udabench.errors import UdabenchError

# The columns every exported row carries, with their types; an import refuses a line without them.
REQUIRED = {"run_id": str, "key": str, "method": str, "task": str, "seed": int, "status": str, "config": dict,
            "metrics": dict, "created_at": str}
STATUSES = ("ok", "failed")
KEY = re.compile(r"[0-9a-f]{64}")  # a run key: the SHA-256 of what determines the run
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*")  # a method or task name, never a path
LONGEST_LINE = 16 * 2 ** 20  # bytes: a run's row with its evaluation history is a few tens of kilobytes

WEIGHTS_FILE = "model.pt"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    """The rows of an export file, each checked to be a stored run (fields, types, a run id that is its
    key's, names that are names); a refusal names the file, the line and the field."""
    return [record for _, record in numbered_rows(Path(path))]


def numbered_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """:func:`read_export`'s rows with the number of the line each comes from."""
    try:
        text = gzip.decompress(path.read_bytes()).decode() if is_compressed(path) else path.read_text()
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # gzip.BadGzipFile is an OSError; a cut-off file an EOFError
        raise UdabenchError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    records, lines = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        if len(line) > LONGEST_LINE:
            raise UdabenchError(f"{where}: {len(line):,} characters, longer than any stored run's row")
        try:
            record = json.loads(line, object_pairs_hook=_no_duplicate_fields)
        except (json.JSONDecodeError, ValueError) as exc:
            raise UdabenchError(f"{where}: not JSON ({getattr(exc, 'msg', exc)})") from None
        if isinstance(record, dict) and ("protocol" in record or ("metric" in record and "key" not in record)):
            raise UdabenchError(f"{path} is a leaderboard's export ('udabench publish' writes it; 'udabench "
                                "publish --from-export' reads it); 'udabench import' takes the files of "
                                "'udabench results --export'")
        missing = [name for name in REQUIRED if not isinstance(record, dict) or name not in record]
        if missing:
            raise UdabenchError(f"{where}: not a stored run (no {', '.join(missing)})")
        _check_row(record, where)
        if record["key"] in lines:
            raise UdabenchError(f"{where}: field 'key' repeats the run of line {lines[record['key']]}")
        lines[record["key"]] = number
        records.append((number, record))
    return records


def _no_duplicate_fields(pairs):
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"field '{repeated[0]}' given twice")
    return dict(pairs)


def _check_row(record: dict[str, Any], where: str) -> None:
    """Refuse a row whose fields could name a place outside its own: ids and names that are not ids
    and names, or values of the wrong type."""
    for name, kind in REQUIRED.items():
        value = record[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise UdabenchError(f"{where}: field '{name}' must be a {kind.__name__}, not {type(value).__name__}")
    if not KEY.fullmatch(record["key"]):
        raise UdabenchError(f"{where}: field 'key' is not a run key (64 hexadecimal digits)")
    if record["run_id"] != record["key"][:12]:
        raise UdabenchError(f"{where}: field 'run_id' is not its key's first 12 digits")
    for name in ("method", "task"):
        if not NAME.fullmatch(record[name]):
            raise UdabenchError(f"{where}: field '{name}' is not a plugin name: {record[name][:60]!r}")
    if record["status"] not in STATUSES:
        raise UdabenchError(f"{where}: field 'status' must be one of {', '.join(STATUSES)}")
    if record.get("artifacts") is not None and not isinstance(record["artifacts"], str):
        raise UdabenchError(f"{where}: field 'artifacts' must be a folder name or null")


def exported_files(path: Path, record: dict[str, Any], where: str) -> list[tuple[Path, Path]]:
    """The files of a run's artifacts folder that an import copies, as ``(source, path inside the run's
    folder)``: final pictures (``images/*.png``) and weights (``model.pt``), the only files an export
    writes. The folder must lie inside the export's own ``NAME-artifacts`` folder, with no link on the
    way; any other file (a resume checkpoint, a link, a script) refuses the line."""
    if not record.get("artifacts"):
        return []
    own = artifacts_dir(path)
    folder = path.parent / record["artifacts"]
    relative = Path(record["artifacts"])
    if (relative.is_absolute() or ".." in relative.parts or len(relative.parts) != 2
            or relative.parts[0] != own.name or relative.parts[1] != record["run_id"]):
        raise UdabenchError(f"{where}: field 'artifacts' must be '{own.name}/{record['run_id']}', "
                            f"not {record['artifacts'][:80]!r}")
    for place in (own, folder):
        if place.is_symlink():
            raise UdabenchError(f"{where}: field 'artifacts': {place} is a link; an export holds plain folders")
    if not folder.is_dir():
        return []
    files = []
    for item in sorted(folder.rglob("*")):
        inside = item.relative_to(folder)
        if item.is_symlink():
            raise UdabenchError(f"{where}: field 'artifacts': {inside} is a link; an export holds plain files")
        if item.is_dir():
            if inside != Path("images"):
                raise UdabenchError(f"{where}: field 'artifacts': folder {inside} is not one an export writes")
            continue
        picture = inside.parent == Path("images") and item.suffix == ".png"
        if not (picture or inside == Path(WEIGHTS_FILE)) or not item.is_file():
            raise UdabenchError(f"{where}: field 'artifacts': {inside} is not a file an export writes "
                                f"(images/*.png and {WEIGHTS_FILE} only)")
        if picture and not _starts_with(item, PNG_SIGNATURE):
            raise UdabenchError(f"{where}: field 'artifacts': {inside} is not a PNG picture")
        files.append((item, inside))
    return files


def _starts_with(path: Path, signature: bytes) -> bool:
    with path.open("rb") as file:
        return file.read(len(signature)) == signature


def import_runs(paths: Iterable[str | Path], store) -> dict[str, int]:
    """Add the runs of export files to ``store``; return counts of what became of them.

    A run whose key the store holds as ``ok`` is kept as stored (``kept``); a stored ``failed`` row is
    replaced by an imported ``ok`` one. Every line of every file is checked before anything changes,
    so a bad line leaves the store as it was. A run's pictures and weights are copied into its own
    folder of the store's artifact folder, which the import empties first; nothing else is touched."""
    counts = {"imported": 0, "kept": 0, "pictures": 0, "weights": 0}
    plan = []
    for path in map(Path, paths):
        for number, record in numbered_rows(path):
            plan.append((record, exported_files(path, record, f"{path}, line {number}")))
    for record, files in plan:
        stored = store.get(record["key"])
        if stored is not None and (stored["status"] == "ok" or record["status"] != "ok"):
            counts["kept"] += 1
            continue
        record["artifacts"] = None
        if files:
            target = store.artifact_root / record["run_id"]
            try:
                if target.is_symlink() or target.is_file():
                    target.unlink()
                elif target.exists():
                    shutil.rmtree(target)
                for source, inside in files:
                    (target / inside).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target / inside, follow_symlinks=False)
            except OSError as exc:
                raise UdabenchError(f"cannot copy the files of run {record['run_id']} into {target}: "
                                    f"{exc.strerror or exc}") from None
            counts["pictures"] += sum(1 for _, inside in files if inside.suffix == ".png")
            counts["weights"] += any(inside == Path(WEIGHTS_FILE) for _, inside in files)
            record["artifacts"] = str(target)
        store.put(record)
        counts["imported"] += 1
    return counts

