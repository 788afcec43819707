"""Who may do what: admin roles, looked up server-side for every command and card action."""

from __future__ import annotations

from botbuilder.core import TurnContext

from bot.identity import MemberDirectory
from domain.models import ROLE_ADMIN, ROLE_BOOKING_ADMIN
from storage.repository import Repository


class Roles:
    def __init__(self, repo: Repository, members: MemberDirectory) -> None:
        self._repo = repo
        self._members = members

    async def of(self, turn_context: TurnContext) -> frozenset[str]:
        """The roles of the user behind the activity. Admins are known by AAD object id or UPN; the
        roster is asked for the UPN only when some admin is known by one. An admin is also a
        booking admin."""
        user = self._members.basic(turn_context)
        admin = self._repo.find_admin(user.aad_object_id)
        if admin is None and any("@" in a.key for a in self._repo.list_admins()):
            full = await self._members.resolve(turn_context)
            admin = self._repo.find_admin(full.aad_object_id, full.upn, full.email)
        roles = set(admin.roles) if admin else set()
        if ROLE_ADMIN in roles:
            roles.add(ROLE_BOOKING_ADMIN)
        return frozenset(roles)

    async def is_admin(self, turn_context: TurnContext) -> bool:
        return ROLE_ADMIN in await self.of(turn_context)
