"""Who a booking may invite. Never a room or other resource mailbox: a room that accepts
invitations on its own would book itself around the registry, the access policy and the race
rule. Never an address outside the organisation's own domains, unless an admin allows it: the
invitation comes from a room mailbox of the organisation. Plain functions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from domain.errors import ValidationFailed
from domain.models import OrgSettings

MAX_GUEST_DOMAINS = 50
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")


class AttendeeRefused(ValidationFailed):
    user_message = "That address cannot be invited."


@dataclass(frozen=True)
class InvitePolicy:
    """What the checks need to know: the tenant's room and resource addresses, and the
    organisation's own domains."""

    resources: frozenset[str]
    own_domains: frozenset[str]
    guest_domains: frozenset[str] = frozenset()
    allow_any_guest: bool = False


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].lower()


def parse_guest_domains(value: object) -> tuple[str, ...]:
    """An admin's list of outside domains ("partner.com, agency.co.uk"): lower-cased, checked, sorted."""
    parts = re.split(r"[,;\s]+", str(value or "").strip().lower())
    domains: set[str] = set()
    for part in parts:
        part = part.strip().lstrip("@").rstrip(".")
        if not part:
            continue
        if len(part) > 253 or not _DOMAIN.match(part):
            raise ValidationFailed(f"'{part[:80]}' is not a domain name (like partner.com).")
        domains.add(part)
    if len(domains) > MAX_GUEST_DOMAINS:
        raise ValidationFailed(f"At most {MAX_GUEST_DOMAINS} guest domains can be listed.")
    return tuple(sorted(domains))


def own_domains(*addresses: Iterable[str]) -> frozenset[str]:
    """The domains of the organisation's own mailboxes (rooms, admins known by UPN, the booker)."""
    return frozenset(domain_of(a) for group in addresses for a in group if "@" in a)


def policy(settings: OrgSettings, resources: frozenset[str], own: frozenset[str]) -> InvitePolicy:
    """The rules for one booking. `resources` (room and resource addresses) and `own` (domains) are lower
    case: the booking service keeps them once per version of the registry, 50,000 rooms in a big one."""
    return InvitePolicy(resources, own, frozenset(settings.guest_domains), settings.allow_any_guest)


def check_invitees(people: Iterable[str], rules: InvitePolicy) -> None:
    """Raises AttendeeRefused naming the first address that may not be invited."""
    for email in people:
        email = email.lower()
        if email in rules.resources:
            raise AttendeeRefused(f"{email} is a room, not a person: book it on its own.")
        domain = domain_of(email)
        if rules.allow_any_guest or domain in rules.own_domains or domain in rules.guest_domains:
            continue
        raise AttendeeRefused(f"{email} is outside your organisation, and RoomBot's admins have not allowed "
                              f"guests from {domain}. Invite them from Outlook, or ask an admin to add {domain} "
                              f"to the guest domains.")
