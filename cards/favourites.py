"""The favourites card ("Your rooms"): the rooms a person starred and those they booked lately, each a
press away from the booking form for it. Starred rooms come first when they search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cards.base import Card, action, card, heading, note_block, plain, row, text
from cards.booking import Places
from domain.models import Room

TITLE = "Your rooms"
NONE_STARRED = "You haven't starred any rooms yet."
HOW_TO_STAR = "Press **Star** next to a room in your search results, or type *star* and the room's name"


def favourites_card(starred: Sequence[Room], recent: Sequence[Room], places: Places, note: str | None = None,
                    good: bool = False, back: dict[str, Any] | None = None) -> Card:
    """`starred` with Book and Unstar; `recent` (booked lately, not starred) with Book and Star. `note`:
    what a press or a message just did (`good`) or why it could not; `back`: a button to the card pressed."""
    body: list[dict[str, Any]] = [heading(TITLE)]
    body += note_block(note, good)
    if starred:
        body.append(text("Starred", weight="Bolder", spacing="Medium"))
        body += [row(_lines(room, places), [_book(room), action("Unstar", "unstar", room=room.email)])
                 for room in starred]
    else:
        example = f" (e.g. *star {plain(recent[0].display_name)}*)" if recent else ""
        body.append(text(f"{NONE_STARRED} {HOW_TO_STAR}{example}."))
    if recent:
        body.append(text("Booked recently", weight="Bolder", spacing="Medium"))
        body += [row(_lines(room, places), [_book(room), action("Star", "star", room=room.email)])
                 for room in recent]
    return card(body, [*([back] if back else []), action("Find a room", "form", style="positive")])


def _lines(room: Room, places: Places) -> list[dict[str, Any]]:
    """A room as the results card shows it: its name, where it is, its seats and features."""
    where = places.where(room)
    details = " · ".join([f"{room.capacity} seats", *(f.capitalize() for f in room.features)])
    return [text(plain(room.display_name), weight="Bolder"),
            *([text(plain(where), isSubtle=True, spacing="None")] if where else []),
            text(plain(details), spacing="None", size="Small")]


def _book(room: Room) -> dict[str, Any]:
    """The booking form, for this room only (it is asked for by name)."""
    return action("Book", "form", style="positive", room=room.email)
