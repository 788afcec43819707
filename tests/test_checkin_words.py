"""Check-in and settings said in everyday words, and what must not be read as them."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain.understanding import Catalog, Intent, understand

NOW = datetime(2026, 12, 2, 9, 56)


def intent(text: str) -> Intent:
    return understand(text, NOW, Catalog(), "en-US").intent


@pytest.mark.parametrize("text", [
    "check in", "Check in", "check-in", "checkin", "check me in", "check us in", "please check me in",
    "I'm here", "im here", "I am here", "we're here", "We are here!", "I'm in the room", "we are at the room",
    "I've arrived", "just arrived", "arrived", "hi, I'm here", "ok check in", "checking in",
    "check in please", "I'm here for my 10am",
])
def test_check_in_in_everyday_words(text: str) -> None:
    assert intent(text) == Intent.CHECK_IN


@pytest.mark.parametrize(("text", "expected"), [
    ("check if Aurora is free at 3", Intent.BOOK),
    ("check my bookings", Intent.MY_BOOKINGS),
    ("I'm here till 5, book me a room for 4 people", Intent.BOOK),
    ("cancel my check in booking", Intent.CANCEL),
    ("book a room, I've arrived early", Intent.BOOK),
])
def test_what_is_not_check_in(text: str, expected: Intent) -> None:
    assert intent(text) == expected


@pytest.mark.parametrize("text", [
    "settings", "my settings", "open settings", "reminders", "reminder settings", "change my reminders",
    "turn off reminders", "switch off my reminders", "reminders off", "set up reminders", "preferences",
])
def test_settings_in_everyday_words(text: str) -> None:
    assert intent(text) == Intent.SETTINGS


@pytest.mark.parametrize("text", ["book a room and remind me", "find a room with reminders at 3"])
def test_a_booking_that_mentions_reminders_is_still_a_booking(text: str) -> None:
    assert intent(text) == Intent.BOOK
