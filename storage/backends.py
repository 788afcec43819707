"""Document backends the repository is written against.

A backend hands out named collections of JSON documents with string keys. Two exist: an
in-memory one (tests, throwaway runs) and a TinyDB one. The TinyDB backend spreads collections
over several files so that a write to one (say, conversation references) rewrites that file
only, never the whole organisation's data.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.table import Document, Table

from storage.atomic import AtomicJSONStorage

Doc = dict[str, Any]


class Collection(ABC):
    """A keyed set of JSON documents."""

    @abstractmethod
    def get(self, key: str) -> Doc | None: ...

    @abstractmethod
    def put(self, key: str, doc: Doc) -> None: ...

    @abstractmethod
    def delete(self, key: str) -> bool: ...

    @abstractmethod
    def all(self) -> list[Doc]: ...

    def find(self, **fields: Any) -> list[Doc]:
        return [doc for doc in self.all() if all(doc.get(k) == v for k, v in fields.items())]


class Backend(ABC):
    @abstractmethod
    def collection(self, name: str) -> Collection: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files or connections."""


class _MemoryCollection(Collection):
    def __init__(self) -> None:
        self._docs: dict[str, Doc] = {}

    def get(self, key: str) -> Doc | None:
        doc = self._docs.get(key)
        return copy.deepcopy(doc) if doc is not None else None

    def put(self, key: str, doc: Doc) -> None:
        self._docs[key] = copy.deepcopy(doc)

    def delete(self, key: str) -> bool:
        return self._docs.pop(key, None) is not None

    def all(self) -> list[Doc]:
        return [copy.deepcopy(doc) for doc in self._docs.values()]


class MemoryBackend(Backend):
    def __init__(self) -> None:
        self._collections: dict[str, _MemoryCollection] = {}

    def collection(self, name: str) -> Collection:
        return self._collections.setdefault(name, _MemoryCollection())


class KeyedTable(Table):
    """A TinyDB table whose document ids are our string keys."""

    document_id_class = str


class _TinyCollection(Collection):
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, key: str) -> Doc | None:
        doc = self._table.get(doc_id=key)
        return copy.deepcopy(dict(doc)) if doc is not None else None

    def put(self, key: str, doc: Doc) -> None:
        self._table.upsert(Document(copy.deepcopy(doc), doc_id=key))

    def delete(self, key: str) -> bool:
        if self._table.get(doc_id=key) is None:
            return False
        self._table.remove(doc_ids=[key])
        return True

    def all(self) -> list[Doc]:
        return [copy.deepcopy(dict(doc)) for doc in self._table.all()]


# Which file each collection lives in. Org data changes rarely; bookings and conversation
# references change often and must not drag the rest along.
FILES: dict[str, str] = {
    "settings": "org.json",
    "buildings": "org.json",
    "floors": "org.json",
    "rooms": "org.json",
    "admins": "org.json",
    "audit": "audit.json",
    "bookings": "bookings.json",
    "booking_attempts": "bookings.json",
    "conversations": "conversations.json",
    "users": "conversations.json",
}


class TinyDbBackend(Backend):
    def __init__(self, data_dir: str | Path, files: dict[str, str] | None = None) -> None:
        self._dir = Path(data_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._files = dict(FILES if files is None else files)
        self._dbs: dict[str, TinyDB] = {}
        self._collections: dict[str, _TinyCollection] = {}

    def _db(self, filename: str) -> TinyDB:
        if filename not in self._dbs:
            db = TinyDB(self._dir / filename, storage=AtomicJSONStorage)
            db.table_class = KeyedTable
            self._dbs[filename] = db
        return self._dbs[filename]

    def collection(self, name: str) -> Collection:
        if name not in self._collections:
            filename = self._files.get(name, f"{name}.json")
            self._collections[name] = _TinyCollection(self._db(filename).table(name))
        return self._collections[name]

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
        self._collections.clear()
