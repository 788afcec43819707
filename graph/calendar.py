"""The typed room-calendar service: what RoomBot does with Graph, in domain terms."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from domain.calendar import CalendarEvent, DirectoryRoom, RoomSchedule, TimeSlot
from domain.errors import GraphError, PermissionMissing, RoomAccessDenied
from domain.timezones import iso_utc
from graph.client import GraphClient

SCHEDULE_CHUNK = 20  # getSchedule takes at most 20 schedules per call
EVENT_FIELDS = ("id", "iCalUId", "subject", "start", "end", "organizer", "attendees",
                "createdDateTime", "isCancelled", "transactionId")


def to_graph_time(value: datetime) -> dict[str, str]:
    """A dateTimeTimeZone in UTC (Graph accepts 'UTC' everywhere; user zones are for display)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to Graph")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return {"dateTime": utc.isoformat(timespec="seconds"), "timeZone": "UTC"}


def from_graph_time(value: dict[str, Any]) -> datetime:
    """Parse Graph's dateTimeTimeZone; we always ask for UTC (Prefer: outlook.timezone)."""
    text = value["dateTime"]
    if "." in text:  # Graph sends 7 fractional digits; Python reads at most 6
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return from_graph_time({"dateTime": value.replace("Z", "+00:00")})


def _event_from(doc: dict[str, Any]) -> CalendarEvent:
    return CalendarEvent(
        id=doc["id"],
        ical_uid=doc.get("iCalUId", ""),
        subject=doc.get("subject") or "",
        start=from_graph_time(doc["start"]),
        end=from_graph_time(doc["end"]),
        organizer_email=((doc.get("organizer") or {}).get("emailAddress") or {}).get("address", "").lower(),
        attendees=tuple((a.get("emailAddress") or {}).get("address", "").lower() for a in doc.get("attendees") or []),
        created=_parse_iso(doc.get("createdDateTime")),
        is_cancelled=bool(doc.get("isCancelled")),
        transaction_id=doc.get("transactionId"),
    )


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
        body = {"schedules": rooms, "startTime": to_graph_time(window.start),
                "endTime": to_graph_time(window.end), "availabilityViewInterval": interval}
        # Anchor each chunk on its own first room so chunks do not queue on one mailbox's limit.
        data = await self._client.request("POST", f"{_user_path(rooms[0])}/calendar/getSchedule", json=body)
        schedules: list[RoomSchedule] = []
        for item in (data or {}).get("value", []):
            email = str(item.get("scheduleId", "")).lower()
            if item.get("error"):
                schedules.append(RoomSchedule(email=email, error=item["error"].get("message", "unavailable")))
                continue
            busy = tuple(
                TimeSlot(from_graph_time(s["start"]), from_graph_time(s["end"]))
                for s in item.get("scheduleItems", []) if s.get("status") != "free")
            schedules.append(RoomSchedule(email=email, busy=busy, availability_view=item.get("availabilityView", "")))
        return schedules

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
        params = {"startDateTime": iso_utc(window.start), "endDateTime": iso_utc(window.end),
                  "$select": ",".join(EVENT_FIELDS), "$top": "100"}
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

    async def verify_access(self, sample: int = 20) -> None:
        """Check a fresh connection: a token, Places readable, and room calendars readable. Raises
        GraphAuthFailed (no consent, wrong secret or tenant), or PermissionMissing naming the
        application permission that was not granted. One room refused is an access policy at work
        (reported per room when it is registered); every room refused is a missing permission."""
        await self._client.invalidate_token()
        try:
            rooms = await self._client.request("GET", "/places/microsoft.graph.room", params={"$top": str(sample)})
        except RoomAccessDenied as exc:
            raise PermissionMissing("Place.Read.All") from exc
        emails = [r["emailAddress"] for r in (rooms or {}).get("value", []) if r.get("emailAddress")]
        access = await self.calendar_access(emails) if emails else {}
        if access and all(isinstance(error, RoomAccessDenied) for error in access.values()):
            raise PermissionMissing("Calendars.ReadWrite")

    async def list_directory_rooms(self) -> list[DirectoryRoom]:
        docs = await self._client.get_all("/places/microsoft.graph.room")
        return [self._room_from(d) for d in docs]

    async def list_room_lists(self) -> list[tuple[str, str]]:
        docs = await self._client.get_all("/places/microsoft.graph.roomList")
        return [(d.get("emailAddress", "").lower(), d.get("displayName", "")) for d in docs]

    async def rooms_in_list(self, room_list_email: str) -> list[DirectoryRoom]:
        docs = await self._client.get_all(f"/places/{quote(room_list_email, safe='@')}/microsoft.graph.roomList/rooms")
        return [self._room_from(d) for d in docs]

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
