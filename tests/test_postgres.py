"""What the PostgreSQL backend adds to the storage contract: several instances on one database."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from domain.errors import Conflict
from domain.models import ROLE_ADMIN, Admin, Booking, Room
from scripts.cluster import LocalPostgres
from services.locks import SharedLocks, StillBusy
from storage import repository
from storage.backends import StorageUnavailable
from storage.postgres import MIGRATIONS, PostgresBackend, PostgresStorage
from storage.repository import Repository, one_turn

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def instances(pg_url: str) -> Iterator[list[Repository]]:
    """Three repositories on one database, each with its own connections, as three processes have."""
    repos = [Repository(PostgresBackend(pg_url)) for _ in range(3)]
    yield repos
    for repo in repos:
        repo.close()


def _booking(booking_id: str, attempt: str = "") -> Booking:
    return Booking(id=booking_id, room_email="hq-aurora@example.com", event_id=f"ev-{booking_id}", ical_uid="",
                   booker_aad_id="aad-1", booker_email="alexw@example.com", start=T0, end=T0 + timedelta(hours=1),
                   subject="Sync", attendees=("alexw@example.com",), created_at=T0, attempt_key=attempt)


def test_migrations_run_once_when_instances_start_together(pg_url: str) -> None:
    started: list[PostgresBackend] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            started.append(PostgresBackend(pg_url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [row[0] for row in rows] == [version for version, _, _ in MIGRATIONS]
    assert started[0].schema_version() == MIGRATIONS[-1][0]
    assert started[0].migrate() == []  # nothing left to apply
    for backend in started:
        backend.close()


def test_an_attempt_is_recorded_once_even_past_the_check_before_it(instances: list[Repository]) -> None:
    """The unique index, not the read before the write, is what stops two instances recording one attempt."""
    first, second, _ = instances
    first.add_booking(_booking("b1", attempt="press-1"))
    second.get_booking_by_attempt = lambda *_: None  # as if both had checked before either wrote
    with pytest.raises(Conflict):
        second.add_booking(_booking("b2", attempt="press-1"))
    assert second.get_booking("b2") is None  # nothing of it was written: one transaction
    assert [b.id for b in first.list_bookings()] == ["b1"]


def test_a_failed_write_spanning_records_leaves_none_of_them(pg_url: str) -> None:
    backend = PostgresBackend(pg_url)
    docs = backend.partitioned("bookings")
    with pytest.raises(RuntimeError), backend.transaction():
        docs.put("aad-1", "a", {"id": "a"})
        docs.put("aad-1", "b", {"id": "b"})
        raise RuntimeError("cut short")
    assert docs.all("aad-1") == []
    backend.close()


def test_rooms_registered_on_one_instance_are_seen_by_the_others(
        instances: list[Repository], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repository, "REGISTRY_RECHECK_S", 0.0)
    admin, other, _ = instances
    hq = admin.add_building("HQ")
    floor = admin.add_floor(hq.id, "1")
    assert other.list_rooms() == []  # kept in memory from here on
    admin.add_room(Room(email="hq-aurora@example.com", display_name="Aurora", building_id=hq.id,
                        floor_id=floor.id, capacity=4))
    assert [r.email for r in other.list_rooms()] == ["hq-aurora@example.com"]
    with pytest.raises(Conflict):  # a room email is unique across instances
        other.add_room(Room(email="hq-aurora@example.com", display_name="Again", building_id=hq.id,
                            floor_id=floor.id, capacity=4))


def test_settings_admins_and_floor_plans_changed_on_one_instance_are_seen_by_the_others(
        instances: list[Repository], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each instance keeps the organisation's own data parsed; a change bumps its version, which the others
    check (at most every REGISTRY_RECHECK_S: 0 here)."""
    monkeypatch.setattr(repository, "REGISTRY_RECHECK_S", 0.0)
    admin, other, _ = instances
    assert other.get_settings().booking_enabled is False and other.list_admins() == []  # now kept by `other`
    assert other.list_buildings() == [] and other.list_floors() == []
    admin.save_settings(replace(admin.get_settings(), booking_enabled=True))
    admin.add_admin(Admin(key="meganb@example.com", roles=(ROLE_ADMIN,)))
    hq = admin.add_building("HQ")
    floor = admin.add_floor(hq.id, "Ground")
    assert other.get_settings().booking_enabled is True
    assert other.find_admin("MeganB@example.com") == Admin(key="meganb@example.com", roles=(ROLE_ADMIN,))
    assert other.get_building(hq.id) == hq and other.list_floors(hq.id) == [floor]
    admin.remove_floor(floor.id)
    assert other.list_floors() == []


def test_a_turn_reads_one_version_of_the_organisations_data_and_the_next_turn_sees_a_change(
        instances: list[Repository]) -> None:
    admin, other, _ = instances
    with one_turn():
        assert other.get_settings().booking_enabled is False
        admin.save_settings(replace(admin.get_settings(), booking_enabled=True))  # another instance, meanwhile
        assert other.get_settings().booking_enabled is False  # checked once at the turn's start
    with one_turn():
        assert other.get_settings().booking_enabled is True  # the next turn
    admin.save_settings(replace(admin.get_settings(), booking_enabled=False))
    assert other.get_settings().booking_enabled is False  # outside a turn: checked on every read


def test_one_welcome_per_conversation_across_instances(instances: list[Repository]) -> None:
    assert [repo.mark_welcomed("conv-1") for repo in instances] == [True, False, False]


async def test_presses_on_one_booking_through_two_instances_act_one_after_the_other(
        instances: list[Repository]) -> None:
    first, second = SharedLocks(instances[0], "booking"), SharedLocks(instances[1], "booking", wait_s=5)
    order: list[str] = []

    async def press(locks: SharedLocks, name: str, hold_s: float) -> None:
        async with locks.hold("b1"):
            order.append(f"{name} in")
            await asyncio.sleep(hold_s)
            order.append(f"{name} out")

    first_press = asyncio.create_task(press(first, "first", 0.3))
    await asyncio.sleep(0.05)
    await press(second, "second", 0)
    await first_press
    assert order == ["first in", "first out", "second in", "second out"]


async def test_a_press_waits_only_so_long_for_another_instance(instances: list[Repository]) -> None:
    holder, waiter = SharedLocks(instances[0], "booking"), SharedLocks(instances[1], "booking", wait_s=0.2)
    async with holder.hold("b1"):
        with pytest.raises(StillBusy):
            async with waiter.hold("b1"):
                pytest.fail("two instances held one booking")
        async with waiter.hold("b2"):  # another booking is free
            pass


async def test_conversation_state_written_by_one_instance_is_read_by_another(pg_url: str) -> None:
    one, two = PostgresBackend(pg_url), PostgresBackend(pg_url)
    await PostgresStorage(one).write({"msteams/conversations/c1": {"question": "which room?"}})
    assert (await PostgresStorage(two).read(["msteams/conversations/c1"]))["msteams/conversations/c1"] == {
        "question": "which room?", "e_tag": (await PostgresStorage(one).read(["msteams/conversations/c1"]))[
            "msteams/conversations/c1"]["e_tag"]}
    one.close()
    two.close()


def test_an_unreachable_server_is_storage_unavailable() -> None:
    with pytest.raises(StorageUnavailable):
        PostgresBackend("postgresql://postgres@127.0.0.1:9/roombot")  # nothing listens on the discard port


def test_a_restart_drops_every_connection_and_the_next_calls_recover(
        postgres_factory: Callable[[], LocalPostgres]) -> None:
    cluster = postgres_factory()
    repo = Repository(PostgresBackend(cluster.url))
    repo.add_booking(_booking("before"))
    assert repo.get_booking("before") is not None  # a pooled connection now
    cluster.restart()  # every connection the pool holds is gone
    assert repo.get_booking("before") is not None  # a read is tried again on a new connection
    repo.add_booking(_booking("after"))  # a transaction on a fresh connection
    assert sorted(b.id for b in repo.list_bookings()) == ["after", "before"]
    repo.close()


def test_while_the_server_is_down_calls_fail_fast_as_unavailable_and_recover_after(
        postgres_factory: Callable[[], LocalPostgres]) -> None:
    cluster = postgres_factory()
    repo = Repository(PostgresBackend(cluster.url))
    repo.add_booking(_booking("kept"))
    cluster.kill()  # kill -9 of the postmaster: a crash, not a shutdown
    with pytest.raises(StorageUnavailable):
        repo.get_booking("kept")
    with pytest.raises(StorageUnavailable):
        repo.add_booking(_booking("lost"))
    cluster.start()
    assert [b.id for b in repo.list_bookings()] == ["kept"]  # what was committed survived; nothing half-written
    repo.close()
