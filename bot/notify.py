"""Proactive messages: reach a user in Teams outside a turn of theirs (a consent finished in the
browser, a booking admin cancelled their booking), through the conversation reference stored
when they last chatted with the bot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from botbuilder.core import BotAdapter, CardFactory, MessageFactory, TurnContext
from botbuilder.schema import ConversationReference

from cards.base import Card
from storage.repository import Repository

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, adapter: BotAdapter, repo: Repository, app_id: str | None) -> None:
        self._adapter = adapter
        self._repo = repo
        self._app_id = app_id or None

    async def tell(self, user_key: str, content: Card) -> bool:
        """Send `content` to the user's personal chat. False when they cannot be reached (never
        chatted with the bot, blocked or removed it): the caller says so, nothing breaks."""
        stored = self._repo.get_conversation_reference(user_key) if user_key else None
        if stored is None:
            log.warning("no conversation with %s to send a proactive message to", user_key)
            return False

        async def send(turn_context: TurnContext) -> None:
            await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(content)))

        try:
            await self._adapter.continue_conversation(ConversationReference().deserialize(stored), send, self._app_id)
        except Exception as exc:  # noqa: BLE001 - a blocked bot or an unreachable channel is not our turn's failure
            log.warning("could not message %s in Teams: %s", user_key, type(exc).__name__)
            return False
        return True

    async def send_many(self, items: Sequence[tuple[str, Card]]) -> list[bool]:
        """Send each (user key, card); True for each that is done with."""
        return list(await asyncio.gather(*(self.tell(key, content) for key, content in items)))
