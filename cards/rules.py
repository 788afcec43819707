"""The booking rules card: one room's rules (empty fields inherit the organisation's, shown as
"Organisation default (X)"), or the organisation's defaults. Pure functions to Adaptive Card 1.5."""

from __future__ import annotations

from typing import Any

from cards.base import Card, action, card, heading, note_block, plain, text
from domain.models import Room
from domain.rules import DEFAULT, EVERYONE, LISTED, WEEKDAYS, RoomRules, days_text, describe, minutes_text

_ON_OFF = {True: "on", False: "off", None: "off"}


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _values(rules: RoomRules, *, org: bool) -> dict[str, str]:
    """The card's inputs filled with `rules` (a room's own, or the organisation's)."""
    switch = {True: "true", False: "false", None: "false" if org else DEFAULT}
    bookers_mode = (LISTED if rules.bookers else EVERYONE if rules.bookers is not None or org else DEFAULT)
    return {"window_days": _number(rules.window_days), "max_minutes": _number(rules.max_minutes),
            "hours_start": rules.hours_start or "", "hours_end": rules.hours_end or "",
            "days": ",".join(str(d) for d in rules.days) if rules.days is not None else "",
            "bookers_mode": bookers_mode, "bookers": ", ".join(rules.bookers or ()),
            "checkin_required": switch[rules.checkin_required], "auto_release": switch[rules.auto_release],
            "release_after_min": _number(rules.release_after_min), "never_release": switch[rules.never_release]}


def _field(input_id: str, label: str, value: str, placeholder: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Input.Text", "id": input_id, "label": label, "value": value[:4000],
            "placeholder": placeholder, **extra}


def _choice(input_id: str, label: str, value: str, choices: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    return {"type": "Input.ChoiceSet", "id": input_id, "label": label, "value": value, "style": "compact",
            "choices": [{"title": title, "value": v} for title, v in choices], **extra}


def _switch(input_id: str, title: str, value: str, org: bool, default: bool | None) -> dict[str, Any]:
    """Org: a Toggle. A room: a choice, since a Toggle cannot say "as the organisation"."""
    if org:
        return {"type": "Input.Toggle", "id": input_id, "title": title, "value": value if value in ("true", "false")
                else "false", "valueOn": "true", "valueOff": "false"}
    return _choice(input_id, title, value, [(f"Organisation default ({_ON_OFF[default]})", DEFAULT),
                                            ("On", "true"), ("Off", "false")])


def rules_card(room: Room | None, defaults: RoomRules, zone: str, note: str | None = None, good: bool = False,
               typed: dict[str, str] | None = None) -> Card:
    """`room`: its rules; None: the organisation's defaults. `zone`: the room's building's (hours and days
    are read in it). `typed`: what the admin typed, shown again when it was not saved."""
    org = room is None
    own = defaults if room is None else (room.rules or RoomRules())
    values = {**_values(own, org=org), **(typed or {})}

    def inherits(value: str) -> str:
        return "No limit" if org else f"Organisation default ({value})"

    body: list[dict[str, Any]] = [
        heading("Default booking rules" if org else f"Booking rules: {plain(room.display_name)}"),
        *note_block(note, good),
        text("Every room without a rule of its own follows these. Empty: no limit. Hours and days are read in each "
             "room's building's time zone." if org else
             f"Empty fields follow the organisation's defaults. Hours and days are in {plain(zone)}, the building's "
             f"time zone.", isSubtle=True, spacing="Small"),
        text("These apply to everyone, admins included: RoomBot checks them because Exchange's own room policies "
             "do not run when the room organizes the meeting.", isSubtle=True, size="Small", spacing="None"),
        _field("window_days", "Booking window (days ahead; 0 is today only)", values["window_days"],
               inherits(_number(defaults.window_days) or "no limit"), maxLength=4),
        _field("max_minutes", "Longest booking (minutes, or hours like 2 h)", values["max_minutes"],
               inherits(minutes_text(defaults.max_minutes) if defaults.max_minutes else "no limit"), maxLength=12),
        _field("hours_start", "Allowed from (HH:MM)", values["hours_start"],
               inherits(defaults.hours_start or "00:00"), maxLength=5),
        _field("hours_end", "Allowed until (HH:MM; 24:00 is midnight)", values["hours_end"],
               inherits(defaults.hours_end or "24:00"), maxLength=5),
        _choice("days", "Allowed days" + ("" if org else f" (none ticked: organisation default, "
                                                         f"{days_text(defaults.days)})"),
                values["days"], [(name, str(i)) for i, name in enumerate(WEEKDAYS)], isMultiSelect=True,
                style="expanded"),
        _choice("bookers_mode", "Who may book", values["bookers_mode"],
                ([] if org else [(f"Organisation default ({'listed people' if defaults.bookers else 'everyone'})",
                                  DEFAULT)])
                + [("Everyone", EVERYONE), ("Only the people listed below", LISTED)]),
        _field("bookers", "People who may book (emails or object ids, comma separated)", values["bookers"],
               "alexw@contoso.com, meganb@contoso.com", isMultiline=True, maxLength=4000),
        text("Check-in and release", weight="Bolder", spacing="Medium"),
        _switch("checkin_required", "Check-in required", values["checkin_required"], org,
                defaults.checkin_required),
        _switch("auto_release", "Release no-shows (auto-release)", values["auto_release"], org,
                defaults.auto_release),
        _field("release_after_min", "Release after (minutes after the start)", values["release_after_min"],
               "Minutes" if org else f"Organisation default ({_number(defaults.release_after_min) or 'none'})",
               maxLength=4, isRequired=org, errorMessage="A whole number of minutes from 1 to 120."),
        _switch("never_release", "Never release this room's bookings" if not org else "Never release bookings",
                values["never_release"], org, defaults.never_release),
    ]
    if not org:
        body.append(text(f"Organisation defaults: {plain(describe(defaults))}.", isSubtle=True, size="Small",
                         spacing="Medium"))
    target = {"scope": "org"} if org else {"room": room.email}
    actions = [action("Save", "rules_save", style="positive", **target)]
    if room is not None:
        actions += [action("Back to the floor", "floor_open", floor=room.floor_id),
                    action("Organisation defaults", "rules_edit", scope="org")]
    else:
        actions.append(action("Floor plans and rooms", "rooms"))
    return card(body, actions)
