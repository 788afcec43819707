"""A card reply as botbuilder sends it, without the work a card does not need.

TurnContext.send_activities deep-copies every activity it sends (so that filling in the conversation does
not change the caller's), and msrest's Serializer writes an attachment's content, declared `object`, by
walking it key by key. For a card that is most of what a `help` turn costs over the echo bot's line of
text (measured: the card's copy and serialisation took longer than the rest of the reply). A card is
built for its reply and nobody changes it afterwards, so SentCard is the same card, shared by the copies,
and written out whole: msrest's Model sends a model's `additional_properties` as they are (its public
`enable_additional_properties_sending` declares the same thing), one dict update. The JSON on the wire
is the same as for the plain dict (tests/test_replies.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity
from msrest.serialization import Model

from cards.base import Card


class SentCard(dict[str, Any], Model):
    """An Adaptive Card as a reply carries it: a dict (for everything that reads the card) that copies
    to itself and serialises as its own additional properties. Never change one once made."""

    _attribute_map: ClassVar[dict[str, dict[str, str]]] = {"additional_properties": {"key": "", "type": "{object}"}}
    __str__ = dict.__repr__  # not Model's, which shows the (empty) instance attributes

    def __deepcopy__(self, memo: dict[int, Any]) -> SentCard:
        return self

    @property
    def additional_properties(self) -> dict[str, Any]:
        return self


def card_reply(content: Card) -> Activity:
    """The message activity that sends `content` (a new SentCard: `content` itself is not frozen)."""
    return MessageFactory.attachment(CardFactory.adaptive_card(SentCard(content)))
