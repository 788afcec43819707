"""The CloudAdapter, its authentication settings and the turn error handler."""

from __future__ import annotations

import logging
import uuid

from botbuilder.core import BotState, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import ActivityTypes

from config import Config

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong on my side. Please try again in a moment."


class BotFrameworkSettings:
    """The attribute names ConfigurationBotFrameworkAuthentication reads."""

    def __init__(self, config: Config) -> None:
        self.APP_ID = config.app_id
        self.APP_PASSWORD = config.app_password
        self.APP_TYPE = config.app_type
        self.APP_TENANTID = config.app_tenant_id


def create_adapter(config: Config, conversation_state: BotState | None = None) -> CloudAdapter:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(BotFrameworkSettings(config)))

    async def on_error(context: TurnContext, error: Exception) -> None:
        incident = uuid.uuid4().hex[:8]
        log.error("turn failed (incident %s, activity %s)", incident, context.activity.type, exc_info=error)
        if conversation_state is not None:
            try:
                # A broken dialog must not trap the user. (BotState.delete fails unless the state was
                # loaded this turn, so load it first.)
                await conversation_state.load(context)
                await conversation_state.delete(context)
            except Exception:  # noqa: BLE001 - storage trouble must not hide the original error
                log.error("could not clear the conversation state after incident %s", incident, exc_info=True)
        if context.activity.type == ActivityTypes.message:
            try:
                await context.send_activity(f"{SORRY} (Reference: {incident})")
            except Exception:  # noqa: BLE001 - the channel itself is unreachable; nothing more to do
                log.error("could not tell the user about incident %s", incident, exc_info=True)

    adapter.on_turn_error = on_error
    return adapter
