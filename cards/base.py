"""Card building blocks shared by every card."""

from __future__ import annotations

from typing import Any

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
ACTION_KEY = "action"  # the routing key every card action carries in its data

Card = dict[str, Any]


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
