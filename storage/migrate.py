"""Copy a TinyDB data folder into another backend (PostgreSQL), for organisations that outgrow one machine.

    python -m storage.migrate --from DATA_DIR --to $DATABASE_URL

The copy goes through the `Backend` interface only, so it is the same for any target: every collection the
repository keeps (`storage.repository.COLLECTIONS`, `PARTITIONED`, `LOGS`), every partition, every document
with its key; then the bot's conversation state (`state.json`) into the target's bot storage. It can be run
again: documents are upserted by key, and an audit day already in the target is left when it holds the same
records, else replaced whole (in one transaction), so no entry is ever appended twice. Afterwards the target is
read back and counted, collection by collection, against what was read from the source; any difference fails
the run.

Leases are not copied: they belong to processes of the old deployment, not to the organisation's data.
RoomBot must be stopped while this runs: a running bot changes the files being read (the run notices and
fails), and a TinyDB backend that opens a folder clears temporary files a running bot may be writing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpickle

from storage.backends import (
    FILES,
    LOG_FOLDERS,
    PARTITION_FOLDERS,
    Backend,
    Duplicate,
    StorageUnavailable,
    TinyDbBackend,
)
from storage.repository import COLLECTIONS, LOGS, PARTITIONED

PARTS_PER_TRANSACTION = 200  # partitions written per commit (a commit per partition would sync each)
LEGACY_FILES = ("bookings.json", "conversations.json", "audit.json")  # RoomBot before partitions
STATE_FILE = "state.json"  # the bot's conversation state (storage.bot_state.TinyDbStorage, table "state")
RECENT_WRITE_S = 60.0  # a source file written this recently: the bot is probably still running


@dataclass
class Count:
    """One line of the verification table: documents (log records) on each side."""

    kind: str  # "collection", "partitioned", "log" or "bot state"
    name: str
    source: int
    target: int
    parts: int = 0  # partitions (log days) holding documents in the source

    @property
    def ok(self) -> bool:
        return self.source == self.target


@dataclass
class HashedFiles:
    """Partition files whose names were too long to keep (`~<sha256>.json`): the partition's name
    cannot be read back, so they cannot be copied."""

    folder: str
    files: int
    documents: int


@dataclass
class Report:
    counts: list[Count] = field(default_factory=list)
    hashed: list[HashedFiles] = field(default_factory=list)
    audit_days_same: int = 0  # already in the target with the same records: left as they were
    audit_days_written: int = 0  # new in the target, or replaced whole
    source_changed: bool = False  # the source's files changed while they were copied

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.counts) and not self.source_changed

    def table(self) -> str:
        """The counts, one line per collection, then what differed or was left behind."""
        rows = [("kind", "collection", "parts/days", "source", "target", "")]
        for c in self.counts:
            name = "audit (older form)" if (c.kind, c.name) == ("partitioned", "audit") else c.name
            rows.append((c.kind, name, str(c.parts) if c.parts else "", str(c.source), str(c.target),
                         "ok" if c.ok else "DIFFERS"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.rjust(w) if i in (2, 3, 4) else cell.ljust(w)
                           for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]
        lines.append(f"audit days: {self.audit_days_written} written, {self.audit_days_same} already the same")
        for h in self.hashed:
            lines.append(f"NOT COPIED: {h.files} files under {h.folder}/ ({h.documents} documents) have hashed "
                         "names (their partition names were too long to keep), so their partitions are unknown")
        if self.source_changed:
            lines.append("FAILED: the source folder changed during the copy. Stop RoomBot and run this again.")
        elif not self.ok:
            lines.append("FAILED: the counts differ (a target that held other data? Check the lines marked DIFFERS).")
        else:
            lines.append("OK: every count matches.")
        return "\n".join(lines)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


Tally = dict[tuple[str, str], tuple[int, int]]  # (kind, name) -> (documents or records, partitions or days)


def copy_data(source: Backend, target: Backend, *, progress: Callable[[str], None] = lambda line: None) -> Report:
    """Copy every collection, partition, document and audit day of `source` into `target`, then count
    the target and compare with what was read from the source. Repeatable: see the module's docstring."""
    report = Report()
    read: Tally = {}
    for name in COLLECTIONS:
        docs = dict(source.collection(name).items())
        with target.transaction():
            target.collection(name).put_many(docs)
        read[("collection", name)] = (len(docs), 0)
        progress(f"{name}: {len(docs)} documents")
    for name in PARTITIONED:
        read[("partitioned", name)] = _copy_partitioned(source, target, name)
        progress(f"{name}: {read[('partitioned', name)][0]} documents")
    for name in LOGS:
        read[("log", name)] = _copy_log(source, target, name, report)
        progress(f"{name} (log): {report.audit_days_written} days written, {report.audit_days_same} the same")
    report.counts = _compare(read, tally(target))
    return report


def _copy_partitioned(source: Backend, target: Backend, name: str) -> tuple[int, int]:
    src, dst = source.partitioned(name), target.partitioned(name)
    copied = parts_copied = 0
    for parts in _batches(src.parts(), PARTS_PER_TRANSACTION):
        with target.transaction():
            for part in parts:
                docs = dict(src.items(part))
                if docs:  # a partition file shared with other collections may hold none of this one
                    dst.put_many(part, docs)
                    copied += len(docs)
                    parts_copied += 1
    return copied, parts_copied


def _copy_log(source: Backend, target: Backend, name: str, report: Report) -> tuple[int, int]:
    src, dst = source.log(name), target.log(name)
    copied = days = 0
    for day in src.parts():
        records = src.read(day)
        copied, days = copied + len(records), days + bool(records)
        if dst.read(day) == records:
            report.audit_days_same += 1
            continue
        with target.transaction():  # replaced whole: a second run never appends a day twice
            dst.drop(day)
            dst.append(day, records)
        report.audit_days_written += 1
    return copied, days


def tally(backend: Backend) -> Tally:
    """Documents per collection (records per log), and the partitions (days) holding them, read back."""
    found: Tally = {("collection", name): (len(backend.collection(name).items()), 0) for name in COLLECTIONS}
    for name in PARTITIONED:
        counts = _partitioned_counts(backend, name)
        found[("partitioned", name)] = (sum(counts.values()), len(counts))
    for name in LOGS:
        counts = _log_counts(backend, name)
        found[("log", name)] = (sum(counts.values()), len(counts))
    return found


def verify(source: Backend, target: Backend) -> list[Count]:
    """Both sides counted, collection by collection."""
    return _compare(tally(source), tally(target))


def _compare(source: Tally, target: Tally) -> list[Count]:
    return [Count(kind, name, docs, target[(kind, name)][0], parts=parts)
            for (kind, name), (docs, parts) in source.items()]


def _partitioned_counts(backend: Backend, name: str) -> dict[str, int]:
    collection = backend.partitioned(name)
    counts = {part: len(collection.items(part)) for part in collection.parts()}
    return {part: n for part, n in counts.items() if n}


def _log_counts(backend: Backend, name: str) -> dict[str, int]:
    log_ = backend.log(name)
    counts = {day: len(log_.read(day)) for day in log_.parts()}
    return {day: n for day, n in counts.items() if n}


# --- what only a TinyDB folder can tell ----------------------------------------------------------

def hashed_partition_files(data_dir: Path) -> list[HashedFiles]:
    """Partition files whose names were hashed (`PartitionFiles.filename`), with the documents they hold."""
    found = []
    for folder in sorted(set(PARTITION_FOLDERS.values())):
        files = sorted((data_dir / folder).glob("??/~*.json"))
        if files:
            found.append(HashedFiles(folder, len(files), sum(_documents_in(path) for path in files)))
    return found


def _documents_in(path: Path) -> int:
    try:
        tables = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return 0
    return sum(len(docs) for docs in tables.values() if isinstance(docs, dict))


def legacy_files(data_dir: Path) -> list[str]:
    """Files of RoomBot before partitions: the bot moves them at its next start, the migration does not."""
    return [name for name in LEGACY_FILES if (data_dir / name).is_file()]


def source_files(data_dir: Path) -> Iterator[Path]:
    """Every file the migration reads."""
    for name in {*FILES.values(), *(f"{c}.json" for c in COLLECTIONS if c not in FILES), STATE_FILE}:
        if (data_dir / name).is_file():
            yield data_dir / name
    for folder in sorted({*PARTITION_FOLDERS.values(), *(p for p in PARTITIONED if p not in PARTITION_FOLDERS),
                          *LOG_FOLDERS.values()}):
        if (data_dir / folder).is_dir():
            # A crash's temporary files are not data (opening a folder removes them).
            yield from (path for path in (data_dir / folder).rglob("*")
                        if path.is_file() and not path.name.endswith(".tmp"))


def fingerprint(data_dir: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file read: compared before and after the copy."""
    found = {}
    for path in source_files(data_dir):
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        found[str(path.relative_to(data_dir))] = (info.st_size, info.st_mtime_ns)
    return found


def recently_written(prints: dict[str, tuple[int, int]], now: float, within: float = RECENT_WRITE_S) -> list[str]:
    return sorted(name for name, (_, mtime_ns) in prints.items() if now - mtime_ns / 1e9 < within)


# --- the bot's conversation state ---------------------------------------------------------------

def read_bot_state(path: Path) -> dict[str, Any]:
    """The conversation state items of `state.json`, decoded as the bot's storage stores them."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    table = (json.loads(text) if text.strip() else {}).get("state", {})
    return {key: jsonpickle.decode(doc["value"]) for key, doc in table.items()}


async def copy_bot_state(path: Path, target: Any) -> Count:
    """Copy `state.json` into a botbuilder `Storage` (conversations in the middle of a question carry
    on there). Written with e_tag "*": whatever the target held for those keys is replaced."""
    items = read_bot_state(path)
    for key, value in items.items():
        if isinstance(value, dict):
            value["e_tag"] = "*"
        elif hasattr(value, "e_tag"):
            value.e_tag = "*"
        await target.write({key: value})
    found = await target.read(list(items)) if items else {}
    return Count("bot state", STATE_FILE, len(items), len(found))


# --- the command --------------------------------------------------------------------------------

def open_target(to: str) -> tuple[Backend, Any]:
    """The target backend and its bot-state storage: a postgresql:// URL, or a folder (another TinyDB
    data folder: a copy, or a test)."""
    if to.startswith(("postgresql://", "postgres://")):
        from storage.postgres import PostgresBackend, PostgresStorage  # psycopg only for PostgreSQL

        backend = PostgresBackend(to)  # applies the schema migrations the database lacks
        return backend, PostgresStorage(backend)
    from storage.bot_state import TinyDbStorage

    backend = TinyDbBackend(Path(to), durable=False)  # synced once at the end (main)
    return backend, TinyDbStorage(Path(to) / STATE_FILE)


def _run(coroutine: Any) -> Any:
    """Run a coroutine on a loop of its own (not made the thread's current loop, which stays as it was)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage.migrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="the TinyDB data folder (DATA_DIR)")
    parser.add_argument("--to", default=os.environ.get("DATABASE_URL", ""),
                        help="postgresql://... (default: $DATABASE_URL), or another data folder")
    args = parser.parse_args(argv)
    data_dir = Path(args.source)
    if not args.to:
        parser.error("say where to: --to postgresql://... or DATABASE_URL")
    if not data_dir.is_dir():
        parser.error(f"{data_dir} is not a folder")
    legacy = legacy_files(data_dir)
    if legacy:
        print(f"{data_dir} still holds files of an earlier RoomBot ({', '.join(legacy)}). Start this version "
              "on it once (it moves them), stop it, then migrate.", file=sys.stderr)
        return 2
    print("RoomBot must be stopped while its data is copied.", file=sys.stderr)
    before = fingerprint(data_dir)
    recent = recently_written(before, time.time())
    if recent:
        print(f"warning: {len(recent)} files were written in the last minute ({recent[0]}, ...): is RoomBot "
              "still running? If it is, the copy will fail.", file=sys.stderr)
    report = Report(hashed=hashed_partition_files(data_dir))
    for h in report.hashed:
        print(f"WARNING: {h.files} files under {h.folder}/ ({h.documents} documents) have hashed names and "
              "CANNOT be copied", file=sys.stderr)
    try:
        target, state_storage = open_target(args.to)
    except StorageUnavailable as exc:
        print(f"Cannot open the target: {exc}", file=sys.stderr)
        return 2
    source = TinyDbBackend(data_dir, durable=False)
    try:
        copied = copy_data(source, target, progress=lambda line: print(line, file=sys.stderr))
        report.counts, report.audit_days_same = copied.counts, copied.audit_days_same
        report.audit_days_written = copied.audit_days_written
        report.counts.append(_run(copy_bot_state(data_dir / STATE_FILE, state_storage)))
    except StorageUnavailable as exc:
        print(f"The copy stopped: {exc}. Run the same command again once the database answers: a second run "
              "replaces what the first one wrote.", file=sys.stderr)
        return 1
    except Duplicate as exc:
        print(f"The copy stopped: the target already holds other data ({exc}). Copy into an empty database.",
              file=sys.stderr)
        return 1
    finally:
        source.close()
        target.close()
        if hasattr(state_storage, "close"):
            state_storage.close()
        if isinstance(target, TinyDbBackend):
            os.sync()  # written without a flush per file
    report.source_changed = fingerprint(data_dir) != before
    print(report.table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
