"""Every card the bot can build validates against Adaptive Card 1.5 and routes its actions."""

from __future__ import annotations

import pytest

from cards.base import action
from cards.help import help_card, welcome_card
from domain.commands import ADMIN_COMMANDS, USER_COMMANDS
from tests.card_schema import assert_valid_card, card_errors


@pytest.mark.parametrize("content", [
    help_card(list(USER_COMMANDS)),
    help_card(list(USER_COMMANDS), list(ADMIN_COMMANDS), note="Sorry, I didn't get that."),
    welcome_card("Alex Wilber", list(USER_COMMANDS), booking_enabled=True),
    welcome_card("", list(USER_COMMANDS), booking_enabled=False),
], ids=["help", "help-admin", "welcome", "welcome-booking-off"])
def test_card_validates(content: dict) -> None:
    assert_valid_card(content)


def test_execute_action_falls_back_to_submit_with_the_same_data() -> None:
    button = action("Cancel", "cancel_booking", booking_id="b1")
    assert button["type"] == "Action.Execute"
    assert button["verb"] == "cancel_booking"
    assert button["data"] == {"action": "cancel_booking", "booking_id": "b1"}
    assert button["fallback"]["type"] == "Action.Submit"
    assert button["fallback"]["data"] == button["data"]


def test_schema_check_rejects_a_broken_card() -> None:
    broken = help_card(list(USER_COMMANDS))
    broken["body"][0]["type"] = "TextBlok"
    assert card_errors(broken)


def test_welcome_mentions_booking_off_only_when_it_is_off() -> None:
    on = str(welcome_card("Alex", list(USER_COMMANDS), booking_enabled=True))
    off = str(welcome_card("Alex", list(USER_COMMANDS), booking_enabled=False))
    assert "not been switched on" not in on
    assert "not been switched on" in off
    assert "Hi Alex" in on
