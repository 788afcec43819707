"""The admin report card: totals, a chart of the busiest rooms (a PNG drawn on the server, sent inline as a
data: URI), buildings, the basis of each figure, the 7/30-day switch and the CSV link."""

from __future__ import annotations

import base64
from typing import Any

from cards.base import Card, action, card, heading, note_block, plain, text
from cards.chart import MAX_BARS, bar_chart
from domain.report import PERIODS, Figures, Report, RoomRow
from domain.timezones import to_local

BUILDINGS_SHOWN = 10  # more are in the CSV


def report_card(report: Report, csv_url: str, note: str | None = None) -> Card:
    """`csv_url`: the signed, expiring link to the same report as CSV."""
    start, now = to_local(report.start, report.zone), to_local(report.end, report.zone)
    body: list[dict[str, Any]] = [
        heading(f"Room report: last {report.period_days} days"), *note_block(note),
        text(f"{start:%a} {start.day} {start:%b} to today {now:%H:%M} ({plain(report.zone)}).", isSubtle=True,
             spacing="None"),
        _facts(_totals(report.totals)),
    ]
    if not report.rooms:
        body.append(text("No rooms are registered yet: add them with **rooms**."))
    elif report.totals.bookings == 0:
        body.append(text("No bookings in this period."))
    else:
        body += _top_rooms(report.rooms[:MAX_BARS])
    if report.buildings:
        body += [text("Per building", weight="Bolder", spacing="Medium"),
                 _facts([(b.name, _summary(b.figures)) for b in report.buildings[:BUILDINGS_SHOWN]])]
        more = len(report.buildings) - BUILDINGS_SHOWN
        if more > 0:
            body.append(text(f"And {more} more in the CSV.", isSubtle=True, spacing="None"))
    body.append(text(BASIS, isSubtle=True, size="Small", spacing="Medium"))
    others = [action(f"Last {days} days", "report", period=days) for days in PERIODS if days != report.period_days]
    return card(body, [*others, {"type": "Action.OpenUrl", "title": "Download CSV", "url": csv_url}])


BASIS = ("Bookings that started in the period and were not cancelled by a person; released no-shows count "
         "until their release. Check-in rate: checked in out of the bookings whose check-in window has closed, "
         "in rooms that ask for check-in. Utilisation: booked time within each room's available hours (its "
         "rules' hours and days, else Mon–Fri 08:00–18:00). The CSV link works for an hour.")


def _totals(figures: Figures) -> list[tuple[str, str]]:
    rate = figures.checkin_rate
    return [("Bookings", str(figures.bookings)), ("Hours booked", _hours(figures.booked_s)),
            ("Check-in rate", f"{_percent(rate)} ({figures.checked_in} of {figures.checkin_due})" if rate is not None
             else "no check-ins due yet"),
            ("Released no-shows", str(figures.no_shows)), ("Utilisation", _percent(figures.utilisation))]


def _top_rooms(rows: list[RoomRow]) -> list[dict[str, Any]]:
    chart = base64.b64encode(bar_chart([r.figures.utilisation or 0.0 for r in rows])).decode("ascii")
    alt = "Utilisation of the busiest rooms: " + ", ".join(
        f"{n}. {r.room.display_name[:40]} {_percent(r.figures.utilisation)}" for n, r in enumerate(rows, 1))
    legend = "\n".join(f"{n}. **{plain(r.room.display_name)}** ({plain(r.building)}): {_summary(r.figures)}"
                       for n, r in enumerate(rows, 1))
    return [text("Busiest rooms", weight="Bolder", spacing="Medium"),
            {"type": "Image", "url": f"data:image/png;base64,{chart}", "altText": alt[:400]},
            text(legend, size="Small", spacing="Small")]


def _summary(figures: Figures) -> str:
    rate = figures.checkin_rate
    parts = [f"{figures.bookings} booking{'s' if figures.bookings != 1 else ''}", _hours(figures.booked_s),
             f"{_percent(figures.utilisation)} used"]
    if rate is not None:
        parts.append(f"check-in {_percent(rate)}")
    if figures.no_shows:
        parts.append(f"{figures.no_shows} no-show{'s' if figures.no_shows != 1 else ''}")
    return " · ".join(parts)


def _facts(facts: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [{"title": plain(title), "value": value} for title, value in facts]}


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:.1f} h"


def _percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction * 100:.1f}%"
