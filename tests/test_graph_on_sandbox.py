"""The Graph client and room-calendar service against the sandbox, with and without faults."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from domain.calendar import TimeSlot
from domain.errors import GraphAuthFailed, ItemNotFound, MailboxNotFound, RoomAccessDenied
from graph.calendar import RoomCalendarService
from graph.client import GraphClient, RetryPolicy
from sandbox.faults import Faults
from sandbox.server import RunningSandbox
from tests.conftest import token_provider_for

T0 = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
ROOMS = ["hq-aurora@example.com", "hq-borealis@example.com", "hh-iris@example.com"]


async def test_create_read_view_and_cancel_through_the_service(calendar: RoomCalendarService) -> None:
    slot = TimeSlot(T0, T0 + timedelta(minutes=30))
    event = await calendar.create_event(ROOMS[0], subject="Planning", slot=slot,
                                        attendees=[("alexw@example.com", "Alex Wilber")], transaction_id="t-1",
                                        body_text="Booked with RoomBot")
    assert event.organizer_email == ROOMS[0]
    assert event.attendees == ("alexw@example.com",)
    assert (event.start, event.end) == (slot.start, slot.end)
    assert (await calendar.get_event(ROOMS[0], event.id)).subject == "Planning"
    view = await calendar.calendar_view(ROOMS[0], TimeSlot(T0 - timedelta(hours=1), T0 + timedelta(hours=1)))
    assert [e.id for e in view] == [event.id]
    schedule = await calendar.get_schedule(ROOMS, TimeSlot(T0 - timedelta(hours=1), T0 + timedelta(hours=1)))
    assert not schedule[ROOMS[0]].is_free(slot)
    assert schedule[ROOMS[1]].is_free(slot)
    longer = TimeSlot(T0, T0 + timedelta(hours=1))
    moved = await calendar.update_event(ROOMS[0], event.id, subject="Planning (moved)", slot=longer)
    assert (moved.subject, moved.start, moved.end) == ("Planning (moved)", longer.start, longer.end)
    invited = await calendar.update_event(ROOMS[0], event.id, attendees=[("alexw@example.com", "Alex"),
                                                                         ("meganb@example.com", "Megan")])
    assert invited.attendees == ("alexw@example.com", "meganb@example.com") and invited.subject == "Planning (moved)"
    await calendar.cancel_event(ROOMS[0], event.id, "Plans changed")
    with pytest.raises(ItemNotFound):
        await calendar.get_event(ROOMS[0], event.id)
    other = await calendar.create_event(ROOMS[1], subject="Other", slot=slot, attendees=[], transaction_id="t-2")
    await calendar.delete_event(ROOMS[1], other.id)
    assert await calendar.calendar_view(ROOMS[1], slot) == []


async def test_service_raises_domain_errors(calendar: RoomCalendarService) -> None:
    slot = TimeSlot(T0, T0 + timedelta(minutes=30))
    with pytest.raises(RoomAccessDenied) as denied:
        await calendar.create_event("boardroom@example.com", subject="x", slot=slot, attendees=[],
                                    transaction_id="t")
    assert denied.value.user_message == "The app is not allowed to use this room's calendar."
    with pytest.raises(MailboxNotFound):
        await calendar.calendar_view("ghost@example.com", slot)


async def test_directory_rooms_and_room_lists(calendar: RoomCalendarService) -> None:
    rooms = await calendar.list_directory_rooms()
    assert len(rooms) >= 12
    aurora = next(r for r in rooms if r.email == "hq-aurora@example.com")
    assert (aurora.capacity, aurora.building, aurora.floor_number) == (4, "Contoso HQ", 1)
    assert "whiteboard" in aurora.features
    lists = dict(await calendar.list_room_lists())
    assert set(lists) == {"hq-rooms@example.com", "harbour-rooms@example.com"}
    assert len(await calendar.rooms_in_list("harbour-rooms@example.com")) == 6


async def test_wrong_secret_is_an_auth_failure(sandbox: RunningSandbox, sandbox_http: aiohttp.ClientSession) -> None:
    client = GraphClient(sandbox_http, token_provider_for(sandbox, secret="wrong"), sandbox.url)
    with pytest.raises(GraphAuthFailed) as failed:
        await client.request("GET", "/users/alexw@example.com")
    assert "invalid_client" in str(failed.value)


async def test_thirty_percent_429s_still_succeed_with_one_token(sandbox: RunningSandbox,
                                                                calendar: RoomCalendarService) -> None:
    sandbox.state.faults = Faults(rate_429=0.3, retry_after_s=0.05, seed=42)
    window = TimeSlot(T0, T0 + timedelta(hours=8))

    async def one_booking(i: int) -> None:
        slot = TimeSlot(T0 + timedelta(minutes=30 * (i % 16)), T0 + timedelta(minutes=30 * (i % 16) + 30))
        room = ROOMS[i % len(ROOMS)]
        event = await calendar.create_event(room, subject=f"B{i}", slot=slot, attendees=[], transaction_id=f"tx-{i}")
        await calendar.get_event(room, event.id)

    await asyncio.gather(*(one_booking(i) for i in range(48)), calendar.get_schedule(ROOMS, window))
    stats = sandbox.state.stats
    print(f"429 injected: {stats['fault_429']}, token requests: {stats['token_requests']}")
    assert stats["fault_429"] >= 20  # the faults really happened
    assert stats["token_requests"] == 1
    assert sum(len(v) for v in sandbox.state.graph.events.values()) == 48  # no duplicates from retries


async def test_one_token_request_per_lifetime_under_concurrency(sandbox: RunningSandbox,
                                                                sandbox_http: aiohttp.ClientSession) -> None:
    sandbox.state.token_lifetime_s = 4  # refreshed after half its life: every two seconds
    client = GraphClient(sandbox_http, token_provider_for(sandbox), sandbox.url)
    await asyncio.gather(*(client.request("GET", "/users/alexw@example.com") for _ in range(30)))
    assert sandbox.state.stats["token_requests"] == 1
    await asyncio.sleep(2.2)
    await asyncio.gather(*(client.request("GET", "/users/alexw@example.com") for _ in range(30)))
    assert sandbox.state.stats["token_requests"] == 2


async def test_a_reset_asks_the_token_endpoint_again_after_a_refusal(sandbox: RunningSandbox) -> None:
    """msal answers a repeated token request from its memory of a 400 for 60 s; reset() forgets it."""
    tokens = token_provider_for(sandbox)
    app_id, secret = next(iter(sandbox.state.apps.items()))
    del sandbox.state.apps[app_id]  # the app is not in the tenant (yet): 400 unauthorized_client
    with pytest.raises(GraphAuthFailed):
        await tokens.token()
    sandbox.state.apps[app_id] = secret
    with pytest.raises(GraphAuthFailed):  # the same refusal again, from msal's memory
        await tokens.token()
    assert sandbox.state.stats["token_requests"] == 1
    await tokens.reset()
    assert await tokens.token()
    assert sandbox.state.stats["token_requests"] == 2


async def test_hangs_resets_and_503s_are_survived(sandbox: RunningSandbox, sandbox_http: aiohttp.ClientSession) -> None:
    sandbox.state.faults = Faults(rate_hang=0.1, hang_s=2, rate_reset=0.1, rate_503=0.1, seed=3)
    client = GraphClient(sandbox_http, token_provider_for(sandbox), sandbox.url,
                         retry=RetryPolicy(attempt_timeout_s=0.3, deadline_s=15, backoff_base_s=0.02,
                                           backoff_max_s=0.1, max_attempts=10))
    calendar = RoomCalendarService(client)
    slot = TimeSlot(T0, T0 + timedelta(minutes=30))
    events = await asyncio.gather(*(
        calendar.create_event(ROOMS[i % 3], subject=f"F{i}", slot=slot, attendees=[], transaction_id=f"f-{i}")
        for i in range(30)))
    stats = sandbox.state.stats
    print(f"hangs {stats['fault_hang']}, resets {stats['fault_reset']}, 503s {stats['fault_503']}")
    assert stats["fault_hang"] + stats["fault_reset"] + stats["fault_503"] >= 5
    assert len({e.id for e in events}) == 30
    assert sum(len(v) for v in sandbox.state.graph.events.values()) == 30  # transactionId de-duplicated retries
