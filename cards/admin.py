"""Admin cards: connect, the booking switch, status, floor plans and rooms, imports, admins.
Pure functions from domain objects to Adaptive Card 1.5 JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cards.base import Card, action, card, heading, note_block, plain, row, show_card, text
from domain.fair_use import LIMIT_BOUNDS
from domain.models import ROLE_ADMIN, ROLE_BOOKING_ADMIN, Admin, Building, Floor, OrgSettings, Room
from domain.rules import describe

ROLE_TITLES = {ROLE_ADMIN: "Admin", ROLE_BOOKING_ADMIN: "Booking admin (may cancel anyone's booking)"}
PREVIEW_ROWS = 30


def _input(input_id: str, label: str, value: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": "Input.Text", "id": input_id, "label": label, "value": value, **extra}


def connect_card(consent_url: str, settings: OrgSettings, minutes: int, note: str | None = None) -> Card:
    body = [heading("Connect Microsoft 365"), *note_block(note)]
    if settings.connected:
        body.append(text(f"Connected now to tenant {plain(settings.tenant_id)}. Granting consent again is harmless.",
                         isSubtle=True))
    body += [text("A Global Administrator (or Privileged Role Administrator) of your tenant grants RoomBot the "
                  "application permissions **Calendars.ReadWrite** (room calendars) and **Place.Read.All** (the "
                  "room directory), and optionally **User.Read.All** (to pick people by name; without it, people "
                  "are invited by typed email). Open the link, sign in, and accept."),
             text(f"The link works once, for you, for {minutes} minutes. I'll tell you here when the connection "
                  f"is checked.", isSubtle=True, size="Small")]
    actions = [{"type": "Action.OpenUrl", "title": "Grant admin consent", "url": consent_url}]
    if settings.connected:
        actions.append(action("Disconnect", "disconnect", style="destructive"))
    return card(body, actions)


def disconnect_card(settings: OrgSettings) -> Card:
    if not settings.connected:
        return card([heading("Disconnect"), text("RoomBot is not connected to Microsoft 365.")],
                    [action("Connect", "connect")])
    return card([heading("Disconnect Microsoft 365?"),
                 text(f"RoomBot will stop using tenant {plain(settings.tenant_id)}: nobody can book until an admin "
                      f"runs connect again. Existing bookings stay in the room calendars.")],
                [action("Disconnect", "disconnect_confirm", style="destructive"), action("Keep connected", "status")])


def consent_result_card(ok: bool, message: str) -> Card:
    """Told to the admin in Teams when the consent redirect came back."""
    if ok:
        return card([heading("Connected to Microsoft 365"), text(plain(message), color="Good"),
                     text("Next: register rooms on floor plans, then switch booking on.")],
                    [action("Rooms", "rooms"), action("Booking on/off", "booking_switch"), action("Status", "status")])
    return card([heading("Not connected"), text(plain(message), color="Attention")],
                [action("Connect again", "connect")])


def booking_switch_card(settings: OrgSettings, note: str | None = None, saved: bool = False) -> Card:
    state = "on" if settings.booking_enabled else "off"
    body = [heading("Room booking"), *note_block(note, good=saved),
            text(f"Booking is **{state}**." + ("" if settings.connected else
                                               " Microsoft 365 is not connected yet, so nobody can book until it is."),
                 spacing="Small"),
            {"type": "Input.Toggle", "id": "enabled", "title": "Let people book rooms",
             "value": "true" if settings.booking_enabled else "false", "valueOn": "true", "valueOff": "false"},
            text("Switching it off stops new bookings at once; existing bookings stay.", isSubtle=True,
                 size="Small")]
    return card(body, [action("Save", "booking_save", style="positive"), action("Fair use and guests", "limits")])


def limits_card(settings: OrgSettings, note: str | None = None, saved: bool = False,
                typed: dict[str, str] | None = None) -> Card:
    """The fair-use limits per person and whom bookings may invite from outside the organisation.
    `typed`: what the admin typed, shown again when it was not saved."""
    typed = typed or {}
    body: list[dict[str, Any]] = [heading("Fair use and guests"), *note_block(note, good=saved),
                                  text("Limits for each person. Booking admins are not limited, except in searches.",
                                       isSubtle=True, spacing="Small")]
    for name, (title, low, high) in LIMIT_BOUNDS.items():
        body.append(_input(name, f"{title} ({low}–{high})", typed.get(name, str(getattr(settings, name))),
                           isRequired=True, maxLength=4, regex="^[0-9]{1,4}$",
                           errorMessage=f"A whole number from {low} to {high}."))
    body += [text("\"On one day\" counts the bookings starting that day in the booker's time zone.", isSubtle=True,
                  size="Small", spacing="Small"),
             text("Guests", weight="Bolder", spacing="Medium"),
             text("Bookings may invite people of your organisation's domains (its rooms', its admins' and the "
                  "booker's own). Rooms and other resources are never invited.", isSubtle=True, size="Small",
                  spacing="Small"),
             _input("guest_domains", "Guest domains allowed (comma separated)",
                    typed.get("guest_domains", ", ".join(settings.guest_domains))[:2000], maxLength=2000,
                    placeholder="partner.com, agency.co.uk"),
             {"type": "Input.Toggle", "id": "allow_any_guest", "title": "Allow any outside address",
              "value": typed.get("allow_any_guest", "true" if settings.allow_any_guest else "false"),
              "valueOn": "true", "valueOff": "false"}]
    return card(body, [action("Save", "limits_save", style="positive"), action("Booking on/off", "booking_switch")])


def status_card(connected: bool, tenant: str | None, booking: bool, counts: tuple[int, int, int],
                problems: Sequence[str], more: Sequence[tuple[str, str]] = ()) -> Card:
    buildings, floors, rooms = counts
    facts = [{"title": "Microsoft 365", "value": f"connected ({plain(tenant)})" if connected else "not connected"},
             {"title": "Booking", "value": "on" if booking else "off"},
             {"title": "Floor plans", "value": f"{buildings} buildings, {floors} floors"},
             {"title": "Rooms", "value": str(rooms)}]
    facts += [{"title": title, "value": plain(value)} for title, value in more]
    body = [heading("RoomBot status"), {"type": "FactSet", "facts": facts}]
    if problems:
        body += [text("Problems", weight="Bolder", spacing="Medium"),
                 text("\n".join(f"- {plain(p)}" for p in problems[:15]), color="Attention")]
    else:
        body.append(text("No problems found.", color="Good"))
    return card(body, [action("Connect", "connect"), action("Booking on/off", "booking_switch"),
                       action("Rooms", "rooms"), action("Fair use and guests", "limits")])


def floor_plans_card(buildings: Sequence[Building], floors: Sequence[Floor], rooms_per_floor: dict[str, int],
                     note: str | None = None, good: bool = False, default_zone: str = "UTC") -> Card:
    body: list[dict[str, Any]] = [heading("Floor plans and rooms"), *note_block(note, good)]
    if not buildings:
        body.append(text("No buildings yet. Add one, or import the rooms Microsoft 365 knows."))
    for building in buildings:
        own = [f for f in floors if f.building_id == building.id]
        lines = [text(plain(building.name), weight="Bolder", size="Medium"),
                 text(f"Time zone: {plain(building.zone or f'{default_zone} (the default)')}", isSubtle=True,
                      size="Small", spacing="None")]
        if not own:
            lines.append(text("No floors yet.", isSubtle=True, spacing="None"))
        buttons = [action(f"{f.name} ({rooms_per_floor.get(f.id, 0)})", "floor_open", floor=f.id) for f in own]
        buttons += [
            show_card("Add floor", [_input(f"floor_name-{building.id}", "Floor name", isRequired=True,
                                            errorMessage="Give the floor a name.", maxLength=80),
                                     {"type": "Input.Number", "id": f"floor_level-{building.id}", "label": "Level",
                                      "value": len(own) + 1, "min": -20, "max": 300}],
                       action("Add floor", "floor_add", building=building.id)),
            show_card("Rename", [_input(f"building_name-{building.id}", "New name", building.name,
                                         isRequired=True, maxLength=80)],
                       action("Rename", "building_rename", building=building.id)),
            show_card("Time zone", [_input(f"zone-{building.id}", "IANA time zone (its rooms' allowed hours are read "
                                                                 "in it; empty: the default)", building.zone,
                                           maxLength=64, placeholder=default_zone)],
                       action("Save", "building_zone", building=building.id)),
            action("Delete", "building_remove", style="destructive", building=building.id),
        ]
        body.append(row(lines, buttons))
    actions = [
        show_card("Add building", [_input("building_name", "Building name", isRequired=True, maxLength=80,
                                           errorMessage="Give the building a name.")],
                   action("Add building", "building_add")),
        action("Import from Microsoft 365", "import_places"),
        show_card("Import CSV", [
            text("One room per line: email, name, seats, building, floor, features (separated by ;)."),
            _input("csv", "CSV", isMultiline=True, maxLength=20000,
                   placeholder="room1@contoso.com, Room 1, 6, HQ, Floor 2, video;whiteboard")],
            action("Preview", "import_csv")),
    ]
    return card(body, actions)


def floor_card(building: Building, floor: Floor, rooms: Sequence[Room], note: str | None = None,
               good: bool = False) -> Card:
    body: list[dict[str, Any]] = [heading(f"{plain(building.name)} · {plain(floor.name)}"), *note_block(note, good)]
    if not rooms:
        body.append(text("No rooms on this floor yet.", isSubtle=True))
    for room in rooms:
        key = room.email
        details = [f"{room.capacity} seats", *room.features]
        rules = [text(f"Own rules: {plain(describe(room.rules))}", size="Small", isSubtle=True, spacing="None")] \
            if room.rules is not None else []
        body.append(row(
            [text(plain(room.display_name), weight="Bolder"), text(plain(room.email), isSubtle=True, spacing="None"),
             text(plain(" · ".join(details)), size="Small", spacing="None"), *rules],
            [show_card("Edit", [_input(f"name-{key}", "Name", room.display_name, isRequired=True, maxLength=80),
                                 {"type": "Input.Number", "id": f"capacity-{key}", "label": "Seats",
                                  "value": room.capacity, "min": 0, "max": 1000},
                                 _input(f"features-{key}", "Features (comma separated)", ", ".join(room.features),
                                        maxLength=400)],
                        action("Save", "room_save", room=room.email, floor=floor.id)),
             action("Rules", "rules_edit", room=room.email),
             action("Remove", "room_remove", style="destructive", room=room.email, floor=floor.id)]))
    add_room = show_card("Add room", [
        _input("email", "Room email address", isRequired=True, errorMessage="Give the room's email address.",
               maxLength=254, style="Email"),
        _input("name", "Name (optional: Places' name)", maxLength=80),
        {"type": "Input.Number", "id": "capacity", "label": "Seats (optional: Places' capacity)", "min": 0,
         "max": 1000},
        _input("features", "Features (optional, comma separated)", maxLength=400),
        {"type": "Input.Toggle", "id": "unlisted", "title": "Not in Places yet (a room created in the last 48 h)",
         "value": "false", "valueOn": "true", "valueOff": "false"},
    ], action("Add room", "room_add", floor=floor.id))
    rename = show_card("Rename floor", [_input("floor_name", "New name", floor.name, isRequired=True,
                                                maxLength=80)],
                        action("Rename", "floor_rename", floor=floor.id))
    return card(body, [add_room, rename, action("Delete floor", "floor_remove", style="destructive", floor=floor.id),
                       action("All floor plans", "rooms")])


def import_preview_card(rows: Sequence[Any], source: str, csv_text: str = "") -> Card:
    good = [r for r in rows if not r.problem]
    body: list[dict[str, Any]] = [
        heading("Import preview"),
        text(f"From {plain(source)}: {len(good)} room{'s' if len(good) != 1 else ''} to add, "
             f"{len(rows) - len(good)} left out."),
    ]
    for item in rows[:PREVIEW_ROWS]:
        where = f"{plain(item.building)} · {plain(item.floor)}" if item.building else ""
        line = f"**{plain(item.name or item.email)}** ({plain(item.email)}) {where}, {plain(item.capacity)} seats"
        body.append(text(line + (f" — *left out: {plain(item.problem)}*" if item.problem else ""),
                         color="Attention" if item.problem else "Default", spacing="Small"))
    if len(rows) > PREVIEW_ROWS:
        body.append(text(f"… and {len(rows) - PREVIEW_ROWS} more.", isSubtle=True))
    actions = [action("Cancel", "rooms")]
    if good:
        data = {"source": "csv", "csv": csv_text} if csv_text else {"source": "places"}
        actions.insert(0, action(f"Import {len(good)} room{'s' if len(good) != 1 else ''}", "import_confirm",
                                 style="positive", **data))
    return card(body, actions)


def room_remove_card(room: Room, building: Building | None, floor: Floor | None) -> Card:
    """Asks before a room is removed: people can no longer book it (its bookings stay)."""
    where = " · ".join(plain(x.name) for x in (building, floor) if x is not None)
    body = [heading(f"Remove {plain(room.display_name)}?"),
            text(plain(room.email) + (f" · {where}" if where else ""), isSubtle=True, spacing="None"),
            text("People can no longer find or book it in RoomBot. Its existing bookings stay in its calendar; "
                 "you can register it again later.")]
    keep = action("Keep it", "floor_open", floor=floor.id) if floor else action("Keep it", "rooms")
    return card(body, [action("Remove", "room_remove_confirm", style="destructive", room=room.email,
                              floor=room.floor_id), keep])


def shown_as(admin: Admin) -> tuple[str, str]:
    """(title, detail) an admin is shown by: the name and the email, or whatever of them (or the key)
    is known. Admins added before names were kept, or from configuration, may have neither."""
    email = admin.email or (admin.key if "@" in admin.key else "")
    if admin.name:
        return admin.name, email or admin.key
    if email:
        return email, "" if email == admin.key else admin.key
    return "Name not known yet", f"object id {admin.key}"


def admins_card(admins: Sequence[Admin], note: str | None = None, good: bool = False) -> Card:
    body: list[dict[str, Any]] = [heading("Admins"), *note_block(note, good)]
    names = {a.key: shown_as(a)[0] for a in admins}
    for admin in admins:
        roles = ", ".join(ROLE_TITLES.get(r, r) for r in admin.roles)
        title, detail = shown_as(admin)
        added_by = names.get(admin.added_by, admin.added_by)
        lines = [text(plain(title), weight="Bolder")]
        if detail:
            lines.append(text(plain(detail), isSubtle=True, spacing="None"))
        lines.append(text(roles + (f" · added by {plain(added_by)}" if added_by else ""), isSubtle=True,
                          spacing="None", size="Small"))
        # Not "key": the Teams clients own that name in action data (a press with it does nothing).
        body.append(row(lines, [action("Remove", "admin_remove", style="destructive", admin=admin.key)]))
    add = show_card("Add admin", [
        _input("person", "User principal name or AAD object id", isRequired=True, maxLength=254,
               errorMessage="Give a UPN (name@company.com) or an object id."),
        {"type": "Input.ChoiceSet", "id": "role", "label": "Role", "value": ROLE_ADMIN,
         "choices": [{"title": t, "value": r} for r, t in ROLE_TITLES.items()]},
    ], action("Add", "admin_add"))
    return card(body, [add])
