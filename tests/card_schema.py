"""Validation of cards against the official Adaptive Card 1.5 schema (../shared/schemas)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "shared" / "schemas" / "adaptive-card-1.5.json"


# Teams' people picker: Input.ChoiceSet's "choices.data", a Data.Query, exactly as Microsoft's Adaptive Card
# schema defines them from 1.6 on (microsoft/AdaptiveCards, schemas/1.6.0/adaptive-card.json); the 1.5 schema
# does not have them. Teams draws them in cards of any version. Nothing else of 1.6 is allowed.
DATA_QUERY = {
    "description": "Data to be sent to the bot to fetch dynamic choices that can be displayed in the choiceset "
                   "dropdown for selection",
    "properties": {
        "type": {"enum": ["Data.Query"]},
        "dataset": {"type": "string"},
        "count": {"type": "number"},
        "skip": {"type": "number"},
    },
    "type": "object",
    "additionalProperties": False,
    "required": ["dataset"],
}


def _with_people_picker(schema: dict[str, Any]) -> dict[str, Any]:
    schema["definitions"]["Data.Query"] = DATA_QUERY
    schema["definitions"]["Input.ChoiceSet"]["properties"]["choices.data"] = {"$ref": "#/definitions/Data.Query"}
    return schema


@cache
def _validators() -> tuple[Draft6Validator, Draft6Validator]:
    schema = _with_people_picker(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    root = Draft6Validator(schema)
    # The root's anyOf gives vague errors; validating as AdaptiveCard directly names the real problem.
    card = Draft6Validator({"$ref": "#/definitions/AdaptiveCard", "definitions": schema["definitions"]})
    return root, card


def card_errors(content: dict[str, Any]) -> list[str]:
    root, card = _validators()
    if root.is_valid(content):
        return []
    return [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in card.iter_errors(content)] or [
        "invalid against the Adaptive Card 1.5 schema"]


def assert_valid_card(content: dict[str, Any]) -> None:
    assert content.get("type") == "AdaptiveCard", content
    assert content.get("version") == "1.5", content.get("version")
    errors = card_errors(content)
    assert not errors, f"card does not validate against Adaptive Card 1.5: {errors[:5]}"
    for found in _actions(content):
        assert "action" in (found.get("data") or {}), f"card action without an 'action' routing key: {found}"


def _actions(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") in ("Action.Submit", "Action.Execute"):
            found.append(node)
        for value in node.values():
            found.extend(_actions(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_actions(value))
    return found
