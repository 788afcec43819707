"""The welcome and help cards."""

from __future__ import annotations

from cards.base import Card, action, card, heading, note_block, plain, text
from domain.commands import ADMIN_COMMANDS, USER_COMMANDS, Command
from domain.models import ROLE_ADMIN, ROLE_BOOKING_ADMIN

ASK_IN_WORDS = ("Tell me what you need in your own words, e.g. *a room for 4 tomorrow at 10*, *move my 2pm to "
                "3pm* or *cancel my next booking*. Or type a command, or use the buttons below.")
CHECK_IN_HINT = ("When you get to your room, say *check in* (or press **Check in** on your reminder): a room nobody "
                 "checks into may be given back for others.")
FAVOURITES_HINT = ("Like a room? Press **Star** next to it in your search results, or type *star* and its name: "
                   "starred rooms come first when you search. *my rooms* shows them.")


def _command_lines(commands: list[Command]) -> str:
    return "\n".join(f"- **{c.name}**: {c.description}" + ("" if c.ready else " *(coming soon)*")
                     for c in commands)


def help_card(user_commands: list[Command], admin_commands: list[Command] | None = None,
              note: str | None = None) -> Card:
    body = []
    body += note_block(note)
    body += [heading("What I can do"), text(ASK_IN_WORDS),
             text(_command_lines(user_commands)), text(FAVOURITES_HINT, isSubtle=True),
             text(CHECK_IN_HINT, isSubtle=True)]
    if admin_commands:
        body += [text("Admin commands", weight="Bolder", spacing="Medium"), text(_command_lines(admin_commands))]
    return card(body, [*_book_button(user_commands), action("Show help again", "help")])


def help_for(roles: frozenset[str], note: str | None = None) -> Card:
    """The help card for someone holding `roles`: the admin commands only for those who may run them."""
    extra = [c for c in ADMIN_COMMANDS if ROLE_ADMIN in roles or (c.booking_admin and ROLE_BOOKING_ADMIN in roles)]
    return help_card(list(USER_COMMANDS), extra or None, note)


def welcome_card(user_name: str, user_commands: list[Command], booking_enabled: bool) -> Card:
    first_name = (user_name or "").split(" ")[0] or "there"
    body = [
        heading(f"Hi {plain(first_name)}, I'm RoomBot"),
        text("I find free meeting rooms and book them for you, right here in the chat. The room sends you "
             "the invitation; change or cancel it through me."),
    ]
    if not booking_enabled:
        body.append(text("Room booking has not been switched on by your admin yet.", color="Attention"))
    body.append(text(_command_lines(user_commands)))
    return card(body, [*(_book_button(user_commands) if booking_enabled else []), action("Help", "help")])


def _book_button(commands: list[Command]) -> list[dict]:
    ready = any(c.name == "book" and c.ready for c in commands)
    return [action("Book a room", "form", style="positive")] if ready else []


def _main_buttons(booking_enabled: bool) -> list[dict]:
    buttons = [action("Book a room", "form", style="positive")] if booking_enabled else []
    return [*buttons, action("My bookings", "my_bookings"), action("Help", "help")]


def small_talk_card(reply: str, booking_enabled: bool) -> Card:
    """A greeting or thanks answered in a line (RoomBot's own Markdown: anything a person wrote in it is
    escaped by the caller), with the main buttons: not the whole help card."""
    return card([text(reply)], _main_buttons(booking_enabled))


def nearest_card(note: str, booking_enabled: bool, examples: tuple[str, ...] = ()) -> Card:
    """A text that asked for nothing RoomBot knows: say so, offer what comes nearest, and show how to ask."""
    body = [text(plain(note))]
    if examples:
        body.append(text("For example: " + "; ".join(f"*{plain(e)}*" for e in examples), isSubtle=True))
    return card(body, _main_buttons(booking_enabled))
