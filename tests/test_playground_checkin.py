"""Issue 17 end to end in the real client: with a 1-minute reminder, check-in window and release, two
rooms booked in the Playground for a couple of minutes ahead both get their reminder card; the one
checked into keeps its event, the one nobody checks into is cancelled in the room's calendar by the
scheduler, and its booker gets the "Your room was released" card."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page

from sandbox.seed import demo_mailboxes
from tests.test_playground import Running, _chat, _launch, _room_events, _send

pytestmark = pytest.mark.browser

# The Playground's server reports its own zone (dayjs's guess) in clientInfo: pin it, so that the
# times typed below mean the same to the bot.
ZONE_ENV = {"TZ": "UTC"}
MINUTES = {"REMINDER_MIN": "1", "CHECKIN_OPENS_MIN": "1", "RELEASE_AFTER_MIN": "1"}
TO_BOOK_S = 80  # from now to the start, at least: both bookings are made (~20 s) before their reminders are due
LENGTH = timedelta(minutes=15)


@pytest.fixture(scope="module")
def checkin_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The demo sandbox (check-in and auto-release on) with every check-in time at one minute."""
    yield from _launch(tmp_path_factory.mktemp("checkin"), {**ZONE_ENV, **MINUTES})


def _slot(now: datetime) -> tuple[datetime, str]:
    """The booking's start (whole minutes, TO_BOOK_S ahead at least) and the words that book it."""
    start = (now + timedelta(seconds=TO_BOOK_S + 59)).replace(second=0, microsecond=0)
    if (start + LENGTH).date() != start.date():  # close to midnight: the first slot after it (a booking is
        start = (start + LENGTH).replace(hour=0, minute=0)  # 15 minutes at least, and words cannot cross it)
    end = start + LENGTH
    day = "today" if start.date() == now.date() else "tomorrow"
    return start, f"book a room for 2 {day} {start:%H:%M}-{end:%H:%M}"


async def _book(page: Page, text: str) -> tuple[str, str]:
    """Type `text`, press Book on the first free room; the room's name and address."""
    cards = page.locator(".ac-adaptiveCard")
    confirmations = cards.filter(has_text=re.compile("Booked: "))
    booked = await confirmations.count()
    await _send(page, text)
    results = cards.filter(has_text=re.compile("Free rooms"))
    await results.wait_for(timeout=20_000)
    await results.get_by_role("button", name="Book").first.click()
    confirmation = confirmations.nth(booked)
    await confirmation.wait_for(timeout=20_000)
    name = re.search(r"Booked: (\w+)", await confirmation.inner_text()).group(1)
    [room] = [m.email for m in demo_mailboxes() if m.display_name == name]
    return name, room


async def _card(cards: Locator, pattern: str, until: datetime) -> Locator:
    """The card saying `pattern`, waited for (polling) until `until` at the latest."""
    card = cards.filter(has_text=re.compile(pattern))
    await card.wait_for(timeout=max(1.0, (until - datetime.now(UTC)).total_seconds()) * 1000)
    return card


def _starts(running: Running, room: str) -> list[str]:
    """The starts (UTC, to the minute) of the room's events in its calendar, read through Graph."""
    return [event["start"]["dateTime"][:16] for event in _room_events(running, room)]


async def test_reminder_check_in_and_release_in_the_playground(checkin_running: Running, tmp_path: Path) -> None:
    running = checkin_running
    async with _chat(running.url, height=2400) as page:
        cards = page.locator(".ac-adaptiveCard")
        await cards.filter(has_text=re.compile("I'm RoomBot")).wait_for(timeout=30_000)
        start, text = _slot(datetime.now(UTC))
        kept_name, kept = await _book(page, text)
        released_name, released = await _book(page, text)
        assert kept != released
        booked = f"{start:%Y-%m-%dT%H:%M}"
        assert _starts(running, kept) == [booked] and _starts(running, released) == [booked]
        assert datetime.now(UTC) < start - timedelta(minutes=1), "booked too slowly: the reminders are due"

        # The reminders: a minute before the start (the scheduler ticks every 5 s at most).
        reminders = cards.filter(has_text=re.compile("Your room booking starts"))
        reminder = await _card(reminders, kept_name, start + timedelta(seconds=30))
        await reminders.filter(has_text=re.compile(released_name)).wait_for(timeout=10_000)
        assert f"{start:%H:%M}" in await reminder.inner_text()
        await page.screenshot(path=str(tmp_path / "reminders.png"))

        # Check in to the first (its window opened with the reminder); the second nobody checks into.
        await reminder.locator(".ac-actionSet").get_by_role("button", name="Check in").click()
        await _card(cards, f"You're checked in to {kept_name}", datetime.now(UTC) + timedelta(seconds=20))

        # Check-in closes a minute after the start: the second booking is released and its booker told.
        notice = await _card(cards, "Your room was released", start + timedelta(minutes=1, seconds=40))
        assert released_name in await notice.inner_text()
        assert kept_name not in await notice.inner_text()
        assert datetime.now(UTC) >= start + timedelta(minutes=1)
        await page.screenshot(path=str(tmp_path / "released.png"))

        assert _starts(running, released) == []  # cancelled in the room's calendar
        assert _starts(running, kept) == [booked]  # checked in: it stays
        assert await cards.filter(has_text=re.compile("Your room was released")).count() == 1
