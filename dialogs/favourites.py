"""Favourite rooms: a person stars the rooms they like (from search results, their rooms card, or in
words) and unstars them; starred rooms rank first when they search. Every press names the room by its
address and is checked on the server: only registered rooms can be starred, each person's own."""

from __future__ import annotations

import logging
from typing import Any

from cards.base import Card, action
from cards.favourites import favourites_card
from dialogs.common import places, rooms_by_email
from dialogs.turn import Step, Turn
from domain.errors import ValidationFailed
from domain.models import Room
from domain.understanding import Intent, Understanding
from storage.repository import Repository

log = logging.getLogger(__name__)

STARRED = "Starred {name}. Starred rooms come first when you search."
ALREADY_STARRED = "{name} already is one of your starred rooms."
UNSTARRED = "Unstarred {name}."
NOT_STARRED = "{name} isn't one of your starred rooms."
NOT_A_ROOM = "Sorry, that room can't be starred: it isn't one I can book any more."
UNKNOWN_ROOM = "I don't know a room called \"{name}\"."
WHICH_ROOM = "Which room? Type \"star\" and the room's name{example}."
_BACK = ("q", "attempt")  # what Back to results carries of a pressed button's data (never its names)
MAX_EMAIL = 320  # longer is no address (RFC 5321's limit): refused without a look-up


class FavouritesFlow:
    def __init__(self, repo: Repository) -> None:
        self._repo = repo

    def actions(self) -> dict[str, Step]:
        """Card actions this flow answers, by routing key (the results card's Star and Unstar, this one's)."""
        return {"star": self.star_step, "unstar": self.unstar_step, "favourites": self.show_step}

    # --- card actions ---------------------------------------------------------------------

    async def star_step(self, turn: Turn) -> Card:
        return self._change(turn, turn.data.get("room"), star=True, back=_back(turn.data))

    async def unstar_step(self, turn: Turn) -> Card:
        return self._change(turn, turn.data.get("room"), star=False, back=_back(turn.data))

    async def show_step(self, turn: Turn) -> Card:
        return self.card(turn.user.key)

    # --- said in words --------------------------------------------------------------------

    async def said(self, turn: Turn, said: Understanding) -> Card:
        """"star Aurora", "remove Aurora from my favourites", "my rooms"."""
        if said.intent == Intent.FAVOURITES:
            return self.card(turn.user.key)
        if said.problems:  # "star Aurora and Zenith"
            return self.card(turn.user.key, " ".join(said.problems))
        if said.unknown_room:
            return self.card(turn.user.key, UNKNOWN_ROOM.format(name=said.unknown_room[:60]))
        if not said.room_email:  # "star", "star it"
            return self.card(turn.user.key, WHICH_ROOM.format(example=self._example(turn.user.key)))
        return self._change(turn, said.room_email, star=said.intent == Intent.STAR)

    # --- helpers --------------------------------------------------------------------------

    def card(self, user_key: str, note: str | None = None, good: bool = False,
             back: dict[str, Any] | None = None) -> Card:
        """The person's rooms: starred ones still registered (rooms removed since are left out), then
        those they booked lately and did not star."""
        starred = rooms_by_email(self._repo, self._repo.favourite_rooms(user_key))
        recent = [room for email, room in rooms_by_email(self._repo, self._repo.recent_rooms(user_key)).items()
                  if email not in starred]
        return favourites_card(list(starred.values()), recent, places(self._repo), note, good, back)

    def _change(self, turn: Turn, email: object, *, star: bool, back: dict[str, Any] | None = None) -> Card:
        """Star or unstar a room for this person. Pressed twice, the second press says it already is."""
        user = turn.user.key
        room = self._room(email)
        if room is None:
            if not star and isinstance(email, str) and self._repo.unstar_room(user, email):
                return self.card(user, UNSTARRED.format(name="that room"), good=True, back=back)  # removed since
            what = "star room" if star else "unstar room"
            self._repo.add_audit(user, what, f"room {str(email)[:64]} is not registered", outcome="refused")
            log.info("refused to %s a room that is not registered", what)
            return self.card(user, NOT_A_ROOM, back=back)
        name = room.display_name  # notes are shown as text (note_block)
        if not star:
            done = self._repo.unstar_room(user, room.email)
            return self.card(user, (UNSTARRED if done else NOT_STARRED).format(name=name), good=True, back=back)
        try:
            done = self._repo.star_room(user, room.email)
        except ValidationFailed as exc:  # the most a person may star
            return self.card(user, exc.message, back=back)
        return self.card(user, (STARRED if done else ALREADY_STARRED).format(name=name), good=True, back=back)

    def _room(self, email: object) -> Room | None:
        """The registered room a press or message names, or None (a forged or removed one)."""
        if not isinstance(email, str) or not email or len(email) > MAX_EMAIL:
            return None
        return self._repo.get_room(email)

    def _example(self, user_key: str) -> str:
        """How to star a room they booked lately: ', e.g. "star Aurora"' (nothing without one)."""
        recent = rooms_by_email(self._repo, self._repo.recent_rooms(user_key, limit=1))
        return next((f', e.g. "star {room.display_name}"' for room in recent.values()), "")


def _back(data: dict[str, Any]) -> dict[str, Any] | None:
    """Back to the search results the press came from, when its button carried that search (`q`, and the
    card's `attempt`): its first page, where a room just starred now comes first. Checked again when
    pressed, like any."""
    if not isinstance(data.get("q"), dict):
        return None
    return action("Back to results", "more", **{k: data[k] for k in _BACK if k in data})
