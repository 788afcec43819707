"""The answer to Teams' typeahead invoke (`application/search`, a Data.Query's choices) as botbuilder
sends invoke answers: a model it serializes (botbuilder 4.17 has no type of its own for this invoke)."""

from __future__ import annotations

from typing import Any

from botbuilder.schema import InvokeResponse
from msrest.serialization import Model


class SearchResponse(Model):
    """{"type": "application/vnd.microsoft.search.searchResponse", "value": {"results": [...]}}, as
    Microsoft's "Typeahead search in Adaptive Cards" shows it."""

    _attribute_map = {"type": {"key": "type", "type": "str"}, "value": {"key": "value", "type": "object"}}

    def __init__(self, *, type: str = "", value: dict[str, Any] | None = None, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(**kwargs)
        self.type = type
        self.value = value


def search_response(body: dict[str, Any]) -> InvokeResponse:
    """An InvokeResponse 200 carrying `body` (dialogs.places.PlaceSearch.answer)."""
    return InvokeResponse(status=200, body=SearchResponse(type=body["type"], value=body["value"]))
