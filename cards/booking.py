"""The booking cards: the form, the free rooms, the confirmation and the cancellation.
Pure functions from domain objects to Adaptive Card 1.5 JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cards.base import Card, action, card, heading, local_today, note_block, plain, text, when, zone_line
from domain.booking import DURATION_CHOICES, MAX_CAPACITY, MAX_FORM_MINUTES, Page, SearchRequest, SearchResult
from domain.calendar import TimeSlot
from domain.models import Booking, Building, Floor, Room
from domain.ranking import PAGE_SIZE  # search stops once a page is full
from domain.timezones import format_slot, iso_utc, to_local

STAR = "\u2605"  # ★, before the names of the rooms a person starred
MAX_BACK = 10  # pages a results card remembers for Previous (every button carries them: the card stays small)
MAX_BACK_QUERY = 400  # the longest search (as JSON) star buttons carry for Back to results
ANYWHERE = "any"  # the "Where" choice without a building or floor (an empty value shows no choice)


@dataclass(frozen=True)
class Places:
    """Names of the registry's buildings and floors, for showing where a room is."""

    buildings: dict[str, Building]
    floors: dict[str, Floor]

    @classmethod
    def of(cls, buildings: Sequence[Building], floors: Sequence[Floor]) -> Places:
        return cls({b.id: b for b in buildings}, {f.id: f for f in floors})

    def where(self, room: Room) -> str:
        building = self.buildings.get(room.building_id)
        floor = self.floors.get(room.floor_id)
        return " · ".join(x.name for x in (building, floor) if x is not None)


@dataclass(frozen=True)
class FormValues:
    """What the booking form shows: the defaults, what a quick text said, or what was submitted."""

    day: str  # YYYY-MM-DD, in `zone`
    start: str  # HH:MM
    duration: int = 30  # minutes
    capacity: int = 1
    place: str = ANYWHERE  # ANYWHERE, "b:<building id>" or "f:<floor id>"
    features: tuple[str, ...] = ()
    subject: str = ""
    participants: str = ""  # typed email addresses
    zone: str = "UTC"
    people: str = ""  # picked people: AAD object ids, separated by commas (the people picker's value)
    room: str = ""  # the email of a room asked for by name: only it is searched


# Teams' people picker (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/people-picker):
# an Input.ChoiceSet whose choices come from a Data.Query over the organisation's directory. It submits the
# picked people's AAD object ids, separated by commas, and its `value` pre-selects people the same way.
# "choices.data" and Data.Query are Microsoft's Adaptive Card schema from 1.6 on (not in 1.5's); Teams
# draws them in cards of any version. Search across the organisation works in a 1:1 chat with a bot.
PEOPLE_DATASET = "graph.microsoft.com/users"
PEOPLE_INPUT = "people"


def people_picker(label: str, value: str = "") -> dict[str, Any]:
    return {"type": "Input.ChoiceSet", "id": PEOPLE_INPUT, "label": label, "isMultiSelect": True, "value": value,
            "choices": [], "choices.data": {"type": "Data.Query", "dataset": PEOPLE_DATASET}}


# The "Where" input. A small organisation's places are all listed, in the card as it always was. Listing
# grows with the organisation (2,751 choices at 50,000 rooms: a 215 KB card) past what Teams takes in a
# message: about 28 KB for a message posted in a chat (learn.microsoft.com/connectors/teams, known limits);
# a bot message's size is counted in UTF-16 (learn.microsoft.com/microsoftteams/platform/bots/how-to/
# format-your-bot-messages: 40 KB, lately 100 KB with 80 KB advised). So past MAX_LISTED_PLACES choices,
# or MAX_LISTED_CHARS of them, the input becomes Teams' dynamic typeahead (learn.microsoft.com/
# microsoftteams/platform/task-modules-and-cards/cards/dynamic-search): choices come from the bot as the
# person types (invoke `application/search` for PLACES_DATASET, dialogs/places.py), Data.Query as for the
# people picker. Its static choices hold Anywhere, the current value (so a filled form shows it) and a few
# suggestions.
PLACES_DATASET = "roombot.places"
PLACE_INPUT = "place"
MAX_LISTED_PLACES = 100
MAX_LISTED_CHARS = 6_000  # of titles and values: a listed form stays well under the limit with long names
MAX_SUGGESTED_PLACES = 6


def anywhere_choice() -> dict[str, str]:
    return {"title": "Anywhere", "value": ANYWHERE}


def building_choice(building: Building) -> dict[str, str]:
    return {"title": f"{building.name} (any floor)", "value": f"b:{building.id}"}


def floor_choice(building: Building, floor: Floor) -> dict[str, str]:
    return {"title": f"{building.name} · {floor.name}", "value": f"f:{floor.id}"}


def place_choice(value: str, places: Places) -> dict[str, str] | None:
    """The choice for a place value ("any", "b:<id>", "f:<id>"), or None when it names no known place."""
    if value == ANYWHERE:
        return anywhere_choice()
    kind, _, item = value.partition(":")
    if kind == "b" and item in places.buildings:
        return building_choice(places.buildings[item])
    floor = places.floors.get(item) if kind == "f" else None
    building = places.buildings.get(floor.building_id) if floor else None
    return floor_choice(building, floor) if building and floor else None


def listed_places(places: Places) -> list[dict[str, str]] | None:
    """Every place as a choice, buildings by name and each one's floors by level; None when there are
    too many for a card (the count is checked before any is made)."""
    if 1 + len(places.buildings) + len(places.floors) > MAX_LISTED_PLACES:
        return None
    place_choices = [anywhere_choice()]
    for building in sorted(places.buildings.values(), key=lambda b: b.name.lower()):
        place_choices.append(building_choice(building))
        for floor in sorted((f for f in places.floors.values() if f.building_id == building.id),
                            key=lambda f: (f.level, f.name.lower())):
            place_choices.append(floor_choice(building, floor))
    size = sum(len(choice["title"]) + len(choice["value"]) for choice in place_choices)
    return place_choices if size <= MAX_LISTED_CHARS else None


def place_input(value: str, places: Places, suggested: Sequence[str] = ()) -> dict[str, Any]:
    """The "Where" input: every place listed, or searched as the person types (see PLACES_DATASET)."""
    listed = listed_places(places)
    if listed is not None:
        return {"type": "Input.ChoiceSet", "id": PLACE_INPUT, "label": "Where", "value": value, "choices": listed}
    choices: list[dict[str, str]] = []
    for known in filter(None, (place_choice(v, places) for v in (ANYWHERE, value, *suggested))):
        if known not in choices and len(choices) < 2 + MAX_SUGGESTED_PLACES:
            choices.append(known)
    return {"type": "Input.ChoiceSet", "id": PLACE_INPUT, "label": "Where", "value": value,
            "placeholder": "Type a building or floor", "choices": choices,
            "choices.data": {"type": "Data.Query", "dataset": PLACES_DATASET}}


def duration_label(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def query_data(request: SearchRequest) -> dict[str, Any]:
    """A search as card data, so a button can repeat it (checked again when it comes back)."""
    return {"start": iso_utc(request.start), "end": iso_utc(request.end), "zone": request.zone,
            "capacity": request.min_capacity, "building": request.building_id, "floor": request.floor_id,
            "features": list(request.features), "subject": request.subject,
            "participants": list(request.participants), **({"room": request.room_email} if request.room_email else {})}


def booking_form_card(values: FormValues, places: Places, features: Sequence[str],
                      note: str | None = None, picker: bool = False, assumed: Sequence[str] = (),
                      room_name: str = "", now: datetime | None = None,
                      suggested_places: Sequence[str] = ()) -> Card:
    """The booking form. `assumed` names the inputs ("date", "start", "duration") whose values are only
    suggestions, nobody asked for them: their labels say so. `room_name`: the room asked for by name.
    With `now`, the date picker starts at today in the user's zone. `suggested_places`: place values
    offered first when the places are searched rather than listed (see place_input)."""
    durations = sorted({*DURATION_CHOICES, *([values.duration] if 0 < values.duration <= MAX_FORM_MINUTES else [])})
    body: list[dict[str, Any]] = [heading("Book a room")]
    body += note_block(note)
    body += [
        zone_line(values.zone),
        {"type": "ColumnSet", "columns": [
            {"type": "Column", "width": "stretch", "items": [
                date_input(values.day, None if now is None else local_today(now, values.zone))]},
            {"type": "Column", "width": "stretch", "items": [
                {"type": "Input.Time", "id": "start", "label": "Start", "value": values.start, "isRequired": True,
                 "errorMessage": "Pick a start time."}]},
        ]},
        {"type": "Input.ChoiceSet", "id": "duration", "label": "Duration", "value": str(values.duration),
         "choices": [{"title": duration_label(m), "value": str(m)} for m in durations]},
        {"type": "Input.Number", "id": "capacity", "label": "Seats at least", "value": values.capacity,
         "min": 1, "max": MAX_CAPACITY, "errorMessage": f"Seats must be between 1 and {MAX_CAPACITY}."},
        place_input(values.place, places, suggested_places),
    ]
    if features:
        body.append({"type": "Input.ChoiceSet", "id": "features", "label": "Needs (optional)",
                     "isMultiSelect": True, "value": ",".join(values.features),
                     "choices": [{"title": f.capitalize(), "value": f} for f in features]})
    body.append({"type": "Input.Text", "id": "subject", "label": "Subject (optional)", "value": values.subject,
                 "maxLength": 255})
    if picker:
        body.append(people_picker("Also invite (optional): search by name", values.people))
    body.append({"type": "Input.Text", "id": "participants",
                 "label": "Or type email addresses (optional)" if picker else "Also invite (optional)",
                 "placeholder": "email addresses, separated by commas", "value": values.participants,
                 "maxLength": 2000})
    _mark_suggested(body, assumed)
    if values.room:
        body.insert(1, text(f"Room: {plain(room_name or values.room)}", weight="Bolder"))
    find = action("Find free rooms", "search", style="positive", zone=values.zone,
                  **({"room": values.room} if values.room else {}))
    return card(body, [find])


SUGGESTED = " (suggested: check it)"


def _mark_suggested(node: Any, assumed: Sequence[str]) -> None:
    """Suffix the labels of the inputs named in `assumed`, wherever they sit in the form's columns."""
    if isinstance(node, list):
        for item in node:
            _mark_suggested(item, assumed)
    elif isinstance(node, dict):
        if str(node.get("type", "")).startswith("Input.") and node.get("id") in assumed and "label" in node:
            node["label"] += SUGGESTED
        for key in ("columns", "items"):
            _mark_suggested(node.get(key), assumed)


def date_input(value: str, today: date | None) -> dict[str, Any]:
    """The date picker, starting at `today` (the user's) when known: earlier days cannot be booked."""
    picker = {"type": "Input.Date", "id": "date", "label": "Date", "value": value, "isRequired": True,
              "errorMessage": "Pick a date from today on."}
    return {**picker, "min": today.isoformat()} if today else picker


def _room_lines(room: Room, places: Places, starred: bool = False) -> list[dict[str, Any]]:
    details = [f"{room.capacity} seats"] + [f.capitalize() for f in room.features]
    return [text(f"{STAR} " * starred + plain(room.display_name), weight="Bolder"),
            text(plain(places.where(room)), isSubtle=True, spacing="None"),
            text(plain(" · ".join(details)), spacing="None", size="Small")]


def _book_button(room: Room, slot: TimeSlot, request: SearchRequest, attempt: str, title: str) -> dict[str, Any]:
    return action(title, "book", style="positive", room=room.email, start=iso_utc(slot.start), end=iso_utc(slot.end),
                  attempt=attempt, q=query_data(request))


def star_button(room: Room, starred: bool, back: dict[str, Any] | None = None) -> dict[str, Any]:
    """Star a room (it then ranks first in the person's searches), or unstar it; with `back`, what the
    answer's Back to results needs (dialogs.favourites)."""
    return action("Unstar" if starred else "Star", "unstar" if starred else "star", room=room.email, **(back or {}))


def _back_data(result: SearchResult, attempt: str) -> dict[str, Any] | None:
    """The search as a star button carries it, for the answer's Back to results (dialogs.favourites): its
    first page, where a room just starred now comes first (a later page's rank positions moved with the
    star). Only for a short search: five star buttons carrying a long subject and many people would push
    the card over Teams' limit."""
    q = query_data(result.request)
    return {"q": q, "attempt": attempt} if len(json.dumps(q)) <= MAX_BACK_QUERY else None


def room_row(room: Room, places: Places, button: dict[str, Any], label: str | None = None, *,
             starred: bool = False, star: dict[str, Any] | None = None) -> dict[str, Any]:
    lines = _room_lines(room, places, starred)
    if label:
        lines.insert(0, text(label, weight="Bolder", color="Accent"))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": [
        {"type": "ColumnSet", "columns": [
            {"type": "Column", "width": "stretch", "items": lines},
            {"type": "Column", "width": "auto", "verticalContentAlignment": "Center",
             "items": [{"type": "ActionSet", "actions": [button, *([star] if star else [])]}]},
        ]}]}


def page_data(page: Page) -> dict[str, Any]:
    """A page of results as a more button carries it (checked again when it comes back)."""
    return {"at": page.at, "shown": page.shown, "back": [list(p) for p in page.back]}


def _paging(result: SearchResult, attempt: str) -> list[dict[str, Any]]:
    """Previous (the page before, asked again) and Show more (from where this page ended)."""
    q, page, actions = query_data(result.request), result.page, []
    before = page.previous()
    if before is not None:
        actions.append(action("Previous", "more", q=q, attempt=attempt, **page_data(before)))
    if result.more_at is not None:
        shown = min(len(result.free), PAGE_SIZE)
        rest = len(result.free) - shown
        title = ("Look at more rooms" if not shown else "Show more" if not rest else
                 f"Show more ({rest} more)" if result.complete else f"Show more (at least {rest} more)")
        actions.append(action(title, "more", q=q, attempt=attempt,
                              **page_data(page.next(result.more_at, shown, MAX_BACK))))
    return actions


def _free_count(result: SearchResult) -> str:
    found = result.page.shown + len(result.free)
    return f"{found} free" if result.complete else f"At least {found} free"


def _none_free(result: SearchResult, filters: str) -> str:
    """Why no room is shown: none fits, none may be booked, none is free, or none of those looked at."""
    if not result.complete:
        if not result.considered:
            return f"None of the best-fitting rooms with {filters} I looked at can be booked then."
        return (f"None of the {result.considered} {'next' if result.page.at else 'best-fitting'} rooms with "
                f"{filters} I checked is free then.")
    if result.page.at:
        return f"No more rooms with {filters} are free then."
    return (f"No registered room with {filters} is free then." if result.considered else
            f"No room with {filters} can be booked then." if result.left_out else
            f"No registered room has {filters}.")


def results_card(result: SearchResult, places: Places, attempt: str, now: datetime,
                 note: str | None = None) -> Card:
    request = result.request
    body: list[dict[str, Any]] = []
    body += note_block(note)
    slot = when(request.start, request.end, request.zone, now)
    filters = [f"at least {request.min_capacity} seat{'s' if request.min_capacity != 1 else ''}"]
    if request.floor_id and request.floor_id in places.floors:
        floor = places.floors[request.floor_id]
        filters.append(f"{places.buildings[floor.building_id].name} · {floor.name}"
                       if floor.building_id in places.buildings else floor.name)
    elif request.building_id in places.buildings:
        filters.append(places.buildings[request.building_id].name)
    if request.features:
        filters.append("with " + ", ".join(request.features))
    mine = own_overlap_notes(result, local_today(now, request.zone))
    if result.free:
        body += [heading("Free rooms"), text(slot, weight="Bolder", spacing="None"), zone_line(request.zone),
                 text(f"{_free_count(result)}, {plain('; '.join(filters))}.", isSubtle=True, spacing="None"), *mine]
        back = _back_data(result, attempt)
        for room in result.free[:PAGE_SIZE]:
            starred = room.email in result.starred
            body.append(room_row(room, places, _book_button(room, request.slot, request, attempt, "Book"),
                                 starred=starred, star=star_button(room, starred, back)))
    else:
        body += [heading("No free room"), text(slot, weight="Bolder", spacing="None"), zone_line(request.zone),
                 text(_none_free(result, plain("; ".join(filters))), wrap=True),
                 *(text(plain(line), isSubtle=True, spacing="Small") for line in result.left_out), *mine]
        if result.other_times:
            body.append(text("Other times that day", weight="Bolder", spacing="Medium"))
            for room, other in result.other_times:
                label = when(other.start, other.end, request.zone, now)
                body.append(room_row(room, places, _book_button(room, other, request, attempt, "Book"), label))
        if result.other_places:
            body.append(text("Free elsewhere at that time", weight="Bolder", spacing="Medium"))
            for room in result.other_places:
                body.append(room_row(room, places, _book_button(room, request.slot, request, attempt, "Book")))
        if not (result.other_times or result.other_places or result.more_at is not None):
            body.append(text("Try another day, a shorter meeting or fewer filters.", isSubtle=True))
    if result.unreadable:
        names = plain(", ".join(room.display_name for room, _ in result.unreadable[:5]))
        body.append(text(f"I could not read the calendar of {names}, so it is left out (RoomBot's admins can see "
                         f"why with status).", isSubtle=True, size="Small", spacing="Medium"))
    return card(body, [*_paging(result, attempt), action("Change search", "form", q=query_data(request))])


def own_overlap_notes(result: SearchResult, today: date) -> list[dict[str, Any]]:
    """'You already have Aurora booked Wed 2 Dec, 10:00–11:00 that overlaps this time.' for each of the
    person's own bookings that overlaps the time asked for: said before Book is pressed, and booking
    stays possible."""
    zone = result.request.zone
    notes = []
    for booking, room_name in result.own_overlaps[:3]:
        span = format_slot(booking.start, booking.end, zone, today, named=False)
        notes.append(text(f"You already have {plain(room_name)} booked {span} that overlaps this time.",
                          color="Warning", spacing="Small"))
    if len(result.own_overlaps) > 3:
        notes.append(text(f"And {len(result.own_overlaps) - 3} more of your bookings overlap it (see My bookings).",
                          color="Warning", spacing="None"))
    return notes


def confirmation_card(booking: Booking, room: Room | None, places: Places, now: datetime,
                      note: str | None = None) -> Card:
    name = plain(room.display_name if room else booking.room_email)
    facts = [{"title": "When", "value": when(booking.start, booking.end, booking.zone, now)}]
    if room:
        facts.append({"title": "Where", "value": plain(places.where(room) or room.email)})
        facts.append({"title": "Seats", "value": str(room.capacity)})
    facts += [{"title": "Subject", "value": plain(booking.subject) if booking.subject else "(none)"},
              {"title": "Invited", "value": plain(", ".join(booking.attendees))}]
    body: list[dict[str, Any]] = []
    body += note_block(note)
    body += [heading(f"Booked: {name}"), {"type": "FactSet", "facts": facts}, zone_line(booking.zone),
             text("The invitation comes from the room's own mailbox. To change or cancel, use RoomBot.",
                  isSubtle=True, size="Small")]
    return card(body, [action("Cancel booking", "cancel", style="destructive", booking=booking.id),
                       action("My bookings", "my_bookings")])


def cancelled_card(booking: Booking, room: Room | None, now: datetime, note: str | None = None) -> Card:
    name = plain(room.display_name if room else booking.room_email)
    return card([heading(f"Cancelled: {name}"), text(when(booking.start, booking.end, booking.zone, now)),
                 zone_line(booking.zone),
                 *([text(plain(note))] if note else []),
                 text("Everyone invited gets the cancellation from the room.", isSubtle=True, size="Small")],
                [action("Book another room", "form"), action("My bookings", "my_bookings")])


def form_values(request: SearchRequest) -> FormValues:
    """The form filled in with a search, to change it."""
    local = to_local(request.start, request.zone)
    place = f"f:{request.floor_id}" if request.floor_id else (f"b:{request.building_id}" if request.building_id
                                                               else ANYWHERE)
    return FormValues(day=local.date().isoformat(), start=local.strftime("%H:%M"),
                      duration=int(request.duration.total_seconds() // 60), capacity=request.min_capacity,
                      place=place, features=request.features, subject=request.subject,
                      participants=", ".join(request.participants), zone=request.zone, room=request.room_email)
