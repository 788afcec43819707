"""The PostgreSQL backend: what several RoomBot instances share.

Documents keep the shape they have in the embedded backends (one JSON document per key, in named
collections and partitions), in one table whose primary key is (collection, partition, key), so the
one repository and its one contract suite serve memory, TinyDB and PostgreSQL alike. What the
embedded backends get from being one process, PostgreSQL gives every process:

- writes that span several documents run in one transaction (`Backend.transaction`);
- real constraints: a document key is unique in its partition (room emails, booking ids, welcome
  marks, signing keys are inserted, never silently overwritten), an attempt id is unique per person
  (a partial unique index over the bookings), and a consent request is taken by one DELETE ...
  RETURNING, so it is used once whichever instance the redirect reaches;
- leases (one row per name, taken by one INSERT ... ON CONFLICT ... WHERE expired) serialise presses
  on one booking across instances;
- due jobs are claimed with SELECT ... FOR UPDATE SKIP LOCKED and a lease: two schedulers never take
  the same job, and a killed instance's claims are taken over when the lease runs out;
- the bot's conversation state lives in the same database (`PostgresStorage`), so an answer to a
  question may reach any instance.

The repository's interface is synchronous for every backend (a turn's reads and writes of one
person happen with no await in between), so this backend uses psycopg 3's synchronous API over a
small pool of autocommit connections on the event loop's thread: a primary-key statement on a
nearby server costs a fraction of a millisecond, less than TinyDB's fsync of a file. A connection
the server dropped (a restart, a failover) is replaced: a statement that can be repeated safely is
tried once more on a new connection, anything else raises `StorageUnavailable` and the turn answers
"try again"; the next turn connects afresh. Nothing needs a restart of the bot.

Schema changes are numbered migrations, applied at start under an advisory lock, each in its own
transaction, so two instances starting at once apply each one once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import jsonpickle
import psycopg
from botbuilder.core import Storage
from psycopg import errors
from psycopg.types.json import Jsonb

from storage.backends import (
    AppendLog,
    Backend,
    Collection,
    Doc,
    Duplicate,
    PartitionedCollection,
    StorageUnavailable,
)
from storage.bot_state import ETagConflict, etag_of, set_etag

log = logging.getLogger(__name__)

T = TypeVar("T")

POOL_SIZE = 8  # connections per process at most (the loop's thread uses one; timer threads the others)
CONNECT_TIMEOUT_S = 3  # a server that does not answer this soon is unavailable (a refused port fails at once)
MIGRATION_LOCK = 0x726F6F6D  # pg_advisory_lock key ("room") held while migrations run
# The organisation's own collections, which each process keeps parsed: a write bumps their version, so the
# other processes notice (Repository._org).
VERSIONED = frozenset({"settings", "buildings", "floors", "rooms", "admins"})

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "documents, logs, leases, versions and bot state", """
CREATE TABLE docs (
    coll text NOT NULL,
    part text NOT NULL DEFAULT '',
    key  text NOT NULL,
    doc  jsonb NOT NULL,
    PRIMARY KEY (coll, part, key)
);
-- A booking attempt (a press of Book, a retried card) is recorded once per person.
CREATE UNIQUE INDEX docs_booking_attempt ON docs ((doc->>'booker_aad_id'), (doc->>'attempt_key'))
    WHERE coll = 'bookings' AND coalesce(doc->>'attempt_key', '') <> '';
-- Due jobs, soonest first (times are UTC ISO strings: they sort as text).
CREATE INDEX docs_job_due ON docs ((doc->>'due')) WHERE coll = 'jobs';
CREATE TABLE log_entries (
    name text NOT NULL,
    part text NOT NULL,
    seq  bigserial NOT NULL,
    doc  jsonb NOT NULL,
    PRIMARY KEY (name, part, seq)
);
CREATE TABLE leases (
    name  text PRIMARY KEY,
    owner text NOT NULL,
    until timestamptz NOT NULL
);
CREATE TABLE versions (
    coll    text PRIMARY KEY,
    version bigint NOT NULL
);
CREATE TABLE bot_state (
    key   text PRIMARY KEY,
    etag  text NOT NULL,
    value text NOT NULL
);
"""),
)

# The distinct partitions of a collection, by a loose index scan over the primary key: one index
# probe per partition, however many documents each holds (SELECT DISTINCT would read them all).
_PARTS = """
WITH RECURSIVE p(part) AS (
    (SELECT part FROM {table} WHERE {name} = %(name)s ORDER BY part LIMIT 1)
    UNION ALL
    SELECT (SELECT part FROM {table} WHERE {name} = %(name)s AND part > p.part ORDER BY part LIMIT 1)
    FROM p WHERE p.part IS NOT NULL
)
SELECT part FROM p WHERE part IS NOT NULL"""


class _Pool:
    """A small pool of autocommit connections, made when needed (at most `size` at once) and kept
    while idle. No background threads: a server that is down costs a refused connect, at once."""

    def __init__(self, url: str, size: int) -> None:
        self._url = url
        self._idle: list[psycopg.Connection[Any]] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   application_name="roombot")
        except psycopg.OperationalError as exc:
            raise StorageUnavailable(f"the database cannot be reached: {_first_line(exc)}") from exc

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        if not self._slots.acquire(timeout=CONNECT_TIMEOUT_S):
            raise StorageUnavailable("every database connection of this process is busy")
        conn: psycopg.Connection[Any] | None = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            yield conn
        finally:
            if conn is not None:
                if conn.broken or conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.close()
                else:
                    with self._lock:
                        self._idle.append(conn)
            self._slots.release()

    def drop_idle(self) -> None:
        """Close the idle connections: one failed because the server restarted, so all of them did."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def close(self) -> None:
        self.drop_idle()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class PostgresBackend(Backend):
    shared = True

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self._pool = _Pool(url, pool_size)
        self._local = threading.local()  # the connection of this thread's open transaction, if any
        self.migrate()

    # --- running statements ------------------------------------------------------------------

    def run(self, work: Callable[[psycopg.Connection[Any]], T], *, repeatable: bool = True) -> T:
        """Run `work` on this thread's transaction, or on a pooled connection. A connection the server
        dropped is replaced and `work` tried once more when it is `repeatable` (reads, upserts,
        deletes: doing them twice leaves what doing them once does)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                return work(conn)
            except psycopg.OperationalError as exc:
                raise StorageUnavailable(f"the database went away: {_first_line(exc)}") from exc
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    return work(conn)
            except errors.UniqueViolation as exc:
                raise Duplicate(_first_line(exc)) from exc
            except psycopg.OperationalError as exc:
                self._pool.drop_idle()
                if attempt == 2 or not repeatable:
                    raise StorageUnavailable(f"the database went away: {_first_line(exc)}") from exc
                log.warning("a database connection was dropped (%s); trying again on a new one", _first_line(exc))
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:  # already in one: the outer one commits
            yield
            return
        try:
            with self._pool.connection() as conn:
                self._local.conn = conn
                try:
                    with conn.transaction():
                        yield
                finally:
                    self._local.conn = None
        except errors.UniqueViolation as exc:
            raise Duplicate(_first_line(exc)) from exc
        except psycopg.OperationalError as exc:
            self._pool.drop_idle()
            raise StorageUnavailable(f"the database went away: {_first_line(exc)}") from exc

    def fetch(self, query: str, params: Any = None, *, repeatable: bool = True) -> list[tuple[Any, ...]]:
        return self.run(lambda conn: conn.execute(query, params).fetchall(), repeatable=repeatable)

    def execute(self, query: str, params: Any = None, *, repeatable: bool = True) -> int:
        return self.run(lambda conn: conn.execute(query, params).rowcount, repeatable=repeatable)

    # --- schema --------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks, each once (the advisory lock makes a second
        instance starting at the same moment wait, then find them applied). Returns those applied."""
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, "
                             "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
                done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
                applied = []
                for version, name, script in MIGRATIONS:
                    if version in done:
                        continue
                    with conn.transaction():
                        conn.execute(script)
                        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                    log.info("database migration %d applied: %s", version, name)
                    applied.append(version)
                return applied
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))

    def schema_version(self) -> int:
        rows = self.fetch("SELECT max(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    # --- collections -----------------------------------------------------------------------------

    def collection(self, name: str) -> Collection:
        return _PgCollection(self, name)

    def partitioned(self, name: str) -> PartitionedCollection:
        return _PgPartitions(self, name)

    def log(self, name: str) -> AppendLog:
        return _PgLog(self, name)

    def close(self) -> None:
        self._pool.close()

    # --- what several processes share ----------------------------------------------------------

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        rows = self.fetch(
            "INSERT INTO leases (name, owner, until) VALUES (%s, %s, now() + make_interval(secs => %s)) "
            "ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until "
            "WHERE leases.owner = EXCLUDED.owner OR leases.until < now() RETURNING 1",
            (name, owner, seconds), repeatable=False)
        return bool(rows)

    def release(self, name: str, owner: str) -> None:
        self.execute("DELETE FROM leases WHERE name = %s AND owner = %s", (name, owner))

    def claim_due(self, name: str, *, last_part: str, now: str, early_kind: str, early_until: str, owner: str,
                  stale_before: str, limit: int) -> list[tuple[str, str, Doc]]:
        rows = self.fetch("""
            WITH due AS (
                SELECT coll, part, key, doc->>'claim' AS was FROM docs
                WHERE coll = %(coll)s AND part <= %(last)s
                  AND doc->>'due' <= CASE WHEN doc->>'kind' = %(early_kind)s THEN %(early_until)s ELSE %(now)s END
                  AND (coalesce(doc->>'claim', '') = ''
                       OR (doc->>'claim' <> %(owner)s AND coalesce(doc->>'claimed_at', '') < %(stale)s))
                ORDER BY doc->>'due', key
                LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED)
            UPDATE docs d SET doc = d.doc || jsonb_build_object('claim', %(owner)s::text, 'claimed_at', %(now)s::text)
            FROM due WHERE d.coll = due.coll AND d.part = due.part AND d.key = due.key
            RETURNING d.part, d.key, d.doc || jsonb_build_object('taken_from', coalesce(due.was, ''))""",
            {"coll": name, "last": last_part, "now": now, "early_kind": early_kind, "early_until": early_until,
             "owner": owner, "stale": stale_before, "limit": limit}, repeatable=False)
        return sorted(((part, key, doc) for part, key, doc in rows), key=lambda row: (row[2]["due"], row[1]))

    def renew_claims(self, name: str, keys: Sequence[tuple[str, str]], owner: str, now: str) -> int:
        if not keys:
            return 0
        return self.execute("UPDATE docs SET doc = doc || jsonb_build_object('claimed_at', %s::text) "
                            "FROM unnest(%s::text[], %s::text[]) AS k(part, key) "
                            "WHERE docs.coll = %s AND docs.part = k.part AND docs.key = k.key "
                            "AND docs.doc->>'claim' = %s",
                            (now, [p for p, _ in keys], [k for _, k in keys], name, owner))

    def versions(self) -> dict[str, int]:
        return {name: int(version) for name, version in self.fetch("SELECT coll, version FROM versions")}

    def bump_version(self, conn: psycopg.Connection[Any], name: str) -> None:
        conn.execute("INSERT INTO versions (coll, version) VALUES (%s, 1) "
                     "ON CONFLICT (coll) DO UPDATE SET version = versions.version + 1", (name,))


class _PgPartitions(PartitionedCollection):
    """Documents of one collection, by partition ('' for an unpartitioned collection)."""

    def __init__(self, db: PostgresBackend, name: str) -> None:
        self._db = db
        self._name = name
        self._versioned = name in VERSIONED

    def _write(self, query: str, params: Any, *, repeatable: bool = True, result: str = "rowcount") -> Any:
        def work(conn: psycopg.Connection[Any]) -> Any:
            if not self._versioned:
                cur = conn.execute(query, params)
                return cur.rowcount if result == "rowcount" else cur.fetchall()
            with conn.transaction():
                cur = conn.execute(query, params)
                found = cur.rowcount if result == "rowcount" else cur.fetchall()
                self._db.bump_version(conn, self._name)
                return found
        return self._db.run(work, repeatable=repeatable)

    def get(self, part: str, key: str) -> Doc | None:
        rows = self._db.fetch("SELECT doc FROM docs WHERE coll = %s AND part = %s AND key = %s",
                              (self._name, part, key))
        return rows[0][0] if rows else None

    def put(self, part: str, key: str, doc: Doc) -> None:
        self._write("INSERT INTO docs (coll, part, key, doc) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (coll, part, key) DO UPDATE SET doc = EXCLUDED.doc",
                    (self._name, part, key, Jsonb(doc)))

    def put_many(self, part: str, docs: Mapping[str, Doc]) -> None:
        if docs:
            self._write("INSERT INTO docs (coll, part, key, doc) SELECT %s, %s, k, d "
                        "FROM unnest(%s::text[], %s::jsonb[]) AS t(k, d) "
                        "ON CONFLICT (coll, part, key) DO UPDATE SET doc = EXCLUDED.doc",
                        (self._name, part, list(docs), [Jsonb(doc) for doc in docs.values()]))

    def insert(self, part: str, key: str, doc: Doc) -> bool:
        rows = self._write("INSERT INTO docs (coll, part, key, doc) VALUES (%s, %s, %s, %s) "
                           "ON CONFLICT (coll, part, key) DO NOTHING RETURNING 1",
                           (self._name, part, key, Jsonb(doc)), repeatable=False, result="rows")
        return bool(rows)

    def delete(self, part: str, key: str) -> bool:
        return self._write("DELETE FROM docs WHERE coll = %s AND part = %s AND key = %s",
                           (self._name, part, key)) > 0

    def delete_many(self, part: str, keys: Iterable[str]) -> None:
        keys = list(keys)
        if keys:
            self._write("DELETE FROM docs WHERE coll = %s AND part = %s AND key = ANY(%s)", (self._name, part, keys))

    def take(self, part: str, key: str) -> Doc | None:
        rows = self._write("DELETE FROM docs WHERE coll = %s AND part = %s AND key = %s RETURNING doc",
                           (self._name, part, key), repeatable=False, result="rows")
        return rows[0][0] if rows else None

    def all(self, part: str) -> list[Doc]:
        return [doc for _, doc in self.items(part)]

    def items(self, part: str) -> list[tuple[str, Doc]]:
        rows = self._db.fetch("SELECT key, doc FROM docs WHERE coll = %s AND part = %s ORDER BY key",
                              (self._name, part))
        return [(key, doc) for key, doc in rows]

    def drop(self, part: str) -> None:
        self._write("DELETE FROM docs WHERE coll = %s AND part = %s", (self._name, part))

    def parts(self) -> list[str]:
        return [row[0] for row in self._db.fetch(_PARTS.format(table="docs", name="coll"), {"name": self._name})]


class _PgCollection(Collection):
    """An unpartitioned collection: the partition ''."""

    def __init__(self, db: PostgresBackend, name: str) -> None:
        self._docs = _PgPartitions(db, name)

    def get(self, key: str) -> Doc | None:
        return self._docs.get("", key)

    def put(self, key: str, doc: Doc) -> None:
        self._docs.put("", key, doc)

    def put_many(self, docs: Mapping[str, Doc]) -> None:
        self._docs.put_many("", docs)

    def insert(self, key: str, doc: Doc) -> bool:
        return self._docs.insert("", key, doc)

    def delete(self, key: str) -> bool:
        return self._docs.delete("", key)

    def delete_many(self, keys: Iterable[str]) -> None:
        self._docs.delete_many("", keys)

    def take(self, key: str) -> Doc | None:
        return self._docs.take("", key)

    def all(self) -> list[Doc]:
        return self._docs.all("")

    def items(self) -> list[tuple[str, Doc]]:
        return self._docs.items("")


class _PgLog(AppendLog):
    def __init__(self, db: PostgresBackend, name: str) -> None:
        self._db = db
        self._name = name

    def append(self, part: str, docs: Sequence[Doc]) -> None:
        if docs:  # not repeated after a dropped connection: the first try may have been written
            self._db.execute("INSERT INTO log_entries (name, part, doc) SELECT %s, %s, d FROM unnest(%s::jsonb[]) "
                             "WITH ORDINALITY AS t(d, n) ORDER BY n", (self._name, part, [Jsonb(d) for d in docs]),
                             repeatable=False)

    def read(self, part: str) -> list[Doc]:
        rows = self._db.fetch("SELECT doc FROM log_entries WHERE name = %s AND part = %s ORDER BY seq",
                              (self._name, part))
        return [row[0] for row in rows]

    def parts(self) -> list[str]:
        return [row[0] for row in self._db.fetch(_PARTS.format(table="log_entries", name="name"),
                                                 {"name": self._name})]

    def drop(self, part: str) -> None:
        self._db.execute("DELETE FROM log_entries WHERE name = %s AND part = %s", (self._name, part))



class PostgresStorage(Storage):
    """botbuilder `Storage` for dialog and conversation state, in the same database as the data, so a
    conversation in the middle of a question goes on whichever instance gets the answer. Values are
    encoded with jsonpickle (as storage.bot_state.TinyDbStorage and botbuilder's own storages do);
    an e_tag other than "*" must match the stored one, checked and written in one statement."""

    def __init__(self, backend: PostgresBackend) -> None:
        self._db = backend

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        rows = self._db.fetch("SELECT key, value FROM bot_state WHERE key = ANY(%s)", (list(keys),))
        return {key: jsonpickle.decode(value) for key, value in rows}

    async def write(self, changes: dict[str, Any]) -> None:
        if changes is None:
            raise ValueError("Changes are required when writing")
        for key, change in changes.items():
            expected = etag_of(change)
            if expected == "":
                raise ValueError("e_tag must not be empty")
            value = jsonpickle.decode(jsonpickle.encode(change))  # detached copy
            etag = uuid.uuid4().hex
            set_etag(value, etag)
            if expected in (None, "*"):
                self._db.execute("INSERT INTO bot_state (key, etag, value) VALUES (%s, %s, %s) ON CONFLICT (key) "
                                 "DO UPDATE SET etag = EXCLUDED.etag, value = EXCLUDED.value",
                                 (key, etag, jsonpickle.encode(value)))
                continue
            written = self._db.fetch(
                "INSERT INTO bot_state (key, etag, value) VALUES (%s, %s, %s) ON CONFLICT (key) "
                "DO UPDATE SET etag = EXCLUDED.etag, value = EXCLUDED.value WHERE bot_state.etag = %s RETURNING 1",
                (key, etag, jsonpickle.encode(value), expected), repeatable=False)
            if not written:
                raise ETagConflict(f"e_tag conflict on {key!r}")

    async def delete(self, keys: list[str]) -> None:
        if keys:
            self._db.execute("DELETE FROM bot_state WHERE key = ANY(%s)", (list(keys),))
