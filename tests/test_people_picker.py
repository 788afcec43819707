"""Issue 16, item 7: people added by name with Teams' people picker. The picker gives AAD object ids;
RoomBot reads their addresses from Graph (User.Read.All, optional) and invites them under the usual
attendee rules; without the permission, people are invited by typed email."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient

from cards.booking import FormValues, Places, booking_form_card, people_picker
from cards.my_bookings import people_card
from domain.calendar import AccessReport
from domain.models import Booking
from graph.client import GraphClient
from graph.users import DirectoryUser, UserDirectory, UserNotFound
from sandbox.seed import APP_CLIENT_ID, PEOPLE, TENANT_ID
from sandbox.server import GRANTED_ROLES, RunningSandbox
from services.admin import AdminService
from services.booking import PICKER_OFF
from storage.backends import MemoryBackend
from storage.repository import Repository
from tests.booking_helpers import (
    buttons,
    card_text,
    elements,
    execute,
    form,
    repo,
    room_events,
    sandbox,
    say,
    submit,
    tomorrow,
)
from tests.card_schema import assert_valid_card, card_errors
from tests.conftest import ALEX, Connector

ALEX_ID, MEGAN_ID = PEOPLE[0][0], PEOPLE[1][0]
UNKNOWN_ID = "0badc0de-0000-4000-8000-000000000000"
WITHOUT_USERS = GRANTED_ROLES - {"User.Read.All"}


def without_user_read_all(sandbox: RunningSandbox) -> None:
    """The tenant consented to RoomBot's calendar and Places permissions, not to the optional one."""
    sandbox.state.consents[(TENANT_ID, APP_CLIENT_ID)] = WITHOUT_USERS


# --- the sandbox answers users as Microsoft documents -------------------------------------------

async def test_sandbox_gets_a_user_by_id_with_select_and_404_for_an_unknown_id(graph_client: GraphClient) -> None:
    user = await graph_client.request("GET", f"/users/{MEGAN_ID}",
                                      params={"$select": "mail,userPrincipalName,displayName"})
    assert {k: v for k, v in user.items() if not k.startswith("@")} == {
        "mail": "meganb@example.com", "userPrincipalName": "meganb@example.com", "displayName": "Megan Bowen"}
    full = await graph_client.request("GET", f"/users/{MEGAN_ID}")
    assert full["id"] == MEGAN_ID and "givenName" in full and "businessPhones" in full
    status, body = await _raw(graph_client, f"/users/{UNKNOWN_ID}")
    assert status == 404 and body["error"]["code"] == "Request_ResourceNotFound"
    assert UNKNOWN_ID in body["error"]["message"]


async def test_sandbox_refuses_users_without_user_read_all(graph_client: GraphClient,
                                                           sandbox: RunningSandbox) -> None:
    without_user_read_all(sandbox)
    status, body = await _raw(graph_client, f"/users/{MEGAN_ID}")
    assert status == 403 and body["error"]["code"] == "Authorization_RequestDenied"
    status, _ = await _raw(graph_client, "/users/hq-aurora@example.com/calendarView", startDateTime="2030-01-01T00:00Z",
                           endDateTime="2030-01-02T00:00Z")
    assert status == 200  # calendars still work


async def _raw(client: GraphClient, path: str, **params: str) -> tuple[int, dict]:
    from domain.errors import GraphError
    try:
        return 200, await client.request("GET", path, params=params or None)
    except GraphError as exc:
        code, _, message = exc.detail.partition(": ")
        return exc.status, {"error": {"code": code, "message": message}}


# --- the graph client ---------------------------------------------------------------------------

async def test_user_directory_resolves_ids_in_one_batch_and_names_unknown_ones(graph_client: GraphClient,
                                                                                sandbox: RunningSandbox) -> None:
    users = UserDirectory(graph_client)
    sandbox.state.stats.clear()
    found = await users.users([ALEX_ID, MEGAN_ID.upper(), UNKNOWN_ID, "../places/x"])
    assert found[ALEX_ID] == DirectoryUser(ALEX_ID, "Alex Wilber", "alexw@example.com")
    assert found[MEGAN_ID] == DirectoryUser(MEGAN_ID, "Megan Bowen", "meganb@example.com")
    assert isinstance(found[UNKNOWN_ID], UserNotFound) and isinstance(found["../places/x"], UserNotFound)
    assert sandbox.state.stats["POST $batch"] == 1 and sandbox.state.stats["GET get_user"] == 3
    assert await users.can_read() is True


async def test_user_directory_without_the_permission(graph_client: GraphClient, sandbox: RunningSandbox) -> None:
    without_user_read_all(sandbox)
    users = UserDirectory(graph_client)
    assert await users.can_read() is False
    answer = (await users.users([ALEX_ID]))[ALEX_ID]
    assert not isinstance(answer, DirectoryUser) and answer.status == 403


# --- connect and status check the permission ---------------------------------------------------

class Readers:
    """Whether the app may read users, as Graph would answer it."""

    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed

    async def can_read(self) -> bool:
        return self.allowed


class Directory:
    async def verify_access(self, registered=(), fallback=()) -> AccessReport:
        return AccessReport(places=True, checked=3, readable=3)

    async def calendar_access(self, mailboxes):
        return {m: None for m in mailboxes}


@pytest.mark.parametrize("allowed", [True, False])
async def test_connect_records_whether_people_can_be_picked(allowed: bool) -> None:
    repo = Repository(MemoryBackend())
    service = AdminService(repo, Directory(), expected_tenant=TENANT_ID, users=Readers(allowed))  # type: ignore[arg-type]
    outcome = await service.finish_consent(service.start_consent("a", "a", TENANT_ID), tenant=TENANT_ID, granted=True)
    assert outcome.ok and repo.get_settings().people_picker is allowed
    assert ("People can be picked by name" in outcome.message) is allowed
    assert ("grant the app the optional User.Read.All application permission" in outcome.message) is not allowed


async def test_status_checks_again_and_says_so() -> None:
    repo = Repository(MemoryBackend())
    repo.save_settings(replace(repo.get_settings(), connected=True, tenant_id=TENANT_ID, people_picker=True))
    readers = Readers(False)
    service = AdminService(repo, Directory(), users=readers)  # type: ignore[arg-type]
    status = await service.status()
    assert not status.people_picker and not repo.get_settings().people_picker
    assert dict(status.facts)["People picker"].startswith("off: needs the optional User.Read.All")
    readers.allowed = True
    assert (await service.status()).people_picker and repo.get_settings().people_picker
    assert [a["action"] for a in repo.list_audit()][:2] == ["people picker on: User.Read.All granted",  # newest first
                                                             "people picker off: User.Read.All not granted"]


# --- through the bot: the form, the booking, the fallback ---------------------------------------

ISAIAH = PEOPLE[3]  # mail isaiahl@example.com, user principal name isaiah@example.com: invited at his mail
AURORA_ID = "00000000-0000-4000-8000-000000000101"  # hq-aurora's account: rooms are users too


def _inputs(card: dict) -> dict[str, dict]:
    return {i["id"]: i for i in elements(card, "Input.")}


def _note(card: dict) -> str:
    return " ".join(t["text"] for t in elements(card, "TextBlock") if t.get("color") == "Attention")


async def test_form_offers_the_picker_and_picked_people_are_invited(bot: TestClient, connector: Connector) -> None:
    inputs = _inputs(await say(bot, connector, "book"))
    picker = inputs["people"]
    assert picker["type"] == "Input.ChoiceSet" and picker["isMultiSelect"] is True and picker["choices"] == []
    assert picker["choices.data"] == {"type": "Data.Query", "dataset": "graph.microsoft.com/users"}
    assert inputs["participants"]["label"] == "Or type email addresses (optional)"  # typed emails still work

    day = tomorrow()
    results = await submit(bot, connector, {**form(day, "10:00", participants="adelev@example.com"),
                                            "people": f"{MEGAN_ID},{ISAIAH[0]}"})
    book = buttons(results, "book")[0]
    assert book["q"]["participants"] == ["adelev@example.com", "meganb@example.com", "isaiahl@example.com"]
    confirmation = await submit(bot, connector, book)
    assert "Booked" in card_text(confirmation)
    [event] = await room_events(bot, book["room"], day)
    assert set(event.attendees) == {"alexw@example.com", "adelev@example.com", "meganb@example.com",
                                    "isaiahl@example.com"}


async def test_an_id_that_is_no_one_is_named_back(bot: TestClient, connector: Connector) -> None:
    card = await submit(bot, connector, {**form(tomorrow(), "10:00"), "people": f"{MEGAN_ID},{UNKNOWN_ID}"})
    assert "I could not find 1 person you picked in your organisation" in _note(card)
    assert UNKNOWN_ID in _note(card) and MEGAN_ID not in _note(card)
    assert _inputs(card)["people"]["value"] == f"{MEGAN_ID},{UNKNOWN_ID}"  # kept, to fix and search again


async def test_a_picked_room_meets_the_attendee_rules(bot: TestClient, connector: Connector) -> None:
    results = await submit(bot, connector, {**form(tomorrow(), "10:00"), "people": AURORA_ID})
    refused = await submit(bot, connector, buttons(results, "book")[0])
    assert "hq-aurora@example.com is a room, not a person" in card_text(refused)
    assert sandbox(bot).state.graph.outbox == []


async def test_people_card_adds_picked_people(bot: TestClient, connector: Connector) -> None:
    results = await submit(bot, connector, form(tomorrow(), "10:00"))
    await submit(bot, connector, buttons(results, "book")[0])
    listing = await say(bot, connector, "my bookings")
    people = await execute(bot, connector, buttons(listing, "people")[0])
    assert _inputs(people)["people"]["choices.data"]["dataset"] == "graph.microsoft.com/users"
    saved = await execute(bot, connector, {**buttons(people, "people_save")[0], "people": MEGAN_ID,
                                           "add": "adelev@example.com"})
    assert "People saved" in card_text(saved)
    [booking] = repo(bot).list_bookings_for_user(ALEX[0])
    assert booking.attendees == ("alexw@example.com", "adelev@example.com", "meganb@example.com")


async def test_without_user_read_all_people_are_typed(bot: TestClient, connector: Connector) -> None:
    state = sandbox(bot).state
    state.consents[(TENANT_ID, APP_CLIENT_ID)] = WITHOUT_USERS
    state.tokens.clear()  # the app's token is issued again, without the role
    # Booking goes on; picked ids (a card sent before) are refused, saying what to do, and the picker goes
    card = await submit(bot, connector, {**form(tomorrow(), "10:00", participants="adelev@example.com"),
                                         "people": MEGAN_ID})
    assert _note(card) == PICKER_OFF
    assert "people" not in _inputs(card) and _inputs(card)["participants"]["label"] == "Also invite (optional)"
    assert not repo(bot).get_settings().people_picker
    results = await submit(bot, connector, form(tomorrow(), "10:00", participants="adelev@example.com"))
    assert buttons(results, "book")[0]["q"]["participants"] == ["adelev@example.com"]
    # status says so (and what to grant); granted again, status turns the picker back on
    assert "off: needs the optional User.Read.All application permission" in card_text(
        await say(bot, connector, "status"))
    state.consents[(TENANT_ID, APP_CLIENT_ID)] = GRANTED_ROLES
    state.tokens.clear()
    status = await say(bot, connector, "status")
    assert {"title": "People picker", "value": "on"} in elements(status, "FactSet")[0]["facts"]
    assert "people" in _inputs(await say(bot, connector, "book"))


# --- the cards validate: Adaptive Card 1.5 with Microsoft's Data.Query, and nothing looser ---------

def test_cards_with_the_picker_validate_and_a_wrong_data_query_does_not() -> None:
    form_card = booking_form_card(FormValues(day="2030-01-02", start="10:00", people=MEGAN_ID), Places({}, {}), [],
                                  picker=True)
    assert_valid_card(form_card)
    start = datetime(2030, 1, 2, 10, tzinfo=UTC)
    booking = Booking(id="b1", room_email="hq-aurora@example.com", event_id="e", ical_uid="i", booker_aad_id=ALEX[0],
                      booker_email="alexw@example.com", start=start, end=start.replace(hour=11), subject="",
                      attendees=("alexw@example.com",))
    assert_valid_card(people_card(booking, {}, start, "UTC", picker=True))
    for broken in ({"type": "Data.Query"}, {"type": "Data.Query", "dataset": "graph.microsoft.com/users", "top": 5},
                   {"type": "Data.Querry", "dataset": "graph.microsoft.com/users"}):
        picker = {**people_picker("People"), "choices.data": broken}
        assert card_errors({**form_card, "body": [picker]}), broken
    assert card_errors({**form_card, "body": [{**people_picker("People"), "choices.dta": {}}]})


async def test_forged_picker_values_are_named_back_short(bot: TestClient, connector: Connector) -> None:
    forged = "x" * 500 + "/../places/microsoft.graph.room"
    card = await submit(bot, connector, {**form(tomorrow(), "10:00"), "people": f"{forged},{UNKNOWN_ID}"})
    assert "I could not find 2 people you picked" in _note(card) and "x" * 40 + "," in _note(card)
    assert "x" * 41 not in _note(card) and "places" not in _note(card)
    assert sandbox(bot).state.stats["GET get_user"] == 1  # only the id that could be one went to Graph
