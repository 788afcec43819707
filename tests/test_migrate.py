"""`python -m storage.migrate`: a TinyDB data folder with a realistic organisation copied into another
backend, read back through a `Repository` there; repeatable; counts verified."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botbuilder.core import MemoryStorage

from domain.attendance import plan_jobs
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, ROLE_ADMIN, ROLE_BOOKING_ADMIN, Admin, Booking
from sandbox.bootstrap import prepare_demo_org
from sandbox.seed import PEOPLE
from storage import migrate
from storage.backends import Backend, MemoryBackend, StorageUnavailable, TinyDbBackend
from storage.bot_state import TinyDbStorage
from storage.repository import COLLECTIONS, LOGS, PARTITIONED, Repository

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PEOPLE_KEYS = [aad for aad, *_ in PEOPLE[:5]]
STATE_KEY = "msteams/conversations/a:1-alex/"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _booking(i: int, booker: str, start: datetime, room: str, status: str = BOOKING_BOOKED) -> Booking:
    return Booking(id=f"bk-{i:04d}", room_email=room, event_id=f"ev-{i}", ical_uid=f"uid-{i}", booker_aad_id=booker,
                   booker_email=f"{booker[-4:]}@example.com", start=start, end=start + timedelta(minutes=30),
                   subject=f"Meeting {i}", attendees=(f"{booker[-4:]}@example.com", "meganb@example.com"),
                   status=status, created_at=start - timedelta(days=2), zone="Europe/Helsinki",
                   attempt_key=f"{booker}:card-{i}", transaction_id=f"tx-{i}")


def build_org(backend: Backend) -> Repository:
    """The demo organisation with a month and a half of use: upcoming bookings (with their jobs), past
    ones archived, a cancelled one, audit entries over several days and counted refusals, admins,
    conversations, time zones, reminders, welcomes, searches, a consent request and a signing key."""
    clock = Clock(NOW - timedelta(days=3))
    repo = Repository(backend, clock=clock)
    prepare_demo_org(repo)
    repo.plan_jobs_with(lambda b: plan_jobs(b, repo.get_settings(), repo.get_room(b.room_email), 15, clock()))
    rooms = [room.email for room in repo.list_rooms()]
    repo.add_admin(Admin(key=PEOPLE_KEYS[0], roles=(ROLE_ADMIN,), added_by="config", name="Alex", email="a@x.com"))
    repo.add_admin(Admin(key=PEOPLE_KEYS[1], roles=(ROLE_BOOKING_ADMIN,), added_by=PEOPLE_KEYS[0]))
    past = [_booking(i, PEOPLE_KEYS[i % 5], NOW - timedelta(days=60 - i, hours=i % 7), rooms[i % len(rooms)])
            for i in range(40)]
    repo.import_bookings(past)
    for n, day in enumerate(range(3, 0, -1)):
        clock.now = NOW - timedelta(days=day)
        for i in range(100 + 10 * n, 106 + 10 * n):
            start = NOW + timedelta(days=1 + i % 4, hours=i % 6)
            repo.add_booking(_booking(i, PEOPLE_KEYS[i % 5], start, rooms[i % len(rooms)]))
            repo.add_audit(PEOPLE_KEYS[i % 5], "book", f"bk-{i:04d}")
        repo.count_refusal("other-tenant", "someone", "message")
        repo.flush_refusals()
    clock.now = NOW
    cancelled = repo.get_booking("bk-0101")
    assert cancelled is not None
    repo.update_booking(replace(cancelled, status=BOOKING_CANCELLED))
    for n, person in enumerate(PEOPLE_KEYS):
        repo.list_bookings_for_user(person)  # the past bookings move to the archive
        repo.save_conversation_reference(person, {"conversation": {"id": f"a:{n}"}, "serviceUrl": "https://x/"})
        repo.save_user_zone(person, "Europe/Helsinki" if n % 2 else "America/New_York")
        repo.save_reminder_min(person, 5 * n)
        repo.mark_welcomed(f"a:{n}")
        repo.record_search(person, lambda recent: [*recent, NOW])
    repo.mark_unreachable(PEOPLE_KEYS[4], "blocked the bot")
    repo.put_consent_state("consent-hash", {"admin": PEOPLE_KEYS[0], "expires": (NOW + timedelta(minutes=15))
                                            .isoformat()})
    repo.get_secret("report-links")
    return repo


async def write_bot_state(data_dir: Path) -> None:
    storage = TinyDbStorage(data_dir / migrate.STATE_FILE)
    await storage.write({STATE_KEY: {"DialogState": {"dialogStack": [{"id": "ask-time", "state": {"day": 3}}]}},
                         "msteams/users/alex/": {"seen": True}})
    storage.close()


def snapshot(repo: Repository) -> dict[str, Any]:
    """What the bot reads, through the repository."""
    return {
        "settings": repo.get_settings(), "buildings": repo.list_buildings(), "floors": repo.list_floors(),
        "rooms": repo.list_rooms(), "admins": repo.list_admins(), "bookings": repo.list_bookings(),
        "mine": {p: repo.list_bookings_for_user(p) for p in PEOPLE_KEYS},
        "last": {p: repo.last_booking_for(p) for p in PEOPLE_KEYS},
        "archived": repo.get_booking("bk-0003"), "audit": repo.list_audit(limit=10_000),
        "jobs": repo.due_jobs(NOW + timedelta(days=30), limit=10_000),
        "references": {p: repo.get_conversation_reference(p) for p in PEOPLE_KEYS},
        "reachable": {p: repo.reachable_reference(p) for p in PEOPLE_KEYS},
        "zones": {p: repo.get_user_zone(p) for p in PEOPLE_KEYS},
        "reminders": {p: repo.get_reminder_min(p) for p in PEOPLE_KEYS},
        "welcomed": [repo.mark_welcomed(f"a:{n}") for n in range(5)],  # False: already (nothing written)
        "secret": repo.get_secret("report-links"),
    }


def dump(backend: Backend) -> dict[str, Any]:
    """Everything a backend holds under the repository's names, with keys."""
    found: dict[str, Any] = {name: dict(backend.collection(name).items()) for name in COLLECTIONS}
    for name in PARTITIONED:
        collection = backend.partitioned(name)
        parts = {part: dict(collection.items(part)) for part in collection.parts()}
        found[f"partitioned:{name}"] = {part: docs for part, docs in parts.items() if docs}
    for name in LOGS:
        found[f"log:{name}"] = {day: backend.log(name).read(day) for day in backend.log(name).parts()}
    return found


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    build_org(TinyDbBackend(data, durable=False)).close()
    return data


@pytest.fixture(params=["memory", "tinydb", "postgres"])
def open_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Backend]]:
    """The target backend: the same storage each time it is opened."""
    if request.param == "memory":
        memory = MemoryBackend()
        yield lambda: memory
    elif request.param == "tinydb":
        yield lambda: TinyDbBackend(tmp_path / "target", durable=False)
    else:
        from storage.postgres import PostgresBackend

        database = PostgresBackend(request.getfixturevalue("pg_url"))
        yield lambda: database
        database.close()


def test_the_repository_uses_only_the_listed_collections(tmp_path: Path) -> None:
    """The names the migration copies are all the names the repository asks for, and no more."""
    asked: dict[str, set[str]] = {"collection": set(), "partitioned": set(), "log": set()}

    class Recording(MemoryBackend):
        def collection(self, name: str):  # noqa: ANN201 - test double
            asked["collection"].add(name)
            return super().collection(name)

        def partitioned(self, name: str):  # noqa: ANN201 - test double
            asked["partitioned"].add(name)
            return super().partitioned(name)

        def log(self, name: str):  # noqa: ANN201 - test double
            asked["log"].add(name)
            return super().log(name)

    snapshot(build_org(Recording()))
    assert asked == {"collection": set(COLLECTIONS), "partitioned": set(PARTITIONED), "log": set(LOGS)}


def test_a_repository_over_the_copy_reads_what_the_original_did(source_dir: Path,
                                                                  open_target: Callable[[], Backend]) -> None:
    source = TinyDbBackend(source_dir)
    expected = snapshot(Repository(source, clock=lambda: NOW))
    assert len(expected["bookings"]) == 58 and expected["archived"] is not None  # the org is what it claims
    assert expected["jobs"] and len(expected["audit"]) == 21 and expected["reachable"][PEOPLE_KEYS[4]] is None
    assert expected["archived"].id not in {b.id for b in expected["mine"][expected["archived"].booker_aad_id]}
    report = migrate.copy_data(source, open_target())
    assert report.ok, report.table()
    assert report.audit_days_written == 3 and report.audit_days_same == 0
    copied = Repository(open_target(), clock=lambda: NOW)
    assert snapshot(copied) == expected
    assert copied.take_consent_state("consent-hash", NOW)["admin"] == PEOPLE_KEYS[0]


def test_every_document_is_counted_on_both_sides(source_dir: Path, open_target: Callable[[], Backend]) -> None:
    source = TinyDbBackend(source_dir)
    report = migrate.copy_data(source, open_target())
    counts = {(c.kind, c.name): c for c in report.counts}
    assert set(counts) == {("collection", n) for n in COLLECTIONS} | {("partitioned", n) for n in PARTITIONED} | {
        ("log", n) for n in LOGS}
    # 18 upcoming and 9 past bookings in the bookers' own partitions, 31 past ones (ended over 30 days ago) archived
    assert counts[("partitioned", "bookings")].source == 27 and counts[("partitioned", "bookings")].parts == 5
    assert counts[("partitioned", "booking_archive")].source == 31
    assert counts[("collection", "rooms")].source == len(Repository(source).list_rooms()) > 0
    assert counts[("log", "audit")].source == 21 and counts[("log", "audit")].parts == 3
    assert all(c.ok for c in report.counts)
    assert dump(open_target()) == dump(source)
    table = report.table()
    assert "booking_archive" in table and "DIFFERS" not in table and "FAILED" not in table


def test_running_it_twice_gives_the_same_target(source_dir: Path, open_target: Callable[[], Backend]) -> None:
    source = TinyDbBackend(source_dir)
    migrate.copy_data(source, open_target())
    first = dump(open_target())
    again = migrate.copy_data(source, open_target())
    assert again.ok and dump(open_target()) == first
    assert again.audit_days_same == 3 and again.audit_days_written == 0  # no audit day appended twice


def test_an_audit_day_that_differs_is_replaced_not_appended_to(source_dir: Path,
                                                               open_target: Callable[[], Backend]) -> None:
    source = TinyDbBackend(source_dir)
    migrate.copy_data(source, open_target())
    day = source.log("audit").parts()[-1]
    source.log("audit").append(day, [{"key": "zzz", "at": f"{day}T23:00:00+00:00", "actor": "x", "action": "y",
                                      "detail": "", "outcome": "done"}])  # the bot ran on meanwhile
    report = migrate.copy_data(source, open_target())
    assert report.ok and report.audit_days_written == 1 and report.audit_days_same == 2
    assert open_target().log("audit").read(day) == source.log("audit").read(day)


def test_a_count_that_differs_fails_the_verification(source_dir: Path, open_target: Callable[[], Backend]) -> None:
    source = TinyDbBackend(source_dir)
    assert migrate.copy_data(source, open_target()).ok
    target = open_target()
    booker = PEOPLE_KEYS[2]
    key = next(iter(dict(target.partitioned("bookings").items(booker))))
    target.partitioned("bookings").delete(booker, key)
    counts = migrate.verify(source, target)
    wrong = [c for c in counts if not c.ok]
    assert [(c.name, c.source - c.target) for c in wrong] == [("bookings", 1)]
    report = migrate.Report(counts=counts)
    assert not report.ok and "DIFFERS" in report.table() and "FAILED" in report.table()


async def test_the_bot_state_is_copied_into_a_bot_storage(source_dir: Path) -> None:
    await write_bot_state(source_dir)
    target = MemoryStorage()
    count = await migrate.copy_bot_state(source_dir / migrate.STATE_FILE, target)
    assert count.ok and count.source == 2
    stored = await target.read([STATE_KEY])
    assert stored[STATE_KEY]["DialogState"] == {"dialogStack": [{"id": "ask-time", "state": {"day": 3}}]}
    again = await migrate.copy_bot_state(source_dir / migrate.STATE_FILE, target)  # stored e_tags do not refuse it
    assert again.ok


# --- the command -----------------------------------------------------------------------------------


def test_the_command_copies_into_a_data_folder_and_prints_the_table(source_dir: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    migrate._run(write_bot_state(source_dir))
    target = tmp_path / "copy"
    assert migrate.main(["--from", str(source_dir), "--to", str(target)]) == 0
    out, err = capsys.readouterr()
    assert "must be stopped" in err
    assert "booking_archive" in out and "state.json" in out and "DIFFERS" not in out
    assert out.rstrip().endswith("OK: every count matches.")
    assert dump(TinyDbBackend(target)) == dump(TinyDbBackend(source_dir))
    stored = migrate._run(TinyDbStorage(target / migrate.STATE_FILE).read([STATE_KEY]))
    assert stored[STATE_KEY]["DialogState"]["dialogStack"][0]["id"] == "ask-time"
    assert migrate.main(["--from", str(source_dir), "--to", str(target)]) == 0  # again: the same
    assert dump(TinyDbBackend(target)) == dump(TinyDbBackend(source_dir))


def test_the_command_fails_when_the_target_holds_other_data(source_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "copy"
    Repository(TinyDbBackend(target)).add_audit("someone", "book", "made on the target already")
    assert migrate.main(["--from", str(source_dir), "--to", str(target)]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS" in out and "FAILED" in out


def test_the_command_says_loudly_which_files_it_cannot_copy(source_dir: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    TinyDbBackend(source_dir).partitioned("users").put("x" * 200, "profile", {"zone": "UTC"})  # a hashed file name
    assert migrate.main(["--from", str(source_dir), "--to", str(tmp_path / "copy")]) == 0
    out, err = capsys.readouterr()
    assert "1 files under people/ (1 documents) have hashed names and CANNOT be copied" in err
    assert "NOT COPIED: 1 files under people/ (1 documents)" in out


def test_the_command_fails_when_the_source_changes_meanwhile(source_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    copy = migrate.copy_data

    def copy_while_the_bot_writes(source: Backend, target: Backend, **kwargs: Any) -> migrate.Report:
        report = copy(source, target, **kwargs)
        Repository(TinyDbBackend(source_dir)).save_user_zone(PEOPLE_KEYS[0], "Asia/Tokyo")  # a running bot
        return report

    monkeypatch.setattr(migrate, "copy_data", copy_while_the_bot_writes)
    assert migrate.main(["--from", str(source_dir), "--to", str(tmp_path / "copy")]) == 1
    assert "changed during the copy" in capsys.readouterr().out


def test_files_written_in_the_last_minute_are_named_as_a_sign_the_bot_runs(source_dir: Path) -> None:
    prints = migrate.fingerprint(source_dir)
    newest = max(mtime for _, mtime in prints.values()) / 1e9
    assert migrate.recently_written(prints, newest + migrate.RECENT_WRITE_S + 1) == []
    recent = migrate.recently_written(prints, prints["org.json"][1] / 1e9 + 1)
    assert "org.json" in recent and all(name in prints for name in recent)
    assert not any(name.endswith(".tmp") for name in prints)


def test_the_command_refuses_a_folder_of_an_earlier_roombot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "bookings.json").write_text(json.dumps({"bookings": {}}))
    assert migrate.main(["--from", str(old), "--to", str(tmp_path / "copy")]) == 2
    assert "Start this version on it once" in capsys.readouterr().err
    assert not (tmp_path / "copy").exists()


def test_the_command_needs_an_existing_folder_and_a_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SystemExit):
        migrate.main(["--from", str(tmp_path / "missing"), "--to", str(tmp_path / "copy")])
    with pytest.raises(SystemExit):
        migrate.main(["--from", str(tmp_path)])
    assert not (tmp_path / "missing").exists()


def test_the_command_copies_into_postgresql(source_dir: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: the command into an empty PostgreSQL database (schema made on the way), the bot state
    into its table, and RoomBot's repository there reads what it read from the folder; twice is the same."""
    from storage.postgres import PostgresBackend, PostgresStorage

    migrate._run(write_bot_state(source_dir))
    expected = snapshot(Repository(TinyDbBackend(source_dir), clock=lambda: NOW))
    assert migrate.main(["--from", str(source_dir), "--to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "DIFFERS" not in out and "FAILED" not in out and "state.json" in out
    database = PostgresBackend(pg_url)
    try:
        first = dump(database)
        assert first == dump(TinyDbBackend(source_dir))
        stored = migrate._run(PostgresStorage(database).read([STATE_KEY]))
        assert stored[STATE_KEY]["DialogState"]["dialogStack"][0]["state"] == {"day": 3}
        assert migrate.main(["--from", str(source_dir), "--to", pg_url]) == 0
        assert "audit days: 0 written, 3 already the same" in capsys.readouterr().out
        assert dump(database) == first
        assert snapshot(Repository(database, clock=lambda: NOW)) == expected
    finally:
        database.close()


def test_the_command_says_when_the_database_cannot_be_reached(source_dir: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://roombot@127.0.0.1:1/roombot"  # nothing listens on port 1
    assert migrate.main(["--from", str(source_dir), "--to", url]) == 2
    assert "Cannot open the target: the database cannot be reached" in capsys.readouterr().err


def test_a_copy_cut_short_by_the_database_is_finished_by_running_it_again(
        source_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "copy"
    open_target = migrate.open_target

    def going_away(to: str) -> tuple[Backend, Any]:
        backend, state = open_target(to)
        partitioned = backend.partitioned

        def failing(name: str):  # noqa: ANN202 - test double
            collection = partitioned(name)
            if name == "booking_archive":
                def put_many(part: str, docs: Any) -> None:
                    raise StorageUnavailable("the database went away: server closed the connection")
                collection.put_many = put_many  # type: ignore[method-assign]
            return collection

        backend.partitioned = failing  # type: ignore[method-assign]
        return backend, state

    monkeypatch.setattr(migrate, "open_target", going_away)
    assert migrate.main(["--from", str(source_dir), "--to", str(target)]) == 1
    assert "The copy stopped: the database went away" in capsys.readouterr().err
    assert dump(TinyDbBackend(target))["partitioned:booking_archive"] == {}  # cut short there
    monkeypatch.setattr(migrate, "open_target", open_target)
    assert migrate.main(["--from", str(source_dir), "--to", str(target)]) == 0
    assert dump(TinyDbBackend(target)) == dump(TinyDbBackend(source_dir))
