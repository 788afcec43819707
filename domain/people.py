"""People as RoomBot knows them: the Teams user behind a turn, known by their Entra (AAD) object id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserIdentity:
    channel_user_id: str
    aad_object_id: str
    name: str
    email: str = ""
    upn: str = ""

    @property
    def key(self) -> str:
        """The stable key for this user in storage: the Entra (AAD) object id, and nothing else. A channel
        user id is per bot and per channel, and a tenant's own Entra says who it is; without an AAD object
        id the key is empty, and RoomBot does nothing for that activity."""
        return self.aad_object_id
