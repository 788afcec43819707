"""The manage-by-text cards on their own: every one validates against Adaptive Card 1.5, a list stays
short, and the buttons carry the version shown."""

from __future__ import annotations

from datetime import timedelta

from cards.manage import SHORT_LIST, confirm_card, extend_ask_card, no_match_card, pick_card
from domain.booking_ref import Plan
from domain.my_bookings import booking_version
from domain.understanding import Intent
from tests.booking_helpers import buttons, card_text
from tests.card_schema import assert_valid_card
from tests.test_booking_ref import AURORA, HEL, NOW, TODAY, TWO, at, booking


def test_every_card_validates() -> None:
    plans = [Plan(Intent.CANCEL, TWO), Plan(Intent.END, TWO), Plan(Intent.EXTEND, TWO, TWO.start, at(TODAY, 16)),
             Plan(Intent.MOVE, TWO, at(TODAY, 16), at(TODAY, 17), "delta@example.com")]
    for plan in plans:
        shown = confirm_card(plan, {}, NOW, HEL, note="A note")
        assert_valid_card(shown)
        [press] = buttons(shown, "manage_do")
        assert press["do"] == plan.intent.value and press["v"] == booking_version(TWO)
        assert card_text(shown).count(HEL) == 1  # the zone named once
    assert_valid_card(extend_ask_card(TWO, {}, NOW, HEL))
    assert_valid_card(no_match_card("You have no booking at 14:00 today."))


def test_a_move_shows_old_and_new() -> None:
    shown = card_text(confirm_card(Plan(Intent.MOVE, TWO, at(TODAY, 16), at(TODAY, 17), "delta@example.com"), {},
                                   NOW, HEL))
    assert f"Now: {AURORA}, Wed 2 Dec, 14:00–15:00" in shown
    assert "New: delta@example.com, Wed 2 Dec, 16:00–17:00" in shown


def test_the_list_is_short() -> None:
    many = [(booking(f"b{i}", TODAY + timedelta(days=i), 14), None) for i in range(SHORT_LIST + 2)]
    shown = pick_card(Intent.CANCEL, many, {}, NOW, HEL, "Pick one.")
    assert_valid_card(shown)
    assert [b["booking"] for b in buttons(shown, "manage_pick")] == [f"b{i}" for i in range(SHORT_LIST)]
    assert "2 more in My bookings." in card_text(shown)
