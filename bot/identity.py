"""Who is talking: the Teams user behind an activity, and the tenant it comes from."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity
from cachetools import TTLCache

from domain.people import UserIdentity  # its home; imported from here too

log = logging.getLogger(__name__)

MEMBER_TTL_S = 3600.0  # a roster answer is trusted this long: a changed email or name shows within the hour
MEMBERS_KEPT = 10_000  # people remembered at most (the least recently seen go first): a few MB


class TenantConflict(ValueError):
    """The activity names two different tenants."""


def activity_tenant(activity: Activity) -> str | None:
    """The tenant of an activity. Teams sends it twice: `channelData.tenant.id` and
    `conversation.tenantId` (which botbuilder maps from the key `tenantID`, so Teams' spelling lands in
    the conversation's additional properties). One of them present: that one. Both present and
    different: TenantConflict, and the activity is not to be trusted."""
    found: list[str] = []
    data = activity.channel_data
    if isinstance(data, dict):
        tenant = data.get("tenant")
        if isinstance(tenant, dict) and isinstance(tenant.get("id"), str) and tenant["id"]:
            found.append(tenant["id"])
    conversation = activity.conversation
    if conversation is not None:
        extra = getattr(conversation, "additional_properties", None) or {}
        for value in (extra.get("tenantId"), getattr(conversation, "tenant_id", None)):
            if isinstance(value, str) and value:
                found.append(value)
    if len({f.lower() for f in found}) > 1:
        raise TenantConflict(f"channelData.tenant.id and conversation.tenantId differ: {found}")
    return found[0] if found else None


class MemberDirectory:
    """Email and UPN of Teams users, from TeamsInfo.get_member, remembered for a while: at most
    `kept` people, each for `ttl_s` (a long-running instance does not keep everyone it ever saw)."""

    def __init__(self, ttl_s: float = MEMBER_TTL_S, kept: int = MEMBERS_KEPT, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cache: TTLCache[str, UserIdentity] = TTLCache(maxsize=kept, ttl=ttl_s, timer=clock)

    @property
    def remembered(self) -> int:
        """How many people it remembers now (for tests and the benchmark)."""
        return len(self._cache)

    def basic(self, context: TurnContext) -> UserIdentity:
        sender = context.activity.from_property
        aad = getattr(sender, "aad_object_id", None)
        return UserIdentity(channel_user_id=getattr(sender, "id", "") or "",
                            aad_object_id=aad.strip()[:100] if isinstance(aad, str) else "",
                            name=getattr(sender, "name", "") or "")

    async def resolve(self, context: TurnContext) -> UserIdentity:
        """The user with email and UPN; falls back to what the activity carries if Teams cannot say."""
        basic = self.basic(context)
        cached = self._cache.get(basic.key)
        if cached is not None:
            return cached
        try:
            member = await TeamsInfo.get_member(context, basic.channel_user_id)
        except Exception as exc:  # noqa: BLE001 - the roster call is best effort
            log.warning("could not read the Teams member %s: %s", basic.key, type(exc).__name__)
            return basic
        # The key stays the activity's: a roster answer must not make one person's turn someone else's.
        user = UserIdentity(channel_user_id=basic.channel_user_id,
                            aad_object_id=basic.aad_object_id or getattr(member, "aad_object_id", None) or "",
                            name=getattr(member, "name", None) or basic.name,
                            email=(getattr(member, "email", None) or "").lower(),
                            upn=(getattr(member, "user_principal_name", None) or "").lower())
        self._cache[basic.key] = user
        return user

    async def find(self, context: TurnContext, who: str) -> UserIdentity | None:
        """Someone in the conversation's roster, by AAD object id or UPN (Teams takes either), to
        show people by name; None when Teams does not know them there."""
        try:
            member = await TeamsInfo.get_member(context, who)
        except Exception as exc:  # noqa: BLE001 - the roster call is best effort
            log.info("no Teams member %s here: %s", who[:64], type(exc).__name__)
            return None
        return UserIdentity(channel_user_id=getattr(member, "id", None) or "",
                            aad_object_id=getattr(member, "aad_object_id", None) or "",
                            name=getattr(member, "name", None) or "",
                            email=(getattr(member, "email", None) or "").lower(),
                            upn=(getattr(member, "user_principal_name", None) or "").lower())
