"""What a typed message asks for: the intent (book, my bookings, move, extend, end, cancel, star or unstar a
room, my rooms, help, greeting, thanks) and the details people give (when, how many, where, which room,
which of their bookings).

Dates and times are read by Microsoft's Recognizers-Text; rooms, places, features and seats by plain rules
against the organisation's catalog. Nothing is guessed silently: what was not understood is reported
(`not_understood`, `unknown_room`, `problems`), so the caller asks, or shows it marked as a default.

The rules people's words are read by (the recognizer offers several readings; these pick one):
- A bare hour means working hours: 8..11 are morning, 12 is noon, 1..7 are afternoon ("at 3" is 15:00,
  "10-11" is 10:00-11:00, "half past 3" is 15:30). An explicit am/pm or a 24-hour time ("14:00", "1430",
  "10h30") wins. A number alone after a day or a comma is such an hour ("tomorrow 10", "a room, 3"); "for 10"
  is seats.
- Parts of the day are windows (`When.window`): morning 08:00-12:00, afternoon 12:00-17:00, evening and
  tonight 17:00-20:00; "before lunch" and "first thing" are the morning. The working day is 09:00-17:00:
  "end of day" / "eod" / "close of business" end at 17:00, "all day" is the whole of it, "the rest of the
  day" from now to 17:00.
- Dates are in the future. A date ("15 Dec", "12/3") is its next occurrence from today (today included);
  a weekday ("friday") is today while what was asked of it is still ahead (its time, or the end of its
  window), else the same day next week. A time that has passed on an explicit day is a problem.
- "12/3" is read by the Teams locale: month first in en-US and the few locales that write so (`MONTH_FIRST`),
  day first everywhere else; a number above 12 settles it either way.
- Moving and extending: what comes before "to"/"until"/"by" names the booking, what comes after is the new
  time ("move my 2pm to 4pm"). END and EXTEND with no booking named mean the one in progress (`current`);
  "cancel" alone (or "never mind") names no booking (`booking` None: what is under way is dropped).
- The intent comes from the words (greeting, thanks, help, then cancel, end, extend, move, change, my
  bookings); a message with none of them is BOOK when it asks for a room or gives what a booking needs
  (a time, seats, a place, a room) with nothing left over, else UNKNOWN.
- Favourite rooms are asked for in whole sentences ("star Aurora", "add Aurora to my favorites", "remove
  Aurora from my favourites", "my rooms"), read before every intent but commands, greetings and thanks; a
  sentence that only mentions one ("book my favourite room at 10") stays a booking, marked `favourite`.
- A message that corrects itself ("at 2, no wait, 3", "actually make it 11", "I meant", "or rather") is read
  in two parts: the later value of each kind wins; a bare number after the marker is of the kind said just
  before it (a length, seats), else a time. MOVE by an amount ("push my 3pm an hour") is `move_by`.
- Rooms, buildings and floors are read first and blanked out, then seats, then times: the recognizer reads
  what is left, closed up (it misreads text with leading blanks), never rewritten."""

from __future__ import annotations

import difflib
import gc
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property, lru_cache
from itertools import chain, repeat
from operator import itemgetter, or_
from typing import Any, NamedTuple

from domain.models import Building, Floor


class Intent(StrEnum):
    BOOK = "book"  # find or book a room
    MY_BOOKINGS = "my bookings"
    CHANGE = "change"  # change one of my bookings, without saying how: its change card
    MOVE = "move"  # to another time (`when`)
    EXTEND = "extend"  # by `extend_by`, or until `when.end`
    END = "end"  # end it now
    CANCEL = "cancel"
    HELP = "help"
    CHECK_IN = "check in"  # I'm at the room I booked
    SETTINGS = "settings"  # my reminders
    STAR = "star"  # make a room one of my favourites (`room_email`, or `unknown_room`)
    UNSTAR = "unstar"  # take it off them
    FAVOURITES = "favourites"  # my starred and recently booked rooms
    GREETING = "greeting"
    THANKS = "thanks"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class When:
    """What a text said about time, in the user's wall clock (naive local dates and times)."""

    day: date | None = None
    start: time | None = None
    end: time | None = None
    duration: timedelta | None = None
    now: bool = False  # "now", "right now", "asap"
    window: tuple[time, time] | None = None  # a part of the day ("tomorrow morning"): the first free slot in it

    @property
    def empty(self) -> bool:
        return self == When()


@dataclass(frozen=True)
class BookingRef:
    """How a text names one of the person's own bookings ("my 2pm", "my meeting tomorrow", "the Aurora
    booking", "my next booking"). Empty: the text named none in particular (the caller then lists them)."""

    day: date | None = None
    start: time | None = None
    room_email: str = ""
    next: bool = False  # "my next booking"
    current: bool = False  # "my meeting now", "end my meeting": the one in progress


class RoomName(NamedTuple):
    """A room as a text may name it (a tuple: 50,000 of them are made and kept cheaply)."""

    email: str
    name: str


@dataclass(frozen=True)
class Catalog:
    """What a text may name: the registered buildings, floors, rooms and room features.

    One is made per version of the registry and reads many texts, so its names are indexed once, on first
    use (`_names`): a text then costs the same with 50 rooms or 50,000. It pickles without that index, and
    its rooms as plain strings (a worker receives it once per version and indexes it itself)."""

    buildings: tuple[Building, ...] = ()
    floors: tuple[Floor, ...] = ()
    rooms: tuple[RoomName, ...] = ()
    features: tuple[str, ...] = ()

    @cached_property
    def _names(self) -> _Names:
        return _Names(self)

    def indexed(self) -> Catalog:
        """This catalog with its names indexed now, not at the first text (a worker does so as it gets one)."""
        self._names  # noqa: B018 - made and kept
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        rooms = (len(self.rooms), _joined(map(itemgetter(0), self.rooms)), _joined(map(itemgetter(1), self.rooms)))
        return _unpickled_catalog, (self.buildings, self.floors, rooms, self.features)


_SEPARATOR = "\x1f"  # the unit separator: no room's name or address has it (else its column goes as a tuple)
_Column = str | tuple[str, ...]


def _joined(strings: Iterable[str]) -> _Column:
    """A column of strings as one string (pickled six times faster than 50,000 strings), unless one holds the
    separator."""
    strings = tuple(strings)
    joined = _SEPARATOR.join(strings)
    return joined if joined.count(_SEPARATOR) == max(0, len(strings) - 1) else strings


def _unpickled_catalog(buildings: tuple[Building, ...], floors: tuple[Floor, ...], rooms: tuple[int, _Column, _Column],
                       features: tuple[str, ...]) -> Catalog:
    count, emails, names = rooms
    columns = [c.split(_SEPARATOR) if isinstance(c, str) else c for c in (emails, names)] if count else [(), ()]
    return Catalog(buildings, floors, tuple(map(RoomName, *columns)), features)


@contextmanager
def kept_in_bulk() -> Iterator[None]:
    """While making many objects that are all kept (a catalog of 50,000 rooms, its index): the cyclic
    collector is paused, as it would scan them again and again for nothing (it halves the time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@dataclass(frozen=True)
class Understanding:
    intent: Intent
    when: When = field(default_factory=When)  # BOOK: the slot asked for; MOVE: the new time; EXTEND: `end`
    capacity: int | None = None
    building_id: str = ""
    floor_id: str = ""
    room_email: str = ""
    features: tuple[str, ...] = ()
    unknown_room: str = ""  # a room named that is not registered: "I don't know a room called X"
    booking: BookingRef | None = None  # CHANGE, MOVE, EXTEND, END, CANCEL: which booking
    extend_by: timedelta | None = None  # EXTEND "by 30 minutes"
    command: bool = False  # the text began with a command word ("book ...", "my bookings")
    not_understood: tuple[str, ...] = ()  # words left over
    problems: tuple[str, ...] = ()  # understood, but impossible ("from 3pm to 2pm")
    length: timedelta | None = None  # EXTEND "to 2 hours": the new total length, from its start
    move_by: timedelta | None = None  # MOVE "by an hour" / "back 30 minutes" (negative: earlier), no new time
    favourite: bool = False  # BOOK "my favourite room", "one of my starred rooms": which rooms, the caller knows


# --- the recognizer -----------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _datetime_model() -> Any:
    from recognizers_date_time import DateTimeRecognizer
    from recognizers_text import Culture

    return DateTimeRecognizer(Culture.English).get_datetime_model()


def warm_up() -> None:
    """Build the recognizer's models ahead of the first message (about a second)."""
    _datetime_model().parse("book tomorrow at 10 for 1h", datetime(2026, 1, 1))


# --- words --------------------------------------------------------------------------------------------

MONTH_FIRST = {"en-us", "en-ph", "en-ca", "es-us", "en-as", "en-gu", "en-mp", "en-pr", "en-um", "en-vi", "en-fm",
               "en-mh", "fil-ph", "zh-cn", "zh-tw", "ja-jp", "ko-kr", "hu-hu", "lt-lt", "sv-se", "en-ke"}
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
            "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
            "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
            "a couple of": 2, "couple of": 2, "a dozen": 12, "dozen": 12}
_NUM = r"(\d{1,4}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + r")"
_PEOPLE = (r"(?:people|persons?|ppl|pax|attendees|participants|guests|colleagues|coworkers|co-workers|folks|"
           r"users|members|seats?|heads|of us)")
_ORDINALS = {"ground": 0, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12}
_FEATURE_SYNONYMS = {
    "video": ("video", "video conferencing", "video conference", "video call", "video calls", "vc", "camera",
              "webcam", "teams room", "zoom"),
    "whiteboard": ("whiteboard", "white board", "whiteboards", "flipchart"),
    "screen": ("screen", "screens", "display", "monitor", "tv", "television"),
    "display": ("display", "screen", "monitor", "tv"),
    "projector": ("projector", "beamer"),
    "phone": ("phone", "speakerphone", "conference phone", "telephone"),
    "audio": ("audio", "speakerphone", "microphone", "mic", "speakers"),
    "wheelchair": ("wheelchair", "wheelchair accessible", "accessible", "step-free", "step free"),
    "accessible": ("accessible", "wheelchair", "wheelchair accessible", "step-free"),
}
_PARTS_OF_DAY = {"MO": (time(8), time(12)), "AF": (time(12), time(17)), "EV": (time(17), time(20)),
                 "NI": (time(17), time(20)), "DT": (time(8), time(17))}
GRACE = timedelta(minutes=5)  # "at 9:40" typed at 9:43 still means today

# Words that carry nothing to read on their own (what a person wraps a request in).
_FILLER = set("""
a an the and or but so to at in on of for from by with about into onto is are am be was were it its it's this that
these those there here my me i i'm im we we're us our you your you're u can could would will shall should may might
must do does did please pls plz thx kindly just also too really very quite some any anything something one ones need
needs want wants wanna like get got grab find look looking see show tell give let let's lets make set up book
booking bookings booked reserve reservation reservations reserved room rooms meeting meetings space spot place
somewhere office conference call catch sync huddle team people person persons ppl seats seat hi hello hey ok okay
thanks thank yes yeah sure great what which when where who how have has had free available open empty vacant new
another again now then time day date slot until till til before after around ish between during starting start
starts ending end ends check if whether not no all pm o'clock oclock cancel delete remove move reschedule push shift
postpone extend finish release done longer more extra change edit modify update mine myself someone small big bigger
large larger quiet good nice go able same use using hold holding keep next upcoming current ongoing bring forward
back earlier later quick anymore meet chat discussion interview workshop over left standup stand-up presentation
session calendar schedule diary agenda scrap stay stop add demo training list view display anywhere finished early
whats wats w/ moved don't dont doesn't isn't can't won't what's how's where's that's there's i'd i'll we'd we'll
off whole bit little i've we've made rm needed chance drop running late nxt actually sorry oops instead through switch
wont shorten shorter sometime anytime someday different hope ideally much well
wish grateful possible
""".split())


def _number(word: str) -> int | None:
    word = " ".join(word.lower().split())
    if word.isascii() and word.isdigit():
        return int(word)
    return _NUMBERS.get(word)


def _working_hour(hour: int) -> int:
    """A bare hour (1..12) in working hours: 8..11 am, 12 noon, 1..7 pm."""
    hour %= 12
    return hour + 12 if hour < 8 else hour


# --- the text, with what has been read blanked out ------------------------------------------------------

class _Text:
    """The message, and which of its characters have been read (blanked, so positions stay)."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.chars = list(text)

    @property
    def rest(self) -> str:
        return "".join(self.chars)

    @property
    def lower(self) -> str:
        return "".join(c.lower() if len(c.lower()) == 1 else c for c in self.chars)

    def closed_up(self) -> tuple[str, list[int]]:
        """What is left with each run of blanks made one space, and where each of its characters was."""
        kept: list[str] = []
        origin: list[int] = []
        for i, char in enumerate(self.chars):
            if char.isspace():
                if not kept or kept[-1] == " ":
                    continue
                char = " "
            kept.append(char)
            origin.append(i)
        while kept and kept[-1] == " ":
            kept.pop()
            origin.pop()
        return "".join(kept), origin

    def take(self, start: int, end: int) -> None:
        for i in range(max(0, start), min(end, len(self.chars))):
            self.chars[i] = " "

    def search_all(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        return list(pattern.finditer(self.lower))

    def search(self, pattern: re.Pattern[str], start: int = 0, end: int | None = None) -> re.Match[str] | None:
        return pattern.search(self.lower, start, len(self.chars) if end is None else end)


# --- intent -------------------------------------------------------------------------------------------

def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_GREETING_WORDS = (r"(?:hi+|hello+|hey+|hiya|howdy|heya|yo|hallo|greetings|sup|wassup|what'?s\s+up|"
                   r"good\s+(?:morning|afternoon|evening|day)|morning|afternoon|evening|g'?day)")
_GREETING = _re(rf"^\W*{_GREETING_WORDS}(?:[\s,!]+{_GREETING_WORDS})*(?:\s+(?:there|all|team|roombot|bot|mate|again|"
                r"everyone|you))?"
                r"(?:[\s,!.:;~-]+(?:how\s+are\s+(?:you|u)|how'?s\s+it\s+going|what'?s\s+up|sup))?\W*$")
_LEADING_GREETING = _re(r"^\W*(?:(?:hi+|hello+|hey+|hiya|howdy|heya|yo|hallo|greetings|good\s+(?:morning|afternoon|"
                        r"evening|day))(?:\s+(?:there|all|team|roombot|bot|mate))?(?:\s*[,!.:;-]+\s*|\s+)|"
                        r"(?:morning|afternoon|evening)\s*[,!.:;-]+\s*)(?=\S)")  # "morning meeting" is no greeting
_THANKS_ONLY = _re(r"^\W*(?:(?:ok(?:ay)?|great|perfect|awesome|nice|cool|brilliant|lovely|super|excellent|"
                   r"wonderful|fantastic|amazing|good|sweet|got\s+it|all\s+good|that'?s\s+(?:great|perfect|"
                   r"all|it)|that\s+(?:works|is\s+all)|many|so|very|much|a\s+lot|lots|again|mate|"
                   r"thanks?|thank\s+(?:you|u)|thx|thnx|thanx|tnx|ty|tyvm|cheers|ta|appreciated?|"
                   r"i\s+appreciate\s+it|appreciate\s+it|much\s+obliged|for\s+(?:the|your)\s+help|"
                   r"for\s+that|you'?re\s+(?:the\s+best|a\s+star)|bye|see\s+ya|roombot|bot|a\s+bunch|a\s+million|"
                   r"heaps|loads)\W*)+$")
_HELP = _re(r"^\W*(?:\?+|help(?:\s+(?:me|please|pls))?|(?:can\s+you\s+)?help\s+me\s*\?*|"
            r"what\s+can\s+(?:you|u|i)\s+(?:do|ask(?:\s+you)?|say)(?:\s+(?:here|for\s+me|with\s+you))?|"
            r"what\s+(?:do|are)\s+you(?:\s+do|\s+for)?|what\s+can\s+(?:this|the|roombot)(?:\s+bot|\s+thing|\s+app)?"
            r"\s+do|(?:i\s+)?(?:need|want)\s+(?:some\s+)?help|what\s+is\s+(?:this|roombot)(?:\s+bot)?|"
            r"what\s+can\s+you\s+help(?:\s+me)?(?:\s+with)?|what\s+are\s+you|who\s+are\s+you|"
            r"how\s+(?:does|do)\s+(?:this|it|you|roombot|this\s+bot|the\s+bot)\s+work|"
            r"how\s+(?:do|can)\s+i\s+(?:use\s+(?:this|you|it|roombot)|(?:book|reserve)(?:\s+a\s+room)?)|"
            r"how\s+to\s+(?:use\s+(?:this|you|it)|book(?:\s+a\s+room)?)|"
            r"(?:show\s+(?:me\s+)?)?(?:the\s+)?(?:commands|options|menu|instructions)|"
            r"what\s+(?:are\s+)?(?:the|your)\s+(?:commands|options)|(?:what|which)\s+commands(?:\s+\w+){0,3}|"
            r"i'?m\s+(?:lost|confused|stuck)|(?:what|which)\s+rooms\s+(?:are\s+there|do\s+you\s+(?:have|know)|exist|"
            r"can\s+i\s+book)|"
            r"what\s+now|info|about|usage|tutorial|guide)\W*$")
_COMMAND = _re(r"^\s*/?(?:(book)(?![\w'’])|(my\s+bookings?)\b|(help)\b)")
_CANCEL = _re(r"\b(?:cancel+(?:l?ed)?|delete|remove|drop|scrap|call\s+off|get\s+rid\s+of|give\s+up|"
              r"(?:don'?t|do\s+not|no\s+longer)\s+need|won'?t\s+need|not\s+needed)\b")
_NEVER_MIND = _re(r"^\W*(?:never\s*mind|nvm|forget\s+(?:it|that)|stop(?:\s+(?:it|that))?|abort|quit|exit|"
                  r"undo|scratch\s+that)\W*$")
_END = _re(r"(?:^\W*end\b(?!\s+of\b)|\b(?:meeting|we|it)(?:'s|\s+is|\s+are|'re)\s+(?:over|finished|done)\b|"
           r"\b(?:we|i)\s+(?:left|are\s+leaving|have\s+left|'?ve\s+left)\b|\bstop\s+(?:my|the|our)\b|"
           r"\bend\s+(?:my|the|our|this|it|that|meeting|booking|now)\b|\bfinish(?:ed)?\b|"
           r"\brelease\b|\bfree\s+up\b|\bfree\s+(?:the|my|our)\s+room\b|\bwrap\s+up\b|\bcheck\s*out\b|\bvacate\b|"
           r"\b(?:we'?re|we\s+are|i'?m|i\s+am|we\s+were|all)\s+(?:done|finished)\b|\bdone\s+with\b|"
           r"\bleaving\s+(?:the\s+room|early|now)\b|\bstop\s+(?:my|the|our)\s+(?:meeting|booking)\b|"
           r"\b(?:ended|over)\s+early\b|\bend\s+early\b|\bleav(?:e|ing)\s+(?:early|now)\b)")
_EXTEND = _re(r"\b(?:extend|prolong|lengthen|longer|overrun|running\s+(?:over|late)|"
              r"add\s+(?:\d+|another|an?|half\s+an?|ten|fifteen|twenty|thirty)\s*(?:more\s+|extra\s+)?(?:minutes?|"
              r"mins?|hours?|hrs?)|"
              r"(?:\d+|a\s+few|few|ten|fifteen|twenty|thirty|five)\s+(?:more|extra)\s+(?:minutes?|mins?|hours?|"
              r"hrs?)|more\s+time|(?:another|an\s+extra|extra)\s+(?:\d+|half|an?|ten|fifteen|twenty|thirty|"
              r"few)?\s*(?:minutes?|mins?|hours?|hrs?|half\s+hour|hour)|"
              r"(?:keep|stay\s+in|hold)\s+(?:the|my|our|this)\s+(?:room|meeting|booking)\s+(?:for|until|till|"
              r"longer)|stay\s+(?:longer|until|till))\b")
_MOVE = _re(r"\b(?:move|moving|reschedule|re-schedule|push|shift|postpone|delay|bring\s+(?:\w+\s+){0,3}forward|"
            r"rebook|re-book|(?:change|switch)\s+(?:\w+\s+){0,4}?to\b(?!\s+(?:an?\s+|the\s+)?(?:bigger|smaller|larger|"
            r"different|other|another|new|quieter|better)\s+(?:room|one)\b)|"
            r"make\s+(?:it|my\s+\S+(?:\s+\S+)?)\s+(?:at|start|on)\b)")
_CHANGE = _re(r"\b(?:change|edit|modify|update|amend|adjust|alter|shorten|cut\s+short|add\s+(?:\S+\s+){0,3}to\s+my|"
              r"invite\s+(?:\S+\s+){0,3}to\s+my|rename|switch\s+rooms?\b(?=.*\b(?:my|our)\b)|"
              r"(?:make|have)\s+my\b.*\binstead|(?:bigger|smaller|larger|different|another|other|quieter|better)\s+"
              r"(?:room|one)\s+for\s+(?:my|our)\b(?!\s+(?:team|group|colleagues|guests|\d+\s+(?:people|guests))\b))")
_MY_BOOKINGS = _re(r"(?:\b(?:my|our)\s+(?:upcoming\s+|next\s+|current\s+|future\s+)?(?:bookings|reservations|"
                   r"meetings)\b|\bwhat\s+(?:have|did|do)\s+i\s+(?:got\s+)?(?:booked|book|reserved?)\b|"
                   r"\bwhat'?s\s+(?:booked|on)\b|\bwhat\s+is\s+booked\b|\bwhat\s+(?:rooms?\s+)?(?:have|did)\s+i\b|"
                   r"\b(?:do|did)\s+i\s+have\s+(?:anything|any\s+\w+|a\s+(?:room|booking|reservation|meeting))|"
                   r"\bhave\s+i\s+(?:got\s+)?(?:anything|any\s+\w+)\s+booked\b|\bam\s+i\s+booked\b|"
                   r"\b(?:list|show|see|view|display|check)\s+(?:me\s+)?(?:all\s+)?(?:my|the)\s+"
                   r"(?:upcoming\s+)?(?:bookings?|reservations?)\b|"
                   r"\b(?:my|our)\s+(?:booking|reservation)\b\W*$|"
                   r"\b(?:upcoming|existing|current)\s+(?:bookings|reservations)\b|"
                   r"\bwhere\s+(?:am\s+i|is\s+my\s+meeting)\b|\bbooked\s+anything\b|"
                   r"\b(?:which|what)\s+room\s+(?:am\s+i|are\s+we|is\s+my\s+\w+)(?:\s+in)?\b|"
                   r"\b(?:did|has|have)\s+(?:my|our)\s+(?:booking|reservation)s?\s+(?:go(?:ne)?\s+through|worked?|"
                   r"been\s+(?:made|confirmed|accepted))|\bis\s+my\s+(?:booking|reservation)\s+(?:confirmed|ok|done)\b|"
                   r"\b(?:did|have)\s+i\s+(?:already\s+)?(?:book|booked|reserve|reserved)\b|"
                   r"\bwhat\s+(?:i'?ve|i\s+have)\s+(?:booked|reserved)\b|"
                   r"\bmy\s+(?:schedule|calendar|diary|agenda)\b|"
                   r"\bwhat\s+(?:do|have)\s+i\s+(?:got\s+)?(?:on|booked|planned|scheduled|today|tomorrow)\b|"
                   r"\bwhat\s+do\s+i\s+have\b|\b(?:on|in)\s+my\s+(?:calendar|schedule|diary|agenda)\b|"
                   r"^\W*(?:bookings|reservations)\W*$|"
                   r"\b(?:show|list|see|view)\s+(?:me\s+)?(?:all\s+)?(?:bookings|reservations)\b|"
                   r"\b(?:what'?s|whats|what\s+is|when\s+is|when'?s|where\s+is|where'?s|what\s+time\s+is)\s+"
                   r"(?:my|our)\s+(?:next\s+|upcoming\s+|first\s+)?(?:booking|meeting|reservation|room)\b)")
_BOOK_STRONG = _re(r"\b(?:book|reserve|reservation|rooms?|space|seats?|meeting\s+room|conference\s+room|huddle|desk|"
                   r"somewhere\s+to\s+meet|place\s+to\s+meet|free|available|vacant|empty|unoccupied)\b")
_BOOK_WEAK = _re(r"\b(?:need|want|wanna|get|find|grab|looking\s+for|any|something|can\s+i|could\s+i|is|meeting|"
                 r"meet)\b")
_MY_ONE = _re(r"^\W*(?:(?:show|open|see|view|what\s+about|and|about|check)\s+(?:me\s+)?)?(?:my|our)\s+"
              r"(?:next\s+|upcoming\s+|first\s+|last\s+|current\s+)?(?:\d|(?:booking|meeting|reservation|one)\b|"
              r"today|tomorrow|tmrw|mon|tue|wed|thu|fri|sat|sun)")
_BOOK_VERB = _re(r"\b(?:book|reserve|need|want|find|get)\b")
_CHECK_IN = _re(r"^\W*(?:(?:ok|okay|hi|hey|hello)\W+)?(?:please\s+|pls\s+)?(?:"
                r"check(?:ing)?[\s-]*in\b(?!\s+(?:on|with)\b)|check\s+(?:me|us)\s+in\b|"
                r"(?:i'?m|i\s+am|we'?re|we\s+are)\s+(?:here|in\s+the\s+room|at\s+the\s+room)\b|"
                r"(?:i'?ve|i\s+have|we'?ve|we\s+have|just)\s+arrived\b|arrived\b)"
                r"(?!.*\b(?:book|reserve|cancel)\b)")
_SETTINGS = _re(r"^\W*(?:(?:open|show|see|change|edit|my)\s+)*(?:settings|preferences|options|"
                r"reminder\s+settings|reminders?)\W*$|\b(?:turn|switch|set)\s+(?:off|on|up)\s+(?:my\s+|the\s+)?"
                r"reminders?\b|\breminders?\s+(?:off|on)\b")


# Favourite rooms: star one, unstar one, list them. Whole sentences only (anchored), so a booking that
# mentions a favourite ("book my favourite room at 10") stays a booking (`favourite`, read with the details).
_POLITE = (r"(?:(?:please|pls|plz|kindly|just|can\s+(?:you|u|i)|could\s+(?:you|u|i)|would\s+you|will\s+you|"
           r"i'?d\s+like\s+to|i\s+want\s+to|i\s+wanna|let'?s)\s+)*")
_THEN_POLITE = r"(?:\s*,?\s+(?:please|pls|plz|thanks|thank\s+you|thx|for\s+me))*\W*$"
_FAVES = r"(?:my\s+|our\s+|the\s+|an?\s+)?(?:favou?rites?|faves?|favs?|starred(?:\s+rooms?)?|stars?)(?:\s+list)?"
_ROOM_SAID = r"(?P<room>\S.{0,79}?)"
_FAVOURITES = [_re(rf"^\W*{_POLITE}(?:(?:show|list|see|view|open|display|check|get|give)\s+(?:me\s+)?|"
                   r"(?:what|which)\s+(?:are|is|r)\s+)?(?:all\s+)?(?:(?:my|our|the)\s+)?"
                   r"(?:favou?rite\s+rooms?|favou?rites?|fa(?:ve|v)s?(?:\s+rooms)?|starred(?:\s+rooms?)?|"
                   r"saved\s+rooms|rooms\s+i(?:'?ve|\s+have)?\s+(?:starred|favou?rited|saved))"
                   rf"(?:\s+list)?{_THEN_POLITE}"),
               _re(rf"^\W*{_POLITE}(?:(?:show|list|see|view|open)\s+(?:me\s+)?)?(?:all\s+)?(?:my|our)\s+rooms"
                   rf"{_THEN_POLITE}"),
               _re(r"^\W*(?:which|what)\s+rooms\s+(?:have|did)\s+i\s+(?:starred|star|favou?rited|favou?rite|saved)"
                   r"\W*$")]
_STAR = [_re(rf"^\W*{_POLITE}(?:star|bookmark)\s+{_ROOM_SAID}"
             rf"(?:\s+as\s+(?:an?\s+|my\s+)?(?:favou?rite|fave))?{_THEN_POLITE}"),
         _re(rf"^\W*{_POLITE}(?:favou?rite|fave)\s+(?!(?:the\s+|a\s+|my\s+)?(?:rooms?|ones?|meeting|place|spot|"
             rf"space)\b){_ROOM_SAID}{_THEN_POLITE}"),
         _re(rf"^\W*{_POLITE}(?:add|put|save|pin)\s+{_ROOM_SAID}\s+(?:to|in|into|on|onto|as|among)\s+{_FAVES}"
             rf"{_THEN_POLITE}"),
         _re(rf"^\W*{_POLITE}(?:make|mark|set)\s+{_ROOM_SAID}\s+(?:as\s+)?(?:an?\s+|my\s+|one\s+of\s+(?:my|our)\s+)"
             rf"(?:favou?rites?|faves?|starred)(?:\s+rooms?)?{_THEN_POLITE}"),
         _re(rf"^\W*{_POLITE}mark\s+{_ROOM_SAID}\s+(?:as\s+)?starred{_THEN_POLITE}")]
_UNSTAR = [_re(rf"^\W*{_POLITE}un-?(?:star|favou?rite|fave|bookmark)\s+{_ROOM_SAID}{_THEN_POLITE}"),
           _re(rf"^\W*{_POLITE}(?:remove|delete|take|drop|clear)\s+{_ROOM_SAID}\s+(?:from|off|out\s+of)\s+{_FAVES}"
               rf"{_THEN_POLITE}"),
           _re(rf"^\W*{_POLITE}(?:make|mark)\s+{_ROOM_SAID}\s+(?:as\s+)?(?:not\s+(?:an?\s+|my\s+)?"
               rf"(?:favou?rite|starred)|unstarred){_THEN_POLITE}")]


_FAVOURITE_ROOM = _re(r"\b(?:(?:my|our|a|one\s+of\s+(?:my|our))\s+(?:favou?rite|fave|fav|starred)"
                      r"(?:\s+(?:rooms?|ones?))?|(?:favou?rite|starred)\s+rooms?|"
                      r"one\s+of\s+(?:my|our)\s+(?:favou?rites|faves|favs|starred(?:\s+rooms)?))\b")  # in a booking

# What a room's name does not say: a room called "Star" booked "Star at 3 tomorrow" is no star.
_SAYS_WHEN = _re(r"\b(?:at|from|until|till|tomorrow|today|tonight|tmrw|now|asap)\b|\d\s*(?:am|pm)\b|\bfor\s+\d")
_STAR_BARE = _re(rf"^\W*{_POLITE}(un-?)?star(?:\s+a\s+room)?{_THEN_POLITE}")


def _favourites_request(text: str) -> tuple[Intent, re.Match[str] | None] | None:
    """STAR or UNSTAR with the match whose `room` group names the room, FAVOURITES, or None."""
    if any(p.match(text) for p in _FAVOURITES):
        return Intent.FAVOURITES, None
    for intent, patterns in ((Intent.UNSTAR, _UNSTAR), (Intent.STAR, _STAR)):
        for pattern in patterns:
            match = pattern.match(text)
            room = match.group("room") if match else ""
            if match and len(room.split()) <= 5 and not _SAYS_WHEN.search(room):
                return intent, match
    bare = _STAR_BARE.match(text)  # "star": which room is asked
    return (Intent.UNSTAR if bare.group(1) else Intent.STAR, None) if bare else None


def _intent(text: str) -> tuple[Intent, bool]:
    """The intent a message's words show (before details), and whether it began with a command word."""
    command = _COMMAND.match(text)
    if command:
        if command.group(1):
            return Intent.BOOK, True
        if command.group(2):
            return Intent.MY_BOOKINGS, True
        return Intent.HELP, True
    if _GREETING.match(text):
        return Intent.GREETING, False
    if _THANKS_ONLY.match(text):  # "ok", "great" too: an acknowledgement, answered as thanks are
        return Intent.THANKS, False
    body = _LEADING_GREETING.sub("", text)
    favourites = _favourites_request(body)
    if favourites:
        return favourites[0], False
    if _CHECK_IN.match(body):
        return Intent.CHECK_IN, False
    if _SETTINGS.search(body) and not _BOOK_VERB.search(body):
        return Intent.SETTINGS, False
    if _HELP.match(body):
        return Intent.HELP, False
    if _NEVER_MIND.match(body):  # what is under way, not a booking
        return Intent.CANCEL, False
    if _CANCEL.search(body) and not re.search(r"\bcancel+(?:ed)?\s+(?:meeting|booking)s?\s+(?:room|rooms)\b",
                                              body, re.IGNORECASE):
        return Intent.CANCEL, False
    if _END.search(body):
        return Intent.END, False
    moving = _MOVE.search(body)
    extending = [m.group(0).lower() for m in _EXTEND.finditer(body)]
    if extending and not (moving and all(w.startswith("running") for w in extending)):
        return Intent.EXTEND, False  # "I'm running late, can we push it 15 min" moves it
    if moving and not re.search(r"\b(?:book|reserve)\b", body[:moving.start()], re.IGNORECASE):
        return Intent.MOVE, False
    if _CHANGE.search(body):
        return Intent.CHANGE, False
    if _MY_BOOKINGS.search(body):
        return Intent.MY_BOOKINGS, False
    if _MY_ONE.search(body) and not _BOOK_VERB.search(body):  # "my 2pm", "my next booking": its card
        return Intent.CHANGE, False
    if re.search(r"\b(?:bookings|reservations)\b", body, re.IGNORECASE):  # "any bookings tomorrow?"
        return Intent.MY_BOOKINGS, False
    if re.search(r"\bhelp\b", body, re.IGNORECASE) and not _BOOK_STRONG.search(body):
        return Intent.HELP, False
    return Intent.UNKNOWN, False  # BOOK or UNKNOWN: settled by the details found (`understand`)


# --- places, rooms, features, seats ---------------------------------------------------------------------

_GENERIC = {"building", "house", "office", "offices", "tower", "campus", "centre", "center", "the", "of", "and",
            "main", "new", "old", "north", "south", "east", "west", "street", "road", "park", "court", "place"}


_ROOM_TRIMS = ("room", "meeting room", "conference room", "boardroom")
_BUILDING_TRIMS = ("building", "house", "office")
_ROOM_ENDS = tuple(" " + trim for trim in _ROOM_TRIMS)
_BUILDING_ENDS = tuple(" " + trim for trim in _BUILDING_TRIMS)
_ROOM_STARTS = tuple(trim + " " for trim in _ROOM_TRIMS)


def _said_as_registered(name: str, room: bool) -> bool:
    """Whether a name has nothing to leave out (most names): no "the" first, no "room" / "building" to trim.
    This says in a few string tests what `_aliases` would find the long way (50,000 rooms are indexed at once)."""
    low = name.lower()
    if low.startswith("the") or low.endswith(_ROOM_ENDS if room else _BUILDING_ENDS):
        return False
    if room:
        for start in _ROOM_STARTS:  # at most one of them starts it
            if low.startswith(start):
                return name[len(start):].strip().isdigit()  # "Room 12" is not "12"
    return True


def _aliases(name: str, room: bool) -> list[str]:
    """The ways people say a name: as registered, and without "the", "room" / "building"."""
    if _said_as_registered(name.strip(), room):
        return [name.strip()] if name.strip() else []
    names = {name.strip()}
    words = name.split()
    if words and words[0].lower() == "the" and len(words) > 1:
        names.add(" ".join(words[1:]))
    for trim in _ROOM_TRIMS if room else _BUILDING_TRIMS:
        for variant in list(names):
            low = variant.lower()
            if low.endswith(" " + trim) and len(variant) - len(trim) > 3:
                names.add(variant[: -len(trim) - 1])
            if room and low.startswith(trim + " ") and not variant[len(trim) + 1:].strip().isdigit():
                names.add(variant[len(trim) + 1:])
    return [n for n in names if n]


_ROOM_WORD = re.compile(r"\s*(?:'s\s+)?(?:meeting\s+|conference\s+)?room\b")


class _ByWords:
    """Phrases (in the order they are tried) looked up by the words of a text: a phrase found in a text as a
    whole word has each of its words (runs of \\w) as a whole word of the text, so a text is only searched
    for the phrases all of whose words it has. Each phrase is filed under its rarest word."""

    def __init__(self, phrases: list[str]) -> None:
        words = list(map(_WORD.findall, map(str.lower, phrases)))
        count = Counter(chain.from_iterable(words))
        keys = [min(said, key=count.__getitem__) if said else "" for said in words]
        # A phrase of several words filed with others under its rarest word: all its words, which a text must
        # have (alone there, a phrase is just searched for: it is the only one the word brings).
        self._others = {i: frozenset(words[i]) for i, key in enumerate(keys) if count[key] > 1 and len(words[i]) > 1}
        self._wordless = {i for i, key in enumerate(keys) if not key}  # "!!!": tried for every text
        self._by_word: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            self._by_word.setdefault(key, []).append(i)
        self._by_word.pop("", None)

    def found(self, text: str) -> list[int]:
        """The positions of the phrases `text` (lowercase) may hold, in order."""
        words = set(_WORD.findall(text))
        maybe = self._wordless.union(*(self._by_word.get(w, ()) for w in words))
        return [i for i in sorted(maybe) if i not in self._others or self._others[i] <= words]


_WORD = re.compile(r"\w+")


class _Names:
    """A catalog's names, made once: each alias of a room or building (longest first, as they are tried),
    and its floors by name and level."""

    def __init__(self, catalog: Catalog) -> None:
        self.aliases = _all_aliases(catalog)
        self._aliases = _ByWords([alias for alias, _, _ in self.aliases])
        self.room_names = {r.email: r.name for r in catalog.rooms}
        self.floors = sorted(catalog.floors, key=lambda f: -len(f.name))
        self._floors = _ByWords([f.name for f in self.floors])
        self.floors_by_name: dict[str, list[Floor]] = {}
        self.floors_by_level: dict[int, list[Floor]] = {}
        for floor in catalog.floors:
            self.floors_by_name.setdefault(floor.name.lower(), []).append(floor)
            self.floors_by_level.setdefault(floor.level, []).append(floor)

    def said(self, text: str) -> list[tuple[str, str, str]]:
        """The (alias, kind, id) `text` (lowercase) may name, longest first."""
        return [self.aliases[i] for i in self._aliases.found(text)]

    def floors_said(self, text: str) -> list[Floor]:
        """The floors whose names `text` (lowercase) may say, longest first."""
        return [self.floors[i] for i in self._floors.found(text)]


def _all_aliases(catalog: Catalog) -> list[tuple[str, str, str]]:
    """Every (alias, kind, id) of the catalog's rooms and buildings, longest first; an alias two things share
    names neither (unless it is one's very name)."""
    names = _room_aliases(catalog.rooms)
    for building in catalog.buildings:
        names += [(alias, "building", building.id) for alias in _aliases(building.name, room=False)]
        names += [(word, "building", building.id) for word in building.name.split()  # "HQ", "Harbour"
                  if word.isalpha() and word.lower() not in _GENERIC | _FILLER and len(word) > 1]
    lows = list(map(str.lower, map(itemgetter(0), names)))
    twice = {low for low, count in Counter(lows).items() if count > 1}
    first: dict[str, tuple[str, str, str]] = {}  # an alias said twice (lowercase): the first thing it names
    shared: set[str] = set()
    for name, low in zip(names, lows, strict=True):
        if low in twice:
            named = first.setdefault(low, name)
            if named[1:] != name[1:]:
                shared.add(low)
    if shared:
        own = {r.name for r in catalog.rooms} | {b.name for b in catalog.buildings}
        names = [n for n, low in zip(names, lows, strict=True) if low not in shared or n[0] in own]
    lengths = list(map(len, map(itemgetter(0), names)))
    return [names[i] for i in sorted(range(len(names)), key=lengths.__getitem__, reverse=True)]  # stable


_ROOM_NUMBER = re.compile(r"(?:room|meeting room|conference room|boardroom) \s*\d+\s*")  # "room 12" (lowercase)


def _room_aliases(rooms: tuple[RoomName, ...]) -> list[tuple[str, str, str]]:
    """Each room's aliases, in order. Most names have nothing to trim ("Aurora", "Room 12"): those are told
    apart in bulk (C-level string tests over all 50,000 names), and only the others read by `_aliases`."""
    names = list(map(str.strip, map(itemgetter(1), rooms)))
    lows = list(map(str.lower, names))
    trimmed = map(or_, map(str.startswith, lows, repeat("the")), map(str.endswith, lows, repeat(_ROOM_ENDS)))
    started = map(str.startswith, lows, repeat(_ROOM_STARTS))
    numbered = map(_ROOM_NUMBER.fullmatch, lows)
    aliases: list[tuple[str, str, str]] = []
    for room, name, trim, start, number in zip(rooms, names, trimmed, started, numbered, strict=True):
        if trim or start and not number:
            aliases += [(alias, "room", room.email) for alias in _aliases(room.name, room=True)]
        elif name:
            aliases.append((name, "room", room.email))
    return aliases


def _read_names(text: _Text, catalog: Catalog, values: dict[str, Any], several: bool = True) -> None:
    """Rooms and buildings by name (longest first, case-insensitive, whole words; a name two of them share
    names neither). Every room named is in `values["rooms"]` (email: where), unless not `several`."""
    for alias, kind, item in catalog._names.said(text.lower):
        key = {"room": "room_email", "building": "building_id"}[kind]
        if values.get(key) and (kind == "building" or not several) or item in values.get("rooms", {}):
            continue
        match = text.search(re.compile(rf"(?<![\w-]){re.escape(alias.lower())}(?![\w-])"))
        if not match:
            continue
        if kind == "building" and len(alias) <= 3 and not text.original[match.start():match.end()].isupper():
            continue  # a short name ("HQ", "ONE") only when written as one
        if kind == "room":
            values.setdefault("rooms", {})[item] = (match.start(), alias)
            if "room_email" not in values:
                values["room_email"] = item
                values["room_at"] = match.start()  # before or after "to" in "move my 2pm to Aurora"
        else:
            values[key] = item
        text.take(match.start(), match.end())
        trailing = _ROOM_WORD.match(text.lower, match.end())
        if kind == "room" and trailing:
            text.take(trailing.start(), trailing.end())


_EXCLUSION = re.compile(r"\b(?:no\s+need\s+for|(?:don'?t|do\s+not)\s+need|anywhere\s+but|other\s+than|"
                        r"except(?:\s+for)?|without|not|no)\b((?:\s+[\w'-]+){1,3})")
EXCLUSION_PROBLEM = "I can't leave out a room, place or feature: pick what you need below."


def _read_exclusions(text: _Text, catalog: Catalog, problems: list[str]) -> None:
    """"no video", "not in Harbour House", "any room except Aurora": what is named within three words of a
    negation is left out (it is never asked for as if wanted), and said back so the form shows with a note."""
    for match in list(_EXCLUSION.finditer(text.lower)):
        span = _Text(text.rest)
        span.take(0, match.start(1))
        span.take(match.end(1), len(span.chars))
        before = span.rest
        _read_names(span, catalog, {})
        _read_floor(span, catalog, {}, [])
        _read_features(span, catalog)
        if span.rest == before:
            continue
        text.take(match.start(), match.start(1))  # the negation itself
        for i, (was, now) in enumerate(zip(before, span.rest, strict=True)):
            if was != now:
                text.take(i, i + 1)
        if EXCLUSION_PROBLEM not in problems:
            problems.append(EXCLUSION_PROBLEM)


_FLOOR = re.compile(r"\b(?:(?:on\s+)?(?:the\s+)?(ground|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|"
                    r"tenth|eleventh|twelfth|(\d{1,2})(?:st|nd|rd|th))\s+(?:floor|fl|level|storey|story)\b|"
                    r"(?:on\s+)?(?:floor|level|lvl|fl)\.?\s*(\d{1,2}|g\b|ground))")


def _read_floor(text: _Text, catalog: Catalog, values: dict[str, Any], problems: list[str]) -> None:
    """"On the second floor", "floor 2", "2nd floor", "level 3", "ground floor": by the floor's name, else by
    Floor.level (in the building named, if one was); then any other floor name said ("Mezzanine")."""
    names = catalog._names

    def candidates(floors: list[Floor]) -> list[Floor]:
        return [f for f in floors if not values.get("building_id") or f.building_id == values["building_id"]]

    match = text.search(_FLOOR)
    if match:
        word, digits, after = match.group(1), match.group(2), match.group(3)
        if digits:
            level = int(digits)
        elif word:
            level = _ORDINALS[word]
        else:
            level = 0 if after in ("g", "ground") else int(after)
        text.take(match.start(), match.end())
        said = " ".join(match.group(0).lower().split()).removeprefix("on ").removeprefix("the ")
        floors = candidates(names.floors_by_name.get(said, [])) or candidates(names.floors_by_level.get(level, []))
        if len(floors) == 1:
            values["floor_id"], values["building_id"] = floors[0].id, floors[0].building_id
        elif not floors:
            where = next((f" in {b.name}" for b in catalog.buildings if b.id == values.get("building_id")), "")
            problems.append(f"I don't know a floor {level}{where}.")
        else:
            problems.append(f"There is a floor {level} in more than one building: which building?")
        return
    for floor in candidates(names.floors_said(text.lower)):
        found = text.search(re.compile(rf"(?<![\w-]){re.escape(floor.name.lower())}(?![\w-])"))
        if found:
            values["floor_id"], values["building_id"] = floor.id, floor.building_id
            text.take(found.start(), found.end())
            return


def _read_features(text: _Text, catalog: Catalog) -> tuple[str, ...]:
    """Features by name (singular or plural) first, then by a few synonyms ("tv" for a screen)."""
    found: list[str] = []
    for exact in (True, False):
        for feature in sorted(catalog.features, key=len, reverse=True):
            if feature in found:
                continue
            for phrase in sorted(_feature_phrases(feature.lower(), exact), key=len, reverse=True):
                match = text.search(re.compile(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])"))
                if match:
                    found.append(feature)
                    text.take(match.start(), match.end())
                    break
    return tuple(f for f in catalog.features if f in found)


def _feature_phrases(name: str, exact: bool) -> set[str]:
    if exact:  # its name, and longer ways to say it that contain it ("video conferencing" for "video")
        return {name, name + "s", name.removesuffix("s"), name.replace("-", " ")} - {""} | {
            synonym for synonyms in _FEATURE_SYNONYMS.values() for synonym in synonyms
            if name in synonym.split() and len(synonym) > len(name)}
    return {synonym for key, synonyms in _FEATURE_SYNONYMS.items() if key == name or key in name.split()
            for synonym in synonyms}


_NOT_PEOPLE = (r"(?!\s*(?:h\b|hrs?\b|hours?\b|min|mins\b|m\b|:|\.\d|am\b|pm\b|a\.m|p\.m|o'?clock|-|–|/|th\b|st\b|"
               r"nd\b|rd\b|days?\b|weeks?\b|more\s+min|more\s+hour|ish\b))")
_CAPACITY = [
    (re.compile(rf"\b(?:for\s+)?(?:just\s+)?me\s+(?:and|\+|&|plus)\s+{_NUM}\s*(?:others?|colleagues?|people|"
                rf"more|guests|persons|ppl|coworkers|co-workers|of\s+my\s+\w+)?\b"), 1),
    (re.compile(rf"\b{_NUM}\s*(?:-|\s)?{_PEOPLE}\b"), 0),
    (re.compile(rf"\b(?:team|group|party|meeting)\s+of\s+{_NUM}\b{_NOT_PEOPLE}"), 0),
    (re.compile(r"\b(?:team|group|us|people|everyone)\s*\((\d{1,4})\)"), 0),
    (re.compile(rf"\b(?:seats?|seating|capacity|fits?|holds?|for\s+at\s+least|sits?)\s+(?:of\s+|for\s+)?"
                rf"(?:at\s+least\s+)?{_NUM}\b{_NOT_PEOPLE}"), 0),
    (re.compile(rf"\b{_NUM}[-\s]?(?:seater|person)\b"), 0),
    (re.compile(rf"\bfor\s+(?:a\s+)?{_NUM}\b{_NOT_PEOPLE}"), 0),
]


def _read_capacity(text: _Text) -> int | None:
    for pattern, extra in _CAPACITY:
        match = text.search(pattern)
        if match:
            number = _number(match.group(1))
            if number is None or not 0 < number + extra <= 10_000:
                continue
            text.take(match.start(), match.end())
            return number + extra
    if text.search(re.compile(r"\b(?:just\s+(?:for\s+)?me|for\s+myself|(?:a\s+)?room\s+for\s+me|"
                              r"by\s+myself|on\s+my\s+own|for\s+one\s+person)\b")):
        return 1
    return None


# --- dates and times we read ourselves (the recognizer misses them or reads them US-only) ---------------

_HOUR = r"(\d{1,2})(?:[:.](\d{2}))?"
_RANGE = re.compile(rf"(?<![\w/:.-])(?:(?:from|between)\s+)?{_HOUR}\s*(?:-|–|—|to|till|til|until|and)\s*{_HOUR}"
                    r"(?![\w/:.-]|\s*(?:am|pm|a\.m|p\.m|o'?clock|h\b|hrs?\b|hours?|min|people|persons|ppl|seats))")
_UNTIL = re.compile(rf"(?<!quarter )(?<!half )(?<!minutes )(?<!mins )(?<!five )(?<!ten )(?<!twenty )"
                    rf"\b(?:until|till|til|to|through|thru|up\s+to)\s+{_HOUR}"
                    r"(?![\w/:-]|\s*(?:am|pm|a\.m|p\.m|h\b|hrs?\b|hours?|min|people|persons|ppl|seats))")
_DOTTED_TIME = re.compile(r"(?<![\w.:/])(\d{1,2})\.([0-5]\d)(?:\s*(am|pm|a\.m\.|p\.m\.))?(?![\w/:.-]|\s*(?:h\b|hrs?\b|"
                          r"hours?|min))")
_ROUGHLY = re.compile(rf"\b(around|about|approx(?:imately)?|roughly|~|after|before|by|from)\s*{_HOUR}(?:\s*-?ish)?"
                      r"(?![\w/:.-]|\s*(?:am|pm|a\.m|p\.m|o'?clock|h\b|hrs?\b|hours?|min|people|persons|ppl|seats))"
                      r"|(?<![\w.:/])(\d{1,2})(?::(\d{2}))?\s*-?ish\b")
_HALF = re.compile(r"\bhalf\s+(\d{1,2})(?![\w:/.]|\s*(?:am|pm|a\.m|p\.m|hours?|hrs?|h\b|min))")  # British
_AT_SIGN = re.compile(r"@\s*(\d{1,2})(?::(\d{2}))?\s*(am|pm)?(?![\w:/])")
_LUNCH = re.compile(r"\b(after\s+|before\s+)?(?:lunch|lunchtime|lunch\s+time)\b")
_FIRST_THING = re.compile(r"\b(?:at\s+)?first\s+thing(?:\s+in\s+the\s+morning)?\b")
_END_OF_DAY = re.compile(r"\b(?:(?:until|till|til|to|by|through)\s+)?(?:the\s+)?"
                         r"(?:end\s+of\s+(?:the\s+)?(?:work(?:ing)?\s+|business\s+)?day|close\s+of\s+(?:business|play)|end\s+of\s+business|eod|cob)\b")
_REST_OF_DAY = re.compile(r"\b(?:for\s+)?(?:the\s+)?rest\s+of\s+(?:the\s+|to)?day\b")
_ALL_DAY = re.compile(r"\b(?:for\s+)?(?:the\s+)?(?:whole|entire|full)\s+day\b|\b(?:for\s+)?all\s+day(?:\s+long)?\b")
_HHMM = re.compile(r"(?:(?<=\bat )|(?<=@)|(?<=@ )|(?<=\bfrom )|^)([01]\d|2[0-3])([0-5]\d)(?![\w/:.-])|"
                   r"(?<![\w/:.-])([01]?\d|2[0-3])h([0-5]\d)\b")  # "at 1430", "1430" alone, "10h30"
WORKDAY = (time(9), time(17))  # "all day", and where "end of day" ends
_SLASH_DATE = re.compile(r"(?<![\w/.:-])(\d{1,2})([/.])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\w/:-]|\.\d)")
_TOMORROW = re.compile(r"\b(?:tmrw|tmrow|tmr|tmw|tmo|tomoz|2moro|2morrow|tommorow|tommorrow|tomorow|tomorro|"
                       r"tomrrow|tomrow)\b")
_TODAY = re.compile(r"\b(?:tdy|2day|todya|tday)\b")
_MORE = re.compile(rf"\b(?:an?\s+(?:extra|additional|further)\s+|another\s+)?{_NUM}\s+(?:more|extra|additional|"
                   r"further)\s+(minutes?|mins?|m|hours?|hrs?|h)\b")
_NOW = re.compile(r"\b(?:asap|a\.s\.a\.p|straight\s+away|right\s+away|immediately|right\s+now|now)\b")


_HOUR_WORD = r"(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_CLOCK_PHRASE = re.compile(
    r"(?:\b(until|till|til|by|before|from|between|at|around|about)\s+|@\s*)?"
    rf"(?<![\w:./-])(?:(\d{{1,2}}|twenty[\s-]five|twenty|ten|five)\s+(past|to)\s+{_HOUR_WORD}|half\s+{_HOUR_WORD})"
    r"(?:\s*(am|pm|a\.m\.?|p\.m\.?))?"
    r"(?![\w:/.-]|\s*(?:hours?|hrs?|h\b|min|people|persons|ppl|seats|o'?clock))")


_WEEKDAY_WORD = (r"(mon(?:day)?|tue(?:s(?:day)?)?|wed(?:s|nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|sat(?:urday)?|"
                 r"sun(?:day)?|today|tomorrow|tmrw|tmr)")
_WEEK_ON = re.compile(rf"\b(?:(?:on\s+)?{_WEEKDAY_WORD}\s+(week)|(?<!for\s)(?:in\s+)?(?:a|one)\s+(week|fortnight)\s+"
                      rf"(?:on\s+|from\s+)?{_WEEKDAY_WORD})\b")


_NOT_A_TIME = re.compile(r"\bnot\s+(?:at\s+)?\d{1,2}(?:[:.]\d{2})?(?:\s*(?:am|pm))?(?![\w:/.-]|\s*(?:people|"
                         r"persons|ppl|seats|hours?|hrs?|mins?|minutes?))")
_ORDINAL_DAY = re.compile(r"\bfor\s+the\s+(\d{1,2})(?:st|nd|rd|th)\b(?!\s*(?:floor|fl|level|storey|story)\b)")
_SHORT_MINUTES = re.compile(r"(?:\bfor\s+)?(?<![\w/:.-])(\d{1,3})m\b")


def _next_day_of_month(today: date, number: int) -> date | None:
    """The next `number`th from today on (a month without one is skipped: "the 31st" in November is 31 Dec)."""
    year, month = today.year, today.month
    for _ in range(13):
        try:
            day = date(year, month, number)
        except ValueError:
            day = None
        if day and day >= today:
            return day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _read_week_on(text: _Text, now: datetime, values: dict[str, Any]) -> None:
    """British "Tuesday week" / "a week on Tuesday" (the next Tuesday, today counting, plus a week), "a
    fortnight today/tomorrow" (plus 14 days): a day, never a length ("for a week" is one)."""
    match = text.search(_WEEK_ON)
    if not match:
        return
    said, span = match.group(1) or match.group(4), match.group(2) or match.group(3)
    if said == "today":
        offset = 0
    elif said.startswith(("tom", "tm")):
        offset = 1
    else:
        offset = ([d[:3] for d in _WEEKDAYS].index(said[:3]) - now.weekday()) % 7
    values["day"] = now.date() + timedelta(days=offset + (14 if span == "fortnight" else 7))
    text.take(match.start(), match.end())


def _read_clock_phrase(text: _Text, values: dict[str, Any]) -> None:
    """British clock phrases: "five past ten" 10:05, "(at) 10 to 3" 14:50, "half four" 16:30 (half past),
    hours by the working-hours rule; "until half five" an end. "10 to 3" without "at", or after "from", is a
    range (read next)."""
    for match in text.search_all(_CLOCK_PHRASE):
        word, minutes, way, hour = match.group(1), match.group(2), match.group(3), match.group(4) or match.group(5)
        if word in ("from", "between"):
            continue
        said = _number(hour)
        if said is None or not 1 <= said <= 12:
            continue
        if match.group(5):
            minute = 30
        else:
            minute = _number(minutes.replace("-", " ").replace("twenty five", "25")) or 0
            if way == "to" and (minute not in (5, 10, 20, 25) or minutes.isdigit() and not word
                                and not match.group(0).startswith("@")):
                continue  # "2 to 3" is a range; only "at 10 to 3", "ten to three" is ten to
            if not 1 <= minute <= 59:
                continue
        suffix = (match.group(6) or "").replace(".", "")
        clock = said % 12 + (12 if suffix == "pm" else 0) if suffix else _working_hour(said)
        moment = datetime.combine(date.min, time(clock, 0)) + timedelta(minutes=-minute if way == "to" else minute)
        key = "end" if word in ("until", "till", "til", "by", "before") else "start"
        if key in values:
            continue
        values[key] = moment.time()
        text.take(match.start(), match.end())


def _clock(hour: str, minute: str | None) -> tuple[int, int] | None:
    h, m = int(hour), int(minute or 0)
    return (h, m) if h <= 23 and m <= 59 else None


def _read_own_times(text: _Text, now: datetime, locale: str, values: dict[str, Any]) -> None:
    """What the recognizer misses: hour ranges without am/pm ("10-11", "from 2 to 3"), "until 4",
    "12.30", "15 more minutes", texting spellings of tomorrow, and numeric dates by locale."""
    match = text.search(_SLASH_DATE)
    if match and (match.group(2) == "/" or match.group(4) or locale.lower() not in MONTH_FIRST):
        day = _numeric_date(match, now.date(), locale)
        if day:
            values["day"] = day
            text.take(match.start(), match.end())
    for pattern, offset in ((_TOMORROW, 1), (_TODAY, 0)):
        match = text.search(pattern)
        if match:
            values["day"] = now.date() + timedelta(days=offset)
            text.take(match.start(), match.end())
    match = text.search(_NOT_A_TIME)
    if match:  # "at 3, not 2": the time that is not wanted is no start, nor a word left over
        text.take(match.start(), match.end())
    _read_week_on(text, now, values)
    match = text.search(_ORDINAL_DAY)
    if match and 1 <= int(match.group(1)) <= 31:  # "for the 1st": the next such day of a month
        day = _next_day_of_month(now.date(), int(match.group(1)))
        if day:
            values["day"] = day
            text.take(match.start(), match.end())
    match = text.search(_SHORT_MINUTES)
    if match and 0 < int(match.group(1)) <= 600:  # "30m": minutes
        values["minutes"] = timedelta(minutes=int(match.group(1)))
        text.take(match.start(), match.end())
    _read_clock_phrase(text, values)
    match = text.search(_RANGE)
    if match:
        start, end = _clock(match.group(1), match.group(2)), _clock(match.group(3), match.group(4))
        if start and end:
            values["start"], values["end"] = _bare_range(match.group(1), start, match.group(3), end)
            text.take(match.start(), match.end())
    match = text.search(_UNTIL)
    if match and _clock(match.group(1), match.group(2)):
        h, m = _clock(match.group(1), match.group(2)) or (0, 0)
        hour = h if h > 12 or len(match.group(1)) == 2 and match.group(1).startswith("0") else _working_hour(h)
        values["end"] = time(hour, m)
        text.take(match.start(), match.end())
    match = text.search(_DOTTED_TIME)
    if match and _clock(match.group(1), match.group(2)):
        h, m = _clock(match.group(1), match.group(2)) or (0, 0)
        suffix = (match.group(3) or "").replace(".", "")
        if suffix:
            hour = h % 12 + (12 if suffix == "pm" else 0)
        else:
            hour = h if h > 12 or match.group(1).startswith("0") else _working_hour(h)
        values["start"] = time(hour, m)
        text.take(match.start(), match.end())
    match = text.search(_ROUGHLY)
    if match and "start" not in values:  # "after 3", "before 10", "around 2", "3ish": the working-hours reading
        word, hour, minute = match.group(1) or "", match.group(2) or match.group(4), match.group(3) or match.group(5)
        clock = _clock(hour, minute)
        if clock and (word != "by" or "end" not in values):
            value = time(clock[0] if clock[0] > 12 or hour.startswith("0") else _working_hour(clock[0]), clock[1])
            values["end" if word in ("before", "by") else "start"] = value
            text.take(match.start(), match.end())
    match = text.search(_HALF)
    if match and "start" not in values and 1 <= int(match.group(1)) <= 12:  # "half 2" is 2:30 (half past)
        values["start"] = time(_working_hour(int(match.group(1))), 30)
        text.take(match.start(), match.end())
    match = text.search(_AT_SIGN)
    if match and "start" not in values and _clock(match.group(1), match.group(2)):  # "@ 2"
        h, m = _clock(match.group(1), match.group(2)) or (0, 0)
        suffix = match.group(3)
        hour = h % 12 + (12 if suffix == "pm" else 0) if suffix else (h if h > 12 else _working_hour(h))
        values["start"] = time(hour, m)
        text.take(match.start(), match.end())
    match = text.search(_LUNCH)
    if match:
        before = (match.group(1) or "").startswith("before")
        values["window"] = _PARTS_OF_DAY["MO"] if before else (time(13), time(17)) if match.group(1) else (
            time(12), time(14))
        text.take(match.start(), match.end())
    _read_working_day(text, now, values)
    match = text.search(_MORE)
    if match:
        number = _number(match.group(1)) or 0
        unit = match.group(2)
        values["more"] = timedelta(hours=number) if unit.startswith("h") else timedelta(minutes=number)
        text.take(match.start(), match.end())


def _read_working_day(text: _Text, now: datetime, values: dict[str, Any]) -> None:
    """The working day: "first thing" is the morning, "end of day" / "eod" / "close of business" its end
    (17:00, not midnight), "the rest of the day" from now to its end, "all day" the whole of it (8 hours)."""
    match = text.search(_FIRST_THING)
    if match:
        values["window"] = _PARTS_OF_DAY["MO"]
        text.take(match.start(), match.end())
    match = text.search(_REST_OF_DAY)
    if match:
        values["now"], values["end"] = True, WORKDAY[1]
        text.take(match.start(), match.end())
    match = text.search(_END_OF_DAY)
    if match and "end" not in values:
        values["end"] = WORKDAY[1]
        text.take(match.start(), match.end())
    match = text.search(_ALL_DAY)
    if match:
        values["all_day"] = True
        text.take(match.start(), match.end())
    match = text.search(_HHMM)
    if match and "start" not in values:
        hour, minute = match.group(1) or match.group(3), match.group(2) or match.group(4)
        values["start"] = time(int(hour), int(minute))
        text.take(match.start(), match.end())


def _bare_range(h1: str, start: tuple[int, int], h2: str, end: tuple[int, int]) -> tuple[time, time]:
    """'10-11' is 10:00-11:00, '2-3' 14:00-15:00, '11-1' 11:00-13:00, '14-15' as written."""
    s_hour = start[0] if start[0] > 12 or h1.startswith("0") else _working_hour(start[0])
    e_hour = end[0]
    if e_hour <= 12 and not h2.startswith("0"):
        e_hour = e_hour % 12
        while e_hour * 60 + end[1] <= s_hour * 60 + start[1] and e_hour < 12:
            e_hour += 12
    return time(s_hour, start[1]), time(min(e_hour, 23), end[1])


def _numeric_date(match: re.Match[str], today: date, locale: str) -> date | None:
    """'12/3' by locale: month first in `MONTH_FIRST` locales, else day first; a number above 12 settles it."""
    a, b, year = int(match.group(1)), int(match.group(3)), match.group(4)
    month_first = locale.lower() in MONTH_FIRST or not locale
    if match.group(2) == ".":
        month_first = False  # "12.3.": dotted dates are day first wherever they are written
    elif a > 12 >= b:
        month_first = False
    elif b > 12 >= a:
        month_first = True
    month, day = (a, b) if month_first else (b, a)
    try:
        if year:
            return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
        candidate = date(today.year, month, day)
        return candidate if candidate >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


# --- the recognizer's readings, chosen ------------------------------------------------------------------

_ZERO_HOUR = re.compile(r"(?<!\d)0\d[:.]\d\d")


def _clock_of(value: str) -> time:
    return time.fromisoformat(value[-8:] if len(value) > 8 else value)


def _working(options: list[dict[str, Any]], key: str, said: str = "") -> list[dict[str, Any]]:
    """Among am/pm readings of one time, those in working hours (08:00-19:59); explicit ones are alone, and
    a 24-hour time written with its zero ("07:30") is as written."""
    if len(options) < 2:
        return options
    if _ZERO_HOUR.search(said):
        kept = [o for o in options if key in o and _clock_of(o[key]).hour < 12]
    else:
        kept = [o for o in options if key in o and 8 <= _clock_of(o[key]).hour < 20]
    return kept or options


def _is_weekday(option: dict[str, Any]) -> bool:
    return "WXX" in option.get("timex", "")


def _future(options: list[dict[str, Any]], key: str, now: datetime, ahead: str) -> dict[str, Any]:
    """The first reading still ahead: a date from today on, a weekday while `ahead` (its start or end) has not
    passed; else the last one (the caller reports it as passed)."""
    def moment(option: dict[str, Any], which: str) -> datetime:
        value = option.get(which) or option.get(key)
        return datetime.fromisoformat(value) if len(value) > 10 else datetime.combine(date.fromisoformat(value),
                                                                                       time(23, 59))
    ordered = sorted(options, key=lambda o: moment(o, key))
    for option in ordered:
        if _is_weekday(option):
            if moment(option, ahead) >= now - GRACE:
                return option
        elif moment(option, key).date() >= now.date():
            return option
    if _is_weekday(ordered[-1]):  # the recognizer offers last week's and this week's: this one has passed
        return {k: _a_week_later(v) if k in ("value", "start", "end") else v for k, v in ordered[-1].items()}
    return ordered[-1]


def _a_week_later(value: str) -> str:
    if len(value) == 10:
        return (date.fromisoformat(value) + timedelta(days=7)).isoformat()
    return (datetime.fromisoformat(value) + timedelta(days=7)).isoformat(sep=" ")


# A digit or the start of a word about time: without one the recognizer finds nothing (a loose net: "mon"
# also catches "money", which only costs a reading).
_TIMEISH = re.compile(r"\d|\b(?:mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|"
                      r"today|tomorrow|tonight|yesterday|now|asap|morning|afternoon|evening|night|noon|midday|"
                      r"midnight|eod|eow|cob|hour|hr|minute|min|sec|week|weekend|fortnight|month|year|day|daily|"
                      r"next|last|this|ago|later|soon|earlier|until|till|til|before|after|since|o'?clock|half|"
                      r"quarter|past|christmas|easter|xmas|holiday|one|two|three|four|five|six|seven|eight|nine|ten|"
                      r"eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred|an?\s+hour|end|start|beginning|mid|"
                      r"present|current|immediately|right|coming|upcoming|early|late|dawn|dusk|lunch|breakfast|"
                      r"dinner|fourth|fifth|first|second|third)", re.IGNORECASE)


def _read_recognized(text: _Text, now: datetime, values: dict[str, Any]) -> None:
    """The recognizer reads what is left, as a person wrote it but without what was read already (with the
    gaps closed up: it misreads text that starts with blanks)."""
    said, origin = text.closed_up()
    if not _TIMEISH.search(said):
        return  # nothing it could read as a date, time or length ("cancel my booking"): spare its ~20 ms
    try:
        results = _datetime_model().parse(said, now)
    except Exception:  # noqa: BLE001 - the recognizer's own failures: its words stay as not understood
        return
    for result in results:
        try:
            used = _read_one(result, now, values)
        except (ValueError, KeyError, TypeError, OverflowError, IndexError):
            used = False  # a date it could not resolve ("not resolved", year 10000): asked back
        if used and 0 <= result.start <= result.end < len(origin):
            text.take(origin[result.start], origin[result.end] + 1)


def _read_one(result: Any, now: datetime, values: dict[str, Any]) -> bool:
    kind = result.type_name.rsplit(".", 1)[-1]
    options = [o for o in (result.resolution or {}).get("values") or [] if o.get("value") != "not resolved"]
    if not options:
        return False
    timex = options[0].get("timex", "")
    if timex in ("PRESENT_REF", "FUTURE_REF"):
        values["now"] = True
        return True
    if kind == "duration":
        seconds = float(options[0]["value"])
        if seconds <= 0:
            return False
        key = "by" if options[0].get("Mod") == "before" or result.text.lower().startswith("by ") else "duration"
        values[key] = timedelta(seconds=seconds)
        return True
    if kind == "date":
        values["day"] = date.fromisoformat(_future(options, "value", now, "value")["value"])
        return True
    if kind == "time":
        values["start"] = _clock_of(_working(options, "value", result.text)[0]["value"])
        return True
    if kind == "datetime":
        option = _future(_working(options, "value", result.text), "value", now, "value")
        moment = datetime.fromisoformat(option["value"])
        if moment.time() == time(23, 59, 59):  # "end of day"
            values["day"], values["end"] = moment.date(), time(23, 59)
            return True
        values["day"], values["start"] = moment.date(), moment.time()
        if "T" in timex and re.search(r"T\d\d:\d\d:\d\d$", timex) and not _is_weekday(option):
            values["relative"] = True  # "in 2 hours"
        return True
    if kind == "timerange":
        part = re.search(r"T(MO|AF|EV|NI|DT)$", timex)
        if part:
            values["window"] = _PARTS_OF_DAY[part.group(1)]
            return True
        option = _working(options, "start", result.text)[0] if "start" in options[0] else options[0]
        if option.get("Mod") == "before" and "end" in option:  # "until 4pm"
            values["end"] = _clock_of(option["end"])
            return True
        if "start" in option and "end" in option:
            values["start"], values["end"] = _clock_of(option["start"]), _clock_of(option["end"])
            return True
        if "start" in option:  # "after 3pm"
            values["start"] = _clock_of(option["start"])
            return True
        return False
    if kind == "daterange" and "start" in options[0] and "end" in options[0]:  # "next week"
        option = _future(options, "start", now, "end")
        first, last = date.fromisoformat(option["start"]), date.fromisoformat(option["end"]) - timedelta(days=1)
        if not now.year <= first.year <= now.year + 2:
            return False  # "at 1030" read as the year 1030
        values["range"] = (max(first, now.date()), last)
        return True
    if kind == "datetimerange":
        part = re.search(r"T(MO|AF|EV|NI|DT)$", timex)
        if part:
            window = _PARTS_OF_DAY[part.group(1)]
            option = _future(options, "start", now, "end")
            day = datetime.fromisoformat(option["start"]).date()
            if _is_weekday(option) and datetime.combine(day, window[1]) < now:
                day += timedelta(days=7)
            values["day"], values["window"] = day, window
            return True
        if "start" not in options[0] or "end" not in options[0]:
            return False
        option = _future(_working(options, "start", result.text), "start", now, "start")
        start, end = datetime.fromisoformat(option["start"]), datetime.fromisoformat(option["end"])
        if (end - start) > timedelta(days=1) or end.date() != start.date() and end.time() != time(0):
            values["across_midnight"] = True
        values["day"], values["start"], values["end"] = start.date(), start.time(), end.time()
        return True
    return False


def _read_when(text: _Text, now: datetime, locale: str) -> dict[str, Any]:
    """Everything the text says about time, as raw values (see `_when`)."""
    values: dict[str, Any] = {}
    _read_own_times(text, now, locale, values)
    own_day = values.pop("day", None)
    own = {k: values.pop(k) for k in ("start", "end", "window") if k in values}
    _read_recognized(text, now, values)
    if "minutes" in values:
        values["duration"] = values.pop("minutes")  # "for 30m": what we read wins over any other length
    if own_day is not None:
        values["day"] = own_day  # "tmrw at 10": the recognizer saw only "at 10"
    for key, value in own.items():
        values.setdefault(key, value)
    if "day" not in values:
        _read_misspelt_weekday(text, now, values)
    match = text.search(_NOW)
    if match:
        values["now"] = True
        text.take(match.start(), match.end())
    if "start" not in values:
        _read_lone_hour(text, values)
    if values.pop("all_day", False):
        _all_day(now, values)
    return values


_DAY_WORD = (r"(?:today|tomorrow|tmrw|tmr|tonight|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
             r"mon|tues?|wed|weds|thu|thur|thurs|fri|sat|sun|my|our)")
_LONE_HOUR = re.compile(r"(?<![\w/:.@£$€#-])(\d{1,2}|[01]\d[0-5]\d|2[0-3][0-5]\d)(?![\w/:.%-])(?!\s*(?:bookings?|"
                        r"meetings?|reservations?|rooms?|hours?|hrs?|mins?|minutes?|days?|weeks?|people|persons|"
                        r"ppl|seats?|of\b|others?|more\b|x\b))")
_NOT_AN_HOUR = re.compile(r"\b(?:room|rm|floor|level|lvl|building|no\.?|number)\s*$", re.IGNORECASE)  # "room 5"
_BEFORE_LONE_HOUR = re.compile(rf"(?:^|,|\b{_DAY_WORD}\.?|\bto)\s*$", re.IGNORECASE)  # "move my 9 to 11 tomorrow"
_AFTER_LONE_HOUR = re.compile(rf"\s*,?\s*(?:on\s+)?(?!my\b|our\b){_DAY_WORD}\b", re.IGNORECASE)  # "10 tomorrow"


def _read_lone_hour(text: _Text, values: dict[str, Any]) -> None:
    """A number left alone as a time: next to a day ("tomorrow 10", "fri 9", "my 10", "11 tomorrow"), after a
    comma ("a room, 3": the bot's own question answered), or as the whole message; by the working-hours rule.
    Seats were read before ("room for 10")."""
    for match in _LONE_HOUR.finditer(text.lower):
        before = text.original[:match.start()]
        if _NOT_AN_HOUR.search(before) or not (_BEFORE_LONE_HOUR.search(before)
                                               or _AFTER_LONE_HOUR.match(text.original, match.end())):
            continue
        digits = match.group(1)
        hour, minute = (int(digits[:-2]), int(digits[-2:])) if len(digits) == 4 else (int(digits), 0)
        if not (1 <= hour <= 23 or len(digits) == 4):
            continue
        values["start"] = time(hour if hour > 12 or len(digits) == 4 else _working_hour(hour), minute)
        text.take(match.start(), match.end())
        return


def _all_day(now: datetime, values: dict[str, Any]) -> None:
    """09:00-17:00; today, from the next quarter hour once 09:00 has passed."""
    start, end = WORKDAY
    day = values.get("day") or now.date()
    if day == now.date() and now.time() > start:
        later = _next_quarter(now).time()
        start = later if later < end else start
    values.setdefault("start", start)
    values.setdefault("end", end)


def _next_quarter(now: datetime) -> datetime:
    minutes = -(-(now.hour * 60 + now.minute) // 15) * 15
    return datetime.combine(now.date(), time()) + timedelta(minutes=minutes)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _read_misspelt_weekday(text: _Text, now: datetime, values: dict[str, Any]) -> None:
    """"wensday", "thursady", "frday": a word close to one weekday's name (the recognizer knows only the
    right spellings), by the same rule: today while what was asked is still ahead, else the next one."""
    for match in re.finditer(r"[a-z]{5,}", text.lower):
        word = match.group(0)
        if word in _FILLER or word in _WEEKDAYS:
            continue
        close = difflib.get_close_matches(word, _WEEKDAYS, n=2, cutoff=0.8)
        if len(close) != 1:
            continue
        day = now.date() + timedelta(days=(_WEEKDAYS.index(close[0]) - now.weekday()) % 7)
        ahead = values.get("start") or (values["window"][1] if values.get("window") else None)
        if day == now.date() and ahead is not None and datetime.combine(day, ahead) < now - GRACE:
            day += timedelta(days=7)
        values["day"] = day
        text.take(match.start(), match.end())
        return


def _when(values: dict[str, Any], now: datetime, problems: list[str]) -> When:
    day, start, end = values.get("day"), values.get("start"), values.get("end")
    window = values.get("window")
    if values.get("now"):
        if end and (day is None or day == now.date()) and datetime.combine(now.date(), end) <= now:
            problems.append(f"{end:%H:%M} has already passed.")  # "for the rest of the day" at 18:00
        return When(day=day if day and day != now.date() else None, now=True, end=end,
                    duration=values.get("duration"))
    if start and end and end <= start and end != time(0):
        problems.append(f"The end ({end:%H:%M}) must be after the start ({start:%H:%M}).")
    if values.get("across_midnight") or (start and end == time(0)):
        problems.append("A booking has to start and end on the same day.")
    if window and day == now.date() and datetime.combine(day, window[1]) <= now:
        problems.append("That part of today has already passed.")
    if start and day is not None and datetime.combine(day, start) < now - GRACE:
        problems.append(f"{start:%H:%M} on {day:%a %d %b} has already passed.")
    elif day is not None and day < now.date():
        problems.append(f"{day:%a %d %b %Y} has already passed.")
    if window and start:
        window = None  # "tomorrow morning at 10": the time says it
    if values.get("range") and day is None:
        first, last = values["range"]
        problems.append(f"Which day between {first:%a %d %b} and {last:%a %d %b}?")
    return When(day=day, start=start, end=end, duration=values.get("duration"), window=window)


# --- booking references and the new time -------------------------------------------------------------

_SPLIT = {
    Intent.MOVE: re.compile(r"\b(?:to|until|till|for|by|back|forward|earlier|later)\b|\bon\b(?=\s+\w)"),
    Intent.EXTEND: re.compile(r"\b(?:by|until|till|til|to|for)\b"),
}
_BY_NUMBER = re.compile(r"^\s*by\s+(\d{1,3})\s*[.!?]*\s*$")
_BARE_HOUR = re.compile(r"^\s*(?:at\s+)?(\d{1,2})(?:[:.](\d{2}))?\s*[.!?]*\s*$")
_NEXT = re.compile(r"\b(?:next|upcoming|soonest|first|coming)\b")
_CURRENT = re.compile(r"\b(?:current|ongoing|this|present|right\s+now|now|in\s+progress)\b")
_REF_WORDS = re.compile(r"\b(?:my|our|the|this|that|it|booking|meeting|reservation|room|slot|one)\b")


def _split_at(text: _Text, intent: Intent) -> int | None:
    """Where the new time starts: after the "to" ("move my 2pm to 4pm"), at the "by" ("by an hour") that
    follows the booking's own words; None when the text gives no new time."""
    pattern = _SPLIT.get(intent)
    if pattern is None:
        return None
    low = text.lower
    anchor = _MOVE.search(low) or _EXTEND.search(low)
    begin = low.find(" ", anchor.start()) if anchor else 0
    matches = [m for m in pattern.finditer(low, max(begin, 0)) if low[m.end():].strip(" .!?")]
    if intent is Intent.EXTEND:
        return matches[-1].start() if matches else None
    if not matches:
        return None
    first = next((m for m in matches if m.group(0) in ("to", "until", "till")), matches[0])
    return first.end() if first.group(0).strip() in ("to", "until", "till", "for", "on") else first.start()


def _booking_ref(text: _Text, now: datetime, locale: str, room_email: str, intent: Intent,
                 values: dict[str, Any]) -> BookingRef | None:
    """Which booking the words name; `values` gets what they said about time (a duration, for EXTEND)."""
    low = text.lower
    values.update(_read_when(text, now, locale))
    is_next = bool(_NEXT.search(text.lower))
    current = bool(values.get("now")) or bool(_CURRENT.search(text.lower)) and not values.get("start")
    if values.get("now") and values.get("start"):
        current = False
    ref = BookingRef(day=values.get("day"), start=values.get("start"), room_email=room_email, next=is_next,
                     current=current and not is_next)
    if ref == BookingRef():
        if intent in (Intent.END, Intent.EXTEND):
            return BookingRef(current=True)
        if intent is Intent.CANCEL and not _REF_WORDS.search(low):
            return None
    return ref


# --- leftovers and unknown rooms ----------------------------------------------------------------------

_UNKNOWN_ROOM = [
    re.compile(r"\bthe\s+([a-z][\w'-]*(?:\s+[a-z0-9][\w'-]*)?)\s+(?:meeting\s+|conference\s+)?room\b"),
    re.compile(r"\b(?:room|meeting room|conference room) (?:called |named )?([a-z0-9][\w.'-]*)"),
    # "in X", "at X" right after each other (one space: a wider gap is something already read, "at 10 near")
    re.compile(r"\b(?:in|at) (?:the )?([a-z][\w'-]*(?: [a-z0-9][\w'-]*)?)\s*$"),
    re.compile(r"\b(?:in|at) (?:the )?([a-z][\w'-]*)\b"),
    re.compile(r"\b(?:book|reserve)\s+([a-z][\w'-]*)\s*$"),
]


_PLACE_WORDS = {"building", "house", "office", "tower", "campus", "floor", "level", "site", "wing", "block"}


def _meaningful(word: str) -> bool:
    return word.lower().strip("'’.-") not in _FILLER and not re.fullmatch(r"\W+", word)


def _unknown_room(text: _Text) -> str:
    for pattern in _UNKNOWN_ROOM:
        for match in pattern.finditer(text.lower):
            words = text.original[match.start(1):match.end(1)].split()
            if (words and all(_meaningful(w) and len(w) > 1 and not w.isdigit() for w in words)
                    and not words[-1].lower().endswith("ing")
                    and not any(w.lower() in _PLACE_WORDS for w in words)
                    and (pattern is not _UNKNOWN_ROOM[-1] or words[0][0].isupper())):
                text.take(match.start(1), match.end(1))
                return " ".join(words)
    return ""


def _leftovers(text: _Text) -> tuple[str, ...]:
    words = re.findall(r"[^\s,;:!?()\"“”]+", text.rest)
    kept = (w.strip(".'’-") for w in words)
    kept = (w[:-2] if w.lower().endswith("'s") else w for w in kept)
    return tuple(w for w in kept if w and _meaningful(w) and w.lower() not in ("s", "'s"))


# --- the whole reading ---------------------------------------------------------------------------------

def understand(text: str, now_local: datetime, catalog: Catalog = Catalog(), locale: str = "en-US") -> Understanding:
    """Read one message. `now_local` is the user's wall-clock time; `locale` is Teams' clientInfo locale
    (it decides whether "12/3" is 3 December or 12 March)."""
    now = now_local.replace(tzinfo=None, second=0, microsecond=0)
    locale = (locale or "en-US").replace("_", "-")
    clean = " ".join(text.replace("’", "'").split())
    corrected = _corrected(clean, now, catalog, locale)
    return corrected or _understand(clean, now, catalog, locale)


_CORRECTION = _re(r"[\s,;.!-]+(?:no\s*,?\s*)?(?:wait\s*,?\s*(?:no\s*,?\s*)?|actually\s*,?\s*(?:make\s+(?:it|that)\s*)?|"
                  r"make\s+(?:it|that)|i\s+meant?|sorry\s*,?\s*(?:i\s+meant?\s*)?|or\s+rather|no\s*,)"
                  r"(?:\s*,?\s*(?:make\s+(?:it|that)\s*)?)[\s,:;-]*")
_UNIT_BEFORE = re.compile(r"\b(?:\d{1,3}|" + "|".join(_NUMBERS) + r")\s*(minutes?|mins?|m|hours?|hrs?|h)\W*$")
_SEATS_BEFORE = re.compile(rf"(?:\bfor\s+{_NUM}|{_NUM}\s*{_PEOPLE})\W*$", re.IGNORECASE)


def _corrected(text: str, now: datetime, catalog: Catalog, locale: str) -> Understanding | None:
    """"at 2, no wait, 3", "tomorrow at 10 actually make it 11", "for 30 mins no make that 45": a message
    that corrects itself is read in two parts, the later value of each kind winning. A bare number after
    the marker is of the kind said just before it (a length, seats, else a time)."""
    found = list(_CORRECTION.finditer(text))
    if not found:
        return None
    marker = found[-1]
    before, after = text[:marker.start()].strip(), text[marker.end():].strip(" .!?")
    if not before or not after or not re.search(r"\d|\w{3,}", after):
        return None
    first = _understand(before, now, catalog, locale)
    if first.intent in (Intent.UNKNOWN, Intent.GREETING, Intent.THANKS, Intent.HELP, Intent.CHECK_IN,
                        Intent.SETTINGS, Intent.STAR, Intent.UNSTAR, Intent.FAVOURITES) or (
            first.when.empty and first.capacity is None and not first.room_email and not first.extend_by
            and not first.move_by and not first.length):
        return None  # "sorry, can I book a room": nothing said yet to correct
    bare = re.fullmatch(r"(\d{1,4}|" + "|".join(_NUMBERS) + r")", after, re.IGNORECASE)
    if bare:
        unit = _UNIT_BEFORE.search(before)
        after = (f"for {after} {unit.group(1)}" if unit else f"for {after} people" if _SEATS_BEFORE.search(before)
                 else f"at {after}")
    second = _understand(after, now, catalog, locale)
    return _merged(first, second)


def _merged(first: Understanding, second: Understanding) -> Understanding:
    """`first` with what `second` says of each kind in its place."""
    said = {k: v for k, v in vars(second.when).items() if v not in (None, False)}
    extend_by, move_by = second.extend_by or first.extend_by, second.move_by or first.move_by
    if first.intent is Intent.EXTEND and first.extend_by and "duration" in said:  # "by 30 mins, make it 45"
        extend_by = said.pop("duration")
    length = second.length or first.length
    if first.intent is Intent.EXTEND and first.length and "duration" in said:  # "to 2 hours, no wait 3"
        length = said.pop("duration")
    if first.intent is Intent.MOVE and first.move_by and "duration" in said:
        move_by = said.pop("duration") * (-1 if first.move_by < timedelta(0) else 1)
    if "start" in said or "window" in said or "now" in said:
        said = {"start": None, "window": None, "now": False, **said}
    when = When(**{**vars(first.when), **said})
    details: dict[str, Any] = {}
    if first.intent is Intent.BOOK:
        details = {"capacity": second.capacity or first.capacity,
                   "building_id": second.building_id or first.building_id,
                   "floor_id": second.floor_id or first.floor_id,
                   "room_email": second.room_email or first.room_email,
                   "features": tuple(dict.fromkeys(first.features + second.features)),
                   "unknown_room": second.unknown_room or first.unknown_room,
                   "favourite": first.favourite or second.favourite}
    problems = tuple(p for p in first.problems if not said) + second.problems
    return replace(first, when=when, not_understood=first.not_understood + second.not_understood,
                   problems=problems, move_by=move_by, extend_by=extend_by, length=length, **details)


def _understand(clean: str, now: datetime, catalog: Catalog, locale: str) -> Understanding:
    intent, command = _intent(clean)
    if intent in (Intent.STAR, Intent.UNSTAR, Intent.FAVOURITES):
        return _favourite(intent, _LEADING_GREETING.sub("", clean), catalog)
    if intent in (Intent.GREETING, Intent.THANKS, Intent.CHECK_IN, Intent.SETTINGS) or (
            intent is Intent.HELP and not command) or (intent is Intent.CANCEL and _NEVER_MIND.match(clean)):
        return Understanding(intent=intent)
    body = _Text(clean)
    if command:
        word = _COMMAND.match(clean)
        assert word is not None
        body.take(0, word.end())
        if intent is Intent.HELP:
            return Understanding(intent=intent, command=True, not_understood=_leftovers(body))
    else:
        greeting = _LEADING_GREETING.match(clean)
        if greeting:
            body.take(0, greeting.end())
    problems: list[str] = []
    values: dict[str, Any] = {}
    favourite = False
    if intent in (Intent.BOOK, Intent.UNKNOWN):
        said_favourite = body.search(_FAVOURITE_ROOM)
        if said_favourite:  # "book my favourite room at 10": which rooms those are, the caller knows
            favourite = True
            body.take(said_favourite.start(), said_favourite.end())
        _read_exclusions(body, catalog, problems)
    _read_names(body, catalog, values, several=intent is not Intent.MOVE)  # MOVE: which booking, and where to
    rooms = sorted(values.pop("rooms", {}).items(), key=lambda item: item[1][0])
    if len(rooms) > 1:  # "in Aurora or Borealis": neither, asked
        said = [catalog._names.room_names[email] for email, _ in rooms]
        problems.append(f"Which room: {', '.join(said[:-1])} or {said[-1]}?")
        values.pop("room_email", None)
        values.pop("room_at", None)
    _read_floor(body, catalog, values, problems)
    features = _read_features(body, catalog)
    capacity = _read_capacity(body)
    details = {"capacity": capacity, "building_id": values.get("building_id", ""),
               "floor_id": values.get("floor_id", ""), "room_email": values.get("room_email", ""),
               "features": features}
    if intent in (Intent.CANCEL, Intent.END, Intent.EXTEND, Intent.MOVE, Intent.CHANGE):
        return _manage(intent, body, now, locale, {**details, "room_at": values.get("room_at", -1)}, problems)
    said = _read_when(body, now, locale)
    if intent is Intent.MY_BOOKINGS:
        said.pop("range", None)  # "my bookings next week": the list shows them all, week by week
    if "by" in said:  # "for a meeting by an hour" is rare; a length all the same
        said.setdefault("duration", said.pop("by"))
    when = _when(said, now, problems)
    words_left = _leftovers(body)
    unknown_room = _unknown_room(body) if intent in (Intent.UNKNOWN, Intent.BOOK) else ""
    if intent is Intent.UNKNOWN:
        found = (not when.empty or capacity or features or unknown_room or len(rooms) > 1 or favourite
                 or any(details[k] for k in ("building_id", "floor_id", "room_email")))
        weak = {m.group(0).lower() for m in _BOOK_WEAK.finditer(clean)}
        place_only = found and not (not when.empty or capacity or features or unknown_room or details["room_email"])
        asked = re.match(r"\W*(?:what|when|who|why|how|is\s+it)\b|\W*lunch(?:\s*time)?\W*$", clean,
                         re.IGNORECASE)  # "what's for lunch?", "lunch?"
        if (place_only or asked) and weak == {"is"}:  # "the printer on floor 2 is broken", "who is in Aurora"
            weak = set()
        strong = _BOOK_STRONG.search(clean) or weak and found
        if strong or found and not words_left and not asked:
            intent = Intent.BOOK
    if intent is Intent.UNKNOWN:
        return Understanding(intent=intent, not_understood=words_left)
    if intent is not Intent.BOOK:
        details = {}
        if intent is not Intent.MY_BOOKINGS:
            when = When()
    return Understanding(intent=intent, when=when, command=command, unknown_room=unknown_room,
                         not_understood=_leftovers(body), problems=tuple(problems),
                         favourite=favourite and intent is Intent.BOOK, **details)


_NAMED_AROUND = _re(r"^(?:the\s+)?(?:(?:meeting\s+|conference\s+)?room\s+(?:called|named)\s+)?|"
                   r"(?:'s)?\s+(?:meeting\s+|conference\s+)?room$")  # "the Olympus room", "room called Olympus"


def _favourite(intent: Intent, text: str, catalog: Catalog) -> Understanding:
    """STAR, UNSTAR: the one room named, else the name said (`unknown_room`; none for "star it");
    FAVOURITES: nothing more."""
    found = _favourites_request(text)
    match = found[1] if found else None
    if match is None:
        return Understanding(intent=intent)
    span = _Text(text)
    span.take(0, match.start("room"))
    span.take(match.end("room"), len(span.chars))
    values: dict[str, Any] = {}
    _read_names(span, catalog, values)
    rooms = sorted(values.get("rooms", {}).items(), key=lambda item: item[1][0])
    if len(rooms) > 1:
        said = [catalog._names.room_names[email] for email, _ in rooms]
        return Understanding(intent=intent, problems=(f"Which room: {', '.join(said[:-1])} or {said[-1]}?",))
    if rooms:
        return Understanding(intent=intent, room_email=rooms[0][0])
    named = " ".join(_NAMED_AROUND.sub("", match.group("room").strip(" .!?\"'“”")).split()) or match.group("room")
    return Understanding(intent=intent, unknown_room=named if any(map(_meaningful, named.split())) else "")


def _manage(intent: Intent, body: _Text, now: datetime, locale: str, details: dict[str, Any],
            problems: list[str]) -> Understanding:
    """CANCEL, END, EXTEND, MOVE, CHANGE: which booking, and the new time or extension."""
    room_email = details["room_email"]
    move_by = _read_shift(body) if intent is Intent.MOVE else None
    split = _split_at(body, intent)
    to_room = ""
    room_at = details.get("room_at", -1)
    if intent is Intent.MOVE and room_email and room_at > 0 \
            and re.search(r"\b(?:to|into)\s+(?:the\s+)?$", body.original[:room_at], re.IGNORECASE):
        to_room, room_email = room_email, ""  # "move my 2pm to Aurora": where it goes, not which it is
    target = _Text(body.rest)
    to_length = split is not None and intent is Intent.EXTEND and re.match(r"to\b", body.lower[split:]) is not None
    if split is not None:
        body.take(split, len(body.chars))
        target.take(0, split)
    else:
        target.take(0, len(target.chars))
    more = body.search(_MORE)
    extend_by: timedelta | None = None
    length: timedelta | None = None
    if more and intent is Intent.EXTEND:
        number = _number(more.group(1)) or 0
        extend_by = timedelta(hours=number) if more.group(2).startswith("h") else timedelta(minutes=number)
        body.take(more.start(), more.end())
    if intent is Intent.EXTEND:
        extra = _read_extension(body)
        extend_by = extend_by or extra
    said: dict[str, Any] = {}
    booking = _booking_ref(body, now, locale, room_email, intent, said)
    if intent is Intent.EXTEND and not extend_by:  # "make my 2pm meeting 30 minutes longer"
        extend_by = said.get("more") or said.get("by") or said.get("duration")
    by_number = _BY_NUMBER.match(target.lower)
    if intent is Intent.EXTEND and by_number and not extend_by:  # "extend it by 15": minutes, "by 1": an hour
        number = int(by_number.group(1))
        extend_by = timedelta(minutes=number) if number >= 5 else timedelta(hours=number)
        target.take(0, len(target.chars))
    bare = _BARE_HOUR.match(target.lower)
    if bare:  # "push my 10am to 11": a number alone is an hour
        target.take(bare.start(), bare.end())
    new = _read_when(target, now, locale)
    if bare and _clock(bare.group(1), bare.group(2)):
        h, m = _clock(bare.group(1), bare.group(2)) or (0, 0)
        new["start"] = time(h if h > 12 else _working_hour(h), m)
    if intent is Intent.EXTEND:
        if to_length and not extend_by and "duration" in new and "more" not in new and "by" not in new:
            length = new.pop("duration")  # "extend my meeting to 2 hours": how long it is in all
        extend_by = extend_by or new.pop("more", None) or new.pop("by", None) or new.pop("duration", None)
        end = new.get("end") or new.get("start")
        when = When(day=new.get("day"), end=end) if end else When()
    elif intent is Intent.MOVE:
        shift = new.pop("by", None) or new.pop("duration", None)
        if shift and not new.get("start") and move_by is None:
            earlier = re.search(r"\b(?:forward|earlier|back\s+earlier)\b", body.original, re.IGNORECASE)
            move_by = -shift if earlier else shift
        when = _when(new, now, problems) if any(k in new for k in ("day", "start", "end", "window")) else When()
    else:
        when = When()
    return Understanding(intent=intent, when=when, booking=booking, extend_by=extend_by, move_by=move_by,
                         length=length,
                         not_understood=_leftovers(body) + _leftovers(target), problems=tuple(problems),
                         room_email=to_room, features=(),
                         capacity=details["capacity"] if intent is Intent.CHANGE else None)  # "for 8 instead"


_AMOUNT = (r"(?:(an?|one|half\s+an?)\s+(hour|hr)|(\d{1,3}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True))
           + r")\s*(minutes?|mins?|m|hours?|hrs?|h))")
_SHIFT = re.compile(rf"(?<!\bfor )(?<!\bin )(?<!\bmy )(?<!\bthe )\b(?:(back|forward|earlier|later|on)\s+)?(?:by\s+)?"
                    rf"{_AMOUNT}\b(?!\s*(?:-\s*)?(?:long\s+)?(?:meeting|booking|slot|session|call|one|reservation)\b)"
                    r"(?:\s+(later|earlier|back|forward|sooner))?")  # not "my 1h meeting"


def _read_shift(body: _Text) -> timedelta | None:
    """MOVE by an amount ("push my 3pm an hour", "bring it forward by 30 mins", "an hour later"): how far,
    negative for earlier; what comes before still names the booking, and no new start is read from it."""
    match = body.search(_SHIFT)
    if not match:
        return None
    if match.group(2):
        amount = timedelta(minutes=30) if match.group(2).startswith("half") else timedelta(hours=1)
    else:
        number = _number(match.group(4)) or 0
        amount = timedelta(hours=number) if match.group(5).startswith("h") else timedelta(minutes=number)
    if not amount:
        return None
    direction = f"{match.group(1) or ''} {match.group(6) or ''}"
    earlier = re.search(r"\b(?:forward|earlier|sooner)\b", direction) or (
        not direction.strip() and body.search(re.compile(r"\b(?:forward|earlier|sooner)\b")))
    body.take(match.start(), match.end())
    return -amount if earlier else amount


def _read_extension(body: _Text) -> timedelta | None:
    """"another 30 minutes", "half an hour longer", "an extra hour": durations said of the booking itself."""
    match = body.search(re.compile(r"\b(?:another|an\s+extra|extra|additional)\s+(?:half\s+(?:an\s+)?hour|"
                                   r"hour|(\d{1,3})\s*(minutes?|mins?|m|hours?|hrs?|h))\b"))
    if not match:
        return None
    body.take(match.start(), match.end())
    if match.group(1):
        number = int(match.group(1))
        return timedelta(hours=number) if match.group(2).startswith("h") else timedelta(minutes=number)
    return timedelta(minutes=30) if "half" in match.group(0) else timedelta(hours=1)
