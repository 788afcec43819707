"""RoomBot's Teams activity handler. It guards the tenant, remembers where each user can be
reached, and routes: typed commands and card actions to their handlers. No business rules here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

import aiohttp
from botbuilder.core import BotState, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    ChannelAccount,
    InvokeResponse,
)
from botbuilder.schema.teams import TeamsChannelData
from cachetools import LRUCache
from msrest.exceptions import ClientException, DeserializationError

from bot.asking import Asking
from bot.identity import MemberDirectory, TenantConflict, activity_tenant
from bot.replies import SentCard, card_reply
from bot.roles import Roles
from bot.text import clean_entities, message_text
from bot.turns import turn_of
from bot.typeahead import search_response
from cards.base import ACTION_KEY, Card, card, text
from cards.help import help_for, welcome_card
from config import DEFAULT_CHANNELS
from dialogs.admin import AdminFlow
from dialogs.attendance import AttendanceFlow
from dialogs.booking import BookingFlow
from dialogs.chat import ChatFlow
from dialogs.common import Question
from dialogs.my_bookings import MyBookingsFlow
from dialogs.places import SEARCH_INVOKE, PlaceSearch
from dialogs.report import ReportFlow
from dialogs.turn import Turn
from domain.commands import USER_COMMANDS, Command, find_command
from storage.repository import TWO_TENANTS, Repository

log = logging.getLogger(__name__)

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ERROR_CONTENT_TYPE = "application/vnd.microsoft.error"
MAX_TEXT = 2000  # longer messages are no commands: they are read (and found too long to read)
REFUSAL = "Sorry, only RoomBot admins can do that."
UNKNOWN_SENDER = ("I can't tell who you are in this chat, so I can't do anything here. Please message me from "
                  "Microsoft Teams.")
STORED_REFERENCES_KEPT = 10_000  # users whose stored conversation reference this process remembers

# A card action handler answers with a card (shown in place of the pressed one) or text.
ActionHandler = Callable[[Turn], Awaitable[Card | str]]


class RoomBot(TeamsActivityHandler):
    def __init__(self, repo: Repository, conversation_state: BotState, members: MemberDirectory | None = None,
                 configured_tenant: str | None = None, booking: BookingFlow | None = None,
                 admin: AdminFlow | None = None, my_bookings: MyBookingsFlow | None = None,
                 chat: ChatFlow | None = None, allowed_channels: tuple[str, ...] = DEFAULT_CHANNELS,
                 attendance: AttendanceFlow | None = None, report: ReportFlow | None = None) -> None:
        self._repo = repo
        self._allowed_channels = frozenset(c.lower() for c in allowed_channels)
        self._configured_tenant = configured_tenant
        self._conversation_state = conversation_state
        self._members = members or MemberDirectory()
        self._roles = Roles(repo, self._members)
        # user key -> what the stored reference was made of, most recently used last
        self._stored_references: LRUCache[str, tuple[object, ...]] = LRUCache(maxsize=STORED_REFERENCES_KEPT)
        self._booking = booking
        self._places = PlaceSearch(repo)
        self._actions: dict[str, ActionHandler] = {"help": self._help_action}
        if booking is not None:
            self._actions.update(booking.actions())
        self._my_bookings = my_bookings
        if my_bookings is not None:
            self._actions.update(my_bookings.actions())
        self._chat = chat
        self._asking = Asking(conversation_state, self._on_answer) if chat is not None else None
        if chat is not None:
            self._actions.update(chat.actions())
        self._attendance = attendance
        if attendance is not None:
            self._actions.update(attendance.actions())
        # Admin handlers are reached only through the admin check in _run_command / _dispatch_action.
        self._admin_commands = admin.commands() if admin else {}
        self._admin_actions = {**(admin.actions() if admin else {}),
                               **(attendance.admin_actions() if attendance else {})}
        if report is not None:
            self._admin_commands.update(report.commands())
            self._admin_actions.update(report.actions())

    def admin_action_names(self) -> frozenset[str]:
        """The card actions only admins may press (every one is admin-checked before it runs)."""
        return frozenset(self._admin_actions)

    # --- every turn -------------------------------------------------------------------------

    async def on_turn(self, turn_context: TurnContext) -> None:
        clean_entities(turn_context.activity)
        if not self._tenant_allowed(turn_context.activity) or not self._channel_allowed(turn_context.activity):
            if turn_context.activity.type == ActivityTypes.invoke:
                await _answer_invoke(turn_context, InvokeResponse(status=403))
            return
        if not self._members.basic(turn_context).key:
            await self._unknown_sender(turn_context)
            return
        self._remember_conversation(turn_context)
        await super().on_turn(turn_context)
        await self._conversation_state.save_changes(turn_context)

    def _tenant_allowed(self, activity: Activity) -> bool:
        """Only our tenant may use the bot: anyone can install a bot, not everyone may book our rooms.
        Our tenant is the connected one, else the Graph tenant the bot is configured for (the
        sandbox's on a local run); with neither, activities pass. An activity naming two different
        tenants is ignored whatever they are."""
        sender = activity.from_property
        actor = str((getattr(sender, "aad_object_id", None) or getattr(sender, "id", None) or "") if sender else "")
        try:
            tenant = activity_tenant(activity)
        except TenantConflict as exc:
            if self._repo.count_refusal(TWO_TENANTS, actor, f"{activity.type} activity"):
                log.warning("ignored a %s activity: %s (counted per hour in the audit log)", activity.type, exc)
            return False
        settings = self._repo.get_settings()
        expected = settings.tenant_id if settings.connected and settings.tenant_id else self._configured_tenant
        if not expected:
            return True
        if tenant != expected:
            # Counted per tenant and hour, not written one by one: anyone can send these, any number.
            if self._repo.count_refusal(str(tenant) if tenant else None, actor, f"{activity.type} activity"):
                log.warning("ignored a %s activity from tenant %r (ours: %s); more this hour are only counted",
                            activity.type, tenant, expected)
            return False
        return True

    def _channel_allowed(self, activity: Activity) -> bool:
        """Only the channels RoomBot is made for (ALLOWED_CHANNELS, Teams by default): its users, tenant and
        roles are Teams' and Entra's; another channel's user ids mean nothing here. Refused quietly."""
        channel = activity.channel_id if isinstance(activity.channel_id, str) else ""
        if channel.lower() in self._allowed_channels:
            return True
        log.warning("ignored a %s activity from channel %r", activity.type, channel[:40])
        return False

    async def _unknown_sender(self, turn_context: TurnContext) -> None:
        """A person is known by their Entra (AAD) object id, and an activity without one could be anyone's:
        it is answered, and changes nothing (no conversation reference, no state, no booking)."""
        activity = turn_context.activity
        log.info("answered a %s activity without an AAD object id", activity.type)
        if activity.type == ActivityTypes.message:
            await turn_context.send_activity(UNKNOWN_SENDER)
        elif activity.type == ActivityTypes.invoke:
            if activity.name == "adaptiveCard/action":
                await _answer_invoke(turn_context, InvokeResponse(status=200, body=AdaptiveCardInvokeResponse(
                    status_code=200, type=CARD_CONTENT_TYPE, value=card([text(UNKNOWN_SENDER)]))))
            else:
                await _answer_invoke(turn_context, InvokeResponse(status=403))

    def _remember_conversation(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        user = self._members.basic(turn_context)
        if not user.key or activity.conversation is None or activity.conversation.conversation_type not in (
                None, "personal"):
            return
        # What the reference is made of: when it is what this process last stored for the user, the
        # turn is spared building and comparing it (a third of a help turn's own CPU).
        conversation, sender, bot = activity.conversation, activity.from_property, activity.recipient
        signature = (activity.service_url, activity.channel_id, activity.locale, conversation.id, conversation.name,
                     conversation.conversation_type, conversation.tenant_id, conversation.is_group,
                     *((a.id, a.name, a.aad_object_id, a.role) if a else () for a in (sender, bot)))
        # A person marked unreachable (bot.notify) who chats again is reachable: saving clears the mark.
        if self._stored_references.get(user.key) == signature and not self._repo.is_unreachable(user.key):
            return  # (get made it the most recently used)
        reference = TurnContext.get_conversation_reference(activity)
        reference.activity_id = None  # changes every turn; not needed to reach the user
        self._repo.save_conversation_reference(user.key, reference.serialize())
        self._stored_references[user.key] = signature  # past STORED_REFERENCES_KEPT, the least recently used goes

    # --- install and welcome ----------------------------------------------------------------

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._welcome(turn_context)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        """The person removed the app: nothing is sent to them (no reminder tried and retried) until
        they add it again or chat, which clears the mark."""
        user = self._members.basic(turn_context)
        self._stored_references.pop(user.key, None)
        if self._repo.mark_unreachable(user.key, "removed the app"):
            self._repo.add_audit(user.key, "app removed", "no proactive messages until they chat again")

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        # botbuilder's Teams dispatch asks the roster about every member added and fails on one without an
        # id (a forged or broken activity): such members are no one to welcome.
        activity = turn_context.activity
        if activity.members_added:
            activity.members_added = [m for m in activity.members_added if m is not None and m.id]
        # It also reads channelData as Teams' and fails when it is missing or of another shape (a list,
        # a string, a team that is no object): for the dispatch such channel data says nothing.
        if not _teams_channel_data(activity.channel_data):
            activity.channel_data = {}
        await super().on_conversation_update_activity(turn_context)

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn_context: TurnContext) -> None:
        if members_added:
            await self._welcome(turn_context)

    async def _welcome(self, turn_context: TurnContext) -> None:
        conversation = turn_context.activity.conversation
        if conversation is None or not self._repo.mark_welcomed(conversation.id):
            return  # Teams sends both installationUpdate and conversationUpdate: welcome once
        user = self._members.basic(turn_context)
        if not user.name:  # installationUpdate may come without the user's name: ask the roster
            user = await self._members.resolve(turn_context)
        settings = self._repo.get_settings()
        await self._send_card(turn_context, welcome_card(user.name, list(USER_COMMANDS), settings.booking_enabled))

    # --- messages: typed commands and Action.Submit -----------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if isinstance(activity.value, dict) and ACTION_KEY in activity.value:
            if self._asking is not None:  # a pressed card: the person moved on from a question asked
                await self._asking.forget(turn_context)
            await self._on_submit(turn_context, activity.value)
            return
        text = message_text(activity)
        command = find_command(text) if len(text) <= MAX_TEXT else None
        if command is not None or self._chat is None or self._asking is None:
            if self._asking is not None:
                await self._asking.forget(turn_context)
            if command is None or command.name == "help":
                note = None if command else "Sorry, I didn't get that. Here is what I can do."
                await self._send_card(turn_context, await self._help(turn_context, note))
                return
            await self._run_command(turn_context, command)
            return
        if await self._asking.waiting(turn_context):
            await self._asking.answer(turn_context)  # the answer to the question asked: goes on in _on_answer
            return
        await self._reply(turn_context, await self._chat.read(self._turn(turn_context), text))

    async def _on_answer(self, turn_context: TurnContext, kept: dict[str, Any], text: str) -> None:
        assert self._chat is not None
        await self._reply(turn_context, await self._chat.answered(self._turn(turn_context), kept, text))

    async def _reply(self, turn_context: TurnContext, reply: Card | Question) -> None:
        if isinstance(reply, Question):
            assert self._asking is not None
            await self._asking.ask(turn_context, reply.card, reply.kept)
            return
        await self._send_card(turn_context, reply)

    async def _run_command(self, turn_context: TurnContext, command: Command) -> None:
        if command.admin and not await self._is_admin(turn_context):
            self._refused(turn_context, f"command {command.name}")
            await turn_context.send_activity(REFUSAL)
            return
        if command.name in self._admin_commands:
            await self._send_card(turn_context, await self._admin_commands[command.name](self._turn(turn_context)))
            return
        if command.name == "settings" and self._attendance is not None:
            await self._send_card(turn_context, await self._attendance.settings_step(self._turn(turn_context)))
            return
        if command.name == "book" and self._booking is not None:
            await self._send_card(turn_context, await self._booking.form(self._turn(turn_context)))
            return
        if command.name in ("my bookings", "all bookings") and self._my_bookings is not None:
            start = self._my_bookings.start if command.name == "my bookings" else self._my_bookings.start_all
            await self._send_card(turn_context, await start(self._turn(turn_context)))
            return
        if not command.ready or command.name in ("book", "my bookings", "all bookings", "settings") or command.admin:
            # not wired (tests without Graph)
            await turn_context.send_activity(f"'{command.name}' is not available yet in this version of RoomBot.")
            return
        await self._send_card(turn_context, await self._help(turn_context))

    async def _on_submit(self, turn_context: TurnContext, data: dict[str, Any]) -> None:
        answer = await self._dispatch_action(turn_context, data)
        if isinstance(answer, str):
            await turn_context.send_activity(answer)
            return
        reply = card_reply(answer)
        if turn_context.activity.reply_to_id:  # replace the pressed card, so stale buttons go away
            reply.id = turn_context.activity.reply_to_id
            try:
                await turn_context.update_activity(reply)
                return
            except (ClientException, aiohttp.ClientError, ValueError) as exc:
                # The card to replace is gone (deleted, too old) or the id is not one: the answer
                # must not be lost, so it comes as a new message.
                log.info("could not replace card %r (%s); answering with a new message",
                         str(reply.id)[:80], type(exc).__name__)
                reply.id = None
        await turn_context.send_activity(reply)

    # --- Action.Execute (invoke adaptiveCard/action) ----------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        if turn_context.activity.name == SEARCH_INVOKE:  # the booking form's "Where" typeahead
            return search_response(self._places.answer(turn_context.activity.value))
        if turn_context.activity.name == "adaptiveCard/action":
            # Handled here rather than in on_adaptive_card_invoke: botbuilder 4.17's ActivityHandler
            # serializes that answer to a dict, which CloudAdapter.process then fails to serialize again.
            return InvokeResponse(status=200, body=await self._on_card_execute(turn_context))
        response = await super().on_invoke_activity(turn_context)
        if response is not None and response.status == 501:
            # botbuilder answers invokes RoomBot does not handle with 501; they are the caller's mistake
            log.info("unsupported invoke %r", str(turn_context.activity.name)[:80])
            return InvokeResponse(status=400)
        return response

    async def _on_card_execute(self, turn_context: TurnContext) -> AdaptiveCardInvokeResponse:
        value = turn_context.activity.value
        action_json = value.get("action") if isinstance(value, dict) else None
        if not isinstance(action_json, dict) or action_json.get("type") != "Action.Execute":
            return AdaptiveCardInvokeResponse(status_code=400, type=ERROR_CONTENT_TYPE,
                                              value={"code": "BadRequest", "message": "Not an Action.Execute."})
        if self._asking is not None:  # a pressed card: the person moved on from a question asked
            await self._asking.forget(turn_context)
        data = action_json.get("data")
        data = dict(data) if isinstance(data, dict) else {}
        data.setdefault(ACTION_KEY, action_json.get("verb"))
        answer = await self._dispatch_action(turn_context, data)
        if isinstance(answer, str):
            answer = card([text(answer)])
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=answer)

    async def _dispatch_action(self, turn_context: TurnContext, data: dict[str, Any]) -> Card | str:
        name = data.get(ACTION_KEY)
        if isinstance(name, str) and name in self._admin_actions:
            if not await self._is_admin(turn_context):
                self._refused(turn_context, f"action {name}")
                return REFUSAL
            log.info("admin card action %s (%s)", name, turn_context.activity.type)
            return await self._admin_actions[name](self._turn(turn_context, data))
        handler = self._actions.get(name) if isinstance(name, str) else None
        if handler is None:
            log.info("unknown card action %r", name)
            return await self._help(turn_context, "That button no longer works. Here is what I can do.")
        log.info("card action %s (%s)", name, turn_context.activity.type)
        return await handler(self._turn(turn_context, data))

    # --- handlers ---------------------------------------------------------------------------

    async def _help_action(self, turn: Turn) -> Card:
        return _help_card(await turn.roles.held(), None)

    async def _help(self, turn_context: TurnContext, note: str | None = None) -> Card:
        return _help_card(await self._roles.of(turn_context), note)

    def _turn(self, turn_context: TurnContext, data: dict[str, Any] | None = None) -> Turn:
        """What the flows see of this turn; `data` is what was pressed."""
        return turn_of(turn_context, self._members, self._roles, data)

    async def _is_admin(self, turn_context: TurnContext) -> bool:
        return await self._roles.is_admin(turn_context)

    def _refused(self, turn_context: TurnContext, what: str) -> None:
        """Non-admins trying admin things are told no, and it is recorded."""
        user = self._members.basic(turn_context)
        log.info("refused %s to non-admin %s", what, user.key)
        self._repo.add_audit(user.key, what, "not an admin", outcome="refused")

    @staticmethod
    async def _send_card(turn_context: TurnContext, content: Card) -> None:
        await turn_context.send_activity(card_reply(content))


async def _answer_invoke(turn_context: TurnContext, response: InvokeResponse) -> None:
    await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response, value=response))


def _teams_channel_data(value: object) -> bool:
    """Whether botbuilder's Teams dispatch can read `value` as TeamsChannelData."""
    if not isinstance(value, dict):
        return False
    try:
        TeamsChannelData().deserialize(value)
    except (DeserializationError, ValueError, TypeError, AttributeError):
        return False
    return True


@lru_cache(maxsize=64)
def _help_card(roles: frozenset[str], note: str | None) -> Card:
    """The help card depends on the roles held and the note only (both few): made once for each."""
    return SentCard(help_for(roles, note))
