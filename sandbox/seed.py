"""The sandbox's demo organisation: the Playground's tenant and people, two buildings of rooms,
and the app registration the bot signs in with."""

from __future__ import annotations

from dataclasses import dataclass, field

TENANT_ID = "00000000-0000-0000-0000-0000000000001"  # the Playground's default tenant
TENANT_DOMAIN = "example.com"
APP_CLIENT_ID = "5a1d0b07-0000-4000-8000-00000000b075"  # the sandbox's RoomBot app registration
APP_CLIENT_SECRET = "sandbox-only-secret"  # not a secret: the sandbox is local and public


@dataclass
class Mailbox:
    email: str
    display_name: str
    id: str
    kind: str = "user"  # user | room | workspace
    upn: str = ""
    # rooms
    capacity: int = 0
    building: str = ""
    floor_number: int | None = None
    floor_label: str = ""
    tags: list[str] = field(default_factory=list)
    audio: str = ""
    video: str = ""
    display: str = ""
    wheelchair: bool = False
    room_list: str = ""
    app_access_denied: bool = False  # an ApplicationAccessPolicy scopes the app away from it
    exchange_online: bool = True  # False: no Exchange Online mailbox (on-premises, unlicensed, inactive)
    in_places: bool = True


# The Playground's default people (its built-in .m365agentsplayground.yml).
PEOPLE = [
    ("00000000-0000-0000-0000-0000000000020", "Alex Wilber", "alexw@example.com", "alexw@example.com"),
    ("00000000-0000-0000-0000-0000000000021", "Megan Bowen", "meganb@example.com", "meganb@example.com"),
    ("00000000-0000-0000-0000-0000000000022", "Adele Vance", "adelev@example.com", "adelev@example.com"),
    ("00000000-0000-0000-0000-0000000000023", "Isaiah Langer", "isaiah@example.com", "isaiahl@example.com"),
    ("00000000-0000-0000-0000-0000000000024", "Patti Fernandez", "pattif@example.com", "pattif@example.com"),
    ("00000000-0000-0000-0000-0000000000025", "Lynne Robbins", "lynner@example.com", "lynner@example.com"),
]

# building, room list address, floors: (number, label, rooms: (local name, display name, capacity, tags, av))
BUILDINGS = [
    ("Contoso HQ", "hq-rooms@example.com", [
        (1, "Ground floor", [
            ("hq-aurora", "Aurora", 4, ["whiteboard"], "display"),
            ("hq-borealis", "Borealis", 8, ["whiteboard"], "video"),
            ("hq-cirrus", "Cirrus", 2, [], ""),
            ("hq-delta", "Delta", 12, ["whiteboard"], "video"),
        ]),
        (2, "Second floor", [
            ("hq-echo", "Echo", 6, [], "display"),
            ("hq-fjord", "Fjord", 10, ["whiteboard"], "video"),
            ("hq-glacier", "Glacier", 20, ["whiteboard", "stage"], "video"),
            ("hq-harbor", "Harbor", 4, [], ""),
        ]),
    ]),
    ("Harbour House", "harbour-rooms@example.com", [
        (1, "First floor", [
            ("hh-iris", "Iris", 4, [], "display"),
            ("hh-juniper", "Juniper", 6, ["whiteboard"], "video"),
            ("hh-kelp", "Kelp", 8, [], "video"),
        ]),
        (3, "Third floor", [
            ("hh-lagoon", "Lagoon", 16, ["whiteboard"], "video"),
            ("hh-marina", "Marina", 3, [], ""),
            ("hh-nautilus", "Nautilus", 10, ["whiteboard"], "display"),
        ]),
    ]),
]

# Rooms that exist in the tenant but are not part of the demo registry, for admin scenarios.
EXTRA_ROOMS = [
    Mailbox(email="boardroom@example.com", display_name="Executive Boardroom", id="", kind="room", capacity=14,
            building="Contoso HQ", floor_number=2, floor_label="Second floor", video="Teams Room",
            app_access_denied=True),
    Mailbox(email="newroom@example.com", display_name="New Project Room", id="", kind="room", capacity=6,
            building="Harbour House", floor_number=1, floor_label="First floor", in_places=False),
    Mailbox(email="annex@example.com", display_name="Old Annex", id="", kind="room", capacity=8,
            building="Harbour House", floor_number=1, floor_label="First floor", exchange_online=False),
]

# A workspace: a resource mailbox for a group of desks, listed by Places as microsoft.graph.workspace
# (https://learn.microsoft.com/graph/api/resources/workspace?view=graph-rest-1.0). Never booked by
# RoomBot; there so that inviting it is refused.
WORKSPACES = [
    Mailbox(email="hq-desks2@example.com", display_name="HQ second floor desks", id="", kind="workspace",
            capacity=12, building="Contoso HQ", floor_number=2, floor_label="Second floor"),
]


def _guid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def demo_mailboxes() -> list[Mailbox]:
    boxes = [Mailbox(email=email, display_name=name, id=aad, upn=upn) for aad, name, upn, email in PEOPLE]
    n = 100
    for building, room_list, floors in BUILDINGS:
        for number, label, rooms in floors:
            for local, name, capacity, tags, av in rooms:
                n += 1
                boxes.append(Mailbox(
                    email=f"{local}@{TENANT_DOMAIN}", display_name=name, id=_guid(n), kind="room",
                    capacity=capacity, building=building, floor_number=number, floor_label=label, tags=list(tags),
                    display="Screen" if av in ("display", "video") else "",
                    video="Teams Room" if av == "video" else "", audio="Speakerphone" if av == "video" else "",
                    wheelchair=number == 1, room_list=room_list))
    for extra in [*EXTRA_ROOMS, *WORKSPACES]:
        n += 1
        boxes.append(Mailbox(**{**extra.__dict__, "id": _guid(n)}))
    return boxes


def demo_room_lists() -> dict[str, str]:
    return {room_list: f"{building} rooms" for building, room_list, _ in BUILDINGS}


def generated_rooms(count: int, start: int = 1) -> list[Mailbox]:
    """`count` more rooms, spread over buildings and floors (benchmarks use large organisations)."""
    rooms = []
    for i in range(start, start + count):
        building = f"Building {1 + (i - 1) // 200}"
        floor = 1 + ((i - 1) // 20) % 10
        rooms.append(Mailbox(
            email=f"room{i:05d}@{TENANT_DOMAIN}", display_name=f"Room {i}", id=_guid(100000 + i), kind="room",
            capacity=[2, 4, 6, 8, 12, 20][i % 6], building=building, floor_number=floor,
            floor_label=f"Floor {floor}", tags=["whiteboard"] if i % 3 == 0 else []))
    return rooms


def bench_person(i: int) -> tuple[str, str, str, str]:
    """Generated person `i` (1-based) as (AAD object id, name, UPN, email), like PEOPLE."""
    email = f"user{i:05d}@{TENANT_DOMAIN}"
    return f"00000000-0000-4000-9000-{i:012d}", f"User {i}", email, email


def generated_people(count: int) -> list[Mailbox]:
    """`count` more people (benchmarks simulate large organisations)."""
    return [Mailbox(email=email, display_name=name, id=aad, upn=upn)
            for aad, name, upn, email in map(bench_person, range(1, count + 1))]
