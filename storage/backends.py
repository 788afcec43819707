"""Document backends the repository is written against.

A backend hands out two kinds of named collections of JSON documents with string keys:

- a `Collection` holds documents that belong to the organisation as a whole (settings, the room
  registry, admins): small, read on every turn, changed by admins;
- a `PartitionedCollection` holds documents that belong to one partition (one person's bookings
  and conversation, one month of a person's archived bookings): every call names its partition.

Two backends exist: an in-memory one (tests, throwaway runs) and a TinyDB one. TinyDB rewrites a
whole file on every write, so the TinyDB backend keeps each partition in a small file of its own
(`people/3f/<user>.json`): a write costs what that one partition holds, whatever the size of the
organisation, and only the organisation's own data shares a file (`org.json`).

A third kind, an `AppendLog`, holds records that are only ever added and read back in bulk (the audit
log): its TinyDB-backend form is a JSON-lines file per part, where a write appends one line and
syncs it, whatever the file already holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from tinydb import TinyDB
from tinydb.table import Document, Table

from storage.atomic import FILE_MODE, AtomicJSONStorage, private_dir, remove_stale

log = logging.getLogger(__name__)

Doc = dict[str, Any]
LINE_LIMIT = 4000  # bytes: one appended line, written with one write() call (see JsonLinesLog)


def _copy(doc: Doc) -> Doc:
    """A detached copy of a JSON document (what reading it back from disk would give; faster than
    copy.deepcopy for plain JSON)."""
    return json.loads(json.dumps(doc))


class Collection(ABC):
    """A keyed set of JSON documents."""

    @abstractmethod
    def get(self, key: str) -> Doc | None: ...

    @abstractmethod
    def put(self, key: str, doc: Doc) -> None: ...

    @abstractmethod
    def delete(self, key: str) -> bool: ...

    @abstractmethod
    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete several documents at once (one write)."""

    @abstractmethod
    def all(self) -> list[Doc]: ...

    @abstractmethod
    def items(self) -> list[tuple[str, Doc]]:
        """The documents with their keys."""

    @abstractmethod
    def put_many(self, docs: Mapping[str, Doc]) -> None:
        """Put several documents at once (one write)."""

    def each(self) -> Iterator[Doc]:
        """The documents one at a time, to read and not to change (a big collection is not copied whole
        at once)."""
        return iter(self.all())

    def find(self, **fields: Any) -> list[Doc]:
        return [doc for doc in self.all() if all(doc.get(k) == v for k, v in fields.items())]

    def insert(self, key: str, doc: Doc) -> bool:
        """Add a document unless one has that key already (False then). On a shared backend two
        processes inserting the same key at once get one True."""
        if self.get(key) is not None:
            return False
        self.put(key, doc)
        return True

    def insert_many(self, docs: Mapping[str, Doc]) -> str | None:
        """Add several documents whose keys are all free; returns the first key found taken (then nothing
        is added), else None. On a shared backend another process may take a key between the check and
        the insert: call it inside `Backend.transaction` for all or none."""
        taken = next((key for key in docs if self.get(key) is not None), None)
        if taken is not None:
            return taken
        for key, doc in docs.items():
            if not self.insert(key, doc):
                return key
        return None

    def take(self, key: str) -> Doc | None:
        """Remove a document and return it: of several takers, one gets it (single use)."""
        doc = self.get(key)
        if doc is not None:
            self.delete(key)
        return doc


class PartitionedCollection(ABC):
    """Keyed JSON documents in partitions; each call works on one partition only."""

    @abstractmethod
    def get(self, part: str, key: str) -> Doc | None: ...

    @abstractmethod
    def put(self, part: str, key: str, doc: Doc) -> None: ...

    @abstractmethod
    def put_many(self, part: str, docs: Mapping[str, Doc]) -> None: ...

    @abstractmethod
    def delete(self, part: str, key: str) -> bool: ...

    @abstractmethod
    def delete_many(self, part: str, keys: Iterable[str]) -> None:
        """Delete several documents of one partition at once (one write)."""

    @abstractmethod
    def all(self, part: str) -> list[Doc]:
        """The documents of one partition."""

    @abstractmethod
    def items(self, part: str) -> list[tuple[str, Doc]]:
        """The documents of one partition, with their keys."""

    def insert(self, part: str, key: str, doc: Doc) -> bool:
        """Add a document unless one has that key in that partition (False then); see Collection.insert."""
        if self.get(part, key) is not None:
            return False
        self.put(part, key, doc)
        return True

    @abstractmethod
    def drop(self, part: str) -> None:
        """Remove a whole partition (in the TinyDB backend, its file: with the partitions of other
        collections in the same folder, for collections that share one)."""

    @abstractmethod
    def parts(self) -> list[str]:
        """The partitions that hold documents or did (for partitions named by short keys, like days)."""


class AppendLog(ABC):
    """Records in named parts (days), only ever added to, read back a part at a time and dropped a
    part at a time. Adding costs the size of what is added, not of what the part holds, and several
    processes may add to the same part."""

    @abstractmethod
    def append(self, part: str, docs: Sequence[Doc]) -> None: ...

    @abstractmethod
    def read(self, part: str) -> list[Doc]:
        """The records of one part, in the order they were added."""

    @abstractmethod
    def parts(self) -> list[str]: ...

    @abstractmethod
    def drop(self, part: str) -> None: ...


class Duplicate(Exception):
    """A write would break a uniqueness rule of the data (an attempt id recorded twice)."""


class StorageUnavailable(Exception):
    """The database cannot be reached just now (a restart, a failover): nothing was written by the
    call that raised it unless it says so; the caller may try again shortly."""


class Backend(ABC):
    shared = False  # several processes read and write the same data (PostgreSQL): nothing read may be kept

    @abstractmethod
    def collection(self, name: str) -> Collection: ...

    @abstractmethod
    def partitioned(self, name: str) -> PartitionedCollection: ...

    @abstractmethod
    def log(self, name: str) -> AppendLog: ...

    def legacy_documents(self, filename: str, table: str) -> dict[str, Doc] | None:
        """The documents (by key) of a table in a file an earlier version of RoomBot wrote, if that
        file is still there; None otherwise."""
        return None

    def retire(self, filename: str) -> None:  # noqa: B027 - optional hook
        """Set an earlier version's file aside once its documents have been moved."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files or connections."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write inside happens, or none does (PostgreSQL). The embedded backends belong to one
        process whose repository calls never await: they write in an order a crash leaves readable."""
        yield

    def versions(self) -> dict[str, int]:
        """Collection name -> a number that changes whenever any process writes that collection (shared
        backends, for the collections other processes keep in memory), in one read; empty when only this
        process writes the data, so what it read stays true until it writes."""
        return {}

    @contextmanager
    def read_together(self) -> Iterator[None]:
        """Several reads of the organisation's data in a row (at start): an embedded backend reads its file
        once for all of them."""
        yield

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take (or renew) the lease `name` for `owner` for `seconds`: False while another owner holds
        an unexpired one. Shared backends make this hold across processes."""
        leases = self.collection("leases")
        now = time.time()
        held = leases.get(name)
        if held is not None and held.get("owner") != owner and float(held.get("until", 0)) > now:
            return False
        leases.put(name, {"owner": owner, "until": now + seconds})
        return True

    def release(self, name: str, owner: str) -> None:
        """Give a lease back (only its owner can)."""
        leases = self.collection("leases")
        held = leases.get(name)
        if held is not None and held.get("owner") == owner:
            leases.delete(name)

    def claim_due(self, name: str, *, last_part: str, now: str, early_kind: str, early_until: str, owner: str,
                  stale_before: str, limit: int) -> list[tuple[str, str, Doc]]:
        """Claim, for `owner`, up to `limit` documents of the partitioned collection `name` (partitions up
        to `last_part`) that are due: `due` (a UTC ISO time) at or before `now`, or `early_until` for
        those whose `kind` is `early_kind`; unclaimed, or claimed by another owner before
        `stale_before`. Each claimed document gets `claim` = owner and `claimed_at` = now; they are
        returned as (partition, key, document), soonest due first, the document saying in `taken_from`
        (not stored) whose claim it replaced ('' for none). Shared backends make a claim
        hold across processes (one owner per document)."""
        docs = self.partitioned(name)
        found: list[tuple[str, str, Doc]] = []
        for part in sorted(docs.parts()):
            if part > last_part:
                break
            for key, doc in docs.items(part):
                due_by = early_until if doc.get("kind") == early_kind else now
                claim = doc.get("claim") or ""
                if str(doc.get("due")) <= due_by and (
                        not claim or (claim != owner and str(doc.get("claimed_at") or "") < stale_before)):
                    found.append((part, key, doc))
        found.sort(key=lambda row: (row[2]["due"], row[1]))
        claimed = [(part, key, {**doc, "claim": owner, "claimed_at": now}) for part, key, doc in found[:limit]]
        for part, key, doc in claimed:
            docs.put(part, key, doc)
        return [(part, key, {**doc, "taken_from": was.get("claim") or ""})
                for (part, key, doc), (_, _, was) in zip(claimed, found, strict=False)]


    def renew_claims(self, name: str, keys: Sequence[tuple[str, str]], owner: str, now: str) -> int:
        """Set `claimed_at` = now on those (partition, key) documents still claimed by `owner` (a long
        run keeps its claims from being taken over); returns how many were renewed."""
        docs = self.partitioned(name)
        renewed = 0
        for part, key in keys:
            doc = docs.get(part, key)
            if doc is not None and doc.get("claim") == owner:
                docs.put(part, key, {**doc, "claimed_at": now})
                renewed += 1
        return renewed


class _MemoryCollection(Collection):
    def __init__(self) -> None:
        self._docs: dict[str, Doc] = {}

    def get(self, key: str) -> Doc | None:
        doc = self._docs.get(key)
        return _copy(doc) if doc is not None else None

    def put(self, key: str, doc: Doc) -> None:
        self._docs[key] = _copy(doc)

    def delete(self, key: str) -> bool:
        return self._docs.pop(key, None) is not None

    def delete_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._docs.pop(key, None)

    def all(self) -> list[Doc]:
        return [_copy(doc) for doc in self._docs.values()]

    def items(self) -> list[tuple[str, Doc]]:
        return [(key, _copy(doc)) for key, doc in self._docs.items()]

    def put_many(self, docs: Mapping[str, Doc]) -> None:
        for key, doc in docs.items():
            self.put(key, doc)


class _Partitions(PartitionedCollection):
    """A partitioned collection made of one `Collection` per partition (the backend says how to get one)."""

    def __init__(self, collection_for: Callable[[str], Collection], parts: Callable[[], list[str]],
                 drop: Callable[[str], None]) -> None:
        self._collection_for = collection_for
        self._parts = parts
        self._drop = drop

    def get(self, part: str, key: str) -> Doc | None:
        return self._collection_for(part).get(key)

    def put(self, part: str, key: str, doc: Doc) -> None:
        self._collection_for(part).put(key, doc)

    def put_many(self, part: str, docs: Mapping[str, Doc]) -> None:
        self._collection_for(part).put_many(docs)

    def delete(self, part: str, key: str) -> bool:
        return self._collection_for(part).delete(key)

    def delete_many(self, part: str, keys: Iterable[str]) -> None:
        keys = list(keys)
        if keys:
            self._collection_for(part).delete_many(keys)

    def all(self, part: str) -> list[Doc]:
        return self._collection_for(part).all()

    def items(self, part: str) -> list[tuple[str, Doc]]:
        return self._collection_for(part).items()

    def parts(self) -> list[str]:
        return self._parts()

    def drop(self, part: str) -> None:
        self._drop(part)


class _MemoryLog(AppendLog):
    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}
        self._lock = threading.Lock()  # the audit's counts may be written from a timer thread

    def append(self, part: str, docs: Sequence[Doc]) -> None:
        with self._lock:
            self._lines.setdefault(part, []).extend(json.dumps(doc) for doc in docs)

    def read(self, part: str) -> list[Doc]:
        with self._lock:
            lines = list(self._lines.get(part, ()))
        return [json.loads(line) for line in lines]

    def parts(self) -> list[str]:
        with self._lock:
            return sorted(self._lines)

    def drop(self, part: str) -> None:
        with self._lock:
            self._lines.pop(part, None)


class MemoryBackend(Backend):
    def __init__(self) -> None:
        self._collections: dict[str, _MemoryCollection] = {}
        self._partitioned: dict[str, _Partitions] = {}
        self._logs: dict[str, _MemoryLog] = {}

    def collection(self, name: str) -> Collection:
        return self._collections.setdefault(name, _MemoryCollection())

    def partitioned(self, name: str) -> PartitionedCollection:
        if name not in self._partitioned:
            parts: dict[str, _MemoryCollection] = {}
            self._partitioned[name] = _Partitions(lambda part: parts.setdefault(part, _MemoryCollection()),
                                                  lambda: list(parts),
                                                  lambda part: parts.pop(part, None) and None)
        return self._partitioned[name]

    def log(self, name: str) -> AppendLog:
        return self._logs.setdefault(name, _MemoryLog())


class KeyedTable(Table):
    """A TinyDB table whose document ids are our string keys."""

    document_id_class = str


class _TinyCollection(Collection):
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, key: str) -> Doc | None:
        doc = self._table.get(doc_id=key)
        return _copy(doc) if doc is not None else None

    def put(self, key: str, doc: Doc) -> None:
        self._table.upsert(Document(_copy(doc), doc_id=key))

    def delete(self, key: str) -> bool:
        if self._table.get(doc_id=key) is None:
            return False
        self._table.remove(doc_ids=[key])
        return True

    def delete_many(self, keys: Iterable[str]) -> None:
        present = self._present(keys)
        if present:
            self._table.remove(doc_ids=present)

    def all(self) -> list[Doc]:
        return [_copy(doc) for doc in self._table.all()]

    def items(self) -> list[tuple[str, Doc]]:
        return [(str(doc.doc_id), _copy(doc)) for doc in self._table.all()]

    def put_many(self, docs: Mapping[str, Doc]) -> None:
        present = self._present(docs)
        if present:
            self._table.remove(doc_ids=present)
        if docs:
            self._table.insert_multiple(Document(_copy(doc), doc_id=key) for key, doc in docs.items())

    def each(self) -> Iterator[Doc]:
        return iter(self._table)  # shallow copies, one at a time

    def _present(self, keys: Iterable[str]) -> list[str]:
        """Those of `keys` that have a document, in one read of the file (a big file is not kept parsed)."""
        wanted = list(keys)
        found = {str(doc.doc_id) for doc in self._table.get(doc_ids=wanted)} if wanted else set()  # type: ignore[union-attr]
        return [key for key in wanted if key in found]

    def insert_many(self, docs: Mapping[str, Doc]) -> str | None:
        """One write for all of them (TinyDB rewrites the whole file on every write: 50,000 rooms one by
        one took hours); this process is the file's only writer, so checking first is enough."""
        taken = next(iter(self._present(docs)), None)
        if taken is None and docs:
            self._table.insert_multiple(Document(_copy(doc), doc_id=key) for key, doc in docs.items())
        return taken


def _open(path: Path, durable: bool = True, clean_up: bool = True, keep_up_to: int | None = None) -> TinyDB:
    db = TinyDB(path, storage=AtomicJSONStorage, durable=durable, clean_up=clean_up, keep_up_to=keep_up_to)
    db.table_class = KeyedTable
    return db


class PartitionFiles:
    """One small TinyDB file per partition under a folder, fanned out over 256 subfolders by a hash
    of the partition's name (`people/3f/<name>.json`). The most recently used files stay open (with
    their parsed contents), so the memory used does not grow with the number of partitions."""

    def __init__(self, folder: Path, *, keep_open: int = 256, durable: bool = True) -> None:
        self._folder = folder
        self._keep_open = keep_open
        self._durable = durable
        self._open: OrderedDict[str, TinyDB] = OrderedDict()
        self._cleaned: set[str] = set()  # subfolders already rid of a crash's temporary files

    @staticmethod
    def filename(part: str) -> str:
        name = quote(part, safe="-_@")
        if len(name) > 120 or name.startswith("~"):
            name = "~" + hashlib.sha256(part.encode()).hexdigest()  # too long to keep as a name
        return f"{name}.json"

    def path(self, part: str) -> Path:
        fan = hashlib.sha1(part.encode()).hexdigest()[:2]
        return self._folder / fan / self.filename(part)

    def db(self, part: str) -> TinyDB:
        db = self._open.get(part)
        if db is not None:
            self._open.move_to_end(part)
            return db
        path = self.path(part)
        if path.parent.name not in self._cleaned:
            private_dir(path.parent)
            remove_stale(path.parent)
            self._cleaned.add(path.parent.name)
        db = self._open[part] = _open(path, self._durable, clean_up=False)
        if len(self._open) > self._keep_open:
            _, oldest = self._open.popitem(last=False)
            oldest.close()
        return db

    def parts(self) -> list[str]:
        """Partition names, for partitions whose names were short enough to keep (see `filename`)."""
        if not self._folder.is_dir():
            return []
        return sorted(unquote(path.stem) for path in self._folder.glob("??/*.json") if not path.stem.startswith("~"))

    def drop(self, part: str) -> None:
        db = self._open.pop(part, None)
        if db is not None:
            db.close()
        self.path(part).unlink(missing_ok=True)

    def close(self) -> None:
        for db in self._open.values():
            db.close()
        self._open.clear()


class JsonLinesLog(AppendLog):
    """One JSON-lines file per part (`audit/2026-12-01.jsonl`).

    A record is one line, written with a single write() on a file opened with O_APPEND, then synced:
    a write costs the line, not the file. Several processes may append to the same file: with
    O_APPEND the kernel places each write at the end, and Linux writes one write() of a regular file
    under the file's lock, so lines of a few KB (kept under LINE_LIMIT) never interleave. A line cut
    short by a crash (a power cut mid-write) is skipped on reading; the next process to append to
    that file first ends the cut line, so the records after it stay readable."""

    def __init__(self, folder: Path, *, durable: bool = True) -> None:
        self._folder = folder
        self._durable = durable
        self._checked: set[str] = set()  # files whose last line this process has seen end
        self._lock = threading.Lock()

    def _path(self, part: str) -> Path:
        return self._folder / f"{quote(part, safe='-_@')}.jsonl"

    def append(self, part: str, docs: Sequence[Doc]) -> None:
        if not docs:
            return
        lines = [_line(doc) for doc in docs]
        path = self._path(part)
        with self._lock:
            if not self._folder.is_dir():
                private_dir(self._folder)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)  # read: the last byte
            try:
                if part not in self._checked:
                    _end_cut_line(fd, path)
                    self._checked.add(part)
                for line in lines:
                    os.write(fd, line)
                if self._durable:
                    os.fsync(fd)
            finally:
                os.close(fd)

    def read(self, part: str) -> list[Doc]:
        try:
            data = self._path(part).read_bytes()
        except FileNotFoundError:
            return []
        docs = []
        for line in data.split(b"\n"):
            try:
                doc = json.loads(line) if line.strip() else None
            except ValueError:
                doc = None  # a line cut short by a crash
            if isinstance(doc, dict):
                docs.append(doc)
        return docs

    def parts(self) -> list[str]:
        if not self._folder.is_dir():
            return []
        return sorted(unquote(path.name.removesuffix(".jsonl")) for path in self._folder.glob("*.jsonl"))

    def drop(self, part: str) -> None:
        with self._lock:
            self._path(part).unlink(missing_ok=True)
            self._checked.discard(part)


def _line(doc: Doc) -> bytes:
    """One record as one line, under LINE_LIMIT bytes (long strings are cut)."""
    line = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    if len(line) >= LINE_LIMIT:
        doc = {k: (v[:200] if isinstance(v, str) else v) for k, v in doc.items()}
        line = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()[:LINE_LIMIT - 1]
    return line + b"\n"


def _end_cut_line(fd: int, path: Path) -> None:
    """If the file does not end with a newline (a crash cut its last line), end that line."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        log.warning("%s ended in a line cut short; it is skipped", path.name)
        os.write(fd, b"\n")


# Where each collection lives. The organisation's own data (settings, registry, admins) is one
# file, read on every turn and written by admins. Everything that grows with people and time is
# partitioned: a person's bookings, conversation reference and time zone share that person's file.
FILES: dict[str, str] = {
    "settings": "org.json",
    "buildings": "org.json",
    "floors": "org.json",
    "rooms": "org.json",
    "admins": "org.json",
    "consent_states": "org.json",
}
# org.json is kept parsed up to this size (about 5,000 rooms). The repository keeps what it reads of it (the
# registry, settings, admins) in its own lean form and reads it again only when this process writes it, so
# past that a turn does not read the file; an admin's change reads it once more.
ORG_FILE_KEPT_UP_TO = 1_000_000
PARTITION_FOLDERS: dict[str, str] = {
    "bookings": "people",
    "conversations": "people",
    "users": "people",
    "booking_index": "booking-index",
    "booking_days": "booking-days",
    "welcomed": "welcomed",
    "audit": "audit",  # before the audit log was JSON lines (moved at start)
    "booking_archive": "archive",
}
LOG_FOLDERS: dict[str, str] = {"audit": "audit"}  # `audit/<day>.jsonl`, beside the older `audit/3f/<day>.json`


class TinyDbBackend(Backend):
    """`durable=False` skips the flush to disk after each write (bulk imports, which sync once at the
    end); the bot itself always runs durable."""

    def __init__(self, data_dir: str | Path, *, durable: bool = True) -> None:
        self._dir = Path(data_dir)
        private_dir(self._dir)
        self._durable = durable
        self._dbs: dict[str, TinyDB] = {}
        self._collections: dict[str, _TinyCollection] = {}
        self._folders: dict[str, PartitionFiles] = {}
        self._logs: dict[str, JsonLinesLog] = {}

    def _db(self, filename: str) -> TinyDB:
        if filename not in self._dbs:
            keep = ORG_FILE_KEPT_UP_TO if filename == FILES["rooms"] else None
            self._dbs[filename] = _open(self._dir / filename, self._durable, keep_up_to=keep)
        return self._dbs[filename]

    def collection(self, name: str) -> Collection:
        if name not in self._collections:
            self._collections[name] = _TinyCollection(self._db(FILES.get(name, f"{name}.json")).table(name))
        return self._collections[name]

    @contextmanager
    def read_together(self) -> Iterator[None]:
        with self._db(FILES["rooms"]).storage.kept():
            yield

    @contextmanager
    def org_written_once(self) -> Iterator[None]:
        """Bulk imports: the organisation's file is written once at the end, not on every change (each
        rewrites the whole file: the 2,750 buildings and floors of 50,000 rooms took half a minute)."""
        with self._db(FILES["rooms"]).storage.held():
            yield

    def partitioned(self, name: str) -> PartitionedCollection:
        folder = PARTITION_FOLDERS.get(name, name)
        if folder not in self._folders:
            self._folders[folder] = PartitionFiles(self._dir / folder, durable=self._durable)
        files = self._folders[folder]
        return _Partitions(lambda part: _TinyCollection(files.db(part).table(name)), files.parts, files.drop)

    def log(self, name: str) -> AppendLog:
        if name not in self._logs:
            self._logs[name] = JsonLinesLog(self._dir / LOG_FOLDERS.get(name, name), durable=self._durable)
        return self._logs[name]

    def legacy_documents(self, filename: str, table: str) -> dict[str, Doc] | None:
        path = self._dir / filename
        if filename in FILES.values() or not path.is_file():
            return None
        text = path.read_text(encoding="utf-8")
        return dict((json.loads(text) if text.strip() else {}).get(table, {}))

    def retire(self, filename: str) -> None:
        path = self._dir / filename
        if path.is_file():
            path.chmod(FILE_MODE)
            path.replace(path.with_name(f"{filename}.before-partitions"))

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        for files in self._folders.values():
            files.close()
        self._dbs.clear()
        self._collections.clear()
        self._folders.clear()
