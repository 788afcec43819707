"""The CloudAdapter, its authentication settings and the turn error handler."""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from azure.core.exceptions import DeserializationError
from botbuilder.core import BotState, InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse, CallerIdConstants
from botframework.connector.auth import AuthenticateRequestResult, AuthenticationConstants, JwtTokenValidation
from msrest.exceptions import ClientException
from msrest.universal_http.requests import ClientRetryPolicy

from config import Config
from dialogs.common import problem
from domain.errors import SORRY, STORAGE_AWAY
from storage.backends import StorageUnavailable

log = logging.getLogger(__name__)

# botbuilder sends every reply, card update and roster lookup with `requests` on the event loop's
# default thread pool, which has min(32, cores + 4) threads: 6 on two cores, so at most 6 replies in
# flight, whatever the number of users talking at once. The calls wait on the network, not the CPU.
CONNECTOR_THREADS = 64

# The Bot Framework connector refused or did not take a reply: an error answer would go the same way.
CHANNEL_ERRORS = (ClientException, aiohttp.ClientError, DeserializationError)


class BotFrameworkSettings:
    """The attribute names ConfigurationBotFrameworkAuthentication reads."""

    def __init__(self, config: Config) -> None:
        self.APP_ID = config.app_id
        self.APP_PASSWORD = config.app_password
        self.APP_TYPE = config.app_type
        self.APP_TENANTID = config.app_tenant_id
        if config.bot_openid_metadata_url or config.bot_token_issuer:
            public = AuthenticationConstants
            # Any of these switches botbuilder to its parameterized authentication, which then needs
            # every endpoint: the public cloud's, except the two given.
            self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = (config.bot_openid_metadata_url or
                                                            public.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL)
            self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = config.bot_token_issuer or public.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
            self.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = public.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
            self.TO_CHANNEL_FROM_BOT_LOGIN_URL = public.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
            self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = public.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
            self.OAUTH_URL = public.OAUTH_URL
            self.CALLER_ID = CallerIdConstants.public_azure_channel


class StrictBotFrameworkAuthentication(ConfigurationBotFrameworkAuthentication):
    """botbuilder's request authentication, where anything wrong with a token is a refusal (401).
    botbuilder 4.17 itself fails with a 500 on some bad tokens: a missing header when its
    authentication is parameterized, a token that does not decode, one without a key id."""

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        try:
            return await super().authenticate_request(activity, auth_header)
        except PermissionError:
            raise
        except Exception as exc:  # noqa: BLE001 - every other failure to validate is a refusal too
            log.info("refused a request whose token could not be validated: %s", type(exc).__name__)
            raise PermissionError("Invalid token") from exc

    async def authenticate_token(self, auth_header: str) -> None:
        """Refuse (PermissionError) a request whose token alone is wrong, before its body is read:
        no bearer token, or one botbuilder's validators (skill, emulator, channel, in that order)
        refuse for its signature, issuer, audience or expiry. Given an activity without a channel id
        or service URL, botbuilder checks just the token; the full `authenticate_request` still runs
        with the real activity (the key's channel endorsements, the serviceUrl claim)."""
        if not JwtTokenValidation.is_valid_token_format(auth_header):
            raise PermissionError("No bearer token")
        await self.authenticate_request(Activity(), auth_header)


async def authenticate_token(adapter: CloudAdapter, auth_header: str) -> None:
    """The adapter's token check before the body is read (see StrictBotFrameworkAuthentication)."""
    authentication = adapter.bot_framework_authentication
    if isinstance(authentication, StrictBotFrameworkAuthentication):
        await authentication.authenticate_token(auth_header)


def fix_msrest_retry_policy() -> None:
    """msrest (botbuilder's connector client) computes its retry status codes as
    `[i for i in range(999) if i not in safe_codes]` with `safe_codes` a list of 502 codes: about
    3.4 ms of CPU for every connector client, and botbuilder makes two per turn. The profile of a
    help turn showed it as half of the bot's CPU. With a set the codes come out the same (the fix
    proposed upstream in Azure/msrest-for-python#266, which msrest no longer takes)."""
    if not isinstance(ClientRetryPolicy.safe_codes, frozenset):
        ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)


def use_connector_threads(loop: asyncio.AbstractEventLoop, threads: int = CONNECTOR_THREADS) -> None:
    """Give the loop's default thread pool (botbuilder's connector calls) enough threads to keep up
    with many users at once. Call it from the app's startup, on the loop that will run the bot."""
    loop.set_default_executor(ThreadPoolExecutor(max_workers=threads, thread_name_prefix="connector"))




def create_adapter(config: Config, conversation_state: BotState | None = None) -> CloudAdapter:
    fix_msrest_retry_policy()
    adapter = CloudAdapter(StrictBotFrameworkAuthentication(BotFrameworkSettings(config)))

    async def on_error(context: TurnContext, error: Exception) -> None:
        if isinstance(error, CHANNEL_ERRORS):
            log.warning("the channel did not take the reply to a %s activity (%s: %s)", context.activity.type,
                        type(error).__name__, str(error)[:200])
            return
        if isinstance(error, StorageUnavailable):  # a database restart or failover: the dialog is fine, keep it
            log.warning("turn refused: the data cannot be reached (%s)", str(error)[:200])
            if context.activity.type == ActivityTypes.invoke and context.activity.name == "adaptiveCard/action":
                await _answer_card_press(context, STORAGE_AWAY)  # else botbuilder answers the press 501
            elif context.activity.type == ActivityTypes.message:
                try:
                    await context.send_activity(STORAGE_AWAY)
                except Exception:  # noqa: BLE001 - the channel itself is unreachable; nothing more to do
                    log.error("could not tell the user the data cannot be reached", exc_info=True)
            return
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


async def _answer_card_press(context: TurnContext, message: str) -> None:
    """Answer an Action.Execute press with a card saying `message` (the pressed card shows it)."""
    answer = AdaptiveCardInvokeResponse(status_code=200, type="application/vnd.microsoft.card.adaptive",
                                        value=problem(message))
    await context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                         value=InvokeResponse(status=200, body=answer)))
