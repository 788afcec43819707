"""The line between the bot and its flows: flows take a Turn (who, tenant, zone, locale, what was
pressed) and ports, and never see a Bot Framework type; only bot/ turns an activity into a Turn."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botbuilder.core import TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity

from bot.identity import MemberDirectory
from bot.roles import Roles
from bot.turns import turn_of
from cards.base import ACTION_KEY
from dialogs.admin import AdminFlow, ConsentLink
from dialogs.my_bookings import REFUSAL, MyBookingsFlow
from dialogs.turn import Turn
from domain.models import ROLE_ADMIN, ROLE_BOOKING_ADMIN, Admin
from domain.people import UserIdentity
from services.admin import AdminService
from storage.backends import MemoryBackend
from storage.repository import Repository
from tests.booking_helpers import card_text

ROOT = Path(__file__).resolve().parent.parent
WITHOUT_BOT_FRAMEWORK = ("dialogs", "cards", "domain", "services")
BOT_FRAMEWORK = ("botbuilder", "botframework", "bot")


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imports(source: str, module: str) -> list[str]:
    """Every module `source` imports (at the top or inside a function), relative ones made absolute."""
    found: list[str] = []
    package = module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: max(0, len(package.split(".")) - node.level + 1)]
                base = ".".join([*parent, base] if base else parent)
            found.extend([base] if base else [])
    return found


def _bot_framework_imports(source: str, module: str) -> list[str]:
    return [name for name in _imports(source, module) if name.split(".")[0] in BOT_FRAMEWORK]


def _turns_built(source: str) -> int:
    """How many times `source` calls Turn(...) (under any name it imported it as)."""
    tree = ast.parse(source)
    names = {"Turn"} | {alias.asname for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                        for alias in node.names if alias.name == "Turn" and alias.asname}
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id in names) or
        (isinstance(node.func, ast.Attribute) and node.func.attr == "Turn")))


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_the_scans_see_what_they_look_for() -> None:
    """The boundary checks below would fail on code that crosses the line."""
    crossing = ("import botbuilder.core\nfrom bot.identity import UserIdentity\nimport botx\n"
                "from botframework import x\ndef f():\n    from bot import roombot\n")
    assert _bot_framework_imports(crossing, "dialogs.booking") == [
        "botbuilder.core", "bot.identity", "botframework", "bot"]
    assert _bot_framework_imports("from ..bot.turns import turn_of\n", "dialogs.booking") == ["bot.turns"]
    assert _bot_framework_imports("from .turn import Turn\nfrom . import common\n", "dialogs.booking") == [
        ] and _imports("from .turn import Turn\n", "dialogs.booking") == ["dialogs.turn"]
    assert _turns_built("from dialogs.turn import Turn as T\nT(user=u)\nx = turn.Turn(user=u)\n") == 2
    assert _turns_built("def f(turn: Turn) -> Turn:\n    return turn\n") == 0


def test_flows_cards_domain_and_services_hold_no_bot_framework_types() -> None:
    modules = _modules(*WITHOUT_BOT_FRAMEWORK)
    assert len(modules) > 20
    crossing = {_module_name(p): found for p in modules
                if (found := _bot_framework_imports(p.read_text(encoding="utf-8"), _module_name(p)))}
    assert crossing == {}


def test_only_bot_builds_turns() -> None:
    """Flows get a Turn; they never make one up (a flow that did could act as anyone)."""
    skip = {ROOT / d for d in ("tests", ".venv", "node_modules", ".git")}
    built = {_module_name(p): n for p in sorted(ROOT.rglob("*.py"))
             if not skip & set(p.parents) and (n := _turns_built(p.read_text(encoding="utf-8")))}
    assert built and all(name.startswith("bot.") for name in built), built


# --- bot/ builds the Turn -----------------------------------------------------------------


def _context(**fields: Any) -> TurnContext:
    activity = {"type": "message", "channelId": "msteams", "locale": "fi-FI",
                "from": {"id": "29:alex", "name": "Alex", "aadObjectId": "aad-alex"},
                "conversation": {"id": "conv-1", "conversationType": "personal"},
                "channelData": {"tenant": {"id": "tenant-1"}},
                "entities": [{"type": "clientInfo", "locale": "en-GB", "timezone": "Europe/London"}]}
    activity.update(fields)
    return TurnContext(TestAdapter(), Activity().deserialize(activity))


def _turn(context: TurnContext, data: dict[str, Any] | None = None, repo: Repository | None = None) -> Turn:
    members = MemberDirectory()
    return turn_of(context, members, Roles(repo or Repository(MemoryBackend()), members), data)


def test_a_turn_says_who_from_where_and_what_was_pressed() -> None:
    pressed = {ACTION_KEY: "book", "room": "aurora@example.com"}
    turn = _turn(_context(), pressed)
    assert (turn.user.key, turn.user.name, turn.tenant, turn.zone, turn.locale, turn.data) == (
        "aad-alex", "Alex", "tenant-1", "Europe/London", "en-GB", pressed)
    typed = _turn(_context(entities=[], localTimezone="Asia/Tokyo"))
    assert (typed.zone, typed.locale, typed.data) == ("Asia/Tokyo", "fi-FI", {})


@pytest.mark.parametrize(("client", "activity", "locale"), [
    ("en-GB", "fi-FI", "en-GB"),  # the client's own word first
    (None, "fi-FI", "fi-FI"),
    ("zh-Hant-TW", None, "zh-Hant-TW"),
    ("../../etc/passwd", "de-DE", "de-DE"),  # not a language tag: the next one
    ("x" * 40, None, "en-US"),
    (None, None, "en-US"),
    (["en-GB"], 7, "en-US"),
])
def test_the_locale_is_the_clients_else_the_activitys_else_en_us(client: object, activity: object,
                                                                   locale: str) -> None:
    info = {"type": "clientInfo", "timezone": "Europe/London", **({"locale": client} if client else {})}
    context = _context(entities=[info])
    context.activity.locale = activity
    assert _turn(context).locale == locale


async def test_the_turns_ports_reach_the_roster_and_the_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    async def member(context: TurnContext, user_id: str) -> SimpleNamespace:
        assert user_id == "29:alex"
        return SimpleNamespace(aad_object_id="aad-alex", name="Alex W", email="Alex@Example.com",
                               user_principal_name="alexw@example.com")

    monkeypatch.setattr(TeamsInfo, "get_member", member)
    repo = Repository(MemoryBackend())
    turn = _turn(_context(), repo=repo)
    assert await turn.roles.held() == frozenset()
    person = await turn.roster.resolve()
    assert (person.key, person.email, person.upn, turn.user.email) == (
        "aad-alex", "alex@example.com", "alexw@example.com", "")
    repo.add_admin(Admin(key="aad-alex", roles=(ROLE_ADMIN,)))
    assert await turn.roles.held() == {ROLE_ADMIN, ROLE_BOOKING_ADMIN}  # asked again every time


# --- flows run on a Turn and ports alone --------------------------------------------------


class _Roster:
    async def resolve(self) -> UserIdentity:
        return UserIdentity("29:megan", "aad-megan", "Megan", "megan@example.com")

    async def find(self, who: str) -> UserIdentity | None:
        people = {"adelev@example.com": UserIdentity("29:adele", "aad-adele", "Adele Vance", "adelev@example.com")}
        return people.get(who)


class _Roles:
    def __init__(self, *roles: str) -> None:
        self.roles = frozenset(roles)
        self.asked = 0

    async def held(self) -> frozenset[str]:
        self.asked += 1
        return self.roles


def _plain_turn(roles: _Roles, **fields: Any) -> Turn:
    return Turn(user=UserIdentity("29:megan", "aad-megan", "Megan"), roster=_Roster(), roles=roles, **fields)


async def test_a_flow_needs_no_turn_context() -> None:
    """A step gets everything from the Turn: the tenant for consent, the roles through the port."""
    repo = Repository(MemoryBackend())
    consents: list[tuple[str, str, str | None]] = []
    service = SimpleNamespace(start_consent=lambda *args: consents.append(args) or "state-1")
    admin = AdminFlow(service, repo, ConsentLink("https://login.example", "organizations", "app", "https://bot/c"))  # type: ignore[arg-type]
    answer = await admin.connect_step(_plain_turn(_Roles(ROLE_ADMIN), tenant="tenant-1"))
    assert consents == [("aad-megan", "aad-megan", "tenant-1")] and "state=state-1" in str(answer)

    roles = _Roles()
    flow = MyBookingsFlow(service=None, booking=None, repo=repo)  # type: ignore[arg-type]
    refused = await flow.start_all(_plain_turn(roles))
    assert REFUSAL in card_text(refused) and roles.asked == 1
    assert [(e["actor"], e["action"], e["outcome"]) for e in repo.list_audit(limit=10)] == [
        ("aad-megan", "all bookings", "refused")]

    # An admin named by UPN is kept with the name the roster port gives.
    repo.add_admin(Admin(key="aad-megan"))
    admins = AdminFlow(AdminService(repo, None), repo, ConsentLink("https://l", "organizations", "a", "https://b"))  # type: ignore[arg-type]
    added = await admins.admin_add_step(_plain_turn(_Roles(ROLE_ADMIN), data={"person": "adelev@example.com"}))
    assert "Added Adele Vance (adelev@example.com)." in card_text(added)
