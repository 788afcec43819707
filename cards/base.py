"""Card building blocks shared by every card."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from domain.timezones import format_slot, to_local

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
ACTION_KEY = "action"  # the routing key every card action carries in its data

Card = dict[str, Any]

# What people and Microsoft 365 wrote (subjects, names, reasons, addresses) goes into TextBlock and
# FactSet text, which Teams renders as Markdown: "Markdown is supported in Adaptive Card TextBlock field,
# and Fact.Title and Fact.Value" (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/
# cards-format), a CommonMark subset of **bold**, _italic_, "- " and "1. " lists and [Title](url) links
# (learn.microsoft.com/adaptive-cards/authoring-cards/text-features); TextBlocks also expand
# {{DATE(...)}} and {{TIME(...)}}. CommonMark lets any ASCII punctuation be backslash-escaped; the
# characters escaped here are those that start that syntax. Teams' Android and iOS clients have shown
# escaping backslashes literally (microsoft/AdaptiveCards#4677, MicrosoftDocs/msteams-docs#5793), so
# punctuation that is inert mid-line ( ) . - + # ! is left alone there. Button titles and ChoiceSet
# choices are not Markdown: they take text as it is.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>~|])")
_MARKER = re.compile(r"^(?:[-+#=]|[0-9]+(?=[.)]))")  # a list, heading or setext marker starting the text
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")  # overrides that reorder what is shown
_WORD_JOINER = "\u2060"  # invisible; breaks "//" and "www." so no client turns the text into a link


def plain(value: object) -> str:
    """`value` as literal text for a TextBlock or Fact: Markdown syntax escaped, on one line, with bare
    links (https://..., //..., www....) broken so they stay text."""
    flat = " ".join(_BIDI.sub("", str(value)).split())
    escaped = _MARKER.sub(_escape_marker, _MARKDOWN.sub(r"\\\1", flat))
    escaped = re.sub(r"/(?=/)", "/" + _WORD_JOINER, escaped)
    return re.sub(r"(?i)\b(www)\.", r"\1" + _WORD_JOINER + ".", escaped)


def note_block(note: str | None, good: bool = False) -> list[dict[str, Any]]:
    """A card's note (what went wrong, or right with `good`) as text, or nothing without one."""
    return [text(plain(note), color="Good" if good else "Attention")] if note else []


def when(start: datetime, end: datetime, zone: str, now: datetime) -> str:
    """A slot as every card shows it: 'Wed 2 Dec, 10:00–11:00' in the user's zone, always with its
    date (a time alone is ambiguous once the card is scrolled back to). The zone is named once per
    card, by `zone_line`."""
    return format_slot(start, end, zone, local_today(now, zone), named=False)


def local_today(now: datetime, zone: str) -> date:
    return to_local(now, zone).date()


def zone_line(zone: str, lead: str = "") -> dict[str, Any]:
    """The card's one mention of the zone its times are in (after `lead`, a sentence of its own)."""
    return text(f"{lead} Times are in {plain(zone)}.".strip(), isSubtle=True, spacing="None")


def _escape_marker(match: re.Match[str]) -> str:
    marker = match.group(0)
    return marker + "\\" if marker.isdigit() else "\\" + marker  # "12\. Title", "\- Title"


def card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> Card:
    result: Card = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    if actions:
        result["actions"] = actions
    return result


def text(value: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def heading(value: str) -> dict[str, Any]:
    return text(value, size="Large", weight="Bolder", style="heading")


def action(title: str, action_name: str, style: str | None = None, **data: Any) -> dict[str, Any]:
    """A button: Action.Execute (Universal Actions) falling back to Action.Submit on older clients.
    Both carry the same data, routed on its `action` key."""
    payload = {ACTION_KEY: action_name, **data}
    submit: dict[str, Any] = {"type": "Action.Submit", "title": title, "data": payload}
    execute: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": action_name, "data": payload,
                               "fallback": submit}
    if style:
        execute["style"] = submit["style"] = style
    return execute


def show_card(title: str, body: list[dict[str, Any]], submit: dict[str, Any]) -> dict[str, Any]:
    """A button that unfolds a small form (Action.ShowCard) with its own submit button."""
    return {"type": "Action.ShowCard", "title": title, "card": {"type": "AdaptiveCard", "body": body,
                                                                 "actions": [submit]}}


def row(lines: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": [
        *lines, {"type": "ActionSet", "actions": actions}]}
