"""What a message says, read safely: entities that are not what Teams sends are dropped, and the
bot's own @mention is taken out of the text without botbuilder's `remove_mention_text` (which fails on
a mention without a proper `mentioned` object and reads the mentioned name as a regular expression)."""

from __future__ import annotations

import logging
import re

from botbuilder.schema import Activity

log = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]*>")
_LEADING_MENTION = re.compile(r"^\s*<at>[^<]{0,200}</at>", re.IGNORECASE)


def _props(entity: object) -> dict[str, object]:
    props = getattr(entity, "additional_properties", None)
    return props if isinstance(props, dict) else {}


def _is_sound(entity: object) -> bool:
    kind = getattr(entity, "type", None)
    if not isinstance(kind, str) or not kind:
        return False
    if kind.lower() == "mention":
        mentioned = _props(entity).get("mentioned")
        return isinstance(mentioned, dict) and isinstance(mentioned.get("id"), str)
    return True


def clean_entities(activity: Activity) -> None:
    """Drop entities botbuilder or RoomBot could trip over: no type, or a mention without a proper
    `mentioned` account. A bad entity is ignored, never fatal."""
    entities = activity.entities
    if entities is None:
        return
    if not isinstance(entities, list):
        activity.entities = None
        return
    sound = [e for e in entities if _is_sound(e)]
    if len(sound) != len(entities):
        log.info("dropped %d malformed entities", len(entities) - len(sound))
        activity.entities = sound


def message_text(activity: Activity) -> str:
    """The text of a message without the bot's own @mention (and any mention it starts with: that
    addresses the bot) and without markup, trimmed."""
    text = activity.text if isinstance(activity.text, str) else ""
    bot_id = getattr(activity.recipient, "id", None)
    for entity in activity.entities or []:
        if str(getattr(entity, "type", "")).lower() != "mention":
            continue
        props = _props(entity)
        mentioned = props.get("mentioned")
        if isinstance(mentioned, dict) and bot_id and mentioned.get("id") == bot_id:
            shown = props.get("text")
            if isinstance(shown, str) and shown:
                text = text.replace(shown, " ")
    text = _LEADING_MENTION.sub(" ", text)  # addressed to the bot, even when its entity was broken
    return " ".join(_TAG.sub(" ", text).split())
