"""The order in which search looks at rooms: the person's starred rooms, then the rooms they booked
recently (newest first), then the best fit (domain.booking.fit_key: the smallest adequate room, then
the floor and building of their last booking, then the name). Search asks Graph about rooms in this
order, a page at a time, so a search costs what a page needs, not what the organisation has.

The registry is indexed once per version (RankIndex): rooms grouped by capacity and, within a
capacity, by building, floor and feature, each group sorted by name. A request's candidates then come
out in rank order from the smallest fitting group, without sorting the organisation per search."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

from domain.booking import SearchRequest, fit_key, matches
from domain.models import Room

PAGE_SIZE = 5  # free rooms a results card shows
SCHEDULE_CHUNK = 20  # rooms per getSchedule call (graph.calendar.SCHEDULE_CHUNK: Graph's limit)
WAVE = 4 * SCHEDULE_CHUNK  # rooms asked about at once: 4 calls, sent together
PAGE_BUDGET = 2 * WAVE  # rooms a page may ask about: 2 waves, 8 calls
MAX_SCAN = 2000  # rooms a page looks at (rules checked, no Graph call) when the rules refuse most of them
STALE_PAGE = "That button is not valid any more. Please search again."

_EVERY = ""  # the group of all rooms of a capacity


def _by_building(building_id: str) -> str:
    return f"b:{building_id}"


def _by_floor(floor_id: str) -> str:
    return f"f:{floor_id}"


def _by_feature(feature: str) -> str:
    return f"x:{feature}"


@dataclass(frozen=True)
class RankIndex:
    """The registered rooms grouped for ranking: (capacity, group) -> rooms sorted by (name, email),
    the group being every room of that capacity, a building's, a floor's or a feature's."""

    capacities: tuple[int, ...]  # ascending
    groups: dict[tuple[int, str], tuple[Room, ...]]
    rooms: Mapping[str, Room]
    features: list[str]  # every feature some room has, sorted (the booking form offers them)

    @classmethod
    def of(cls, rooms: Mapping[str, Room] | Iterable[Room]) -> RankIndex:
        """The index of `rooms`; a mapping by email (the repository's registry) is kept as it is, not copied."""
        by_email = rooms if isinstance(rooms, Mapping) else {r.email: r for r in rooms}
        lists: dict[tuple[int, str], list[Room]] = {}
        for room in sorted(by_email.values(), key=lambda r: (r.capacity, r.display_name.lower(), r.email)):
            for key in (_EVERY, _by_building(room.building_id), _by_floor(room.floor_id),
                        *map(_by_feature, room.features)):
                lists.setdefault((room.capacity, key), []).append(room)
        features = sorted({key.removeprefix("x:") for _, key in lists if key.startswith("x:")})
        return cls(tuple(sorted({c for c, _ in lists})), {k: tuple(v) for k, v in lists.items()}, by_email, features)

    def _group(self, capacity: int, key: str) -> Sequence[Room]:
        return self.groups.get((capacity, key), ())

    def _smallest(self, capacity: int, keys: Sequence[str]) -> Sequence[Room]:
        """The smallest of the groups `keys` names: it holds every room of that capacity that is in all."""
        return min((self._group(capacity, k) for k in keys), key=len)

    def by_fit(self, min_capacity: int, keys: Sequence[str], accept: Callable[[Room], bool],
               near: Room | None) -> Iterator[Room]:
        """The rooms with all group `keys` (building, floor, features) that `accept` takes, in fit_key
        order: by capacity from `min_capacity` up; within one, on `near`'s floor, then in its building,
        then the rest, each by name."""
        groups = [_EVERY, *keys]

        def ok(room: Room) -> bool:  # a group holds some of the keys' rooms: the rest are checked
            return _holds(room, keys) and accept(room)

        for capacity in self.capacities[bisect_left(self.capacities, min_capacity):]:
            base = self._smallest(capacity, groups)
            if not base:
                continue
            if near is None:
                yield from (r for r in base if ok(r))
                continue
            # Near's floor, then its building (from whichever group is smaller), then the rest.
            floor = min(base, self._group(capacity, _by_floor(near.floor_id)), key=len)
            yield from (r for r in floor if r.floor_id == near.floor_id and ok(r))
            building = min(base, self._group(capacity, _by_building(near.building_id)), key=len)
            yield from (r for r in building if r.building_id == near.building_id and r.floor_id != near.floor_id
                        and ok(r))
            yield from (r for r in base if r.building_id != near.building_id and r.floor_id != near.floor_id
                        and ok(r))


def _holds(room: Room, keys: Sequence[str]) -> bool:
    """Whether a room is in every group `keys` names (of its capacity)."""
    for key in keys:
        kind, _, value = key.partition(":")
        if kind == "b" and room.building_id != value or kind == "f" and room.floor_id != value \
                or kind == "x" and value not in room.features:
            return False
    return True


def _request_keys(request: SearchRequest, place: bool) -> list[str]:
    keys = [_by_feature(f) for f in request.features]
    if place and request.floor_id:
        keys.append(_by_floor(request.floor_id))
    elif place and request.building_id:
        keys.append(_by_building(request.building_id))
    return keys


def ranked(index: RankIndex, request: SearchRequest, near: Room | None = None, starred: Sequence[str] = (),
           recent: Sequence[str] = ()) -> Iterator[Room]:
    """The rooms that meet the request (domain.booking.matches), in rank order: starred ones (best fit
    first), then recently booked ones (newest first), then the rest by fit. Lazily: a search takes
    what it needs from the front."""
    if request.room_email:  # one room asked for by name
        room = index.rooms.get(request.room_email)
        if room is not None and matches(room, request):
            yield room
        return
    mine = [r for e in dict.fromkeys(starred) if (r := index.rooms.get(e)) is not None and matches(r, request)]
    mine.sort(key=lambda r: fit_key(r, near))
    first = {r.email for r in mine}
    mine += [r for e in dict.fromkeys(recent) if e not in first and (r := index.rooms.get(e)) is not None
             and matches(r, request)]
    yield from mine
    personal = {r.email for r in mine}
    yield from index.by_fit(request.min_capacity, _request_keys(request, True),
                            lambda r: r.email not in personal and matches(r, request), near)


def elsewhere(index: RankIndex, request: SearchRequest, near: Room | None = None) -> Iterator[Room]:
    """For a request with a building, floor or room: the rooms outside it that meet its other needs,
    the chosen building's other floors first, each part by fit."""
    keys = _request_keys(request, False)
    if request.building_id:
        yield from index.by_fit(request.min_capacity, [*keys, _by_building(request.building_id)],
                                lambda r: matches(r, request, place=False) and not matches(r, request), near)
    yield from index.by_fit(request.min_capacity, keys,
                            lambda r: r.building_id != request.building_id and matches(r, request, place=False)
                            and not matches(r, request), near)


def skip(rooms: Iterator[Room], count: int) -> int:
    """Drop the first `count` rooms; how many there were to drop (fewer: the ranking ended)."""
    return sum(1 for _ in islice(rooms, count))
