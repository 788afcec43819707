"""The typed room-calendar service: what RoomBot does with Graph, in domain terms."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from domain.calendar import AccessReport, CalendarEvent, DirectoryRoom, RoomSchedule, TimeSlot, makes_busy
from domain.errors import (
    GraphBadAnswer,
    GraphError,
    RoomAccessDenied,
)
from domain.timezones import graph_zone, iso_utc
from graph.client import GraphClient

log = logging.getLogger(__name__)

SCHEDULE_CHUNK = 20  # getSchedule takes at most 20 schedules per call
# What RoomBot reads of an event by id ($select). createdDateTime and lastModifiedDateTime cannot be
# $select-ed (Microsoft's calendarView docs): the race check reads calendarView without $select.
EVENT_FIELDS = ("id", "iCalUId", "subject", "start", "end", "organizer", "attendees", "isCancelled",
                "transactionId", "showAs")

def to_graph_time(value: datetime) -> dict[str, str]:
    """A dateTimeTimeZone in UTC (Graph accepts 'UTC' everywhere; user zones are for display)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to Graph")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return {"dateTime": utc.isoformat(timespec="seconds"), "timeZone": "UTC"}


def parse_graph_datetime(text: object, zone: object = None) -> datetime:
    """A time as Graph writes it, as an aware UTC datetime. An Edm.DateTimeOffset such as
    `createdDateTime` has 0 to 7 fractional digits (trailing zeros dropped) and Z or an offset; a
    dateTimeTimeZone's dateTime has 7 digits and no offset, and is in `zone` (UTC when not given).
    Raises ValueError for anything else."""
    if not isinstance(text, str) or not 10 <= len(text.strip()) <= 40:
        raise ValueError(f"not a Graph time: {text!r}")
    parsed = datetime.fromisoformat(text.strip().replace("t", "T").replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=graph_zone(zone))
    return parsed.astimezone(UTC)


def from_graph_time(value: dict[str, Any]) -> datetime:
    """Graph's dateTimeTimeZone, as an aware UTC datetime."""
    return parse_graph_datetime(value["dateTime"], value.get("timeZone"))


def _optional_time(value: object) -> datetime | None:
    return parse_graph_datetime(value) if value else None


_FRACTION = re.compile(r"[Tt]\d{2}:\d{2}:\d{2}\.(\d+)")


def hundred_ns(text: object) -> int:
    """The 7th fractional digit of a Graph time (100 ns), which a datetime drops: two createdDateTime
    values that differ only there are still two different instants. Graph writes createdDateTime with 0 to
    7 fractional digits, trailing zeros dropped (../shared/GUIDE.md, from Microsoft's own event examples)."""
    match = _FRACTION.search(text) if isinstance(text, str) else None
    digits = match.group(1) if match else ""
    return int(digits[6]) if len(digits) > 6 else 0


def _event_from(doc: Any) -> CalendarEvent:
    """An event from Graph's answer. An answer RoomBot cannot read is a GraphBadAnswer (the outcome
    of the call is then unknown), never a crash."""
    try:
        return CalendarEvent(
            id=str(doc["id"]),
            ical_uid=doc.get("iCalUId") or "",
            subject=doc.get("subject") or "",
            start=from_graph_time(doc["start"]),
            end=from_graph_time(doc["end"]),
            organizer_email=str(((doc.get("organizer") or {}).get("emailAddress") or {}).get("address")
                                or "").lower(),
            attendees=tuple(str((a.get("emailAddress") or {}).get("address") or "").lower()
                            for a in doc.get("attendees") or []),
            created=_optional_time(doc.get("createdDateTime")),
            created_100ns=hundred_ns(doc.get("createdDateTime")),
            is_cancelled=bool(doc.get("isCancelled")),
            transaction_id=doc.get("transactionId") or None,
            show_as=str(doc.get("showAs") or "busy"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GraphBadAnswer(f"an event Graph sent could not be read: {type(exc).__name__}: {str(exc)[:200]}") \
            from exc


def _schedules_from(data: Any, asked: list[str], window: TimeSlot, interval: int) -> list[RoomSchedule]:
    """getSchedule's answer, one RoomSchedule per room asked: its busy times, or the error Graph gave
    for it (or that it gave nothing readable for it)."""
    answered: dict[str, RoomSchedule] = {}
    items = data.get("value") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        email = str(item.get("scheduleId") or "").strip().lower()
        error = item.get("error")
        if error:
            message = (error.get("message") or error.get("responseCode")) if isinstance(error, dict) else None
            answered[email] = RoomSchedule(email=email, error=str(message or "unreadable"))
            continue
        try:
            busy = _busy_times(item, window, interval)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("could not read the schedule of %s: %s", email, exc)
            answered[email] = RoomSchedule(email=email, error="Microsoft 365 sent a schedule I could not read.")
            continue
        answered[email] = RoomSchedule(email=email, busy=busy, availability_view=str(item.get("availabilityView")
                                                                                    or ""))
    return [answered.get(room.lower()) or RoomSchedule(email=room.lower(), error="Microsoft 365 did not answer "
                                                                                 "for this room.")
            for room in asked]


def _busy_times(item: dict[str, Any], window: TimeSlot, interval: int) -> tuple[TimeSlot, ...]:
    """The busy times of one schedule: its items that make the room busy (the same rule as the checks
    around booking: an item shown as free does not). Without scheduleItems, from availabilityView,
    whose digits other than 0 are tentative, busy, out of office (or working elsewhere)."""
    if isinstance(item.get("scheduleItems"), list):
        return tuple(TimeSlot(from_graph_time(s["start"]), from_graph_time(s["end"]))
                     for s in item["scheduleItems"] if makes_busy(s.get("status")))
    view = str(item.get("availabilityView") or "")
    step = timedelta(minutes=interval)
    return tuple(TimeSlot(window.start + i * step, window.start + (i + 1) * step)
                 for i, digit in enumerate(view) if digit != "0")


def _attendees_json(attendees: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": email, "name": name or email}, "type": "required"}
            for email, name in attendees]


def _user_path(mailbox: str) -> str:
    return f"/users/{quote(mailbox, safe='@')}"


class RoomCalendarService:
    def __init__(self, client: GraphClient) -> None:
        self._client = client

    async def get_schedule(self, rooms: Sequence[str], window: TimeSlot,
                           interval_minutes: int = 15) -> dict[str, RoomSchedule]:
        """Busy times of each room over `window`: ceil(len(rooms)/20) calls, run concurrently."""
        chunks = [list(rooms[i:i + SCHEDULE_CHUNK]) for i in range(0, len(rooms), SCHEDULE_CHUNK)]
        answers = await asyncio.gather(*(self._schedule_chunk(c, window, interval_minutes) for c in chunks))
        return {schedule.email: schedule for answer in answers for schedule in answer}

    async def _schedule_chunk(self, rooms: list[str], window: TimeSlot, interval: int) -> list[RoomSchedule]:
        """One getSchedule call for up to 20 rooms. Each chunk is asked through its own first room's
        mailbox, so chunks do not queue on one mailbox's limit of 4 requests. A schedule Graph cannot
        read comes back as an item with its own error; the call itself fails only when the mailbox in
        its URL cannot be read, and then that room is reported unreadable and the others are asked
        through the next one: one denied or deleted room never hides the rest of its chunk."""
        body = {"startTime": to_graph_time(window.start), "endTime": to_graph_time(window.end),
                "availabilityViewInterval": interval}
        unreadable: list[RoomSchedule] = []
        left = list(rooms)
        while left:
            anchor = left[0]
            try:
                data = await self._client.request("POST", f"{_user_path(anchor)}/calendar/getSchedule",
                                                  json={"schedules": left, **body})
            except GraphError as exc:
                if exc.status not in (403, 404):  # denied, deleted, no Exchange Online mailbox: pass it over
                    raise
                log.warning("getSchedule through %s failed (%s); asking through the next room", anchor, exc.detail)
                unreadable.append(RoomSchedule(email=anchor.lower(), error=exc.message))
                left = left[1:]
                continue
            return unreadable + _schedules_from(data, left, window, interval)
        return unreadable

    async def create_event(self, room: str, *, subject: str, slot: TimeSlot, attendees: Iterable[tuple[str, str]],
                           transaction_id: str, location: str = "", body_text: str = "") -> CalendarEvent:
        """Create an event in the room's calendar, organised by the room, inviting `attendees`
        ((email, name) pairs). Safe to retry: the transactionId makes Graph drop duplicates."""
        payload: dict[str, Any] = {
            "subject": subject,
            "start": to_graph_time(slot.start),
            "end": to_graph_time(slot.end),
            "location": {"displayName": location or room},
            "attendees": _attendees_json(attendees),
            "transactionId": transaction_id,
            "isOnlineMeeting": False,
        }
        if body_text:
            payload["body"] = {"contentType": "text", "content": body_text}
        doc = await self._client.request("POST", f"{_user_path(room)}/events", json=payload)
        return _event_from(doc)

    async def get_event(self, room: str, event_id: str) -> CalendarEvent:
        doc = await self._client.request("GET", f"{_user_path(room)}/events/{quote(event_id, safe='')}",
                                         params={"$select": ",".join(EVENT_FIELDS)})
        return _event_from(doc)

    async def update_event(self, room: str, event_id: str, *, subject: str | None = None,
                           slot: TimeSlot | None = None,
                           attendees: Iterable[tuple[str, str]] | None = None) -> CalendarEvent:
        """PATCH only what changes: a change of attendees alone notifies only the people changed."""
        changes: dict[str, Any] = {}
        if subject is not None:
            changes["subject"] = subject
        if slot is not None:
            changes.update(start=to_graph_time(slot.start), end=to_graph_time(slot.end))
        if attendees is not None:
            changes["attendees"] = _attendees_json(attendees)
        if not changes:
            raise ValueError("update_event needs something to change")
        doc = await self._client.request("PATCH", f"{_user_path(room)}/events/{quote(event_id, safe='')}",
                                         json=changes)
        return _event_from(doc)

    async def get_events(self, items: Sequence[tuple[str, str]]) -> list[CalendarEvent | GraphError]:
        """Read back several events ((room, event id) pairs) in one $batch per 20: each answer is the
        event, or the error Graph gave for it (ItemNotFound when it was deleted)."""
        select = urlencode({"$select": ",".join(EVENT_FIELDS)})
        answers = await self._client.batch(
            {"method": "GET", "url": f"{_user_path(room)}/events/{quote(event_id, safe='')}?{select}",
             "headers": {"Prefer": 'outlook.timezone="UTC", IdType="ImmutableId"'}}
            for room, event_id in items)
        result: list[CalendarEvent | GraphError] = []
        for answer in answers:
            try:
                answer.raise_for_error()
                result.append(_event_from(answer.body or {}))
            except GraphError as exc:
                result.append(exc)
        return result

    async def cancel_event(self, room: str, event_id: str, comment: str = "") -> None:
        """Cancel as the organizer (the room): attendees get the cancellation with `comment`."""
        await self._client.request("POST", f"{_user_path(room)}/events/{quote(event_id, safe='')}/cancel",
                                   json={"comment": comment})

    async def delete_event(self, room: str, event_id: str) -> None:
        await self._client.request("DELETE", f"{_user_path(room)}/events/{quote(event_id, safe='')}")

    async def calendar_view(self, room: str, window: TimeSlot) -> list[CalendarEvent]:
        """The room's events over `window`, with their creation times (which the race rule needs).
        Microsoft's calendarView docs: createdDateTime "do[es] not support $select. To get their
        values, simply query on calendarView without applying $select", so there is no $select here."""
        params = {"startDateTime": iso_utc(window.start), "endDateTime": iso_utc(window.end), "$top": "100"}
        docs = await self._client.get_all(f"{_user_path(room)}/calendarView", params=params)
        return [_event_from(d) for d in docs]

    async def calendar_access(self, mailboxes: Sequence[str]) -> dict[str, GraphError | None]:
        """Whether the app can read each mailbox's calendar: None, or the error Graph gave (no such
        mailbox, denied by an ApplicationAccessPolicy / RBAC scope, ...). One $batch call per 20."""
        now = datetime.now(UTC).replace(microsecond=0)
        query = urlencode({"startDateTime": iso_utc(now), "endDateTime": iso_utc(now + timedelta(minutes=1)),
                           "$top": "1", "$select": "id"})
        answers = await self._client.batch({"method": "GET", "url": f"{_user_path(m)}/calendarView?{query}"}
                                           for m in mailboxes)
        result: dict[str, GraphError | None] = {}
        for mailbox, answer in zip(mailboxes, answers, strict=True):
            try:
                answer.raise_for_error()
                result[mailbox] = None
            except GraphError as exc:
                result[mailbox] = exc
        return result

    async def verify_access(self, registered: Sequence[str] = (), fallback: Sequence[str] = (),
                            limit: int = 2000) -> AccessReport:
        """What a fresh connection can do: a token (GraphAuthFailed for a wrong secret, app or tenant),
        Places, and room calendars: the registered rooms, then every room Places lists (up to `limit`
        in all, so the order Places lists them in does not matter); with no room known at all, the
        `fallback` mailboxes (the admin's own). A 403 on some mailboxes is an access policy at work; on
        every mailbox, a missing permission."""
        await self._client.invalidate_token()
        try:
            listed = [r.email for r in await self.list_directory_rooms()]
            places = True
        except RoomAccessDenied:
            listed, places = [], False
        registered = list(dict.fromkeys(m.lower() for m in registered))
        candidates = list(dict.fromkeys([*registered, *listed]))[:limit] or [m for m in fallback if m]
        access = await self.calendar_access(candidates) if candidates else {}
        readable = {m for m, error in access.items() if error is None}
        return AccessReport(
            places=places, registered=len(registered), registered_readable=len(readable & set(registered)),
            checked=len(access), readable=len(readable),
            policy_denied=sum(isinstance(e, RoomAccessDenied) and e.by_access_policy for e in access.values()))

    async def list_directory_rooms(self) -> list[DirectoryRoom]:
        docs = await self._client.get_pages("/places/microsoft.graph.room")
        return [self._room_from(d) for d in docs if d.get("emailAddress")]

    async def list_directory_workspaces(self) -> list[str]:
        """The addresses of the tenant's workspaces (bookable desk areas, resource mailboxes too):
        https://learn.microsoft.com/graph/api/resources/workspace?view=graph-rest-1.0, listed as
        `GET /places/microsoft.graph.workspace`, 100 a page
        (https://learn.microsoft.com/graph/api/place-list?view=graph-rest-1.0)."""
        docs = await self._client.get_pages("/places/microsoft.graph.workspace")
        return [str(d["emailAddress"]).lower() for d in docs if d.get("emailAddress")]

    async def list_room_lists(self) -> list[tuple[str, str]]:
        docs = await self._client.get_pages("/places/microsoft.graph.roomList")
        return [(str(d.get("emailAddress") or "").lower(), d.get("displayName") or "") for d in docs
                if d.get("emailAddress")]

    async def rooms_in_list(self, room_list_email: str) -> list[DirectoryRoom]:
        docs = await self._client.get_pages(
            f"/places/{quote(room_list_email, safe='@')}/microsoft.graph.roomList/rooms")
        return [self._room_from(d) for d in docs if d.get("emailAddress")]

    @staticmethod
    def _room_from(doc: dict[str, Any]) -> DirectoryRoom:
        features = [t for t in doc.get("tags") or []]
        for key, name in (("audioDeviceName", "audio"), ("videoDeviceName", "video"),
                          ("displayDeviceName", "display")):
            if doc.get(key):
                features.append(name)
        if doc.get("isWheelChairAccessible"):
            features.append("wheelchair")
        return DirectoryRoom(
            email=str(doc.get("emailAddress", "")).lower(),
            display_name=doc.get("displayName", ""),
            capacity=int(doc.get("capacity") or 0),
            building=doc.get("building") or "",
            floor_number=doc.get("floorNumber"),
            floor_label=doc.get("floorLabel") or "",
            features=tuple(features),
        )
