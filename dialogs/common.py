"""Pieces every card-driven flow shares: the user's time zone, the turn budget, problem cards,
times from card data."""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from cards.base import Card, action, card, heading, plain, text
from cards.booking import Places
from dialogs.turn import Step, Turn
from domain.booking import BookingNotFound, NotYourBooking
from domain.errors import SORRY, STORAGE_AWAY, GraphUnavailable, ValidationFailed
from domain.models import Room
from domain.people import UserIdentity
from domain.timezones import first_zone, local_to_utc
from storage.backends import StorageUnavailable
from storage.repository import Repository

log = logging.getLogger(__name__)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits: \d takes any script's, $ a trailing newline
_TIME = re.compile(r"[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?")


@dataclass(frozen=True)
class Question:
    """One short question instead of an answer: the person's next message is the answer, and goes on with
    what `kept` holds (plain JSON: the conversation state stores it)."""

    card: Card
    kept: dict[str, Any]


def ask_time(day: date | None) -> Card:
    """What time? (the one thing a request said in words cannot do without)."""
    asked = f"What time on {day:%a %-d %b}?" if day else "What time?"
    return card([text(asked, weight="Bolder"),
                 text("For example: *at 3pm*, *10–11*, *tomorrow morning* or *now for an hour*.", isSubtle=True)],
                [action("Use the form instead", "form")])


def problem(message: str, *actions: dict[str, Any]) -> Card:
    """A problem's card. The message may carry what someone typed or Microsoft 365 said: shown as text."""
    return card([heading("Sorry"), text(plain(message))], list(actions) or None)


STILL_WORKING = ("Microsoft 365 is slow to answer right now. I'm still working on it and will send you the "
                 "result here as soon as it's done.")

# Steps that outlived their turn and still run; kept here so they are not garbage-collected, and so
# a shutdown can wait for them.
_LATER: set[asyncio.Task[None]] = set()


class Later:
    """Where a step that outlives its turn sends its answer: a proactive message to the user."""

    def __init__(self, tell: Callable[[str, Card], Awaitable[bool]], finish_within_s: float) -> None:
        self.tell = tell
        self.finish_within_s = finish_within_s


def within_budget(name: str, step: Step, budget_s: float, later: Later | None = None) -> Step:
    """Answer within the turn budget (Teams wants an answer within 15 s). Every step is safe to
    repeat (bookings keep their transactionId, changes carry the version they were made against).

    With `later`, a step still running when the budget is spent goes on in the background: the user
    is told it is still being worked on, and gets the step's card as a proactive message when it
    ends (or Try again, if it has not ended within `later.finish_within_s`). Without it, the user
    gets Try again at once."""
    async def run(turn: Turn) -> Card:
        again = action("Try again", name, **{k: v for k, v in turn.data.items() if k != "action"})
        if later is None:
            try:
                async with asyncio.timeout(budget_s):
                    return await step(turn)
            except TimeoutError:
                log.warning("card action %s ran out of time", name)
                return problem(GraphUnavailable.user_message, again)
        work = asyncio.ensure_future(asyncio.wait_for(step(turn), later.finish_within_s))
        done, _ = await asyncio.wait({work}, timeout=budget_s)
        if done:
            return work.result()
        log.info("card action %s goes on after its turn", name)
        task = asyncio.create_task(_finish_later(name, work, turn.user.key, again, later))
        _LATER.add(task)
        task.add_done_callback(_LATER.discard)
        return card([heading("Still working on it"), text(STILL_WORKING)])
    return run


async def _finish_later(name: str, work: asyncio.Future[Card], user_key: str, again: dict[str, Any],
                        later: Later) -> None:
    try:
        answer = await work
    except TimeoutError:
        log.warning("card action %s did not finish even after its turn", name)
        answer = problem(GraphUnavailable.user_message, again)
    except StorageUnavailable as exc:  # a database restart or failover: as a turn would say (bot.adapter)
        log.warning("card action %s could not reach the data after its turn (%s)", name, str(exc)[:200])
        answer = problem(STORAGE_AWAY, again)
    except Exception:  # noqa: BLE001 - the turn is over: the user must still hear something
        log.exception("card action %s failed after its turn", name)
        answer = problem(SORRY, again)
    if not await later.tell(user_key, answer):
        log.warning("could not send the result of %s to %s", name, user_key)


async def finish_later_work(timeout_s: float) -> int:
    """Wait (at most `timeout_s`) for steps still running after their turn; returns how many are
    left unfinished. Shutdown and tests use it."""
    if not _LATER:
        return 0
    _done, pending = await asyncio.wait(set(_LATER), timeout=timeout_s)
    return len(pending)


def user_zone(repo: Repository, turn: Turn, default: str) -> str:
    """The zone the client reports (remembered per user, for invokes that lack it), else the
    remembered one, else the deployment's default."""
    client, user = turn.zone, turn.user
    if client and user.key:
        repo.save_user_zone(user.key, client)
    stored = repo.get_user_zone(user.key) if user.key and not client else None
    return first_zone(client, stored, default)


def rooms_by_email(repo: Repository, emails: Iterable[str]) -> dict[str, Room]:
    """The registered rooms among `emails` (a card names a removed room by its address)."""
    rooms = {}
    for email in emails:
        room = repo.get_room(email)
        if room is not None:
            rooms[room.email] = room
    return rooms


def refused_press(repo: Repository, user: UserIdentity, data: dict[str, Any],
                  exc: NotYourBooking | BookingNotFound) -> Card:
    """A press on someone else's booking (cards only show the user's own, so it was forged) is
    recorded; nothing about that booking is shown either way."""
    if isinstance(exc, NotYourBooking):
        repo.add_audit(user.key, f"booking {str(data.get('action'))[:40]}",
                       f"booking {str(data.get('booking'))[:64]} is someone else's", outcome="refused")
    return problem(exc.message)


_PLACES: weakref.WeakKeyDictionary[Repository, tuple[int, Places]] = weakref.WeakKeyDictionary()


def places(repo: Repository) -> Places:
    """The buildings and floors by id, for the cards: made once per version of the registry (2,750 of them
    at 50,000 rooms), not once per card."""
    version = repo.registry_version()
    kept = _PLACES.get(repo)
    if kept is None or kept[0] != version:
        kept = _PLACES[repo] = (version, Places.of(repo.list_buildings(), repo.list_floors()))
    return kept[1]


def utc_time(value: object, what: str) -> datetime:
    """An ISO time with an offset from a card, as UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationFailed(f"The {what} time is missing.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"The {what} time is not valid.") from exc
    if parsed.tzinfo is None:
        raise ValidationFailed(f"The {what} time has no time zone.")
    return parsed.astimezone(UTC)


def local_start(day: str, at: str, zone: str) -> datetime:
    """A form's date (YYYY-MM-DD) and time (H:MM or HH:MM[:SS]) in the user's zone, as UTC."""
    if not _DAY.fullmatch(day):
        raise ValidationFailed("Pick a date.")
    if not _TIME.fullmatch(at):
        raise ValidationFailed("Pick a start time.")
    try:
        return local_to_utc(date.fromisoformat(day), time.fromisoformat(at.zfill(5) if at.count(":") == 1 else at),
                            zone)
    except ValueError as exc:
        raise ValidationFailed("That date or time does not exist.") from exc
