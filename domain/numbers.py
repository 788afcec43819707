"""Whole numbers from people and cards: ASCII decimal digits only, within bounds.

`str.isdigit()` takes '²' and '٣', which `int()` then refuses or reads as another number; `float()`
takes '1e12', 'inf' and full-width digits. A number someone typed is one of ours or no number."""

from __future__ import annotations

import re

_WHOLE = re.compile(r"-?[0-9]{1,12}(?:\.0*)?")  # "30", "030", "30.0" (a card's Input.Number may send that), "-2"


def whole_number(value: object, low: int, high: int) -> int | None:
    """`value` as a whole number in [low, high], or None: from an int, a whole float, or a string of
    ASCII digits with an optional minus (surrounding spaces allowed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value.strip().split(".")[0])
    else:
        return None
    return number if low <= number <= high else None
