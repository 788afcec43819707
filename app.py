"""RoomBot's composition root: `create_app(config)` wires everything; `python app.py` runs it."""

from __future__ import annotations

import argparse
import asyncio
import hmac
import html
import ipaddress
import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from botbuilder.core import ConversationState, Storage, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from dotenv import load_dotenv
from msrest.exceptions import DeserializationError

from bot import edge, logs
from bot.adapter import authenticate_token, create_adapter, use_connector_threads
from bot.identity import MemberDirectory
from bot.notify import Notifier
from bot.rate_limits import SendLimiter
from bot.roombot import RoomBot
from cards.admin import consent_result_card
from config import DEFAULT_AUTHORITY_HOST, Config
from dialogs.admin import AdminFlow, ConsentLink
from dialogs.attendance import AttendanceFlow
from dialogs.booking import BookingFlow
from dialogs.chat import ChatFlow
from dialogs.common import Later, finish_later_work
from dialogs.favourites import FavouritesFlow
from dialogs.manage import ManageFlow
from dialogs.my_bookings import MyBookingsFlow
from dialogs.report import LinkRefused, ReportFlow
from domain.errors import ValidationFailed
from domain.models import ROLE_ADMIN, Admin
from graph.calendar import RoomCalendarService
from graph.client import GraphClient, RetryPolicy
from graph.tokens import MsalTokenProvider
from graph.users import UserDirectory
from services.admin import AdminService
from services.attendance import AttendanceService
from services.booking import BookingService
from services.my_bookings import MyBookings
from services.resources import ResourceDirectory
from services.scheduler import Scheduler
from services.understanding import UnderstandingPool
from storage.backends import Backend, TinyDbBackend
from storage.bot_state import TinyDbStorage
from storage.repository import Repository, one_turn

if TYPE_CHECKING:
    from sandbox.server import RunningSandbox

log = logging.getLogger("roombot")

MAX_ACTIVITY_BYTES = 256 * 1024  # Teams caps a message at about 100 KB; cards add a little

CONFIG_KEY = web.AppKey("config", Config)
REPO_KEY = web.AppKey("repo", Repository)
BOT_KEY = web.AppKey("bot", RoomBot)
ADAPTER_KEY = web.AppKey("adapter", CloudAdapter)
CALENDAR_KEY = web.AppKey("calendar", RoomCalendarService)
GRAPH_INFO_KEY = web.AppKey("graph_info", dict)
ADMIN_KEY = web.AppKey("admin", AdminService)
NOTIFIER_KEY = web.AppKey("notifier", Notifier)
UNDERSTANDING_KEY = web.AppKey("understanding", UnderstandingPool)
SCHEDULER_KEY = web.AppKey("scheduler", Scheduler)
REPORT_KEY = web.AppKey("report", ReportFlow)
SANDBOX_KEY: web.AppKey[RunningSandbox] = web.AppKey("sandbox")  # set only when the embedded sandbox runs

# The Playground's default user: the admin of a local sandbox run when BOT_ADMINS is empty.
SANDBOX_DEFAULT_ADMIN = "00000000-0000-0000-0000-0000000000020"


def _client_ssl(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()


def create_app(config: Config, *, clock: Callable[[], datetime] | None = None) -> web.Application:
    """Build the bot's web app. With no tenant configured it starts the local Microsoft 365 sandbox
    on startup and points Graph at it. `clock`: the time every rule and job goes by (tests move it)."""
    clock = clock or (lambda: datetime.now(UTC))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    backend, bot_storage = open_storage(config)
    repo = Repository(backend, audit_retention_days=config.audit_retention_days,
                      archive_after_days=config.booking_archive_days, clock=clock)
    repo.read_org()
    conversation_state = ConversationState(bot_storage)

    app = web.Application(client_max_size=MAX_ACTIVITY_BYTES, middlewares=[one_turn_per_request])
    app[CONFIG_KEY] = config
    app[REPO_KEY] = repo
    app[ADAPTER_KEY] = create_adapter(config, conversation_state)
    app[NOTIFIER_KEY] = Notifier(app[ADAPTER_KEY], repo, config.app_id,
                                 limiter=SendLimiter(config.teams_sends_per_second))
    app[REPORT_KEY] = ReportFlow(repo, config.base_url, config.default_timezone, clock)
    members = MemberDirectory()

    async def understanding_context(app: web.Application) -> AsyncIterator[None]:
        """The worker processes that read quick booking texts off the event loop."""
        pool = UnderstandingPool(config.understanding_workers, config.understanding_deadline_s)
        await pool.start()
        app[UNDERSTANDING_KEY] = pool
        try:
            yield
        finally:
            await pool.close()

    async def graph_context(app: web.Application) -> AsyncIterator[None]:
        use_connector_threads(asyncio.get_running_loop())
        graph_config = config
        sandbox = None
        if config.graph_mode == "sandbox":
            from sandbox.bootstrap import prepare_demo_org
            from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID
            from sandbox.server import start_sandbox

            sandbox = await start_sandbox(config.data_dir, port=config.sandbox_port, consented=config.sandbox_demo)
            app[SANDBOX_KEY] = sandbox
            graph_config = config.with_graph(endpoint=sandbox.url, authority_host=sandbox.url, tenant_id=TENANT_ID,
                                             client_id=APP_CLIENT_ID, client_secret=APP_CLIENT_SECRET,
                                             ca_file=str(sandbox.tls.ca_cert))
            if config.sandbox_demo:
                prepare_demo_org(repo)
            if not config.bot_admins and not repo.list_admins():
                repo.add_admin(Admin(key=SANDBOX_DEFAULT_ADMIN, roles=(ROLE_ADMIN,), added_by="sandbox default"))
        for key in config.bot_admins:
            if repo.find_admin(key) is None:
                repo.add_admin(Admin(key=key, roles=(ROLE_ADMIN,), added_by="BOT_ADMINS"))

        tokens = MsalTokenProvider(
            tenant_id=graph_config.graph_tenant_id, client_id=graph_config.graph_client_id,
            client_secret=graph_config.graph_client_secret, authority_host=graph_config.authority_host,
            scope=graph_config.graph_scope, ca_file=graph_config.ca_file,
            public_authority=graph_config.authority_host == DEFAULT_AUTHORITY_HOST)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_client_ssl(graph_config.ca_file),
                                                                       limit=100))
        client = GraphClient(session, tokens, graph_config.graph_endpoint,
                             retry=RetryPolicy(deadline_s=config.graph_timeout_s,
                                               attempt_timeout_s=min(4.0, config.graph_timeout_s / 2)))
        calendar = RoomCalendarService(client)
        app[CALENDAR_KEY] = calendar
        budget = config.graph_timeout_s + 2  # every card answer within Teams' limits
        # A booking keeps trying for a while when Graph struggles; past the turn's budget the user is
        # told it is still being worked on, and gets the result as a proactive message.
        patience = 3 * budget
        later = Later(app[NOTIFIER_KEY].tell, finish_within_s=patience + 3 * config.graph_timeout_s)
        users = UserDirectory(client)  # people picked by name (the optional User.Read.All permission)
        booking_service = BookingService(repo, calendar, clock, patience_s=patience,
                                         resources=ResourceDirectory(calendar), users=users,
                                         default_zone=config.default_timezone)
        booking_service.rank_index()  # made now, not in the first person's search (0.4 s at 50,000 rooms)
        attendance_service = AttendanceService(repo, calendar, booking_service.now)
        repo.plan_jobs_with(attendance_service.plan)  # every booking write keeps its reminder and release
        booking = BookingFlow(booking_service, repo, config.default_timezone, turn_budget_s=budget, later=later)
        managing = MyBookings(repo, calendar, booking_service)
        attendance = AttendanceFlow(attendance_service, repo, app[NOTIFIER_KEY].send_many,
                                    book=booking.actions()["book"], default_zone=config.default_timezone)
        attendance_service.use_messages(attendance)
        apply_checkin_config(repo, config)
        my_bookings = MyBookingsFlow(managing, booking_service, repo, app[NOTIFIER_KEY], config.default_timezone,
                                     turn_budget_s=budget, later=later, can_check_in=attendance_service.can_check_in)
        chat = ChatFlow(repo, booking_service.now, booking=booking, my_bookings=my_bookings,
                        manage=ManageFlow(managing, repo, config.default_timezone, turn_budget_s=budget, later=later),
                        understand=app[UNDERSTANDING_KEY].understand, default_zone=config.default_timezone,
                        attendance=attendance, favourites=FavouritesFlow(repo))
        admin_service = AdminService(repo, calendar, expected_tenant=graph_config.graph_tenant_id, tokens=tokens,
                                     users=users)
        app[ADMIN_KEY] = admin_service
        consent = ConsentLink(graph_config.authority_host, graph_config.graph_tenant_id or "organizations",
                              graph_config.graph_client_id, f"{config.base_url}/api/consent")
        app[BOT_KEY] = RoomBot(repo, conversation_state, members,
                               configured_tenant=graph_config.graph_tenant_id or None,  # the sandbox's on a local run
                               booking=booking,
                               admin=AdminFlow(admin_service, repo, consent, default_zone=config.default_timezone),
                               my_bookings=my_bookings, chat=chat, allowed_channels=config.allowed_channels,
                               attendance=attendance, report=app[REPORT_KEY])
        app[GRAPH_INFO_KEY] = {"mode": config.graph_mode, "endpoint": client.base_url}
        scheduler = Scheduler(repo, attendance_service.run, booking_service.now,
                              sends_per_s=config.teams_sends_per_second,
                              lease=timedelta(seconds=config.job_lease_s if repo.shared else 0))
        app[SCHEDULER_KEY] = scheduler
        jobs = asyncio.create_task(scheduler.run_forever(), name="roombot-scheduler")
        try:
            yield
        finally:
            jobs.cancel()
            await asyncio.gather(jobs, return_exceptions=True)
            left = await finish_later_work(timeout_s=later.finish_within_s)  # answers owed to users
            if left:
                log.warning("%d answers still being worked on were dropped at shutdown", left)
            await session.close()
            tokens.close()
            if sandbox is not None:
                await sandbox.stop()
            repo.close()
            if isinstance(bot_storage, TinyDbStorage):
                bot_storage.close()

    async def notifier_context(app: web.Application) -> AsyncIterator[None]:
        """The one HTTP session proactive cards go out on; closed after the jobs and late answers (graph_context's
        shutdown) are done with it."""
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10))
        app[NOTIFIER_KEY].use_session(session)
        try:
            yield
        finally:
            await session.close()

    app.cleanup_ctx.append(understanding_context)
    app.cleanup_ctx.append(notifier_context)
    app.cleanup_ctx.append(graph_context)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/consent", consent_redirect)
    app.router.add_get("/api/report.csv", report_download)
    return app


@web.middleware
async def one_turn_per_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each request reads one version of the organisation's data, checked once at its start (see
    storage.repository.one_turn): a change another instance made is seen by the next request."""
    with one_turn():
        return await handler(request)


def open_storage(config: Config) -> tuple[Backend, Storage]:
    """The data and the bot's conversation state: in PostgreSQL when DATABASE_URL is set (what several
    instances share), else in TinyDB files in DATA_DIR (one instance)."""
    if config.database_url:
        from storage.postgres import PostgresBackend, PostgresStorage

        backend = PostgresBackend(config.database_url)
        log.info("data: PostgreSQL (schema version %d)", backend.schema_version())
        return backend, PostgresStorage(backend)
    return TinyDbBackend(config.data_dir), TinyDbStorage(config.data_dir / "state.json")


def apply_checkin_config(repo: Repository, config: Config) -> None:
    """REMINDER_MIN, CHECKIN_OPENS_MIN and RELEASE_AFTER_MIN, when set, are the organisation's
    defaults (for deployments, demos and tests): applied at every start, logged when they change it."""
    settings = repo.get_settings()
    rules = settings.default_rules
    wanted = replace(settings,
                     reminder_min=settings.reminder_min if config.reminder_min is None else config.reminder_min,
                     checkin_opens_min=(settings.checkin_opens_min if config.checkin_opens_min is None
                                        else config.checkin_opens_min),
                     default_rules=rules if config.release_after_min is None
                     else replace(rules, release_after_min=config.release_after_min))
    if wanted != settings:
        log.info("check-in defaults from the configuration: reminder %s min, check-in opens %s min before, "
                 "closes %s min after the start", wanted.reminder_min, wanted.checkin_opens_min,
                 wanted.default_rules.release_after_min)
        repo.save_settings(wanted)


def _activity_problem(body: object) -> str | None:
    """Why `body` is not an activity the bot can answer, or None. Every activity a channel sends has a
    type, a conversation with an id, the service URL to answer on, and who it is from and to; without
    them a turn cannot even reply, so they are refused here rather than failing inside the SDK."""
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
        return "The body must be a Bot Framework activity with a type."
    conversation = body.get("conversation")
    if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), str) or not conversation["id"]:
        return "The activity has no conversation id."
    if not isinstance(body.get("serviceUrl"), str) or not body["serviceUrl"].startswith(("https://", "http://")):
        return "The activity has no service URL."
    for party in ("from", "recipient"):
        account = body.get(party)
        if not isinstance(account, dict) or not isinstance(account.get("id"), str) or not account["id"]:
            return f"The activity has no '{party}' account id."
    return None


def _bad_request(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def messages(request: web.Request) -> web.StreamResponse:
    """Bot Framework activities. Malformed input is answered 4xx before it reaches the SDK. Each
    request is one turn with its own correlation id, in every log line and the response header."""
    try:
        response = await _turn(request)
    except web.HTTPException as exc:  # 401, and aiohttp's 413
        exc.headers["X-Correlation-Id"] = logs.correlation_id()
        raise
    response.headers["X-Correlation-Id"] = logs.correlation_id()
    if response.status == 408:  # answered, then hung up: aiohttp would otherwise go on reading the slow body
        await response.prepare(request)
        await response.write_eof()
        request.protocol.force_close()
    return response


async def _turn(request: web.Request) -> web.StreamResponse:
    """One activity, in the order that makes a bad request cheap: the token is checked before the
    body is read (an unauthenticated request costs the same whatever it sends), then the body is
    read once, within the time limit, parsed once and handed to the adapter as an Activity."""
    logs.new_correlation_id()
    app = request.app
    auth_header = request.headers.get("Authorization", "")
    if app[CONFIG_KEY].authenticated:
        try:
            await authenticate_token(app[ADAPTER_KEY], auth_header)
        except PermissionError:
            raise web.HTTPUnauthorized() from None
    if "application/json" not in request.headers.get("Content-Type", ""):
        return _bad_request(415, "Content-Type must be application/json.")
    try:
        async with asyncio.timeout(app[CONFIG_KEY].body_timeout_s):
            raw = await request.read()
    except TimeoutError:
        log.info("closed a request whose body did not arrive within %s s", app[CONFIG_KEY].body_timeout_s)
        return _bad_request(408, "The request body did not arrive in time.")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return _bad_request(400, "The body is not valid JSON.")
    problem = _activity_problem(body)
    if problem:
        return _bad_request(400, problem)
    try:
        activity = Activity().deserialize(body)
        # CloudAdapter.process without reading the request again: authenticate_request runs in full here.
        invoke_response = await app[ADAPTER_KEY].process_activity(auth_header, activity, app[BOT_KEY].on_turn)
    except DeserializationError as exc:  # a field of the wrong type or shape
        log.info("rejected a malformed activity: %s", str(exc)[:200])
        return _bad_request(400, "The activity is malformed.")
    except PermissionError:
        raise web.HTTPUnauthorized() from None
    if invoke_response:
        return web.json_response(serializer_helper(invoke_response.body), status=invoke_response.status)
    return web.Response(status=201)


async def consent_redirect(request: web.Request) -> web.Response:
    """Where Entra ID sends the admin's browser after admin consent. Only a `state` this bot issued
    (single use, unexpired) is accepted; the result goes to the admin in Teams and on the page."""
    query = request.query
    try:
        outcome = await request.app[ADMIN_KEY].finish_consent(
            query.get("state", ""), tenant=query.get("tenant", ""),
            granted=query.get("admin_consent", "").lower() == "true", error=query.get("error", ""),
            description=query.get("error_description", ""))
    except ValidationFailed as exc:
        log.warning("refused a consent redirect: %s", exc.detail)
        return _page(400, "This link can't be used", exc.detail)
    await request.app[NOTIFIER_KEY].tell(outcome.admin_user_key, consent_result_card(outcome.ok, outcome.message))
    title = "RoomBot is connected" if outcome.ok else "RoomBot is not connected"
    return _page(200 if outcome.ok else 400, title, f"{outcome.message} You can close this tab and go back to Teams.")


async def report_download(request: web.Request) -> web.Response:
    """The admin report as CSV, behind the signed link the report card gives (an hour, for that admin)."""
    try:
        download = await request.app[REPORT_KEY].download(request.query.get("t", ""))
    except LinkRefused as exc:
        log.info("refused a report download: %s", exc)
        return web.Response(status=403, text="This download link is not valid or has expired. Run report in "
                                             "Teams for a new one.")
    return web.Response(body=download.text.encode("utf-8"), headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{download.filename}"'})


def _page(status: int, title: str, message: str) -> web.Response:
    return web.Response(status=status, content_type="text/html", text=(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:40em;margin:3em auto'><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(message)}</p></body></html>"))


async def healthz(request: web.Request) -> web.Response:
    """Anyone may learn that the bot is up; how it is set up (Graph endpoint, tenant, authentication)
    only callers on this machine, or with the configured health key."""
    if not _sees_health_details(request):
        return web.json_response({"status": "ok"})
    config = request.app[CONFIG_KEY]
    settings = request.app[REPO_KEY].get_settings()
    graph = request.app.get(GRAPH_INFO_KEY, {"mode": config.graph_mode, "endpoint": ""})
    return web.json_response({
        "status": "ok",
        "graph": {"mode": graph["mode"], "endpoint": graph["endpoint"]},
        "tenant": {"id": settings.tenant_id, "connected": settings.connected},
        "booking_enabled": settings.booking_enabled,
        "bot_authentication": "on" if config.authenticated else "off (local use only)",
    })


def _sees_health_details(request: web.Request) -> bool:
    """A caller with HEALTH_KEY, or one on loopback that no proxy forwarded. Behind a reverse proxy
    every peer is the proxy: one on this machine that says whom it forwards for (Forwarded,
    X-Forwarded-For) gets the public answer; one that does not must not forward /healthz (or set
    HEALTH_KEY and have the proxy strip the header)."""
    key = request.app[CONFIG_KEY].health_key
    given = request.headers.get("X-Health-Key", "")
    if key and given and hmac.compare_digest(given.encode("utf-8", "replace"), key.encode("utf-8")):
        return True
    if "Forwarded" in request.headers or "X-Forwarded-For" in request.headers:
        return False
    try:
        return ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run RoomBot.")
    parser.add_argument("--local", action="store_true",
                        help="allow running without MicrosoftAppId (unauthenticated, loopback only)")
    args = parser.parse_args(argv)
    load_dotenv()
    config = Config.from_env()
    logs.configure([config.app_password, config.graph_client_secret, config.health_key,
                    urlsplit(config.database_url).password or ""])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    problem = config.startup_problem(local=args.local or config.local_run)
    if problem:
        log.error("not starting: %s", problem)
        raise SystemExit(2)
    if not config.authenticated:
        log.warning("MicrosoftAppId is not set: the bot accepts unauthenticated requests on loopback. "
                    "This is for local use only.")
    log.info("Graph mode: %s", config.graph_mode)
    limits = edge.Limits(max_connections=edge.connection_limit(config.max_connections),
                         header_timeout_s=config.header_timeout_s)
    edge.run(create_app(config), host=config.host, port=config.port, limits=limits,
             body_timeout_s=config.body_timeout_s)


if __name__ == "__main__":
    main()
