"""The sandbox's Microsoft Graph v1.0: calendars, getSchedule, places, users and $batch.

Handlers work on plain `GraphRequest` values, so the same code answers a direct HTTP call and an
item inside `$batch`. Behaviour follows Microsoft's documentation, not RoomBot's expectations (the
README's sandbox section cites a page for each): Graph-shaped errors, strict request bodies with
enum values matched case-insensitively, `transactionId` de-duplication, timestamps with 0 to 7
fractional digits, `$select` (which never returns `createdDateTime` / `lastModifiedDateTime`),
calendarView pages of 10 with `@odata.nextLink`, Places pages without one, `showAs`, per-schedule
errors in getSchedule, `Prefer: outlook.timezone`, and no conflict checking on events the room
organises (as in Exchange).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from domain.timezones import graph_zone
from sandbox.seed import Mailbox
from sandbox.spec import GraphSpec

MAX_SCHEDULES = 20
MAX_BATCH = 20
PLACES_PAGE = 100  # Places' default page; it gives no @odata.nextLink ($top / $skip / $count page it)
EVENTS_PAGE = 10  # calendarView's and events' default page, with @odata.nextLink
TICKS_PER_SECOND = 10_000_000  # Exchange keeps times in 100-ns ticks: 7 fractional digits at most
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Not returned in a $select-ed answer (Microsoft's calendarView / event docs: these two properties
# do not support $select); they come with the full representation only.
NOT_SELECTABLE = frozenset({"createddatetime", "lastmodifieddatetime"})

# freeBusyStatus -> the digit of availabilityView. Microsoft's scheduleInformation description: "0= free
# or working elsewhere, 1= tentative, 2= busy, 3= out of office ... Working elsewhere is set to 0
# instead of 4 for backward compatibility." A slot shows its busiest item.
AVAILABILITY_DIGIT = {"free": 0, "workingelsewhere": 0, "unknown": 0, "tentative": 1, "busy": 2, "oof": 3}

@dataclass
class GraphRequest:
    method: str
    path: str  # below /v1.0, percent-decoded once, where it entered
    query: dict[str, str]
    body: Any
    headers: dict[str, str]  # lower-case names


@dataclass
class GraphResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphFailure(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, request_id: str) -> GraphResponse:
        return GraphResponse(self.status, error_body(self.code, self.message, request_id))


def error_body(code: str, message: str, request_id: str = "") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id or str(uuid.uuid4()), "client-request-id": request_id}}}


def _zone(name: str | None) -> tzinfo:
    try:
        return graph_zone(name)
    except ValueError as exc:
        raise GraphFailure(400, "TimeZoneNotSupportedException",
                           f"A valid TimeZone value must be specified. The following TimeZone value is not "
                           f"supported: '{name}'.") from exc


def parse_date_time_zone(value: Any, what: str) -> datetime:
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphFailure(400, "ErrorInvalidRequest", f"'{what}' must be a dateTimeTimeZone.")
    text = value["dateTime"]
    try:
        parsed = datetime.fromisoformat(text)  # Python 3.11 reads 0 to 7+ fractional digits, Z and offsets
    except ValueError as exc:
        raise GraphFailure(400, "ErrorInvalidRequest", f"Cannot convert the literal '{value['dateTime']}' "
                                                       f"to the expected type 'Edm.DateTimeOffset'.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone(value.get("timeZone")))
    return parsed.astimezone(UTC)


def parse_offset_time(value: str | None, name: str) -> datetime:
    if not value:
        raise GraphFailure(400, "ErrorInvalidParameter",
                           f"This request requires a time window specified by the query string parameters "
                           f"StartDateTime and EndDateTime. '{name}' is missing.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise GraphFailure(400, "ErrorInvalidParameter",
                           f"The value '{value}' of parameter '{name}' is invalid.") from exc
    if parsed.tzinfo is None:
        raise GraphFailure(400, "ErrorInvalidParameter", f"'{name}' must carry an offset or Z.")
    return parsed.astimezone(UTC)


def format_time(value: datetime, zone_name: str) -> dict[str, str]:
    local = value.astimezone(_zone(zone_name)).replace(tzinfo=None)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": zone_name}


def graph_timestamp(ticks: int) -> str:
    """An Edm.DateTimeOffset as Graph writes `createdDateTime`: UTC with Z and up to 7 fractional
    digits, trailing zeros dropped (Microsoft's create-event example: 2017-04-15T03:00:51.245372Z)."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:07d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


class TickClock:
    """Creation and modification times as Exchange keeps them, in 100-ns ticks. Each time shows a
    different number of fractional digits (0 to 7, in turn), so clients meet every form Graph writes.
    A time is rounded *up* to its digits and never goes back, so events made one after another keep
    their order, whatever digits they show."""

    DIGITS = (7, 0, 3, 1, 6, 2, 5, 4)

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self._last = 0
        self._digits = itertools.cycle(self.DIGITS)

    def tick(self) -> int:
        now = (self._now() - _EPOCH) // timedelta(microseconds=1) * 10
        ticks = max(now, self._last + 1)
        grid = 10 ** (7 - next(self._digits))
        ticks = -(-ticks // grid) * grid
        if grid < TICKS_PER_SECOND and (ticks // grid) % 10 == 0:
            ticks += grid  # its last digit is not a zero, so it shows all its digits
        self._last = ticks
        return ticks


def preferred_zone(headers: dict[str, str]) -> str:
    match = re.search(r'outlook\.timezone\s*=\s*"([^"]+)"', headers.get("prefer", ""), re.IGNORECASE)
    if match:
        _zone(match.group(1))
        return match.group(1)
    return "UTC"


@dataclass
class StoredEvent:
    id: str
    mailbox: str
    doc: dict[str, Any]  # the body as given (validated, enum values in their canonical case)
    start: datetime
    end: datetime
    created: int  # ticks (TickClock)
    modified: int
    ical_uid: str
    change_key: str
    cancelled: bool = False
    organizer: tuple[str, str] | None = None  # (address, name) when a person organised it, not the room

    @property
    def show_as(self) -> str:
        return str(self.doc.get("showAs") or "busy")


Handler = Callable[[GraphRequest, re.Match[str]], Awaitable[GraphResponse]]


class GraphApi:
    """The Graph endpoints over the sandbox's state."""

    def __init__(self, mailboxes: dict[str, Mailbox], room_lists: dict[str, str], spec: GraphSpec | None,
                 base_url: Callable[[], str]) -> None:
        self.mailboxes = mailboxes
        self.room_lists = room_lists
        self.spec = spec
        self._base_url = base_url
        self.events: dict[str, dict[str, StoredEvent]] = {}
        self._transactions: dict[tuple[str, str], str] = {}
        self.clock = TickClock()
        # What Exchange would have mailed: invitations and cancellations, newest last.
        self.outbox: list[dict[str, Any]] = []
        # Kinder than Graph, for tests that show a client copes either way: createdDateTime and
        # lastModifiedDateTime in $select-ed answers when they were asked for.
        self.select_timestamps = False
        # Called with the mailbox when a create arrives, before the event is made (tests use it to put
        # someone else's booking in the slot between a client's check and its POST).
        self.before_create: Callable[[str], None] | None = None
        # Rewrites answers on their way out (tests use it to send what a client must survive).
        self.answer_filter: Callable[[GraphRequest, GraphResponse], GraphResponse] | None = None
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        mb = r"/users/(?P<mailbox>[^/]+)"
        ev = mb + r"/(?:calendar/)?events/(?P<event>[^/]+)"
        for method, pattern, handler in (
            ("GET", r"/users", self.list_users),
            ("GET", mb, self.get_user),
            ("POST", mb + r"/calendar/(?:microsoft\.graph\.)?getSchedule", self.get_schedule),
            ("GET", mb + r"/(?:calendar/)?events", self.list_events),
            ("POST", mb + r"/(?:calendar/)?events", self.create_event),
            ("GET", ev, self.get_event),
            ("PATCH", ev, self.update_event),
            ("DELETE", ev, self.delete_event),
            ("POST", ev + r"/(?:microsoft\.graph\.)?cancel", self.cancel_event),
            ("GET", mb + r"/(?:calendar/)?calendarView", self.calendar_view),
            ("GET", r"/places/microsoft\.graph\.room", self.list_places_rooms),
            ("GET", r"/places/microsoft\.graph\.roomList", self.list_room_lists),
            ("GET", r"/places/microsoft\.graph\.workspace", self.list_places_workspaces),
            ("GET", r"/places/(?P<list>[^/]+)/microsoft\.graph\.roomList/rooms", self.list_rooms_in_list),
        ):
            self._routes.append((method, re.compile(f"^{pattern}/?$", re.IGNORECASE), handler))

    # --- dispatch ------------------------------------------------------------------------

    def route_name(self, method: str, path: str) -> str:
        for route_method, pattern, handler in self._routes:
            if route_method == method and pattern.match(path):
                return f"{method} {handler.__name__}"
        return f"{method} unknown"

    async def dispatch(self, request: GraphRequest) -> GraphResponse:
        request_id = request.headers.get("client-request-id", "")
        try:
            for method, pattern, handler in self._routes:
                match = pattern.match(request.path)
                if match and method == request.method:
                    answer = await handler(request, match)
                    return self.answer_filter(request, answer) if self.answer_filter else answer
            if any(p.match(request.path) for _, p, _ in self._routes):
                raise GraphFailure(405, "Request_BadRequest", f"The HTTP method '{request.method}' is not allowed.")
            raise GraphFailure(400, "BadRequest", f"Resource not found for the segment '{request.path}'.")
        except GraphFailure as failure:
            return failure.response(request_id)

    # --- helpers -------------------------------------------------------------------------

    def find_mailbox(self, key: str) -> Mailbox | None:
        key = key.lower()
        return self.mailboxes.get(key) or next((m for m in self.mailboxes.values() if m.id == key), None)

    def _mailbox(self, match: re.Match[str], *, calendar: bool = True) -> Mailbox:
        key = match.group("mailbox").lower()
        box = self.find_mailbox(key)
        if box is None:
            raise GraphFailure(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
        if calendar:
            problem = mailbox_problem(box)
            if problem is not None:
                raise problem
        return box

    def _check_body(self, spec_path: str, method: str, body: Any, *, action: bool = False) -> None:
        if not isinstance(body, dict):
            raise GraphFailure(400, "BadRequest", "Empty Payload. JSON content expected.")
        if self.spec is None:
            return
        problems = self.spec.check(spec_path, method, body, case_insensitive=action)
        if problems:
            raise GraphFailure(400, "BadRequest", "Invalid request body: " + "; ".join(problems[:5]))

    def _event(self, box: Mailbox, match: re.Match[str]) -> StoredEvent:
        event_id = match.group("event")
        event = self.events.get(box.email, {}).get(event_id)
        if event is None or event.cancelled:
            raise GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return event

    def _render(self, event: StoredEvent, zone: str, select: str | None = None) -> dict[str, Any]:
        box = self.mailboxes[event.mailbox]
        organizer_address, organizer_name = event.organizer or (box.email, box.display_name)
        doc = {
            "@odata.etag": f'W/"{event.change_key}"',
            "id": event.id,
            "createdDateTime": graph_timestamp(event.created),
            "lastModifiedDateTime": graph_timestamp(event.modified),
            "changeKey": event.change_key,
            "categories": [],
            "transactionId": event.doc.get("transactionId"),
            "originalStartTimeZone": event.doc.get("start", {}).get("timeZone", "UTC"),
            "originalEndTimeZone": event.doc.get("end", {}).get("timeZone", "UTC"),
            "iCalUId": event.ical_uid,
            "reminderMinutesBeforeStart": 15,
            "isReminderOn": False,
            "hasAttachments": False,
            "subject": event.doc.get("subject", ""),
            "bodyPreview": (event.doc.get("body") or {}).get("content", "")[:255],
            "importance": event.doc.get("importance", "normal"),
            "sensitivity": event.doc.get("sensitivity", "normal"),
            "isAllDay": False,
            "isCancelled": event.cancelled,
            "isOrganizer": event.organizer is None,
            "responseRequested": True,
            "showAs": event.show_as,
            "type": "singleInstance",
            "webLink": f"https://outlook.office365.com/owa/?itemid={event.id}&exvsurl=1&path=/calendar/item",
            "isOnlineMeeting": bool(event.doc.get("isOnlineMeeting", False)),
            "responseStatus": {"response": "organizer" if event.organizer is None else "accepted",
                               "time": "0001-01-01T00:00:00Z"},
            "body": event.doc.get("body") or {"contentType": "html", "content": ""},
            "start": format_time(event.start, zone),
            "end": format_time(event.end, zone),
            "location": event.doc.get("location") or {"displayName": box.display_name},
            "locations": [event.doc["location"]] if event.doc.get("location") else [],
            "attendees": [{"type": a.get("type", "required"),
                           "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                           "emailAddress": a.get("emailAddress", {})} for a in event.doc.get("attendees", [])],
            "organizer": {"emailAddress": {"name": organizer_name, "address": organizer_address}},
        }
        if select:
            wanted = {s.strip().lower() for s in select.split(",") if s.strip()}
            if not self.select_timestamps:
                wanted -= NOT_SELECTABLE
            doc = {k: v for k, v in doc.items() if k == "id" or k.startswith("@odata") or k.lower() in wanted}
        return doc

    def _page(self, request: GraphRequest, items: list[dict[str, Any]], *, default_top: int,
              max_top: int = 1000, next_link: bool = True) -> GraphResponse:
        """One page of `items`. With `next_link`, more pages are announced by @odata.nextLink; without
        it (Places) they are not, and the caller pages with $top / $skip (and $count)."""
        try:
            top = min(max_top, max(1, int(request.query.get("$top", default_top))))
            skip = max(0, int(request.query.get("$skip", 0)))
        except ValueError as exc:
            raise GraphFailure(400, "BadRequest", "Invalid $top or $skip.") from exc
        body: dict[str, Any] = {}
        if request.query.get("$count", "").lower() == "true":
            body["@odata.count"] = len(items)
        body["value"] = items[skip:skip + top]
        if next_link and skip + top < len(items):
            query = {**request.query, "$top": str(top), "$skip": str(skip + top)}
            body["@odata.nextLink"] = f"{self._base_url()}/v1.0{request.path}?{urlencode(query)}"
        return GraphResponse(200, body)

    def _new_id(self, mailbox: str) -> str:
        raw = hashlib.sha256(mailbox.encode()).digest()[:8] + secrets.token_bytes(24)
        return "AAMkAD" + base64.urlsafe_b64encode(raw).decode()

    # --- users -------------------------------------------------------------------------
    # As Microsoft's "Get user" (https://learn.microsoft.com/graph/api/user-get) and "List users"
    # (https://learn.microsoft.com/graph/api/user-list) pages document them: by object id or user
    # principal name; the default properties, or with $select only those asked for (not even the id);
    # "If a user with the ID doesn't exist, this method returns a 404 Not Found", in the directory's
    # words (Request_ResourceNotFound, as Graph answers it; Microsoft's "Microsoft Graph error
    # responses" page for the shape). Room mailboxes are user accounts too, as in Entra ID. Without the
    # User.Read.All application permission the server answers 403 before reaching here.

    def _user_doc(self, box: Mailbox, select: str | None) -> dict[str, Any]:
        given, _, surname = box.display_name.partition(" ")
        doc: dict[str, Any] = {
            "businessPhones": [], "displayName": box.display_name, "givenName": given or None, "jobTitle": None,
            "mail": box.email, "mobilePhone": None, "officeLocation": None, "preferredLanguage": None,
            "surname": surname or None, "userPrincipalName": box.upn or box.email, "id": box.id}
        if select:
            wanted = {s.strip().lower() for s in select.split(",") if s.strip()}
            doc = {k: v for k, v in doc.items() if k.lower() in wanted}
        return doc

    def find_user(self, key: str) -> Mailbox | None:
        key = key.lower()
        return self.find_mailbox(key) or next((m for m in self.mailboxes.values() if m.upn.lower() == key), None)

    async def get_user(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        key = match.group("mailbox")
        box = self.find_user(key)
        if box is None:
            raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its "
                                                                f"queried reference-property objects are not present.")
        select = request.query.get("$select")
        context = "users" + (f"({select})" if select else "") + "/$entity"
        return GraphResponse(200, {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}",
                                   **self._user_doc(box, select)})

    async def list_users(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        """List users: 100 a page by default, up to 999 with $top, more announced by @odata.nextLink."""
        users = [self._user_doc(b, request.query.get("$select"))
                 for b in sorted(self.mailboxes.values(), key=lambda b: b.id)]
        return self._page(request, users, default_top=100, max_top=999)

    # --- getSchedule ---------------------------------------------------------------------

    async def get_schedule(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        self._mailbox(match)  # the mailbox in the URL must be readable; the schedules answer one by one
        self._check_body("/users/{user-id}/calendar/microsoft.graph.getSchedule", "post", request.body, action=True)
        body = {k.lower(): v for k, v in request.body.items()}
        schedules = body.get("schedules") or []
        if not schedules:
            raise GraphFailure(400, "ErrorInvalidParameter", "Schedules must contain at least one entry.")
        if len(schedules) > MAX_SCHEDULES:
            raise GraphFailure(400, "ErrorInvalidParameter",
                               f"The number of schedules requested ({len(schedules)}) exceeds the maximum of "
                               f"{MAX_SCHEDULES}.")
        start = parse_date_time_zone(body.get("starttime"), "startTime")
        end = parse_date_time_zone(body.get("endtime"), "endTime")
        if end <= start:
            raise GraphFailure(400, "ErrorInvalidParameter", "The end time must be after the start time.")
        if end - start >= timedelta(days=62):
            raise GraphFailure(400, "ErrorInvalidParameter",
                               "The requested time duration exceeds the maximum of 62 days.")
        interval = body.get("availabilityviewinterval") or 30
        if not 5 <= interval <= 1440:
            raise GraphFailure(400, "ErrorInvalidParameter",
                               "AvailabilityViewInterval must be between 5 and 1440 minutes.")
        zone = preferred_zone(request.headers)
        step = timedelta(minutes=interval)
        slots = int((end - start) / step) or 1
        value = []
        for schedule in schedules:
            box = self.find_mailbox(str(schedule).strip())
            error = schedule_error(box)
            if error is not None:
                value.append({"scheduleId": schedule, "availabilityView": "", "scheduleItems": [],
                              "error": error})
                continue
            assert box is not None
            items = sorted((e for e in self.events.get(box.email, {}).values()
                            if not e.cancelled and e.start < end and start < e.end), key=lambda e: e.start)
            view = "".join(
                str(max((AVAILABILITY_DIGIT.get(e.show_as.lower(), 2) for e in items
                         if e.start < start + (i + 1) * step and start + i * step < e.end), default=0))
                for i in range(slots))
            value.append({
                "scheduleId": schedule, "availabilityView": view,
                "scheduleItems": [{"isPrivate": False, "status": e.show_as, "subject": e.doc.get("subject", ""),
                                   "location": (e.doc.get("location") or {}).get("displayName", ""),
                                   "start": format_time(e.start, zone), "end": format_time(e.end, zone)}
                                  for e in items],
                "workingHours": {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                                 "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                                 "timeZone": {"name": "UTC"}},
            })
        return GraphResponse(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#"
                                                     "Collection(microsoft.graph.scheduleInformation)",
                                   "value": value})

    # --- events ------------------------------------------------------------------------

    async def create_event(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        self._check_body("/users/{user-id}/events", "post", request.body)
        body = canonical_enums(request.body, self.spec)
        zone = preferred_zone(request.headers)
        transaction_id = body.get("transactionId")
        if transaction_id:
            existing = self._transactions.get((box.email, transaction_id))
            if existing and existing in self.events.get(box.email, {}):
                return GraphResponse(201, self._render(self.events[box.email][existing], zone))
        if "start" not in body or "end" not in body:
            raise GraphFailure(400, "ErrorInvalidRequest", "Your request can't be completed. "
                                                           "An event needs a start and an end.")
        start = parse_date_time_zone(body["start"], "start")
        end = parse_date_time_zone(body["end"], "end")
        if end < start:
            raise GraphFailure(400, "ErrorInvalidRequest", "The end time must not be before the start time.")
        if self.before_create is not None:
            self.before_create(box.email)
        event = self.add_event(box.email, body, start, end)
        if transaction_id:
            self._transactions[(box.email, transaction_id)] = event.id
        self._mail("invitation", event)
        return GraphResponse(201, self._render(event, zone))

    def add_event(self, mailbox: str, doc: dict[str, Any], start: datetime, end: datetime, *,
                  organizer: tuple[str, str] | None = None) -> StoredEvent:
        """Put an event in a mailbox's calendar. `organizer`: a person organised it (an Outlook
        booking that invited the room), rather than the room itself."""
        now = self.clock.tick()
        event = StoredEvent(id=self._new_id(mailbox), mailbox=mailbox, doc=dict(doc), start=start, end=end,
                            created=now, modified=now,
                            ical_uid="040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper(),
                            change_key=secrets.token_urlsafe(12), organizer=organizer)
        self.events.setdefault(mailbox, {})[event.id] = event
        return event

    def add_outlook_booking(self, room: str, organizer: str, start: datetime, end: datetime, *,
                            subject: str = "Outlook booking", show_as: str = "busy") -> StoredEvent:
        """A meeting a person organised in Outlook with the room invited, as the room's calendar holds
        it once the room accepted: not RoomBot's, no transactionId."""
        person = self.mailboxes.get(organizer.lower())
        return self.add_event(room.lower(), {
            "subject": subject, "showAs": show_as,
            "start": {"dateTime": start.astimezone(UTC).replace(tzinfo=None).isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": end.astimezone(UTC).replace(tzinfo=None).isoformat(), "timeZone": "UTC"},
            "attendees": [{"type": "resource", "emailAddress": {"address": room.lower(), "name": room}}]},
            start.astimezone(UTC), end.astimezone(UTC),
            organizer=(organizer.lower(), person.display_name if person else organizer))

    async def list_events(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        zone = preferred_zone(request.headers)
        events = sorted((e for e in self.events.get(box.email, {}).values() if not e.cancelled),
                        key=lambda e: (e.start, e.id))
        return self._page(request, [self._render(e, zone, request.query.get("$select")) for e in events],
                          default_top=EVENTS_PAGE)

    async def get_event(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        event = self._event(box, match)
        return GraphResponse(200, self._render(event, preferred_zone(request.headers), request.query.get("$select")))

    async def update_event(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        event = self._event(box, match)
        self._check_body("/users/{user-id}/events/{event-id}", "patch", request.body)
        body = canonical_enums(request.body, self.spec)
        start = parse_date_time_zone(body["start"], "start") if "start" in body else event.start
        end = parse_date_time_zone(body["end"], "end") if "end" in body else event.end
        if end < start:
            raise GraphFailure(400, "ErrorInvalidRequest", "The end time must not be before the start time.")
        before = self._attendees(event)
        event.doc.update(body)
        event.start, event.end = start, end
        event.modified = self.clock.tick()
        event.change_key = secrets.token_urlsafe(12)
        # As Exchange does for an organizer's edit: people added get the invitation, people removed
        # the cancellation, and only a change of anything else sends everyone left an update.
        after = self._attendees(event)
        self._mail("invitation", event, to=[a for a in after if a not in before])
        self._mail("cancellation", event, to=[a for a in before if a not in after])
        if set(body) - {"attendees"}:
            self._mail("update", event, to=[a for a in after if a in before])
        return GraphResponse(200, self._render(event, preferred_zone(request.headers)))

    async def delete_event(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        event = self._event(box, match)
        del self.events[box.email][event.id]
        self._mail("cancellation", event)  # an organizer's delete cancels the meeting too
        return GraphResponse(204)

    async def cancel_event(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        event = self._event(box, match)
        self._check_body("/users/{user-id}/events/{event-id}/microsoft.graph.cancel", "post",
                         request.body if request.body is not None else {}, action=True)
        if event.organizer is not None:
            # Microsoft's cancel docs: only the organizer can cancel; an attendee gets an error.
            raise GraphFailure(400, "ErrorInvalidRequest", "Your request can't be completed. You need to be an "
                                                           "organizer to cancel a meeting.")
        # The organizer (the room) cancels: attendees are sent the cancellation, and the event
        # leaves the room's calendar.
        event.cancelled = True
        comment = {k.lower(): v for k, v in (request.body or {}).items()}.get("comment", "")
        del self.events[box.email][event.id]
        self._mail("cancellation", event, comment)
        return GraphResponse(202)

    @staticmethod
    def _attendees(event: StoredEvent) -> list[str]:
        return [((a.get("emailAddress") or {}).get("address") or "").lower() for a in event.doc.get("attendees", [])]

    def _mail(self, kind: str, event: StoredEvent, comment: str = "", to: list[str] | None = None) -> None:
        attendees = self._attendees(event) if to is None else to
        if attendees:
            self.outbox.append({"kind": kind, "from": event.mailbox, "to": attendees, "event": event.id,
                                "subject": event.doc.get("subject", ""), "comment": comment})

    async def calendar_view(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        start = parse_offset_time(request.query.get("startDateTime"), "startDateTime")
        end = parse_offset_time(request.query.get("endDateTime"), "endDateTime")
        zone = preferred_zone(request.headers)
        events = sorted((e for e in self.events.get(box.email, {}).values()
                         if not e.cancelled and e.start < end and start < e.end), key=lambda e: (e.start, e.id))
        return self._page(request, [self._render(e, zone, request.query.get("$select")) for e in events],
                          default_top=EVENTS_PAGE)

    # --- places ------------------------------------------------------------------------

    @staticmethod
    def _place(box: Mailbox) -> dict[str, Any]:
        return {"id": box.id, "emailAddress": box.email, "displayName": box.display_name,
                "capacity": box.capacity, "building": box.building, "floorNumber": box.floor_number,
                "floorLabel": box.floor_label, "tags": list(box.tags), "isWheelChairAccessible": box.wheelchair,
                "audioDeviceName": box.audio or None, "videoDeviceName": box.video or None,
                "displayDeviceName": box.display or None, "bookingType": "standard", "nickname": box.display_name}

    def _places(self, request: GraphRequest, places: list[dict[str, Any]]) -> GraphResponse:
        # Places answers at most 100 a page and, as reported to Microsoft (microsoft-graph-docs
        # issues 9923 and 18604, msgraph-sdk-dotnet 2190), no @odata.nextLink.
        return self._page(request, places, default_top=PLACES_PAGE, next_link=False)

    def _places_of(self, kind: str, room_list: str | None = None) -> list[dict[str, Any]]:
        """The places of one kind that Places lists (in one room list, if given), by address."""
        return [self._place(b) for b in sorted(self.mailboxes.values(), key=lambda b: b.email)
                if b.kind == kind and b.in_places and room_list in (None, b.room_list)]

    async def list_places_rooms(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        return self._places(request, self._places_of("room"))

    async def list_places_workspaces(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        return self._places(request, self._places_of("workspace"))

    async def list_room_lists(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        lists = [{"id": f"rl-{i}", "emailAddress": email, "displayName": name}
                 for i, (email, name) in enumerate(sorted(self.room_lists.items()))]
        return self._places(request, lists)

    async def list_rooms_in_list(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        key = match.group("list").lower()
        if key not in self.room_lists:
            raise GraphFailure(404, "ErrorItemNotFound", f"The room list '{key}' was not found.")
        return self._places(request, self._places_of("room", room_list=key))


# --- mailboxes the app cannot use ------------------------------------------------------------

# What Graph answers for a mailbox outside the app's ApplicationAccessPolicy / RBAC for Applications
# scope (Microsoft's "Limit Microsoft Graph application permissions to specific Exchange Online mailboxes").
ACCESS_DENIED = "Access to OData is disabled."
# ... and for a user without an Exchange Online mailbox (unlicensed, on-premises, inactive).
NOT_ENABLED = "The mailbox is either inactive, soft-deleted, or is hosted on-premise."


def mailbox_problem(box: Mailbox) -> GraphFailure | None:
    """Why the app cannot use this mailbox's calendar, as Graph answers a call about it."""
    if box.app_access_denied:
        return GraphFailure(403, "ErrorAccessDenied", ACCESS_DENIED)
    if not box.exchange_online:
        return GraphFailure(404, "MailboxNotEnabledForRESTAPI", NOT_ENABLED)
    return None


def schedule_error(box: Mailbox | None) -> dict[str, str] | None:
    """The freeBusyError of one schedule in getSchedule's answer, or None when it can be read: the
    call as a whole still succeeds."""
    if box is None:  # as Graph answers an unknown address (microsoft-graph-docs issue 11225)
        return {"message": "Unable to resolve e-mail address to an Active Directory object.", "responseCode": "5009"}
    problem = mailbox_problem(box)
    if problem is not None:
        return {"message": problem.message, "responseCode": problem.code}
    return None


def canonical_enums(body: dict[str, Any], spec: GraphSpec | None) -> dict[str, Any]:
    """The body with enum values in their declared case: Graph matches them case-insensitively
    ("Required", "HTML" in Microsoft's own examples) and answers in the declared case."""
    if spec is None:
        return body
    return spec.canonical(body)
