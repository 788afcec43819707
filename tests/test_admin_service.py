"""The admin service without Teams: consent requests expire and work once, and what is refused is
audited. A stub directory stands in for Microsoft 365 (the bot tests use the sandbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import AccessReport
from domain.errors import ValidationFailed
from domain.models import Room
from services.admin import AdminService, _capacity
from storage.backends import MemoryBackend
from storage.repository import Repository

TENANT = "00000000-0000-0000-0000-0000000000001"


class Directory:
    def __init__(self) -> None:
        self.verified = 0
        self.report = AccessReport(places=True, checked=14, readable=14)
        self.asked: list[str] = []

    async def verify_access(self, registered=(), fallback=()) -> AccessReport:
        self.verified += 1
        self.asked = list(registered)
        return self.report


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def setup() -> tuple[AdminService, Repository, Directory, Clock]:
    repo, directory, clock = Repository(MemoryBackend()), Directory(), Clock()
    return AdminService(repo, directory, expected_tenant=TENANT, clock=clock), repo, directory, clock  # type: ignore[arg-type]


async def test_a_consent_request_expires(setup) -> None:
    service, repo, directory, clock = setup
    state = service.start_consent("admin-1", "admin-1", TENANT)
    clock.now += timedelta(minutes=16)
    with pytest.raises(ValidationFailed, match="expired"):
        await service.finish_consent(state, tenant=TENANT, granted=True)
    assert not repo.get_settings().connected and directory.verified == 0
    with pytest.raises(ValidationFailed, match="not valid or was used already"):  # and it is gone
        await service.finish_consent(state, tenant=TENANT, granted=True)


async def test_a_consent_request_works_once_and_only_stores_a_hash(setup) -> None:
    service, repo, directory, _ = setup
    state = service.start_consent("admin-1", "admin-1", TENANT)
    assert state not in repr(repo._consent_states.all())  # noqa: SLF001 - what is on disk
    outcome = await service.finish_consent(state, tenant=TENANT, granted=True)
    assert outcome.ok and outcome.admin_user_key == "admin-1" and directory.verified == 1
    with pytest.raises(ValidationFailed):
        await service.finish_consent(state, tenant=TENANT, granted=True)
    assert [(a["action"], a["outcome"]) for a in repo.list_audit()][:2] == [("connect", "done"),
                                                                             ("connect started", "done")]


@pytest.mark.parametrize(("report", "ok", "words"), [
    (AccessReport(places=True, registered=5, registered_readable=3, checked=14, readable=12), True,
     "The app is scoped to some mailboxes: 3 of 5 registered rooms readable."),
    (AccessReport(places=True, checked=14, readable=4), True, "4 of 14 rooms that Microsoft 365 lists are readable"),
    (AccessReport(places=True, checked=14, readable=0), False,
     "missing the Calendars.ReadWrite application permission"),
    (AccessReport(places=True, checked=3, readable=0, policy_denied=3), False, "an access policy"),
    (AccessReport(places=False, registered=2, registered_readable=2, checked=2, readable=2), False,
     "missing the Place.Read.All application permission"),
    (AccessReport(places=False, registered=1, checked=1), False, "neither of its application permissions"),
])
async def test_connect_tells_a_scoped_app_from_a_missing_permission(setup, report, ok, words) -> None:
    service, repo, directory, _ = setup
    floor = repo.add_floor(repo.add_building("Contoso HQ").id, "Second floor", 2)
    repo.add_room(Room(email="hq-echo@example.com", display_name="Echo", building_id=floor.building_id,
                       floor_id=floor.id, capacity=6))
    directory.report = report
    outcome = await service.finish_consent(service.start_consent("a", "a", TENANT), tenant=TENANT, granted=True)
    assert (outcome.ok, repo.get_settings().connected) == (ok, ok), outcome.message
    assert words in outcome.message
    assert directory.asked == ["hq-echo@example.com"]  # the registered rooms are checked, not just a sample
    if "scoped" in words:
        assert "an hour or more" in outcome.message  # policy changes are slow to apply


@pytest.mark.parametrize(("value", "expected"), [("6", 6), ("6.0", 6), (6, 6), ("", 0)])
def test_numbers_from_cards(value, expected) -> None:
    assert _capacity(value) == expected


@pytest.mark.parametrize("value", ["six", "6.5", "-1", "1001", "1e3", "1e300", "inf", "nan", "\uff16", "\u00b2",
                                   "\u0663", True, 6.5, "9" * 400])
def test_bad_numbers_from_cards_are_refused(value) -> None:
    with pytest.raises(ValidationFailed):
        _capacity(value)


@pytest.mark.parametrize(("level", "ok"), [("0", 0), ("-2", -2), ("12", 12), (3, 3), ("1e300", None),
                                           ("-1e3", None), ("500", None), ("--1", None), ("\uff13", None)])
def test_floor_levels_are_bounded_whole_numbers(level, ok) -> None:
    admin = AdminService(Repository(MemoryBackend()), None)  # type: ignore[arg-type]
    building = admin.add_building("admin", "HQ")
    if ok is None:
        with pytest.raises(ValidationFailed, match="whole number from -20 to 200"):
            admin.add_floor("admin", building.id, "F", level)
    else:
        assert admin.add_floor("admin", building.id, "F", level).level == ok


async def test_a_granted_consent_is_checked_with_a_fresh_token_client() -> None:
    """The check after consent must not see token answers from before it (msal keeps a 400 for 60 s)."""
    class Tokens:
        def __init__(self) -> None:
            self.resets: list[int] = []  # how many checks had run at each reset

        async def reset(self) -> None:
            self.resets.append(directory.verified)

    repo, directory, tokens = Repository(MemoryBackend()), Directory(), Tokens()
    service = AdminService(repo, directory, expected_tenant=TENANT, tokens=tokens)  # type: ignore[arg-type]
    refused = await service.finish_consent(service.start_consent("a", "a", TENANT), tenant=TENANT, granted=False)
    assert not refused.ok and tokens.resets == []  # nothing to check, nothing to reset
    granted = await service.finish_consent(service.start_consent("a", "a", TENANT), tenant=TENANT, granted=True)
    assert granted.ok and tokens.resets == [0] and directory.verified == 1  # reset before the check
