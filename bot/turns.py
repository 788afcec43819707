"""The one place a Bot Framework activity becomes a flow's Turn: who, tenant, zone, locale, what was
pressed, and the roster and roles ports bound to this turn's TurnContext."""

from __future__ import annotations

import re
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from bot.identity import MemberDirectory, activity_tenant
from bot.roles import Roles
from dialogs.turn import DEFAULT_LOCALE, Turn
from domain.people import UserIdentity
from domain.timezones import is_zone

# A BCP 47 tag as clients send them ("en-US", "fi-FI", "zh-Hant-TW"); anything else is not the client's locale.
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}")


class _TeamsRoster:
    def __init__(self, context: TurnContext, members: MemberDirectory) -> None:
        self._context = context
        self._members = members

    async def resolve(self) -> UserIdentity:
        return await self._members.resolve(self._context)

    async def find(self, who: str) -> UserIdentity | None:
        return await self._members.find(self._context, who)


class _TeamsRoles:
    def __init__(self, context: TurnContext, roles: Roles) -> None:
        self._context = context
        self._roles = roles

    async def held(self) -> frozenset[str]:
        return await self._roles.of(self._context)


def turn_of(context: TurnContext, members: MemberDirectory, roles: Roles,
            data: dict[str, Any] | None = None) -> Turn:
    """The Turn a flow gets for this activity; `data` is what was pressed (none for a typed message)."""
    activity = context.activity
    return Turn(user=members.basic(context), roster=_TeamsRoster(context, members), roles=_TeamsRoles(context, roles),
                tenant=activity_tenant(activity), zone=client_timezone(activity), locale=client_locale(activity),
                data=data if data is not None else {})


def _client_info(activity: Activity) -> dict[str, Any]:
    for entity in activity.entities or []:
        props = getattr(entity, "additional_properties", None)
        if getattr(entity, "type", None) == "clientInfo" and isinstance(props, dict):
            return props
    return {}


def client_timezone(activity: Activity) -> str | None:
    """The IANA zone Teams reports in the activity's clientInfo entity (or localTimezone)."""
    for entity in activity.entities or []:
        props = entity.additional_properties if hasattr(entity, "additional_properties") else {}
        if getattr(entity, "type", None) == "clientInfo" and is_zone(props.get("timezone")):
            return props["timezone"]
    local = getattr(activity, "local_timezone", None)
    return local if is_zone(local) else None


def client_locale(activity: Activity) -> str:
    """The locale the Teams client reports (clientInfo), else the activity's, else en-US. Both are the
    client's word: only a well-formed language tag counts."""
    for value in (_client_info(activity).get("locale"), activity.locale):
        if isinstance(value, str) and len(value) <= 35 and _LOCALE.fullmatch(value):
            return value
    return DEFAULT_LOCALE
