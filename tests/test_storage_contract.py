"""One contract for the repository, run against every backend; one for bot state storage."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from botbuilder.core import MemoryStorage, Storage, StoreItem

from domain.errors import Conflict, NotFound, ValidationFailed
from domain.jobs import JOB_RELEASE, JOB_REMIND, Job
from domain.models import ROLE_ADMIN, ROLE_BOOKING_ADMIN, Admin, Booking, Floor, OrgSettings, Room
from domain.rules import RoomRules
from storage import backends
from storage.backends import MemoryBackend, PartitionFiles, TinyDbBackend
from storage.bot_state import TinyDbStorage
from storage.postgres import PostgresBackend, PostgresStorage
from storage.repository import MAX_FAVOURITES, Repository

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _booking(booking_id: str, booker: str = "aad-1", start: datetime = T0) -> Booking:
    return Booking(id=booking_id, room_email="hq-aurora@example.com", event_id=f"ev-{booking_id}",
                   ical_uid=f"uid-{booking_id}", booker_aad_id=booker, booker_email="alexw@example.com",
                   start=start, end=start + timedelta(minutes=30), subject="Sync",
                   attendees=("alexw@example.com", "meganb@example.com"), created_at=T0)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RepositoryContract:
    """Behaviour every repository backend must show. Subclasses provide `open_repo`: a repository
    on that backend's storage (the same storage each time it is called in a test)."""

    @pytest.fixture
    def open_repo(self) -> Callable[..., Repository]:
        raise NotImplementedError

    @pytest.fixture
    def repo(self, open_repo: Callable[..., Repository]) -> Repository:
        return open_repo()

    def test_settings_default_to_disconnected_and_off(self, repo: Repository) -> None:
        assert repo.get_settings() == OrgSettings(tenant_id=None, connected=False, booking_enabled=False)

    def test_settings_round_trip(self, repo: Repository) -> None:
        repo.save_settings(OrgSettings(tenant_id="t1", connected=True, booking_enabled=True))
        assert repo.get_settings() == OrgSettings(tenant_id="t1", connected=True, booking_enabled=True)

    def test_buildings_floors_and_rooms(self, repo: Repository) -> None:
        hq = repo.add_building("  Contoso   HQ ")
        assert hq.name == "Contoso HQ"
        ground = repo.add_floor(hq.id, "Ground", 0)
        first = repo.add_floor(hq.id, "First", 1)
        room = repo.add_room(Room(email=" HQ-Aurora@Example.com ", display_name="Aurora", building_id=hq.id,
                                  floor_id=first.id, capacity=4, features=("Whiteboard", "video", "video")))
        assert room.email == "hq-aurora@example.com"
        assert room.features == ("video", "whiteboard")
        assert repo.get_room("HQ-AURORA@example.com") == room
        assert repo.list_rooms(floor_id=first.id) == [room]
        assert repo.list_rooms(floor_id=ground.id) == []
        assert repo.list_rooms(building_id=hq.id) == [room]
        assert [f.name for f in repo.list_floors(hq.id)] == ["Ground", "First"]
        assert repo.get_building(hq.id) == hq

    def test_duplicates_are_refused(self, repo: Repository) -> None:
        hq = repo.add_building("HQ")
        floor = repo.add_floor(hq.id, "1")
        with pytest.raises(Conflict):
            repo.add_building("hq")
        with pytest.raises(Conflict):
            repo.add_floor(hq.id, "1")
        repo.add_room(Room(email="r@example.com", display_name="R", building_id=hq.id, floor_id=floor.id))
        with pytest.raises(Conflict):
            repo.add_room(Room(email="R@EXAMPLE.COM ", display_name="R2", building_id=hq.id, floor_id=floor.id))

    def test_a_batch_with_a_room_already_registered_adds_none(self, repo: Repository) -> None:
        hq = repo.add_building("HQ")
        floor = repo.add_floor(hq.id, "1")
        first, second = (Room(email=f"r{i}@example.com", display_name=f"R{i}", building_id=hq.id,
                              floor_id=floor.id) for i in range(2))
        repo.add_room(first)
        with pytest.raises(Conflict, match="r0@example.com"):
            repo.add_rooms([second, first])
        assert repo.list_rooms() == [first]

    def test_rooms_fitting_a_size_come_smallest_first_and_follow_changes(self, repo: Repository) -> None:
        hq = repo.add_building("HQ")
        floor = repo.add_floor(hq.id, "1")
        rooms = [Room(email=f"r{i}@example.com", display_name=name, building_id=hq.id, floor_id=floor.id,
                      capacity=capacity) for i, (name, capacity) in enumerate(
                     [("Birch", 8), ("zinc", 4), ("Ash", 12), ("ash", 4), ("Cedar", 2)])]
        repo.add_rooms(rooms)
        assert [r.email for r in repo.rooms_fitting(4)] == ["r3@example.com", "r1@example.com", "r0@example.com",
                                                           "r2@example.com"]
        assert [r.capacity for r in repo.rooms_fitting()] == [2, 4, 4, 8, 12] and repo.rooms_fitting(13) == []
        repo.update_room(replace(rooms[2], capacity=3))
        repo.add_room(Room(email="r5@example.com", display_name="Bay", building_id=hq.id, floor_id=floor.id,
                           capacity=4))
        repo.remove_room("r1@example.com")
        assert [r.email for r in repo.rooms_fitting(3)] == ["r2@example.com", "r3@example.com", "r5@example.com",
                                                           "r0@example.com"]

    def test_rooms_of_a_building_or_floor_and_their_features_follow_changes(self, repo: Repository) -> None:
        hq, annex = repo.add_building("HQ"), repo.add_building("Annex")
        one, two, annex_one = repo.add_floor(hq.id, "1"), repo.add_floor(hq.id, "2"), repo.add_floor(annex.id, "1")

        def room(n: int, floor: Floor, features: tuple[str, ...] = ()) -> Room:
            return Room(email=f"r{n}@example.com", display_name=f"R{n}", building_id=floor.building_id,
                        floor_id=floor.id, features=features)

        repo.add_rooms([room(3, two, ("video",)), room(1, one), room(2, one, ("whiteboard",)), room(4, annex_one)])
        assert repo.room_features() == ["video", "whiteboard"]
        assert [r.email for r in repo.list_rooms(floor_id=one.id)] == ["r1@example.com", "r2@example.com"]
        assert [r.email for r in repo.list_rooms(building_id=hq.id)] == ["r1@example.com", "r2@example.com",
                                                                           "r3@example.com"]
        assert repo.list_rooms(building_id=annex.id, floor_id=one.id) == []
        assert repo.list_rooms(floor_id="f-nowhere") == [] and len(repo.list_rooms()) == 4
        repo.update_room(replace(room(2, one), floor_id=two.id, features=("display",)))
        repo.remove_room("r3@example.com")
        assert [r.email for r in repo.list_rooms(floor_id=two.id)] == ["r2@example.com"]
        assert repo.room_features() == ["display"]

    def test_room_on_a_floor_of_another_building_is_refused(self, repo: Repository) -> None:
        a, b = repo.add_building("A"), repo.add_building("B")
        floor_b = repo.add_floor(b.id, "1")
        with pytest.raises(ValidationFailed):
            repo.add_room(Room(email="r@example.com", display_name="R", building_id=a.id, floor_id=floor_b.id))
        with pytest.raises(NotFound):
            repo.add_room(Room(email="r@example.com", display_name="R", building_id=a.id, floor_id="nope"))

    def test_malformed_room_email_is_refused_and_unknown_is_none(self, repo: Repository) -> None:
        with pytest.raises(ValidationFailed):
            Room(email="not an email", display_name="X", building_id="b", floor_id="f")
        assert repo.get_room("nobody@example.com") is None
        assert repo.get_room("') or 1 eq 1 or ('") is None

    def test_update_and_remove_room(self, repo: Repository) -> None:
        hq = repo.add_building("HQ")
        floor = repo.add_floor(hq.id, "1")
        room = repo.add_room(Room(email="r@example.com", display_name="R", building_id=hq.id, floor_id=floor.id))
        repo.update_room(replace(room, capacity=9))
        assert repo.get_room("r@example.com").capacity == 9
        repo.remove_room("r@example.com")
        assert repo.get_room("r@example.com") is None
        with pytest.raises(NotFound):
            repo.remove_room("r@example.com")

    def test_room_rules_default_rules_and_building_zone_round_trip(self, repo: Repository) -> None:
        hq = repo.add_building("HQ")
        floor = repo.add_floor(hq.id, "1")
        room = repo.add_room(Room(email="r@example.com", display_name="R", building_id=hq.id, floor_id=floor.id))
        rules = RoomRules(window_days=14, max_minutes=120, hours_start="08:00", hours_end="24:00", days=(0, 1, 4),
                          bookers=("alexw@example.com", "11111111-2222-3333-4444-555555555555"),
                          checkin_required=True, auto_release=False, release_after_min=5, never_release=True)
        repo.update_room(replace(room, rules=rules))
        assert repo.get_room("r@example.com").rules == rules
        repo.update_room(replace(room, rules=RoomRules(bookers=())))  # () is everyone, not unset
        assert repo.get_room("r@example.com").rules == RoomRules(bookers=())
        repo.update_room(replace(room, rules=None))
        assert repo.get_room("r@example.com").rules is None
        defaults = RoomRules(window_days=30, days=(0, 1, 2, 3, 4), bookers=(), checkin_required=False,
                             auto_release=True, release_after_min=10, never_release=False)
        repo.save_settings(replace(repo.get_settings(), default_rules=defaults))
        assert repo.get_settings().default_rules == defaults
        repo.update_building(replace(hq, zone="Europe/Helsinki", name="ignored"))
        repo.rename_building(hq.id, "Head office")
        assert repo.get_building(hq.id) == replace(hq, name="Head office", zone="Europe/Helsinki")
        with pytest.raises(NotFound):
            repo.update_building(replace(hq, id="b-none"))

    def test_admins_by_object_id_or_upn_and_one_always_left(self, repo: Repository) -> None:
        repo.add_admin(Admin(key="AAD-1"))
        repo.add_admin(Admin(key="Megan@Example.com", roles=(ROLE_ADMIN, ROLE_BOOKING_ADMIN)))
        assert repo.find_admin(None, "aad-1").key == "aad-1"
        assert repo.find_admin("x", "meganb@example.com", "megan@example.com").roles == (ROLE_ADMIN,
                                                                                         ROLE_BOOKING_ADMIN)
        assert repo.find_admin("someone-else") is None
        repo.remove_admin("aad-1")
        with pytest.raises(ValidationFailed):
            repo.remove_admin("megan@example.com")
        assert [a.key for a in repo.list_admins()] == ["megan@example.com"]

    def test_admins_keep_their_name_and_email(self, repo: Repository) -> None:
        repo.add_admin(Admin(key="00000000-0000-0000-0000-000000000021", roles=(ROLE_BOOKING_ADMIN,),
                             added_by="aad-1", name="Megan Bowen", email="meganb@example.com"))
        [megan] = repo.list_admins()
        assert (megan.name, megan.email, megan.added_by) == ("Megan Bowen", "meganb@example.com", "aad-1")
        assert repo.find_admin("00000000-0000-0000-0000-000000000021") == megan

    def test_admins_stored_before_names_still_read(self, repo: Repository) -> None:
        """Records written before names were kept: no name or email fields at all."""
        for key in ("aad-old", "old@example.com"):
            repo._admins.put(key, {"key": key, "roles": ["admin"], "added_by": ""})  # as an older release wrote
        old_id, old_upn = repo.find_admin("aad-old"), repo.find_admin("old@example.com")
        assert (old_id.name, old_id.email, old_upn.name, old_upn.email) == ("", "", "", "")
        assert [a.key for a in repo.list_admins()] == ["aad-old", "old@example.com"]

    def test_bookings_round_trip_and_list_per_user_by_start(self, repo: Repository) -> None:
        later = repo.add_booking(_booking("b2", start=T0 + timedelta(hours=2)))
        first = repo.add_booking(_booking("b1"))
        other = repo.add_booking(_booking("b3", booker="aad-2", start=T0 + timedelta(hours=1)))
        assert repo.get_booking("b1") == first
        assert repo.list_bookings_for_user("aad-1") == [first, later]
        assert repo.list_bookings() == [first, other, later]
        with pytest.raises(Conflict):
            repo.add_booking(_booking("b1"))
        repo.update_booking(Booking(**{**first.__dict__, "status": "cancelled"}))
        assert repo.get_booking("b1").status == "cancelled"
        repo.remove_booking("b1")
        assert repo.get_booking("b1") is None
        assert repo.get_booking(None) is None  # type: ignore[arg-type] - forged payloads
        assert repo.get_booking("") is None

    def test_bookings_since_a_time_are_those_not_ended_by_then(self, repo: Repository) -> None:
        past = repo.add_booking(_booking("old", start=T0 - timedelta(days=3)))
        ending = repo.add_booking(_booking("late", start=T0 - timedelta(hours=10)))  # the day before, runs past T0
        ending = repo.update_booking(replace(ending, end=T0 + timedelta(minutes=5)))
        ended = repo.add_booking(_booking("ended", start=T0 - timedelta(hours=2)))
        soon = repo.add_booking(_booking("soon", booker="aad-2", start=T0 + timedelta(hours=1)))
        moved = repo.add_booking(_booking("moved", start=T0 - timedelta(days=5)))
        moved = repo.update_booking(replace(moved, start=T0 + timedelta(days=2), end=T0 + timedelta(days=2, hours=1)))
        assert repo.list_bookings(since=T0) == [ending, soon, moved]
        assert repo.list_bookings() == [past, ending, ended, soon, moved]
        repo.update_booking(replace(moved, start=T0 - timedelta(days=1), end=T0 - timedelta(days=1, hours=-1)))
        assert repo.list_bookings(since=T0) == [ending, soon]

    def test_a_booking_cannot_change_hands(self, repo: Repository) -> None:
        booking = repo.add_booking(_booking("b1"))
        with pytest.raises(NotFound):
            repo.update_booking(replace(booking, booker_aad_id="aad-2"))
        assert repo.list_bookings_for_user("aad-2") == [] and repo.get_booking("b1") == booking

    def test_import_bookings_replaces_and_indexes_them(self, repo: Repository) -> None:
        first = repo.add_booking(_booking("b1"))
        imported = [replace(first, subject="Imported"), _booking("b2", booker="aad-2", start=T0 + timedelta(days=1)),
                    replace(_booking("b3"), attempt_key="aad-1:card-9")]
        assert repo.import_bookings(imported) == 3
        assert repo.get_booking("b1").subject == "Imported"
        assert repo.get_booking("b2") == imported[1]
        assert repo.get_booking_by_attempt("aad-1", "aad-1:card-9") == imported[2]
        assert [b.id for b in repo.list_bookings_for_user("aad-1")] == ["b1", "b3"]
        assert [b.id for b in repo.list_bookings(since=T0 + timedelta(hours=12))] == ["b2"]

    def test_rooms_added_together_are_checked_first(self, repo: Repository) -> None:
        hq = repo.add_building("HQ")
        floor = repo.add_floor(hq.id, "1")
        rooms = [Room(email=f"r{i}@example.com", display_name=f"R{i}", building_id=hq.id, floor_id=floor.id)
                 for i in range(3)]
        with pytest.raises(Conflict):
            repo.add_rooms([*rooms, rooms[0]])
        assert repo.list_rooms() == []
        assert repo.add_rooms(rooms) == 3
        assert repo.list_rooms(floor_id=floor.id) == rooms and repo.get_room("R1@example.com") == rooms[1]
        repo.update_room(replace(rooms[1], capacity=9))
        assert repo.get_room("r1@example.com").capacity == 9
        repo.remove_room("r1@example.com")
        assert [r.email for r in repo.list_rooms()] == ["r0@example.com", "r2@example.com"]

    def test_conversation_references_are_written_only_when_changed(self, repo: Repository) -> None:
        reference = {"conversation": {"id": "c1"}, "serviceUrl": "https://smba.example"}
        assert repo.save_conversation_reference("aad-1", reference) is True
        assert repo.save_conversation_reference("aad-1", dict(reference)) is False
        assert repo.get_conversation_reference("aad-1") == reference
        assert repo.get_conversation_reference("aad-2") is None

    def test_a_person_marked_unreachable_is_reachable_again_once_they_chat(
            self, repo: Repository, open_repo: Callable[..., Repository]) -> None:
        reference = {"conversation": {"id": "c1"}, "serviceUrl": "https://smba.example"}
        assert repo.mark_unreachable("aad-1", "403 ConversationBlockedByUser", T0) is False  # no chat: nothing to mark
        repo.save_conversation_reference("aad-1", reference)
        assert repo.is_unreachable("aad-1") is False
        assert repo.mark_unreachable("aad-1", "403 ConversationBlockedByUser", T0) is True
        assert repo.mark_unreachable("aad-1", "404 ConversationNotFound", T0) is False  # marked once
        assert open_repo().is_unreachable("aad-1") is True  # kept
        assert not repo.is_unreachable("aad-2") and not repo.is_unreachable("")
        assert repo.get_conversation_reference("aad-1") == reference
        assert repo.save_conversation_reference("aad-1", dict(reference)) is True  # the same reference clears it
        assert repo.is_unreachable("aad-1") is False and open_repo().is_unreachable("aad-1") is False
        assert repo.save_conversation_reference("aad-1", dict(reference)) is False

    def test_welcome_is_recorded_once_per_conversation(self, repo: Repository) -> None:
        assert repo.mark_welcomed("c1") is True
        assert repo.mark_welcomed("c1") is False
        assert repo.mark_welcomed("c2") is True

    def test_rename_and_remove_buildings_and_floors(self, repo: Repository) -> None:
        hq = repo.add_building("HQ")
        annex = repo.add_building("Annex")
        ground = repo.add_floor(hq.id, "Ground", 0)
        first = repo.add_floor(hq.id, "First", 1)
        repo.add_room(Room(email="r@example.com", display_name="R", building_id=hq.id, floor_id=ground.id))
        assert repo.rename_building(hq.id, " Head  office ").name == "Head office"
        assert repo.get_building(hq.id).name == "Head office"
        with pytest.raises(Conflict):
            repo.rename_building(annex.id, "head office")
        assert repo.rename_floor(first.id, "Level 1").name == "Level 1"
        with pytest.raises(Conflict):
            repo.rename_floor(first.id, "ground")
        with pytest.raises(Conflict):  # rooms first
            repo.remove_floor(ground.id)
        with pytest.raises(Conflict):
            repo.remove_building(hq.id)
        repo.remove_floor(first.id)
        assert [f.name for f in repo.list_floors(hq.id)] == ["Ground"]
        repo.remove_room("r@example.com")
        repo.remove_building(hq.id)
        assert [b.name for b in repo.list_buildings()] == ["Annex"] and repo.list_floors(hq.id) == []

    def test_booking_attempts_users_audit_and_consent_states(self, repo: Repository) -> None:
        booking = repo.add_booking(Booking(**{**_booking("b1").__dict__, "attempt_key": "aad-1:card-1"}))
        assert repo.get_booking_by_attempt("aad-1", "aad-1:card-1") == booking
        assert repo.get_booking_by_attempt("aad-2", "aad-1:card-1") is None
        with pytest.raises(Conflict):  # one booking per card
            repo.add_booking(Booking(**{**_booking("b2").__dict__, "attempt_key": "aad-1:card-1"}))
        assert repo.last_booking_for("aad-1") == booking
        repo.remove_booking("b1")
        assert repo.get_booking_by_attempt("aad-1", "aad-1:card-1") is None
        repo.save_user_zone("aad-1", "Europe/Helsinki")
        assert repo.get_user_zone("aad-1") == "Europe/Helsinki" and repo.get_user_zone("aad-2") is None
        repo.add_audit("aad-1", "room add", "r@example.com")
        repo.add_audit("aad-2", "rooms", "not an admin", outcome="refused")
        assert [(a["actor"], a["outcome"]) for a in repo.list_audit()] == [("aad-2", "refused"), ("aad-1", "done")]
        repo.put_consent_state("hash-1", {"actor": "aad-1"})
        assert repo.take_consent_state("hash-1") == {"actor": "aad-1"}
        assert repo.take_consent_state("hash-1") is None

    # --- what must not grow without end ---------------------------------------------------------

    def test_refusals_of_other_tenants_are_counted_per_tenant_and_hour(
            self, open_repo: Callable[..., Repository]) -> None:
        clock = Clock(T0)
        repo = open_repo(clock=clock)
        repo.add_audit("aad-1", "room add", "r@example.com")
        for n in range(1000):
            clock.now = T0 + timedelta(seconds=n)
            repo.count_refusal("tenant-x", f"user-{n}", "message activity")
            if n == 400:
                repo.flush_refusals()  # counts written in several goes add up
        repo.count_refusal("tenant-y", "user-y", "invoke activity")
        clock.now = T0 + timedelta(hours=1, minutes=5)
        repo.count_refusal(None, "user-z", "message activity")
        repo.count_refusal("tenant-x", "user-late", "message activity")
        expected = [("tenant-x", 1, "user-late"), ("(none)", 1, "user-z"), ("tenant-y", 1, "user-y"),
                    ("tenant-x", 1000, "user-999")]
        entries = repo.list_audit()  # counts not written yet are listed too
        assert [(e.get("tenant"), e.get("count"), e["actor"]) for e in entries[:4]] == expected
        assert entries[4]["action"] == "room add" and len(entries) == 5
        assert all(e["outcome"] == "refused" for e in entries[:4]) and "'tenant-x'" in entries[3]["detail"]
        assert (entries[3]["first"], entries[3]["last"]) == (T0.isoformat(), (T0 + timedelta(seconds=999)).isoformat())
        repo.close()
        reopened = open_repo(clock=clock)
        assert [(e.get("tenant"), e.get("count"), e["actor"]) for e in reopened.list_audit()[:4]] == expected
        assert [e["key"] for e in reopened.list_audit(limit=2)] == [e["key"] for e in entries[:2]]

    def test_forged_tenant_ids_past_a_hundred_an_hour_are_counted_together(
            self, open_repo: Callable[..., Repository]) -> None:
        repo = open_repo(clock=Clock(T0))
        for n in range(300):
            repo.count_refusal(f"forged-{n}", "someone", "message activity")
        repo.flush_refusals()
        entries = repo.list_audit(limit=1000)
        assert len(entries) == 101 and sum(e["count"] for e in entries) == 300
        assert [e["count"] for e in entries if e["tenant"] == "(more tenants)"] == [200]

    def test_audit_days_past_retention_are_dropped(self, open_repo: Callable[..., Repository]) -> None:
        clock = Clock(T0 - timedelta(days=100))
        repo = open_repo(clock=clock, audit_retention_days=90)
        for days_ago in (100, 91, 90, 0):
            clock.now = T0 - timedelta(days=days_ago)
            repo.add_audit("aad-1", f"{days_ago} days ago")
        assert [e["action"] for e in repo.list_audit()] == ["0 days ago", "90 days ago"]  # each day cleans up
        clock.now = T0 + timedelta(days=60)
        repo.close()
        reopened = open_repo(clock=clock, audit_retention_days=90)  # and each start
        assert [e["action"] for e in reopened.list_audit()] == ["0 days ago"]
        clock.now = T0 + timedelta(days=100)
        reopened.count_refusal("tenant-x", "someone", "message activity")  # a flood's first refusal of a day too
        assert [e["action"] for e in reopened.list_audit()] == ["message activity"]

    def test_expired_consent_requests_are_removed(self, open_repo: Callable[..., Repository]) -> None:
        clock = Clock(T0)
        repo = open_repo(clock=clock)
        for name, minutes in (("old", 15), ("older", 5), ("new", 30)):
            repo.put_consent_state(name, {"actor": name, "expires": (T0 + timedelta(minutes=minutes)).isoformat()})
        repo.put_consent_state("late", {"actor": "late", "expires": (T0 + timedelta(hours=1)).isoformat()},
                               now=T0 + timedelta(minutes=10))  # removes "older" on the way
        assert repo.take_consent_state("older") is None
        taken = repo.take_consent_state("old", now=T0 + timedelta(minutes=20))  # expired: given back, said so
        assert taken is not None and taken["actor"] == "old"
        assert repo.take_consent_state("new", now=T0 + timedelta(minutes=40))["actor"] == "new"
        repo.put_consent_state("stale", {"actor": "stale", "expires": (T0 + timedelta(minutes=15)).isoformat()})
        clock.now = T0 + timedelta(days=2)
        repo.add_audit("aad-1", "anything")  # the first write of a day cleans up
        assert repo.take_consent_state("stale") is None and repo.take_consent_state("late") is None

    def test_past_and_cancelled_bookings_leave_the_persons_partition_and_stay_findable(
            self, open_repo: Callable[..., Repository]) -> None:
        clock = Clock(T0 - timedelta(days=60))
        repo = open_repo(clock=clock, archive_after_days=30)
        old = repo.add_booking(replace(_booking("old", start=T0 - timedelta(days=40)), subject="Old"))
        older = repo.add_booking(_booking("older", start=T0 - timedelta(days=50)))
        recent = repo.add_booking(_booking("recent", start=T0 - timedelta(days=5)))
        future = repo.add_booking(_booking("future", start=T0 + timedelta(days=3)))
        stuck = repo.add_booking(replace(_booking("stuck", start=T0 - timedelta(days=45)), status="pending"))
        called_off = repo.add_booking(replace(_booking("called-off", start=T0 + timedelta(days=2)),
                                              created_at=T0 - timedelta(days=2)))
        fresh = repo.add_booking(replace(_booking("fresh", start=T0 + timedelta(days=4)),
                                         created_at=T0 + timedelta(minutes=1)))
        called_off = repo.update_booking(replace(called_off, status="cancelled"))
        fresh = repo.update_booking(replace(fresh, status="cancelled"))  # cancelled a moment ago: kept a day
        other = repo.add_booking(_booking("other", booker="aad-2", start=T0 - timedelta(days=40)))
        clock.now = T0 + timedelta(minutes=2)
        assert repo.list_bookings_for_user("aad-1") == [stuck, recent, future, fresh]
        assert repo.last_booking_for("aad-1") == fresh  # the newest made (cancelled ones count)
        assert repo.list_bookings_for_user("aad-1") == [stuck, recent, future, fresh]  # moved once
        for booking in (old, older, called_off, other):
            assert repo.get_booking(booking.id) == booking
        assert repo.list_bookings() == [older, stuck, old, other, recent, called_off, future, fresh]
        assert repo.list_bookings(since=T0) == [called_off, future, fresh]
        assert repo.list_bookings(since=T0, until=future.start) == [called_off]
        assert repo.list_bookings(until=T0 - timedelta(days=40)) == [older, stuck]  # starting before
        old = repo.update_booking(replace(old, subject="Renamed", start=T0 - timedelta(days=70),
                                          end=T0 - timedelta(days=70, minutes=-30)))  # another month
        assert repo.get_booking("old") == old and repo.list_bookings()[0] == old
        repo.remove_booking("older")
        assert repo.get_booking("older") is None and older not in repo.list_bookings()
        assert repo.list_bookings_for_user("aad-1") == [stuck, recent, future, fresh]

    def test_the_last_booking_is_remembered_when_all_are_archived(self, open_repo: Callable[..., Repository]) -> None:
        clock = Clock(T0)
        repo = open_repo(clock=clock, archive_after_days=30)
        first = repo.add_booking(replace(_booking("first", start=T0 - timedelta(days=3)),
                                         created_at=T0 - timedelta(days=5)))
        last = repo.add_booking(replace(_booking("last", start=T0 - timedelta(days=2)),
                                        created_at=T0 - timedelta(days=4)))
        clock.now = T0 + timedelta(days=60)
        assert repo.list_bookings_for_user("aad-1") == []
        assert repo.last_booking_for("aad-1") == last and repo.get_booking(first.id) == first
        repo.remove_booking("last")
        assert repo.last_booking_for("aad-1") is None


    def test_favourite_rooms_are_starred_in_order_once_and_unstarred(
            self, open_repo: Callable[..., Repository]) -> None:
        repo = open_repo()
        assert repo.favourite_rooms("aad-1") == []
        assert repo.star_room("aad-1", " HQ-Aurora@Example.com ") is True
        assert repo.star_room("aad-1", "hq-borealis@example.com") is True
        assert repo.star_room("aad-1", "hq-aurora@example.com") is False  # already starred
        repo.save_user_zone("aad-1", "Europe/Berlin")  # the same profile: neither write loses the other
        assert repo.favourite_rooms("aad-1") == ["hq-aurora@example.com", "hq-borealis@example.com"]
        assert repo.get_user_zone("aad-1") == "Europe/Berlin"
        assert repo.favourite_rooms("aad-2") == []  # a person's own
        assert repo.unstar_room("aad-1", "hq-aurora@example.com") is True
        assert repo.unstar_room("aad-1", "hq-aurora@example.com") is False
        assert open_repo().favourite_rooms("aad-1") == ["hq-borealis@example.com"]  # another instance sees it

    def test_favourite_rooms_are_capped(self, open_repo: Callable[..., Repository]) -> None:
        repo = open_repo()
        for n in range(MAX_FAVOURITES):
            repo.star_room("aad-1", f"room{n}@example.com")
        with pytest.raises(ValidationFailed, match=f"at most {MAX_FAVOURITES}"):
            repo.star_room("aad-1", "one-more@example.com")
        assert len(repo.favourite_rooms("aad-1")) == MAX_FAVOURITES

    def test_recent_rooms_are_the_newest_booked_each_once_archive_included(
            self, open_repo: Callable[..., Repository]) -> None:
        clock = Clock(T0)
        repo = open_repo(clock=clock, archive_after_days=30)
        def made(booking_id: str, room: str, days_ago: int, **changes: object) -> Booking:
            booking = replace(_booking(booking_id, start=T0 - timedelta(days=days_ago)), room_email=room,
                              created_at=T0 - timedelta(days=days_ago + 1))
            return repo.add_booking(replace(booking, **changes))
        made("old", "old@example.com", 50)  # archived, and not the newest archived
        made("archived", "archived@example.com", 40)  # the newest archived: still counts
        made("a", "a@example.com", 10)
        made("b", "b@example.com", 5)
        made("a-again", "a@example.com", 3)
        made("stuck", "pending@example.com", 1, status="pending")  # never went through
        # cancelled an hour after it was made: still where the person meets (kept a day, then archived)
        made("c", "c@example.com", 2, status="cancelled", created_at=T0 - timedelta(hours=1))
        assert repo.recent_rooms("aad-1") == ["c@example.com", "a@example.com", "b@example.com",
                                              "archived@example.com"]
        assert repo.recent_rooms("aad-1", limit=2) == ["c@example.com", "a@example.com"]
        assert repo.recent_rooms("aad-2") == [] and repo.recent_rooms("") == []

    def test_a_secret_is_made_once_and_kept(self, open_repo: Callable[..., Repository]) -> None:
        repo = open_repo()
        key = repo.get_secret("report-links")
        assert len(key) == 32 and repo.get_secret("report-links") == key
        assert open_repo().get_secret("report-links") == key  # another instance on the same data
        assert repo.get_secret("other") != key


    def test_a_consent_request_is_taken_once_whichever_instance_takes_it(
            self, open_repo: Callable[..., Repository]) -> None:
        first, second = _two_instances(open_repo, clock=Clock(T0))
        first.put_consent_state("s1", {"tenant": "t", "expires": (T0 + timedelta(minutes=10)).isoformat()})
        assert second.take_consent_state("s1") == {"tenant": "t", "expires": (T0 + timedelta(minutes=10)).isoformat()}
        assert first.take_consent_state("s1") is None

    def test_a_lease_has_one_owner_until_released_or_expired(self, open_repo: Callable[..., Repository]) -> None:
        first, second = _two_instances(open_repo)
        assert first.lease("booking:b1", "one", 30) and first.lease("booking:b1", "one", 30)  # renewed
        assert not second.lease("booking:b1", "two", 30)
        second.release("booking:b1", "two")  # not its lease: nothing happens
        assert not second.lease("booking:b1", "two", 30)
        first.release("booking:b1", "one")
        assert second.lease("booking:b1", "two", 0.001)
        time.sleep(0.05)  # expired: the next asker takes it
        assert first.lease("booking:b1", "one", 30)

    def test_due_jobs_are_claimed_by_one_owner_and_taken_over_after_the_lease(
            self, open_repo: Callable[..., Repository]) -> None:
        first, second = _two_instances(open_repo)
        start = T0 + timedelta(minutes=30)
        jobs = [Job(kind=JOB_REMIND, booking_id=f"b{i}", due=T0 - timedelta(seconds=i), for_start=start)
                for i in range(6)] + [Job(kind=JOB_RELEASE, booking_id="later", due=T0 + timedelta(minutes=1),
                                          for_start=start)]
        first.put_jobs(jobs)
        mine = first.claim_jobs(T0, owner="one", limit=4)
        theirs = second.claim_jobs(T0, owner="two")
        assert [j.booking_id for j in mine] == ["b5", "b4", "b3", "b2"]  # soonest due first, 4 at most
        assert [j.booking_id for j in theirs] == ["b1", "b0"]  # the rest; not the release due later
        assert all(j.claim == "one" and j.claimed_at == T0 and not j.taken_from for j in mine)
        assert second.claim_jobs(T0 + timedelta(seconds=30), owner="two", lease=timedelta(minutes=1)) == []
        taken = second.claim_jobs(T0 + timedelta(minutes=2), owner="two", lease=timedelta(minutes=1))
        assert sorted(j.booking_id for j in taken) == ["b2", "b3", "b4", "b5", "later"]  # not its own again
        assert {j.booking_id: j.taken_from for j in taken}["b5"] == "one"
        early = first.claim_jobs(T0 - timedelta(hours=1), owner="x", reminders_until=T0)
        assert early == []  # all claimed, and fresh

    def test_reminders_of_a_burst_may_be_claimed_early_but_releases_never(
            self, open_repo: Callable[..., Repository]) -> None:
        repo = open_repo()
        start = T0 + timedelta(minutes=15)
        repo.put_jobs([Job(kind=JOB_REMIND, booking_id="r", due=T0 + timedelta(seconds=20), for_start=start),
                       Job(kind=JOB_RELEASE, booking_id="x", due=T0 + timedelta(seconds=20), for_start=start)])
        taken = repo.claim_jobs(T0, owner="one", reminders_until=T0 + timedelta(seconds=30))
        assert [(j.kind, j.booking_id) for j in taken] == [(JOB_REMIND, "r")]


    def test_fields_a_newer_version_wrote_are_ignored_not_fatal(self, open_repo: Callable[..., Repository]) -> None:
        """A rolling deploy: a newer instance writes fields this version does not know yet."""
        repo = open_repo()
        repo.save_settings(OrgSettings(tenant_id="t1", connected=True, booking_enabled=True))
        hq = repo.add_building("HQ")
        floor = repo.add_floor(hq.id, "1")
        repo.add_room(Room(email="hq-aurora@example.com", display_name="Aurora", building_id=hq.id,
                           floor_id=floor.id, capacity=4))
        repo.add_booking(_booking("b1"))
        backend = repo._backend  # noqa: SLF001 - writing as the newer version would
        newer = {"from_a_newer_version": {"x": 1}}
        backend.collection("settings").put("org", {**backend.collection("settings").get("org"), **newer})
        for name, key in (("buildings", hq.id), ("floors", floor.id), ("rooms", "hq-aurora@example.com")):
            backend.collection(name).put(key, {**backend.collection(name).get(key), **newer})
        backend.partitioned("bookings").put("aad-1", "b1", {**backend.partitioned("bookings").get("aad-1", "b1"),
                                                            **newer})
        reread = open_repo()
        assert reread.get_settings().tenant_id == "t1"
        assert reread.get_building(hq.id).name == "HQ" and reread.get_floor(floor.id).name == "1"
        assert reread.get_room("hq-aurora@example.com").capacity == 4
        assert reread.get_booking("b1") == _booking("b1")


def _two_instances(open_repo: Callable[..., Repository], **options: Any) -> tuple[Repository, Repository]:
    """Two instances on the same data where the backend is shared (PostgreSQL); the embedded backends
    belong to one process, so there both are the one repository."""
    first = open_repo(**options)
    return first, (open_repo(**options) if first.shared else first)


class TestMemoryRepository(RepositoryContract):
    @pytest.fixture
    def open_repo(self) -> Callable[..., Repository]:
        backend = MemoryBackend()
        return lambda **options: Repository(backend, **options)


class TestTinyDbRepository(RepositoryContract):
    @pytest.fixture
    def open_repo(self, tmp_path: Path) -> Callable[..., Repository]:
        return lambda **options: Repository(TinyDbBackend(tmp_path), **options)


class TestTinyDbRepositoryOrgFileNotKept(RepositoryContract):
    """The same contract when org.json is too big to be kept parsed (a registry of many rooms): every
    read the repository does not keep itself reads the file again."""

    @pytest.fixture
    def open_repo(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Repository]:
        monkeypatch.setattr(backends, "ORG_FILE_KEPT_UP_TO", 0)
        return lambda **options: Repository(TinyDbBackend(tmp_path), **options)


class TestTinyDbRepositoryAfterReopen(RepositoryContract):
    """The same contract when every read comes from a freshly opened database."""

    @pytest.fixture
    def open_repo(self, tmp_path: Path) -> Callable[..., Repository]:
        return lambda **options: _ReopeningRepository(tmp_path, **options)


class TestPostgresRepository(RepositoryContract):
    """The same contract on PostgreSQL; every `open_repo` is another instance (its own pool) on one database."""

    @pytest.fixture
    def open_repo(self, pg_url: str) -> Iterator[Callable[..., Repository]]:
        opened: list[Repository] = []

        def open_instance(**options: Any) -> Repository:
            opened.append(Repository(PostgresBackend(pg_url), **options))
            return opened[-1]

        yield open_instance
        for repo in opened:
            repo.close()


class _ReopeningRepository(Repository):
    def __init__(self, folder: Path, **options: Any) -> None:
        self._folder = folder
        self._options = options
        super().__init__(TinyDbBackend(folder), **options)

    def __getattribute__(self, name: str):  # noqa: ANN204 - test double
        attr = super().__getattribute__(name)
        if name.startswith(("get_", "list_", "find_")):
            super().__getattribute__("close")()
            Repository.__init__(self, TinyDbBackend(super().__getattribute__("_folder")),
                                **super().__getattribute__("_options"))
            return super().__getattribute__(name)
        return attr


def test_conversation_writes_do_not_rewrite_org_data(tmp_path: Path) -> None:
    repo = Repository(TinyDbBackend(tmp_path))
    hq = repo.add_building("HQ")
    repo.add_floor(hq.id, "1")
    org_before = (tmp_path / "org.json").read_bytes()
    org_mtime = (tmp_path / "org.json").stat().st_mtime_ns
    for i in range(5):
        repo.save_conversation_reference(f"aad-{i}", {"conversation": {"id": f"c{i}"}})
        repo.add_booking(_booking(f"b{i}"))
    assert (tmp_path / "org.json").read_bytes() == org_before
    assert (tmp_path / "org.json").stat().st_mtime_ns == org_mtime
    files = PartitionFiles(tmp_path / "people")
    assert len(json.loads(files.path("aad-3").read_text())["conversations"]) == 1


def test_a_users_writes_touch_only_that_users_file_and_small_indexes(tmp_path: Path) -> None:
    """TinyDB rewrites a whole file per write: a booking must not rewrite everyone's bookings."""
    repo = Repository(TinyDbBackend(tmp_path))
    repo.import_bookings(_booking(f"old-{i}", booker=f"aad-{i % 50}", start=T0 - timedelta(days=i % 30))
                         for i in range(500))
    repo.save_conversation_reference("aad-new", {"conversation": {"id": "c"}})
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")}
    repo.add_booking(_booking("new", booker="aad-new", start=T0 + timedelta(days=1)))
    repo.update_booking(replace(repo.get_booking("new"), subject="Changed"))
    changed = sorted(str(p.relative_to(tmp_path)).split("/")[0] for p in tmp_path.rglob("*.json")
                     if before.get(p) != p.stat().st_mtime_ns)
    assert changed == ["booking-days", "booking-index", "people"]  # the user's file and one file of each index
    assert max(p.stat().st_size for p in tmp_path.rglob("*.json") if before.get(p) != p.stat().st_mtime_ns) < 4000


def test_partition_names_that_are_not_file_names_are_kept_apart(tmp_path: Path) -> None:
    files = PartitionFiles(tmp_path)
    names = ["29:1a/../b", "..", "~x", "x" * 300, "x" * 301, "Ä ö", "a.json"]
    paths = {files.path(n) for n in names}
    assert len(paths) == len(names) and all(tmp_path in p.parents and "/" not in p.name for p in paths)
    backend = TinyDbBackend(tmp_path / "db")
    people = backend.partitioned("users")
    for name in names:
        people.put(name, "profile", {"name": name})
    assert [people.get(n, "profile") for n in names] == [{"name": n} for n in names]
    backend.close()
    reopened = TinyDbBackend(tmp_path / "db").partitioned("users")
    assert [reopened.get(n, "profile") for n in names] == [{"name": n} for n in names]
    assert set(reopened.parts()) == {n for n in names if len(n) < 100 and not n.startswith("~")}


def test_only_recent_partitions_stay_open(tmp_path: Path) -> None:
    files = PartitionFiles(tmp_path, keep_open=3)
    for i in range(10):
        files.db(f"p{i}").table("t").insert({"i": i})
    assert len(files._open) == 3
    assert [files.db(f"p{i}").table("t").all() for i in range(10)] == [[{"i": i}] for i in range(10)]


# --- botbuilder Storage -----------------------------------------------------------------------

class BotStorageContract:
    @pytest.fixture
    def storage(self) -> Storage:
        raise NotImplementedError

    async def test_read_of_missing_keys_is_empty(self, storage: Storage) -> None:
        assert await storage.read(["nope"]) == {}
        assert await storage.read([]) == {}

    async def test_write_then_read_dicts_and_store_items(self, storage: Storage) -> None:
        await storage.write({"a": {"count": 1, "nested": {"x": [1, 2]}}, "b": StoreItem(name="b", count=2)})
        found = await storage.read(["a", "b", "c"])
        assert set(found) == {"a", "b"}
        assert found["a"]["count"] == 1 and found["a"]["nested"] == {"x": [1, 2]}
        assert found["b"].name == "b" and found["b"].count == 2

    async def test_stale_etag_is_refused_and_star_overwrites(self, storage: Storage) -> None:
        await storage.write({"k": {"v": 1, "e_tag": "initial"}})
        first = (await storage.read(["k"]))["k"]
        await storage.write({"k": {**first, "v": 2}})  # current e_tag: accepted
        with pytest.raises(KeyError):
            await storage.write({"k": {**first, "v": 3}})  # first's e_tag is stale now
        assert (await storage.read(["k"]))["k"]["v"] == 2
        await storage.write({"k": {"v": 4, "e_tag": "*"}})
        assert (await storage.read(["k"]))["k"]["v"] == 4

    async def test_delete(self, storage: Storage) -> None:
        await storage.write({"a": {"v": 1}, "b": {"v": 2}})
        await storage.delete(["a", "missing"])
        assert set(await storage.read(["a", "b"])) == {"b"}

    async def test_written_values_are_detached_from_the_caller(self, storage: Storage) -> None:
        value = {"items": [1]}
        await storage.write({"a": value})
        value["items"].append(2)
        assert (await storage.read(["a"]))["a"]["items"] == [1]


class TestMemoryStorage(BotStorageContract):
    @pytest.fixture
    def storage(self) -> Storage:
        return MemoryStorage()


class TestTinyDbStorage(BotStorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Storage:
        return TinyDbStorage(tmp_path / "state.json")


class TestPostgresStorage(BotStorageContract):
    @pytest.fixture
    def storage(self, pg_url: str) -> Iterator[Storage]:
        backend = PostgresBackend(pg_url)
        yield PostgresStorage(backend)
        backend.close()


async def test_tinydb_bot_state_survives_reopen(tmp_path: Path) -> None:
    await TinyDbStorage(tmp_path / "state.json").write({"conv/1": {"dialog": {"step": 2}}})
    assert (await TinyDbStorage(tmp_path / "state.json").read(["conv/1"]))["conv/1"]["dialog"] == {"step": 2}


def test_files_of_the_single_file_layout_are_moved_into_partitions(tmp_path: Path) -> None:
    """A data folder written before partitions (one bookings.json, conversations.json, audit.json):
    everything in it is found afterwards, and the old files are set aside, not deleted."""
    first, second = _booking("b1"), replace(_booking("b2", booker="aad-2"), attempt_key="aad-2:card-1")
    legacy = {
        "bookings.json": {"bookings": {b.id: Repository._booking_doc(b) for b in (first, second)},
                          "booking_attempts": {"aad-2:card-1": {"booking_id": "b2"}}},
        "conversations.json": {"conversations": {"aad-1": {"reference": {"conversation": {"id": "c1"}}},
                                                 "welcomed:c1": {"welcomed": True}},
                               "users": {"aad-1": {"zone": "Europe/Helsinki"}}},
        "audit.json": {"audit": {"k1": {"key": "k1", "at": "2026-11-20T10:00:00+00:00", "actor": "aad-1",
                                        "action": "room add", "detail": "", "outcome": "done"}}},
    }
    for name, content in legacy.items():
        (tmp_path / name).write_text(json.dumps(content))
    repo = Repository(TinyDbBackend(tmp_path))
    assert repo.get_booking("b1") == first and repo.get_booking_by_attempt("aad-2", "aad-2:card-1") == second
    assert repo.list_bookings() == [first, second]
    assert repo.get_conversation_reference("aad-1") == {"conversation": {"id": "c1"}}
    assert repo.mark_welcomed("c1") is False and repo.get_user_zone("aad-1") == "Europe/Helsinki"
    assert [a["key"] for a in repo.list_audit()] == ["k1"]
    assert sorted(p.name for p in tmp_path.glob("*.before-partitions")) == [
        "audit.json.before-partitions", "bookings.json.before-partitions", "conversations.json.before-partitions"]
    repo.close()
    assert Repository(TinyDbBackend(tmp_path)).get_booking("b2") == second  # and nothing moves twice


# --- growth per person, audit files, file modes ------------------------------------------------

class _CountingBackend(MemoryBackend):
    """Counts the documents the repository reads from partitioned collections."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    def partitioned(self, name: str):  # noqa: ANN201 - test double
        inner, backend = super().partitioned(name), self

        class Counting(type(inner)):  # type: ignore[misc]
            def get(self, part: str, key: str):  # noqa: ANN202
                doc = inner.get(part, key)
                backend.read += doc is not None
                return doc

            def all(self, part: str):  # noqa: ANN202
                docs = inner.all(part)
                backend.read += len(docs)
                return docs

        counting = Counting.__new__(Counting)
        counting.__dict__.update(inner.__dict__)
        return counting


def _history(repo: Repository, count: int, booker: str = "aad-1") -> None:
    repo.import_bookings(replace(_booking(f"{booker}-past-{n}", booker=booker, start=T0 - timedelta(days=40 + n % 300)),
                                 status="cancelled" if n % 10 == 0 else "booked", attempt_key=f"{booker}:card-{n}")
                         for n in range(count))


def test_what_a_turn_reads_does_not_grow_with_the_persons_history() -> None:
    """A booking turn and a `my bookings` turn read the same documents whether the person has 10
    bookings behind them or 1,000 (once the history is archived: done as the person is met)."""
    read: dict[int, int] = {}
    for history in (10, 1000):
        backend = _CountingBackend()
        repo = Repository(backend, clock=Clock(T0))
        _history(repo, history)
        repo.add_booking(_booking("upcoming", start=T0 + timedelta(days=1)))
        for _ in range(6):  # the first meetings move the history away (ARCHIVE_BATCH at a time)
            repo.list_bookings_for_user("aad-1")
        backend.read = 0
        repo.last_booking_for("aad-1")  # a booking turn: where the person likes to meet,
        repo.get_booking_by_attempt("aad-1", "aad-1:card-new")  # whether the card already booked,
        repo.add_booking(replace(_booking("new", start=T0 + timedelta(days=2)), attempt_key="aad-1:card-new"))
        repo.update_booking(replace(repo.get_booking("new"), status="booked"))
        repo.list_bookings_for_user("aad-1")  # and `my bookings`
        read[history] = backend.read
        assert [b.id for b in repo.list_bookings_for_user("aad-1")] == ["upcoming", "new"]
        assert repo.get_booking("aad-1-past-7").status == "booked" and len(repo.list_bookings()) == history + 2
    assert read[1000] == read[10], read


def test_the_persons_file_holds_only_current_bookings(tmp_path: Path) -> None:
    repo = Repository(TinyDbBackend(tmp_path), clock=Clock(T0))
    _history(repo, 1000)
    repo.add_booking(_booking("upcoming", start=T0 + timedelta(days=1)))
    person = PartitionFiles(tmp_path / "people").path("aad-1")
    full = person.stat().st_size
    for _ in range(5):  # at most ARCHIVE_BATCH at a time
        repo.list_bookings_for_user("aad-1")
    assert list(json.loads(person.read_text())["bookings"]) == ["upcoming"]
    assert person.stat().st_size < full / 100
    months = {f"{(T0 - timedelta(days=40 + n)):%Y-%m}" for n in range(300)}
    assert sorted(unquote(p.stem) for p in (tmp_path / "archive").glob("??/*.json")) == sorted(
        f"aad-1/{month}" for month in months)  # a file per month of the person's archive
    assert len(repo.list_bookings()) == 1001


def test_an_audit_line_cut_short_by_a_crash_is_skipped_and_the_next_ones_read(tmp_path: Path) -> None:
    repo = Repository(TinyDbBackend(tmp_path), clock=Clock(T0))
    repo.add_audit("aad-1", "before")
    [day] = (tmp_path / "audit").glob("*.jsonl")
    with open(day, "a", encoding="utf-8") as handle:
        handle.write('{"key": "00000000000000000000-cut", "at": "2026-11-25T09:00:00+00')
    repo.close()
    repo = Repository(TinyDbBackend(tmp_path), clock=Clock(T0))
    repo.add_audit("aad-1", "after")
    assert [e["action"] for e in repo.list_audit()] == ["after", "before"]


def test_an_audit_write_appends_one_line_whatever_the_day_holds(tmp_path: Path) -> None:
    repo = Repository(TinyDbBackend(tmp_path), clock=Clock(T0))
    sizes = []
    for n in range(200):
        repo.add_audit("aad-1", "room add", f"r{n:03d}@example.com")
        sizes.append(sum(p.stat().st_size for p in (tmp_path / "audit").glob("*.jsonl")))
    growth = {b - a for a, b in zip(sizes, sizes[1:], strict=False)}
    assert len(growth) == 1 and growth.pop() < 300  # the same few bytes each time, nothing rewritten


def test_audit_days_in_the_older_one_file_per_day_layout_are_moved_to_lines(tmp_path: Path) -> None:
    backend = TinyDbBackend(tmp_path)
    old = backend.partitioned("audit")
    old.put("2026-11-20", "k1", {"key": "k1", "at": "2026-11-20T10:00:00+00:00", "actor": "aad-1",
                                 "action": "room add", "detail": "", "outcome": "done"})
    backend.close()
    repo = Repository(TinyDbBackend(tmp_path), clock=Clock(T0))
    assert [e["key"] for e in repo.list_audit()] == ["k1"]
    assert list((tmp_path / "audit").glob("??/*.json")) == []
    assert [p.name for p in (tmp_path / "audit").glob("*.jsonl")] == ["2026-11-20.jsonl"]


async def test_data_files_are_readable_by_the_bots_user_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # as app.py or an operator may have made it
    (data / "org.json").write_text("{}")
    (data / "org.json").chmod(0o644)  # written by an earlier version
    repo = Repository(TinyDbBackend(data), clock=Clock(T0))
    repo.add_building("HQ")
    repo.add_booking(_booking("b1"))
    repo.add_booking(_booking("old", start=T0 - timedelta(days=60)))
    repo.list_bookings_for_user("aad-1")  # archives one
    repo.add_audit("aad-1", "room add")
    repo.count_refusal("tenant-x", "someone", "message activity")
    repo.close()
    state = TinyDbStorage(data / "state.json")
    await state.write({"conv/1": {"step": 1}})
    state.close()
    files = [p for p in data.rglob("*") if p.is_file()]
    folders = [data, *(p for p in data.rglob("*") if p.is_dir())]
    assert {"org.json", "state.json", "2026-11-25.jsonl"} <= {p.name for p in files}
    assert any("archive" in p.parts for p in files) and any("people" in p.parts for p in files)
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {"0o600"}, [
        (str(p), oct(p.stat().st_mode & 0o777)) for p in files]
    assert {oct(p.stat().st_mode & 0o777) for p in folders} == {"0o700"}
