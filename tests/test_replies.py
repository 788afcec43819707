"""Card replies leave as botbuilder sends them, with the same JSON, without being copied or walked."""

from __future__ import annotations

import copy
import json

from aiohttp.test_utils import TestClient
from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import ChannelAccount, ConversationAccount, ConversationReference
from botframework.connector import models
from msrest import Serializer

from bot.replies import SentCard, card_reply
from bot.roombot import _help_card
from cards.help import help_for
from domain.models import ROLE_ADMIN, ROLE_BOOKING_ADMIN
from tests.conftest import Connector, teams_activity

# The serializer botbuilder's connector client writes a reply with (ConnectorClient: its models).
CONNECTOR = Serializer({name: value for name, value in vars(models).items() if isinstance(value, type)})
REFERENCE = ConversationReference(
    activity_id="1", user=ChannelAccount(id="29:user", name="Alex", aad_object_id="aad-1"),
    bot=ChannelAccount(id="28:roombot", name="RoomBot"), channel_id="msteams", service_url="https://connector",
    conversation=ConversationAccount(id="a:conversation", conversation_type="personal", tenant_id="tenant"))


def _as_sent(activity: object) -> dict:
    """What the connector client posts for `activity` after TurnContext.send_activities made its copy."""
    return CONNECTOR.body(TurnContext.apply_conversation_reference(copy.deepcopy(activity), REFERENCE), "Activity")


def test_a_sent_card_goes_out_as_the_same_json_as_the_plain_card() -> None:
    content = help_for(frozenset({ROLE_ADMIN}), "A note")
    plain = MessageFactory.attachment(CardFactory.adaptive_card(content))
    assert json.dumps(_as_sent(card_reply(content))) == json.dumps(_as_sent(plain))


def test_a_sent_card_is_neither_copied_nor_walked() -> None:
    content = help_for(frozenset())
    reply = card_reply(content)
    sent = reply.attachments[0].content
    assert isinstance(sent, SentCard) and sent == content
    assert copy.deepcopy(reply).attachments[0].content is sent  # the copy shares the card
    written = _as_sent(reply)["attachments"][0]["content"]
    assert written["body"] is content["body"] and written["actions"] is content["actions"]  # not rebuilt
    assert str(sent) == repr(content)  # readable in logs


def test_a_sent_card_is_a_copy_of_the_card_it_was_made_of() -> None:
    content = help_for(frozenset())
    reply = card_reply(content)
    content["version"] = "9.9"
    assert reply.attachments[0].content["version"] == "1.5"


def test_the_help_card_is_made_once_for_each_set_of_roles_and_note() -> None:
    assert _help_card(frozenset(), None) is _help_card(frozenset(), None)
    assert _help_card(frozenset({ROLE_ADMIN}), None) is not _help_card(frozenset(), None)
    assert _help_card(frozenset(), None) == help_for(frozenset())
    assert _help_card(frozenset(), "Sorry") == help_for(frozenset(), "Sorry")


async def test_help_turns_send_the_help_card_as_it_is_built(bot: TestClient, connector: Connector) -> None:
    for _ in range(2):
        response = await bot.post("/api/messages", json=teams_activity(connector, text="help"))
        assert response.status == 201
    first, second = connector.cards()
    roles = frozenset({ROLE_ADMIN, ROLE_BOOKING_ADMIN})  # on the sandbox with no BOT_ADMINS, Alex is the admin
    assert first == second == json.loads(json.dumps(help_for(roles)))
