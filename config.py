"""Configuration from environment variables (a `.env` file may supply them; see README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from domain.timezones import is_zone

ROOT = Path(__file__).resolve().parent

DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_CHANNELS = ("msteams",)  # Bot Framework channels RoomBot answers unless ALLOWED_CHANNELS says more


def _flag(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Config:
    # Bot Framework (its own variable names)
    app_id: str = ""
    app_password: str = field(default="", repr=False)
    app_type: str = "MultiTenant"
    app_tenant_id: str = ""
    # Where the Bot Framework's token signing keys are published and which issuer its tokens carry.
    # Unset: Azure public cloud (botbuilder's defaults). Tests point them at a key of their own.
    bot_openid_metadata_url: str = ""
    bot_token_issuer: str = ""
    # Microsoft Graph, app-only
    graph_tenant_id: str = ""
    graph_client_id: str = ""
    graph_client_secret: str = field(default="", repr=False)
    graph_endpoint: str = DEFAULT_GRAPH_ENDPOINT
    authority_host: str = DEFAULT_AUTHORITY_HOST
    ca_file: str = ""  # extra trust for TLS (SSL_CERT_FILE / REQUESTS_CA_BUNDLE)
    # The bot itself
    host: str = "127.0.0.1"
    port: int = 3978
    data_dir: Path = ROOT / "data"
    # PostgreSQL for several instances (postgresql://...); unset: embedded TinyDB files in data_dir
    database_url: str = field(default="", repr=False)
    job_lease_s: float = 120.0  # JOB_LEASE_S: a claimed job another instance may take over after this
    bot_admins: tuple[str, ...] = ()
    # The embedded local Microsoft 365 sandbox (used when no tenant is configured)
    sandbox_port: int = 0
    graph_timeout_s: float = 10.0  # Teams wants an answer to a message within 15 s
    default_timezone: str = "UTC"  # for users whose Teams client does not say (clientInfo.timezone)
    public_url: str = ""  # where browsers reach the bot (the admin-consent redirect); default: local
    sandbox_demo: bool = True  # the embedded sandbox starts consented, connected, with demo rooms
    local_run: bool = False  # LOCAL_RUN=1 (or `python app.py --local`): may run without MicrosoftAppId
    audit_retention_days: int = 90  # audit log days kept
    booking_archive_days: int = 30  # bookings ended longer ago leave their person's own file for the archive
    # Limits of the bot's own HTTP server, for when nothing in front of it enforces them (see README)
    body_timeout_s: float = 10.0  # a request body must arrive within this, or the connection is closed
    header_timeout_s: float = 10.0  # a new connection must send its first request's headers within this
    max_connections: int = 0  # open connections at once; 0: as many as the open-file limit leaves room for
    health_key: str = field(default="", repr=False)  # X-Health-Key that shows /healthz's details from anywhere
    # Bot Framework channels answered (ALLOWED_CHANNELS, comma separated); the Agents Playground sends msteams too
    allowed_channels: tuple[str, ...] = DEFAULT_CHANNELS
    # Quick booking texts are read in worker processes, each within a deadline (queueing included)
    understanding_workers: int = 2
    understanding_deadline_s: float = 2.0
    # The organisation's check-in defaults, applied at every start when set (None: as admins set them)
    reminder_min: int | None = None  # REMINDER_MIN: default reminder before a booking (0 off; 1 allowed)
    checkin_opens_min: int | None = None  # CHECKIN_OPENS_MIN: check-in opens this long before the start
    release_after_min: int | None = None  # RELEASE_AFTER_MIN: check-in closes / a no-show is released after
    # Proactive messages (reminders) sent per second, per app per tenant: Teams allows about 50 (bot.rate_limits);
    # 45 leaves room for the replies of turns under way, which count too, and for arrival jitter
    teams_sends_per_second: float = 45.0

    @property
    def base_url(self) -> str:
        """The bot's public base URL: PUBLIC_URL, else https://BOT_DOMAIN, else this machine."""
        return self.public_url or f"http://127.0.0.1:{self.port}"

    @property
    def graph_mode(self) -> str:
        """'tenant' when a Microsoft 365 tenant is configured, else 'sandbox'."""
        return "tenant" if self.graph_tenant_id else "sandbox"

    @property
    def authenticated(self) -> bool:
        """Whether incoming Bot Framework requests are authenticated (an app id is set)."""
        return bool(self.app_id)

    def startup_problem(self, local: bool) -> str | None:
        """Why this configuration must not start, or None. Without an app id the bot cannot check
        who calls /api/messages: that is for a developer's machine only, so it must be asked for
        (`--local`) and must listen on loopback."""
        if self.authenticated:
            return None
        if not local:
            return ("MicrosoftAppId is not set, so the bot could not authenticate Bot Framework requests. Set "
                    "MicrosoftAppId / MicrosoftAppPassword, or start it with --local (LOCAL_RUN=1) for local use.")
        if self.host not in ("127.0.0.1", "::1", "localhost"):
            return f"An unauthenticated local run listens on loopback only, not HOST={self.host}."
        return None

    @property
    def graph_scope(self) -> str:
        return f"{self.graph_endpoint.rstrip('/')}/.default"

    def with_graph(self, *, endpoint: str, authority_host: str, tenant_id: str, client_id: str,
                   client_secret: str, ca_file: str) -> Config:
        """A copy pointed at another Graph-compatible service (the sandbox does this)."""
        return replace(self, graph_endpoint=endpoint, authority_host=authority_host,
                       graph_tenant_id=tenant_id, graph_client_id=client_id,
                       graph_client_secret=client_secret, ca_file=ca_file)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env

        def get(name: str, default: str = "") -> str:
            return (env.get(name) or default).strip()

        app_id = get("MicrosoftAppId")
        app_password = get("MicrosoftAppPassword")
        return cls(
            app_id=app_id,
            app_password=app_password,
            app_type=get("MicrosoftAppType", "MultiTenant"),
            app_tenant_id=get("MicrosoftAppTenantId"),
            bot_openid_metadata_url=get("BOT_OPENID_METADATA_URL"),
            bot_token_issuer=get("BOT_TOKEN_ISSUER"),
            graph_tenant_id=get("GRAPH_TENANT_ID"),
            graph_client_id=get("GRAPH_CLIENT_ID", app_id),
            graph_client_secret=get("GRAPH_CLIENT_SECRET", app_password),
            graph_endpoint=get("GRAPH_ENDPOINT", DEFAULT_GRAPH_ENDPOINT).rstrip("/"),
            authority_host=get("AUTHORITY_HOST", DEFAULT_AUTHORITY_HOST).rstrip("/"),
            ca_file=get("REQUESTS_CA_BUNDLE") or get("SSL_CERT_FILE"),
            # Unauthenticated (local) runs listen on loopback only unless told otherwise.
            host=get("HOST", "0.0.0.0" if app_id else "127.0.0.1"),
            port=int(get("PORT", "3978")),
            data_dir=Path(get("DATA_DIR", str(ROOT / "data"))),
            database_url=_database_url(get("DATABASE_URL")),
            job_lease_s=float(get("JOB_LEASE_S", "120")),
            bot_admins=tuple(a.strip().lower() for a in get("BOT_ADMINS").split(",") if a.strip()),
            sandbox_port=int(get("SANDBOX_PORT", "0")),
            graph_timeout_s=float(get("GRAPH_TIMEOUT_S", "10")),
            default_timezone=_zone_name(get("DEFAULT_TIMEZONE", "UTC")),
            public_url=(get("PUBLIC_URL") or (f"https://{get('BOT_DOMAIN')}" if get("BOT_DOMAIN") else "")).rstrip("/"),
            sandbox_demo=_flag(env.get("SANDBOX_DEMO_SETUP"), True),
            local_run=_flag(env.get("LOCAL_RUN"), False),
            audit_retention_days=_days(get("AUDIT_RETENTION_DAYS", "90"), "AUDIT_RETENTION_DAYS"),
            booking_archive_days=_days(get("BOOKING_ARCHIVE_DAYS", "30"), "BOOKING_ARCHIVE_DAYS"),
            body_timeout_s=float(get("BODY_TIMEOUT_S", "10")),
            header_timeout_s=float(get("HEADER_TIMEOUT_S", "10")),
            max_connections=int(get("MAX_CONNECTIONS", "0")),
            health_key=get("HEALTH_KEY"),
            allowed_channels=tuple(c.strip().lower() for c in get("ALLOWED_CHANNELS", ",".join(DEFAULT_CHANNELS))
                                   .split(",") if c.strip()),
            understanding_workers=int(get("UNDERSTANDING_WORKERS", "2")),
            understanding_deadline_s=float(get("UNDERSTANDING_DEADLINE_S", "2")),
            reminder_min=_minutes(get("REMINDER_MIN"), "REMINDER_MIN", 0, 60),
            checkin_opens_min=_minutes(get("CHECKIN_OPENS_MIN"), "CHECKIN_OPENS_MIN", 0, 60),
            release_after_min=_minutes(get("RELEASE_AFTER_MIN"), "RELEASE_AFTER_MIN", 1, 120),
            teams_sends_per_second=_rate(get("TEAMS_SENDS_PER_SECOND", "45"), "TEAMS_SENDS_PER_SECOND"),
        )


def _database_url(url: str) -> str:
    """DATABASE_URL: empty (TinyDB) or a PostgreSQL connection URL; anything else stops the start-up."""
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host:5432/db) or unset")
    return url


def _zone_name(name: str) -> str:
    """An IANA zone name; a wrong one stops the start-up rather than shifting every booking."""
    if not is_zone(name):
        raise ValueError(f"DEFAULT_TIMEZONE={name!r} is not an IANA time zone name (like Europe/Helsinki)")
    return name


def _days(value: str, name: str) -> int:
    days = int(value)
    if days < 1:
        raise ValueError(f"{name}={value} must be a number of days, at least 1")
    return days


def _minutes(value: str, name: str, low: int, high: int) -> int | None:
    """Minutes from the environment, or None when unset; a wrong value stops the start-up."""
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"{name}={value} must be a whole number of minutes from {low} to {high}")
    return int(value)
def _rate(value: str, name: str) -> float:
    rate = float(value)
    if not rate > 0:
        raise ValueError(f"{name}={value} must be a positive number of sends per second")
    return rate
