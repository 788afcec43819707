"""The sandbox's Microsoft Graph v1.0: calendars, getSchedule, places, users and $batch.

Handlers work on plain `GraphRequest` values, so the same code answers a direct HTTP call and an
item inside `$batch`. Behaviour follows Microsoft's contract where RoomBot relies on it:
Graph-shaped errors, strict request bodies, `transactionId` de-duplication, paging with
`@odata.nextLink`, `$select`, `Prefer: outlook.timezone`, and no conflict checking on events the
room organises (as in Exchange).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.seed import Mailbox
from sandbox.spec import GraphSpec

MAX_SCHEDULES = 20
MAX_BATCH = 20

# A few Windows zone names Graph accepts, for callers that send them.
WINDOWS_ZONES = {"UTC": "UTC", "GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
                 "FLE Standard Time": "Europe/Helsinki", "Eastern Standard Time": "America/New_York",
                 "Pacific Standard Time": "America/Los_Angeles", "Tokyo Standard Time": "Asia/Tokyo"}


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


def _zone(name: str | None) -> ZoneInfo | timezone:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise GraphFailure(400, "TimeZoneNotSupportedException",
                           f"A valid TimeZone value must be specified. The following TimeZone value is not "
                           f"supported: '{name}'.") from exc


def parse_date_time_zone(value: Any, what: str) -> datetime:
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphFailure(400, "ErrorInvalidRequest", f"'{what}' must be a dateTimeTimeZone.")
    text = value["dateTime"]
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
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


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if value else ""


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
    doc: dict[str, Any]  # the body as given (validated), plus server fields
    start: datetime
    end: datetime
    created: datetime
    modified: datetime
    ical_uid: str
    change_key: str
    cancelled: bool = False


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
        # What Exchange would have mailed: invitations and cancellations, newest last.
        self.outbox: list[dict[str, Any]] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        mb = r"/users/(?P<mailbox>[^/]+)"
        ev = mb + r"/events/(?P<event>[^/]+)"
        for method, pattern, handler in (
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
                    return await handler(request, match)
            if any(p.match(request.path) for _, p, _ in self._routes):
                raise GraphFailure(405, "Request_BadRequest", f"The HTTP method '{request.method}' is not allowed.")
            raise GraphFailure(400, "BadRequest", f"Resource not found for the segment '{request.path}'.")
        except GraphFailure as failure:
            return failure.response(request_id)

    # --- helpers -------------------------------------------------------------------------

    def _mailbox(self, match: re.Match[str], *, calendar: bool = True) -> Mailbox:
        key = match.group("mailbox").lower()
        box = self.mailboxes.get(key) or next((m for m in self.mailboxes.values() if m.id == key), None)
        if box is None:
            raise GraphFailure(404, "ErrorInvalidUser",
                               f"The requested user '{key}' is invalid.")
        if calendar and box.app_access_denied:
            raise GraphFailure(403, "ErrorAccessDenied",
                               "Access to OData is disabled: the application access policy does not allow "
                               "this app to access the mailbox.")
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
        doc = {
            "@odata.etag": f'W/"{event.change_key}"',
            "id": event.id,
            "createdDateTime": _iso_z(event.created),
            "lastModifiedDateTime": _iso_z(event.modified),
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
            "isOrganizer": True,
            "responseRequested": True,
            "showAs": event.doc.get("showAs", "busy"),
            "type": "singleInstance",
            "webLink": f"https://outlook.office365.com/owa/?itemid={event.id}&exvsurl=1&path=/calendar/item",
            "isOnlineMeeting": bool(event.doc.get("isOnlineMeeting", False)),
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            "body": event.doc.get("body") or {"contentType": "html", "content": ""},
            "start": format_time(event.start, zone),
            "end": format_time(event.end, zone),
            "location": event.doc.get("location") or {"displayName": box.display_name},
            "locations": [event.doc["location"]] if event.doc.get("location") else [],
            "attendees": [{"type": a.get("type", "required"),
                           "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                           "emailAddress": a.get("emailAddress", {})} for a in event.doc.get("attendees", [])],
            "organizer": {"emailAddress": {"name": box.display_name, "address": box.email}},
        }
        if select:
            wanted = {s.strip().lower() for s in select.split(",") if s.strip()}
            doc = {k: v for k, v in doc.items() if k == "id" or k.startswith("@odata") or k.lower() in wanted}
        return doc

    def _page(self, request: GraphRequest, items: list[dict[str, Any]], *, default_top: int,
              max_top: int = 1000) -> GraphResponse:
        try:
            top = min(max_top, max(1, int(request.query.get("$top", default_top))))
            skip = max(0, int(request.query.get("$skip", 0)))
        except ValueError as exc:
            raise GraphFailure(400, "BadRequest", "Invalid $top or $skip.") from exc
        body: dict[str, Any] = {"value": items[skip:skip + top]}
        if skip + top < len(items):
            query = {**request.query, "$top": str(top), "$skip": str(skip + top)}
            body["@odata.nextLink"] = f"{self._base_url()}/v1.0{request.path}?{urlencode(query)}"
        return GraphResponse(200, body)

    def _new_id(self, mailbox: str) -> str:
        raw = hashlib.sha256(mailbox.encode()).digest()[:8] + secrets.token_bytes(24)
        return "AAMkAD" + base64.urlsafe_b64encode(raw).decode()

    # --- users -------------------------------------------------------------------------

    async def get_user(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match, calendar=False)
        return GraphResponse(200, {"id": box.id, "displayName": box.display_name, "mail": box.email,
                                   "userPrincipalName": box.upn or box.email})

    # --- getSchedule ---------------------------------------------------------------------

    async def get_schedule(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        self._mailbox(match)
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
        slots = int((end - start) / timedelta(minutes=interval)) or 1
        value = []
        for schedule in schedules:
            key = str(schedule).strip().lower()
            box = self.mailboxes.get(key)
            if box is None:
                value.append({"scheduleId": schedule, "availabilityView": "", "error": {
                    "message": "The specified object was not found in the store., The process failed to get "
                               "the correct properties.", "responseCode": "ErrorMailboxNotFound"}})
                continue
            busy = sorted((e for e in self.events.get(box.email, {}).values()
                           if not e.cancelled and e.start < end and start < e.end), key=lambda e: e.start)
            view = "".join(
                "2" if any(e.start < start + (i + 1) * timedelta(minutes=interval)
                           and start + i * timedelta(minutes=interval) < e.end for e in busy) else "0"
                for i in range(slots))
            value.append({
                "scheduleId": schedule, "availabilityView": view,
                "scheduleItems": [{"isPrivate": False, "status": e.doc.get("showAs", "busy"),
                                   "subject": e.doc.get("subject", ""),
                                   "location": (e.doc.get("location") or {}).get("displayName", ""),
                                   "isMeeting": True, "isRecurring": False, "isException": False,
                                   "isReminderSet": False,
                                   "start": format_time(e.start, zone), "end": format_time(e.end, zone)}
                                  for e in busy],
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
        body = request.body
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
        now = datetime.now(UTC)
        event = StoredEvent(id=self._new_id(box.email), mailbox=box.email, doc=dict(body), start=start, end=end,
                            created=now, modified=now,
                            ical_uid="040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper(),
                            change_key=secrets.token_urlsafe(12))
        self.events.setdefault(box.email, {})[event.id] = event
        if transaction_id:
            self._transactions[(box.email, transaction_id)] = event.id
        self._mail("invitation", event)
        return GraphResponse(201, self._render(event, zone))

    async def list_events(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        zone = preferred_zone(request.headers)
        events = sorted((e for e in self.events.get(box.email, {}).values() if not e.cancelled),
                        key=lambda e: (e.start, e.id))
        return self._page(request, [self._render(e, zone, request.query.get("$select")) for e in events],
                          default_top=10)

    async def get_event(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        event = self._event(box, match)
        return GraphResponse(200, self._render(event, preferred_zone(request.headers), request.query.get("$select")))

    async def update_event(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        box = self._mailbox(match)
        event = self._event(box, match)
        self._check_body("/users/{user-id}/events/{event-id}", "patch", request.body)
        body = request.body
        start = parse_date_time_zone(body["start"], "start") if "start" in body else event.start
        end = parse_date_time_zone(body["end"], "end") if "end" in body else event.end
        if end < start:
            raise GraphFailure(400, "ErrorInvalidRequest", "The end time must not be before the start time.")
        before = self._attendees(event)
        event.doc.update(body)
        event.start, event.end = start, end
        event.modified = datetime.now(UTC)
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
                          default_top=10)

    # --- places ------------------------------------------------------------------------

    @staticmethod
    def _place(box: Mailbox) -> dict[str, Any]:
        return {"id": box.id, "emailAddress": box.email, "displayName": box.display_name,
                "capacity": box.capacity, "building": box.building, "floorNumber": box.floor_number,
                "floorLabel": box.floor_label, "tags": list(box.tags), "isWheelChairAccessible": box.wheelchair,
                "audioDeviceName": box.audio or None, "videoDeviceName": box.video or None,
                "displayDeviceName": box.display or None, "bookingType": "standard", "nickname": box.display_name}

    async def list_places_rooms(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        rooms = [self._place(b) for b in sorted(self.mailboxes.values(), key=lambda b: b.email)
                 if b.kind == "room" and b.in_places]
        return self._page(request, rooms, default_top=100)

    async def list_room_lists(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        lists = [{"id": f"rl-{i}", "emailAddress": email, "displayName": name}
                 for i, (email, name) in enumerate(sorted(self.room_lists.items()))]
        return self._page(request, lists, default_top=100)

    async def list_rooms_in_list(self, request: GraphRequest, match: re.Match[str]) -> GraphResponse:
        key = match.group("list").lower()
        if key not in self.room_lists:
            raise GraphFailure(404, "ErrorItemNotFound", f"The room list '{key}' was not found.")
        rooms = [self._place(b) for b in sorted(self.mailboxes.values(), key=lambda b: b.email)
                 if b.kind == "room" and b.in_places and b.room_list == key]
        return self._page(request, rooms, default_top=100)
