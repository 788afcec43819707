"""One short question and its typed answer, as a conversation: botbuilder's dialog stack, kept in the
conversation state (stored with the bot's other data, so any bot process can take the answer).

When a request lacks one thing ("book a room for 4 tomorrow": what time?), the bot asks for it and
keeps the request in the dialog; the person's next message is the answer and continues the request.
A question left unanswered for `ANSWER_WITHIN` is forgotten: a message that comes later is read on
its own, not as an answer to something asked long ago."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import BotState, CardFactory, MessageFactory, TurnContext
from botbuilder.dialogs import (
    DialogContext,
    DialogSet,
    DialogTurnResult,
    DialogTurnStatus,
    PromptOptions,
    TextPrompt,
    WaterfallDialog,
    WaterfallStepContext,
)

from cards.base import Card

log = logging.getLogger(__name__)

ANSWER_WITHIN_S = 15 * 60
_DIALOG = "ask-once"
_PROMPT = "answer"
_STATE = "DialogState"

# What an answer continues with: the turn, what the question kept, and the text typed.
Answered = Callable[[TurnContext, dict[str, Any], str], Awaitable[None]]


class Asking:
    """The conversation state holds a record only while a question is open: a turn without one reads a
    small file and writes nothing, and a finished or dropped question leaves no record behind."""

    def __init__(self, conversation_state: BotState, answered: Answered,
                 clock: Callable[[], float] = time.time) -> None:
        self._state = conversation_state
        self._answered = answered
        self._clock = clock
        self._dialogs = DialogSet(conversation_state.create_property(_STATE))
        self._dialogs.add(TextPrompt(_PROMPT))
        self._dialogs.add(WaterfallDialog(_DIALOG, [self._ask, self._answer]))

    async def ask(self, turn_context: TurnContext, question: Card, kept: dict[str, Any]) -> None:
        """Send `question` and keep `kept` (plain JSON) for the answer. One question at a time: an
        earlier one still open is dropped."""
        context = await self._dialogs.create_context(turn_context)
        await context.cancel_all_dialogs()
        await context.begin_dialog(_DIALOG, {"question": question, "kept": kept, "asked_at": self._clock()})

    async def waiting(self, turn_context: TurnContext) -> bool:
        """Whether a question is open in this conversation (and not too old to answer)."""
        context = await self._open(turn_context)
        if context is None:
            return False
        asked = next((i for i in context.stack if i.id == _DIALOG), None)
        asked_at = (asked.state or {}).get("options", {}).get("asked_at") if asked is not None else None
        if not isinstance(asked_at, int | float) or self._clock() - asked_at > ANSWER_WITHIN_S:
            log.info("an unanswered question expired")
            await self._close(turn_context)
            return False
        return True

    async def answer(self, turn_context: TurnContext) -> None:
        """The message is the answer to the open question: the kept request goes on with it."""
        context = await self._dialogs.create_context(turn_context)
        result = await context.continue_dialog()
        if result.status == DialogTurnStatus.Complete and isinstance(result.result, dict):
            await self._close(turn_context)
            await self._answered(turn_context, result.result["kept"], result.result["text"])

    async def forget(self, turn_context: TurnContext) -> None:
        """The person moved on (a new request, a pressed card): the open question is dropped."""
        if await self._open(turn_context) is not None:
            await self._close(turn_context)

    async def _open(self, turn_context: TurnContext) -> DialogContext | None:
        """The dialog context when this conversation holds a question, else None (without creating one)."""
        await self._state.load(turn_context)
        cached = self._state.get_cached_state(turn_context)
        if cached is None:
            return None
        if not cached.state.get(_STATE):
            # botbuilder marks a state it found nothing of as changed (its hash is of None, not {}), and would
            # write an empty record for every conversation: nothing was read, so nothing is to be written.
            if not cached.state:
                cached.hash = cached.compute_hash(cached.state)
            return None
        return await self._dialogs.create_context(turn_context)

    async def _close(self, turn_context: TurnContext) -> None:
        """No question open any more: the conversation's state record goes (it holds nothing else)."""
        await self._state.delete(turn_context)

    async def _ask(self, step: WaterfallStepContext) -> DialogTurnResult:
        question = MessageFactory.attachment(CardFactory.adaptive_card(step.options["question"]))
        return await step.prompt(_PROMPT, PromptOptions(prompt=question))

    async def _answer(self, step: WaterfallStepContext) -> DialogTurnResult:
        return await step.end_dialog({"kept": step.options["kept"], "text": str(step.result or "")})
