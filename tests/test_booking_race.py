"""Races: many people pressing Book for the same room and time at once, through /api/messages,
with the sandbox adding latency and answering some calls 429. Exchange does not stop double
bookings when the room is the organizer, so this is the bot's job."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from sandbox.faults import Faults
from tests.booking_helpers import buttons, card_text, form, repo, room_events, sandbox, submit, tomorrow
from tests.conftest import Connector, teams_activity

ROOM = "hq-cirrus@example.com"


def _people(n: int) -> list[tuple[str, str, str, str]]:
    return [(f"00000000-0000-0000-0000-1000000000{i:02d}", f"Racer {i}", f"racer{i}@example.com",
             f"racer{i}@example.com") for i in range(n)]


async def test_twenty_people_booking_one_room_at_once_leave_one_event(bot: TestClient, connector: Connector) -> None:
    people = _people(20)
    connector.people.extend(people)
    day = tomorrow()
    presses = []
    for person in people:  # each person has their own results card
        results = await submit(bot, connector, form(day, "11:00"), user=person, reply_to=f"card-{person[0]}")
        [press] = [b for b in buttons(results, "book") if b["room"] == ROOM]
        presses.append(press)

    running = sandbox(bot)
    running.state.stats.clear()
    running.state.faults = Faults(latency_ms=25, rate_429=0.25, retry_after_s=0.05, seed=20)
    connector.clear()
    responses = await asyncio.gather(*(
        bot.post("/api/messages", json=teams_activity(connector, value=press, user=person,
                                                      replyToId=f"card-{person[0]}"))
        for press, person in zip(presses, people, strict=True)))
    running.state.faults = Faults()
    assert all(r.status in (200, 201) for r in responses)
    assert running.state.stats["fault_429"] > 0  # the faults really were there

    [event] = await room_events(bot, ROOM, day)
    [winner_email] = [a for a in event.attendees]
    answers = {r["path"].rsplit("/", 1)[-1]: card_text(r["activity"]["attachments"][0]["content"])
               for r in connector.received}
    assert len(answers) == 20
    booked = [p for p in people if "Booked: Cirrus" in answers[f"card-{p[0]}"]]
    assert [p[3] for p in booked] == [winner_email]
    for person in people:
        if person not in booked:
            assert "Sorry, Cirrus was just taken for that time. Here is what is still free." in \
                answers[f"card-{person[0]}"]
    records = [b for p in people for b in repo(bot).list_bookings_for_user(p[0])]
    assert [(b.room_email, b.status, b.event_id) for b in records] == [(ROOM, "booked", event.id)]
