"""botbuilder `Storage` on TinyDB, for dialog and conversation state.

Bot state is short-lived and written on most turns, so it lives in a file of its own: a turn
rewrites state.json, never the organisation's data. Values are encoded with jsonpickle, as
botbuilder's own Cosmos DB and Blob storages do, so dialog stacks round-trip.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from pathlib import Path
from typing import Any

import jsonpickle
from botbuilder.core import Storage
from tinydb import TinyDB
from tinydb.table import Document

from storage.atomic import AtomicJSONStorage
from storage.backends import KeyedTable


class ETagConflict(KeyError):
    """A write carried an e_tag that no longer matches the stored item."""


def etag_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("e_tag")
    return getattr(value, "e_tag", None)


def set_etag(value: Any, etag: str) -> None:
    if isinstance(value, dict):
        value["e_tag"] = etag
    else:
        value.e_tag = etag


class TinyDbStorage(Storage):
    def __init__(self, path: str | Path) -> None:
        db = TinyDB(path, storage=AtomicJSONStorage)
        db.table_class = KeyedTable
        self._db = db
        self._table = db.table("state")
        self._lock = asyncio.Lock()
        self._counter = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]

    async def read(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key in keys or []:
            doc = self._table.get(doc_id=key)
            if doc is not None:
                found[key] = jsonpickle.decode(doc["value"])
        return found

    async def write(self, changes: dict[str, Any]) -> None:
        if changes is None:
            raise ValueError("Changes are required when writing")
        async with self._lock:
            for key, change in changes.items():
                new_etag = etag_of(change)
                if new_etag == "":
                    raise ValueError("e_tag must not be empty")
                stored = self._table.get(doc_id=key)
                if stored is not None and new_etag not in (None, "*") and stored["e_tag"] != new_etag:
                    raise ETagConflict(f"e_tag conflict on {key!r}")
                value = jsonpickle.decode(jsonpickle.encode(change))  # detached copy
                etag = f"{self._prefix}-{next(self._counter)}"
                set_etag(value, etag)
                self._table.upsert(Document({"e_tag": etag, "value": jsonpickle.encode(value)}, doc_id=key))

    async def delete(self, keys: list[str]) -> None:
        async with self._lock:
            present = [key for key in keys if self._table.get(doc_id=key) is not None]
            if present:
                self._table.remove(doc_ids=present)

    def close(self) -> None:
        self._db.close()
