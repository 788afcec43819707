"""The bot, through /api/messages, on a sandbox that answers as Microsoft documents Graph: every
timestamp form, FYI holds, rooms the app cannot read, Outlook bookings made in the same moment, and
activities whose entities or tenants are not what Teams usually sends."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from sandbox.graph_api import graph_timestamp
from tests.booking_helpers import buttons, card_text, form, local, repo, room_events, sandbox, say, submit, tomorrow
from tests.conftest import ALEX, MEGAN, Connector, teams_activity


async def _book_first(bot: TestClient, connector: Connector, start: str, **extra) -> tuple[dict, dict]:
    results = await submit(bot, connector, form(tomorrow(), start, **extra))
    book = buttons(results, "book")[0]
    return book, await submit(bot, connector, book)


async def test_bookings_whatever_digits_graph_writes_and_my_bookings_keeps_working(bot: TestClient,
                                                                                  connector: Connector) -> None:
    for hour in range(8, 17):
        _, confirmation = await _book_first(bot, connector, f"{hour:02d}:00", capacity=12)
        assert "Booked:" in card_text(confirmation), card_text(confirmation)
    events = [e for box in sandbox(bot).state.graph.events.values() for e in box.values()]
    assert {len(graph_timestamp(e.created)[20:-1]) for e in events} == set(range(8))
    listing = card_text(await say(bot, connector, "my bookings"))
    assert "9 upcoming. Times are in Europe/Helsinki." in listing and "did not answer" not in listing, listing
    assert all(b.status == "booked" for b in repo(bot).list_bookings_for_user(ALEX[0]))


async def test_a_room_held_as_free_is_offered_and_booked(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    graph = sandbox(bot).state.graph
    for room in ("hq-cirrus@example.com", "hq-aurora@example.com"):  # the two smallest rooms
        graph.add_outlook_booking(room, MEGAN[3], local(day, 10), local(day, 11), subject="FYI: away",
                                  show_as="free" if room.startswith("hq-cirrus") else "tentative")
    results = await submit(bot, connector, form(day, "10:00"))
    rooms = [b["room"] for b in buttons(results, "book")]
    assert rooms[0] == "hq-cirrus@example.com" and "hq-aurora@example.com" not in rooms
    confirmation = await submit(bot, connector, buttons(results, "book")[0])
    assert "Booked: Cirrus" in card_text(confirmation), card_text(confirmation)


async def test_an_outlook_booking_in_the_same_moment_wins_and_the_user_is_told(bot: TestClient,
                                                                              connector: Connector) -> None:
    day = tomorrow()
    results = await submit(bot, connector, form(day, "10:00"))
    book = buttons(results, "book")[0]
    graph = sandbox(bot).state.graph

    def outlook_first(mailbox: str) -> None:
        graph.before_create = None
        graph.add_outlook_booking(mailbox, MEGAN[3], local(day, 10), local(day, 10, 30))

    graph.before_create = outlook_first
    answer = await submit(bot, connector, book)
    assert "was just taken" in card_text(answer)
    [left] = await room_events(bot, book["room"], day)
    assert left.organizer_email == MEGAN[3]
    assert repo(bot).list_bookings_for_user(ALEX[0]) == []


async def test_a_room_the_app_can_no_longer_read_hides_no_other_room(bot: TestClient, connector: Connector) -> None:
    first = repo(bot).list_rooms()[0]
    sandbox(bot).state.graph.mailboxes[first.email].app_access_denied = True  # a policy changed since
    results = await submit(bot, connector, form(tomorrow(), "10:00", capacity=1))
    text = card_text(results)
    assert "Free rooms" in text and first.email not in [b["room"] for b in buttons(results, "book")]
    assert f"I could not read the calendar of {first.display_name}" in text


# --- entities and tenants as they may arrive ----------------------------------------------------

@pytest.mark.parametrize("entities", [
    [{"type": "mention"}],
    [{"type": "mention", "mentioned": None, "text": "<at>RoomBot</at>"}],
    [{"type": "mention", "mentioned": "RoomBot"}],
    [{"type": None}, {"type": "mention", "mentioned": {"name": "no id"}}],
    [{"type": "mention", "mentioned": {"id": "28:roombot", "name": "Room(Bot"}, "text": "<at>Room(Bot</at>"}],
])
async def test_malformed_mentions_are_dropped_not_fatal(bot: TestClient, connector: Connector, entities) -> None:
    activity = teams_activity(connector, text="<at>RoomBot</at> help", entities=entities)
    response = await bot.post("/api/messages", json=activity)
    assert response.status in (200, 201)
    [sent] = connector.received
    assert "Here is what I can do" not in card_text(sent["activity"])  # understood as help, not a fallback
    assert "help" in card_text(sent["activity"]).lower()


async def test_the_bots_own_mention_is_taken_out_of_the_text(bot: TestClient, connector: Connector) -> None:
    activity = teams_activity(connector, text="<at>RoomBot</at> my bookings", entities=[
        {"type": "mention", "mentioned": {"id": "28:roombot", "name": "RoomBot"}, "text": "<at>RoomBot</at>"}])
    assert (await bot.post("/api/messages", json=activity)).status in (200, 201)
    assert "bookings" in card_text(connector.received[0]["activity"]).lower()


async def test_two_different_tenants_in_one_activity_are_ignored_and_audited(bot: TestClient,
                                                                            connector: Connector) -> None:
    activity = teams_activity(connector, text="help")
    activity["conversation"]["tenantId"] = "99999999-9999-9999-9999-999999999999"
    response = await bot.post("/api/messages", json=activity)
    assert response.status in (200, 201) and connector.received == []
    [entry] = [a for a in repo(bot).list_audit() if a["outcome"] == "refused"]
    assert "differ" in entry["detail"] and entry["actor"] == ALEX[0]


@pytest.mark.parametrize("keep", ["conversation", "channelData"])
async def test_one_tenant_field_is_enough(bot: TestClient, connector: Connector, keep: str) -> None:
    activity = teams_activity(connector, text="help")
    if keep == "conversation":
        del activity["channelData"]
    else:
        del activity["conversation"]["tenantId"]
    assert (await bot.post("/api/messages", json=activity)).status in (200, 201)
    assert len(connector.received) == 1  # answered


async def test_a_tenant_only_in_the_conversation_is_still_checked(bot: TestClient, connector: Connector) -> None:
    activity = teams_activity(connector, text="help", tenant="99999999-9999-9999-9999-999999999999")
    del activity["channelData"]
    assert (await bot.post("/api/messages", json=activity)).status in (200, 201)
    assert connector.received == []
