"""The benchmark's rooms phase (`python -m bench --quick --only rooms`): three organisations side by
side, each with its first page's getSchedule calls, search p95 with several users at once, and the
bot's peak memory, and the targets read from them. Timings are no targets here; what is
deterministic is checked."""

from __future__ import annotations

import math
from pathlib import Path

from bench.rooms import FIRST_PAGE_CALLS, SEATS, show_more
from bench.run import PHASES, QUICK, phases_named, run
from sandbox.seed import generated_rooms


def test_memory_is_an_older_name_of_the_rooms_phase() -> None:
    assert "memory" not in PHASES and "rooms" in PHASES
    assert phases_named("help, memory") == ("help", "rooms")


def test_show_more_is_found_by_its_verb_or_title() -> None:
    def card(*actions: dict[str, object]) -> dict[str, object]:
        return {"type": "AdaptiveCard", "body": [{"type": "ActionSet", "actions": list(actions)}]}

    book = {"type": "Action.Execute", "verb": "book", "title": "Book", "data": {"action": "book"}}
    assert show_more(card(book)) is None
    by_verb = {"type": "Action.Execute", "verb": "more", "title": "More rooms", "data": {"attempt": "a1"}}
    assert show_more(card(book, by_verb)) == {"attempt": "a1", "action": "more"}
    by_title = {"type": "Action.Execute", "verb": "search", "title": "Show more", "data": {"action": "search",
                                                                                          "page": 2}}
    assert show_more(card(by_title)) == {"action": "search", "page": 2}
    previous = {"type": "Action.Execute", "verb": "more", "title": "Previous", "data": {"offset": 0}}
    assert show_more(card(previous, book)) is None
    assert show_more(card(previous, by_verb)) == {"attempt": "a1", "action": "more"}


async def test_the_rooms_phase_reports_each_size_side_by_side(tmp_path: Path, report) -> None:
    result = await run(QUICK, tmp_path, only=("rooms",))
    searches = [r for r in result.rows if r.kind == "search"]
    assert [r.note.split(",")[0] for r in searches] == [f"{n:,} rooms" for n in QUICK.scale_rooms]
    assert all(len(r.timings) == QUICK.scale_users * QUICK.scale_rounds for r in searches)
    smallest = QUICK.scale_rooms[0]
    fitting = sum(1 for box in generated_rooms(smallest) if box.capacity >= SEATS)
    assert searches[0].graph_per_turn == str(math.ceil(fitting / 20))  # a small organisation: every room asked
    facts = dict(result.facts)
    for n in QUICK.scale_rooms:
        assert facts[f"{n:,} rooms"].startswith("first page ") and " MB; seeded" in facts[f"{n:,} rooms"]
        assert "no room to book" not in facts[f"{n:,} rooms"]  # every search of a small organisation booked
    assert facts["token requests"].startswith("3 for 3 RoomBot processes")
    assert facts["sandbox"].startswith(f"{QUICK.scale_rooms[-1]:,} rooms' mailboxes, peak RSS ")
    texts = [text for _, text in result.targets]
    assert [t.split(":")[0] for t in texts if t.startswith("getSchedule")] == [
        f"getSchedule calls for a first page at {n:,} rooms at most {FIRST_PAGE_CALLS}" for n in QUICK.scale_rooms[1:]]
    assert [t.split(" within")[0] for t in texts if t.startswith("search p95")] == [
        f"search p95 at {n:,} rooms" for n in QUICK.scale_rooms[1:]]
    assert any(t.startswith(f"peak RSS at {QUICK.scale_rooms[-1]:,} rooms under 200 MB") for t in texts)
    report("rooms phase (quick sizes): " + "; ".join(f"{n:,} rooms: {facts[f'{n:,} rooms']}"
                                                      for n in QUICK.scale_rooms))
