"""Reminders, check-in and auto-release through the bot's HTTP edge, on a clock the test moves: the
proactive cards reach the connector, check-in works by button and by words, a no-show is released
in the sandbox's room calendar and the booker is told, and people set their reminders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app import SCHEDULER_KEY, create_app
from config import Config
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, Booking
from tests.booking_helpers import buttons, card_text, execute, form, local, repo, room_events, say, submit, tomorrow
from tests.conftest import ALEX, Connector, teams_activity


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def bot(bot_config: Config, clock: Clock) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(bot_config, clock=clock), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def _book(bot: TestClient, connector: Connector, start: str) -> Booking:
    results = await submit(bot, connector, form(tomorrow(), start))
    await submit(bot, connector, buttons(results, "book")[0])
    hour, minute = map(int, start.split(":"))
    return next(b for b in repo(bot).list_bookings_for_user(ALEX[0]) if b.start == local(tomorrow(), hour, minute))


async def _at(bot: TestClient, clock: Clock, when: datetime) -> None:
    clock.now = when
    await bot.server.app[SCHEDULER_KEY].run_due()


def _proactive(connector: Connector, before: int) -> list[dict[str, Any]]:
    return [r["activity"]["attachments"][0]["content"] for r in connector.received[before:]
            if r["method"] == "POST"]


async def test_reminder_check_in_and_release_of_a_no_show(bot: TestClient, connector: Connector,
                                                          clock: Clock) -> None:
    kept = await _book(bot, connector, "10:00")
    released = await _book(bot, connector, "11:00")
    start = local(tomorrow(), 10)

    before = len(connector.received)
    await _at(bot, clock, start - timedelta(minutes=15))  # the demo org: 15 min reminders, check-in on
    [reminder] = _proactive(connector, before)
    text = card_text(reminder)
    assert "Your room booking starts at 10:00" in text and "Check in from 09:55" in text
    assert "given back" in text  # auto-release is on: the card says when

    # Check in by words before the window: told when it opens; then by the button.
    clock.now = start - timedelta(minutes=7)
    early = await say(bot, connector, "I'm here")
    assert "opens at 09:55" in card_text(early)
    clock.now = start - timedelta(minutes=4)
    [press] = buttons(reminder, "checkin")
    checked = await execute(bot, connector, press)
    assert "You're checked in" in card_text(checked)
    assert "already" in card_text(await execute(bot, connector, press))  # twice is fine

    # Past both releases: the checked-in booking stays, the other is released and its booker told.
    before = len(connector.received)
    await _at(bot, clock, local(tomorrow(), 11, 10))
    events = {e.id for e in await room_events(bot, released.room_email, tomorrow())}
    assert repo(bot).get_booking(kept.id).status == BOOKING_BOOKED and kept.event_id in (
        {e.id for e in await room_events(bot, kept.room_email, tomorrow())})
    record = repo(bot).get_booking(released.id)
    assert record.status == BOOKING_CANCELLED and record.no_show and released.event_id not in events
    notices = [c for c in _proactive(connector, before) if "Your room was released" in card_text(c)]
    assert len(notices) == 1 and buttons(notices[0], "book_again")

    # Book again books the rest of the slot, once.
    again = await execute(bot, connector, buttons(notices[0], "book_again")[0])
    assert "Booked" in card_text(again) or "booked" in card_text(again)
    [rebooked] = [b for b in repo(bot).list_bookings_for_user(ALEX[0]) if b.id not in (kept.id, released.id)]
    assert rebooked.end == released.end and rebooked.start > clock.now


async def test_check_in_by_someone_else_is_refused_and_audited(bot: TestClient, connector: Connector,
                                                               clock: Clock) -> None:
    booking = await _book(bot, connector, "10:00")
    clock.now = booking.start
    from tests.conftest import MEGAN

    refused = await execute(bot, connector, {"action": "checkin", "booking": booking.id}, user=MEGAN)
    assert "Only the person who made a booking" in card_text(refused)
    assert repo(bot).get_booking(booking.id).checked_in_at is None
    assert any(e["outcome"] == "refused" for e in repo(bot).list_audit())


async def test_settings_choose_a_reminder_and_the_jobs_follow(bot: TestClient, connector: Connector,
                                                              clock: Clock) -> None:
    booking = await _book(bot, connector, "10:00")
    shown = await say(bot, connector, "settings")
    assert "Remind me" in card_text(shown)
    saved = await execute(bot, connector, {"action": "settings_save", "reminder_min": "30"})
    assert "30 minutes before" in card_text(saved)
    job = [j for j in repo(bot).due_jobs(booking.end) if j.booking_id == booking.id and j.kind == "remind"]
    assert [j.due for j in job] == [booking.start - timedelta(minutes=30)]
    off = await execute(bot, connector, {"action": "settings_save", "reminder_min": "0"})
    assert "Reminders are off" in card_text(off)
    assert [j.kind for j in repo(bot).due_jobs(booking.end) if j.booking_id == booking.id] == ["release"]
    bad = await execute(bot, connector, {"action": "settings_save", "reminder_min": "7"})
    assert "Pick one of the reminder choices" in card_text(bad)


async def test_my_bookings_offers_check_in_while_the_window_is_open(bot: TestClient, connector: Connector,
                                                                    clock: Clock) -> None:
    booking = await _book(bot, connector, "10:00")
    assert buttons(await say(bot, connector, "my bookings"), "checkin") == []
    clock.now = booking.start - timedelta(minutes=2)
    listing = await say(bot, connector, "my bookings")
    assert [b["booking"] for b in buttons(listing, "checkin")] == [booking.id]


async def test_a_person_who_removed_the_app_gets_no_reminder_until_they_chat_again(
        bot: TestClient, connector: Connector, clock: Clock) -> None:
    booking = await _book(bot, connector, "10:00")
    removed = teams_activity(connector, activity_type="installationUpdate", action="remove")
    assert (await bot.post("/api/messages", json=removed)).status in (200, 201)
    assert repo(bot).is_unreachable(ALEX[0])
    before = len(connector.received)
    await _at(bot, clock, booking.start - timedelta(minutes=15))
    assert connector.received[before:] == []  # no request at all, and the job is done with
    assert repo(bot).get_job("remind", booking) is None
    await say(bot, connector, "help")  # chatting again makes them reachable
    assert not repo(bot).is_unreachable(ALEX[0])


async def test_admins_set_the_organisations_check_in_settings(bot: TestClient, connector: Connector,
                                                             clock: Clock) -> None:
    booking = await _book(bot, connector, "10:00")
    shown = await say(bot, connector, "settings")
    assert buttons(shown, "org_checkin") and buttons(shown, "rules_edit") == [{"action": "rules_edit", "scope": "org"}]
    form_card = await execute(bot, connector, buttons(shown, "org_checkin")[0])
    assert "Check-in and auto-release" in card_text(form_card)
    values = {"action": "org_checkin_save", "checkin_required": "true", "auto_release": "true", "opens_min": "3",
              "release_after_min": "20", "reminder_min": "10", "exempt_min": "240", "invitees": "true"}
    saved = await execute(bot, connector, values)
    assert "Saved the check-in settings" in card_text(saved)
    settings = repo(bot).get_settings()
    assert (settings.checkin_opens_min, settings.reminder_min, settings.release_exempt_min,
            settings.checkin_by_invitees, settings.default_rules.release_after_min) == (3, 10, 240, True, 20)
    # The booking's jobs follow at once.
    assert repo(bot).get_job("release", booking).due == booking.start + timedelta(minutes=20)
    assert repo(bot).get_job("remind", booking).due == booking.start - timedelta(minutes=10)
    wrong = await execute(bot, connector, {**values, "release_after_min": "0"})
    assert "Check-in closing must be a whole number of minutes from 1 to 120" in card_text(wrong)
    assert repo(bot).get_settings().default_rules.release_after_min == 20


async def test_the_reminders_buttons_extend_and_cancel_the_booking(bot: TestClient, connector: Connector,
                                                                  clock: Clock) -> None:
    booking = await _book(bot, connector, "10:00")
    before = len(connector.received)
    await _at(bot, clock, booking.start - timedelta(minutes=15))
    [reminder] = _proactive(connector, before)
    extend = next(b for b in buttons(reminder, "extend") if b["minutes"] == 30)
    await execute(bot, connector, extend)
    extended = repo(bot).get_booking(booking.id)
    assert extended.end == booking.end + timedelta(minutes=30)
    # Cancel still cancels after the extension (cancelling needs no up-to-date card, as in My bookings).
    await execute(bot, connector, buttons(reminder, "cancel")[0])
    assert repo(bot).get_booking(booking.id).status == BOOKING_CANCELLED
    assert repo(bot).get_job("release", booking) is None and repo(bot).get_job("remind", booking) is None
