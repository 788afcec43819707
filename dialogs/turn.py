"""What a flow sees of a turn: who is talking, from which tenant, zone and locale, and what they pressed,
plus the ports to the bot side it may need (the roster, the user's roles, proactive messages). Only bot/
builds Turns from Bot Framework activities, so flows hold no Bot Framework types and run without them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cards.base import Card
from domain.people import UserIdentity

DEFAULT_LOCALE = "en-US"


class Roster(Protocol):
    """The Teams roster, asked about this turn's user only when a flow needs more than the activity says
    (and about someone an admin names)."""

    async def resolve(self) -> UserIdentity:
        """The user with email and UPN; what the activity carries when the roster cannot say."""
        ...

    async def find(self, who: str) -> UserIdentity | None:
        """Someone else in the conversation, by AAD object id or UPN (to show them by name); None
        when the roster does not know them."""
        ...


class Roles(Protocol):
    """RoomBot's roles (domain.models ROLE_*) of this turn's user, looked up on the server every time."""

    async def held(self) -> frozenset[str]:
        ...


class Notifier(Protocol):
    """Reaches a user outside their turn (a booking admin cancelled their booking)."""

    async def tell(self, user_key: str, content: Card) -> bool:
        """Send `content` to the user's personal chat; False when they cannot be reached."""
        ...


@dataclass(frozen=True)
class Turn:
    user: UserIdentity  # as the activity names them (no email or UPN: see `roster`)
    roster: Roster
    roles: Roles
    tenant: str | None = None
    zone: str | None = None  # the IANA zone the client reported, if any
    locale: str = DEFAULT_LOCALE  # the client's (Teams clientInfo), for reading what they type
    data: dict[str, Any] = field(default_factory=dict)  # what was pressed: the card's data, {} for a message


# A flow's step: one turn in, the card to answer with out.
Step = Callable[[Turn], Awaitable[Card]]
