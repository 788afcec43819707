"""Validation of cards against the official Adaptive Card 1.5 schema (../shared/schemas)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "shared" / "schemas" / "adaptive-card-1.5.json"


@cache
def _validators() -> tuple[Draft6Validator, Draft6Validator]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
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
