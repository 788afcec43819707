"""The admin report: the `report` command and its 7/30-day switch (RoomBot lets only admins reach them),
and the CSV download behind a signed link that expires."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from cards.base import Card
from cards.report import report_card
from dialogs.turn import Step, Turn
from domain.models import ROLE_ADMIN, Admin, Booking
from domain.report import PERIODS, Report, build_report, report_csv
from storage.repository import Repository

LINK_TTL = timedelta(hours=1)
SECRET_NAME = "report-links"  # the repository's key that signs the links
MAX_TOKEN = 1000  # longer is no token of ours
CSV_PATH = "/api/report.csv"


class LinkRefused(Exception):
    """A download link that is forged, altered, expired, or whose admin no longer is one."""


@dataclass(frozen=True)
class Download:
    filename: str
    text: str


class ReportLinks:
    """Links to the CSV that carry who asked, which period and until when, signed with HMAC-SHA256 under
    the repository's key: any instance on the same data can check them, and nothing is stored per link."""

    def __init__(self, key: bytes, base_url: str, clock: Callable[[], datetime], ttl: timedelta = LINK_TTL) -> None:
        self._key = key
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._ttl = ttl

    def url(self, admin_key: str, period: int) -> str:
        expires = int((self._clock() + self._ttl).timestamp())
        payload = _b64(json.dumps({"k": admin_key, "p": period, "e": expires}, separators=(",", ":")).encode())
        return f"{self._base_url}{CSV_PATH}?t={quote(f'{payload}.{self._sign(payload)}')}"

    def read(self, token: str) -> tuple[str, int]:
        """The admin key and period a valid, unexpired token was made for; LinkRefused otherwise."""
        payload, _, signature = token.partition(".")
        if not payload or len(token) > MAX_TOKEN or not hmac.compare_digest(
                signature.encode("utf-8", "replace"), self._sign(payload).encode("ascii")):
            raise LinkRefused("not signed by us")
        try:
            doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            key, period, expires = doc["k"], doc["p"], doc["e"]
        except (binascii.Error, ValueError, TypeError, KeyError) as exc:
            raise LinkRefused("unreadable") from exc
        if not isinstance(key, str) or period not in PERIODS or not isinstance(expires, int):
            raise LinkRefused("unreadable")
        if expires <= self._clock().timestamp():
            raise LinkRefused("expired")
        return key, period

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, f"report-csv:{payload}".encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class ReportFlow:
    def __init__(self, repo: Repository, base_url: str, zone: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """`zone`: where local days and working hours are read (the deployment's DEFAULT_TIMEZONE)."""
        self._repo = repo
        self._zone = zone
        self._clock = clock
        self.links = ReportLinks(repo.get_secret(SECRET_NAME), base_url, clock)

    def commands(self) -> dict[str, Step]:
        return {"report": self.report_step}

    def actions(self) -> dict[str, Step]:
        return {"report": self.report_step}

    async def report_step(self, turn: Turn) -> Card:
        period = _period(turn.data.get("period"))
        admin = await self._admin(turn)
        url = self.links.url(admin.key if admin else turn.user.key, period)
        return report_card(await self._report(period), url)

    async def download(self, token: str) -> Download:
        """The CSV a link stands for, as of now; LinkRefused when the link or its admin is not valid."""
        key, period = self.links.read(token)
        admin = self._repo.find_admin(key)
        if admin is None or ROLE_ADMIN not in admin.roles:
            raise LinkRefused("not an admin any more")
        report = await self._report(period)
        self._repo.add_audit(key, "report csv", f"last {period} days")
        day = report.end.astimezone(UTC).date().isoformat()
        return Download(f"roombot-report-{period}-days-{day}.csv", report_csv(report))

    async def _admin(self, turn: Turn) -> Admin | None:
        """The admin record (keyed on the object id or the UPN): the link names it as stored."""
        admin = self._repo.find_admin(turn.user.key)
        if admin is None:
            user = await turn.roster.resolve()
            admin = self._repo.find_admin(user.aad_object_id, user.upn, user.email)
        return admin

    async def _report(self, period: int) -> Report:
        """The report as of now. Its bookings are read a chunk at a time, giving the event loop back
        in between: a month of a large organisation's bookings takes seconds to read from TinyDB,
        and other people's turns must not wait for it."""
        repo, now = self._repo, self._clock()
        bookings: list[Booking] = []
        for chunk in repo.booking_chunks(since=now - timedelta(days=period + 1), until=now):
            bookings += chunk
            await asyncio.sleep(0)
        return build_report(bookings, repo.list_rooms(), repo.list_buildings(), repo.list_floors(), period, now,
                            repo.get_settings().default_rules, self._zone)


def _period(value: object) -> int:
    """7 or 30 days, as the card sends it (a number, or its text); 7 for anything else."""
    try:
        days = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else 0
    except ValueError:
        days = 0
    return days if days in PERIODS else PERIODS[0]
