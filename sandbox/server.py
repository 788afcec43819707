"""The sandbox's HTTP server: identity (token endpoint and the OpenID discovery msal reads),
Graph v1.0 (with auth, faults and $batch), and a small control API for tests and benchmarks."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import random
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from aiohttp import web

from sandbox.faults import Faults
from sandbox.graph_api import MAX_BATCH, GraphApi, GraphRequest, GraphResponse, error_body
from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID, Mailbox, demo_mailboxes, demo_room_lists
from sandbox.spec import DEFAULT_SPEC, GraphSpec
from sandbox.tls import TlsFiles, ensure_tls_files

log = logging.getLogger(__name__)

STATE_KEY = web.AppKey("sandbox_state", "SandboxState")


# The application permissions RoomBot asks for; admin consent grants them. User.Read.All is optional
# (the people picker): a tenant may consent without it (`SandboxState.consents`).
GRANTED_ROLES = frozenset({"Calendars.ReadWrite", "Place.Read.All", "User.Read.All"})
# Outlook's limit per app and mailbox (Microsoft's "Microsoft Graph service-specific throttling limits").
MAILBOX_CONCURRENCY = 4
# A $batch's items go to Outlook at most four at a time, whatever their mailboxes; one at a time with
# dependsOn (same page).
BATCH_PARALLEL = 4
_MAILBOX_IN_PATH = re.compile(r"^/users/([^/?]+)", re.IGNORECASE)
_USER_PATH = re.compile(r"^/users(?:/[^/]+)?/?$", re.IGNORECASE)  # a user, or the list: not a mailbox's data


@dataclass
class IssuedToken:
    tenant_id: str
    client_id: str
    expires_at: float
    roles: frozenset[str] = GRANTED_ROLES


class SandboxState:
    """Everything the sandbox knows: tenants, the app registration, mailboxes, events, tokens."""

    def __init__(self, *, mailboxes: list[Mailbox] | None = None, faults: Faults | None = None,
                 spec: GraphSpec | None = None, token_lifetime_s: int = 3599, consented: bool = True) -> None:
        self.tenant_id = TENANT_ID
        self.apps = {APP_CLIENT_ID: APP_CLIENT_SECRET}
        # (tenant, app) -> the application permissions an admin consented to. The demo tenant has
        # consented already unless `consented=False` (then an admin goes through the consent page).
        self.consents: dict[tuple[str, str], frozenset[str]] = \
            {(TENANT_ID, APP_CLIENT_ID): GRANTED_ROLES} if consented else {}
        self.faults = faults or Faults()
        self.token_lifetime_s = token_lifetime_s
        self.tokens: dict[str, IssuedToken] = {}
        self.stats: Counter[str] = Counter()
        self.base_url = ""
        # Requests being served per mailbox: past MAILBOX_CONCURRENCY, Graph answers 429.
        self.in_flight: Counter[str] = Counter()
        self.mailbox_concurrency = MAILBOX_CONCURRENCY
        self.concurrency_retry_after_s = 1
        self.random = random.Random()  # the order of $batch answers
        boxes = mailboxes if mailboxes is not None else demo_mailboxes()
        self.graph = GraphApi({b.email: b for b in boxes}, demo_room_lists(), spec, lambda: self.base_url)

    def add_mailboxes(self, boxes: list[Mailbox]) -> None:
        for box in boxes:
            self.graph.mailboxes[box.email] = box


def _aad_error(status: int, error: str, code: int, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": f"AADSTS{code}: {description}",
                              "error_codes": [code], "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ")},
                             status=status)


# --- identity ------------------------------------------------------------------------------

async def openid_configuration(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    tenant = request.match_info["tenant"]
    if tenant not in (state.tenant_id, "organizations", "common"):
        return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
    base = f"{state.base_url}/{tenant}"
    return web.json_response({
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "issuer": f"{state.base_url}/{state.tenant_id}/v2.0",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "tenant_region_scope": "EU",
    })


async def token(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    state.stats["token_requests"] += 1
    tenant = request.match_info["tenant"]
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        return _aad_error(400, "unsupported_grant_type", 70003, "The sandbox supports client credentials only.")
    if tenant != state.tenant_id:
        return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    client_id = str(form.get("client_id", ""))
    if client_id not in state.apps:
        return _aad_error(400, "unauthorized_client", 700016,
                          f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
                          f"This can happen if the application has not been installed by the administrator of "
                          f"the tenant or consented to by any user in the tenant. You may have sent your "
                          f"authentication request to the wrong tenant.")
    if not secrets.compare_digest(str(form.get("client_secret", "")), state.apps[client_id]):
        return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    scope = str(form.get("scope", ""))
    if not any(s.endswith("/.default") for s in scope.split()):
        return _aad_error(400, "invalid_scope", 1002012,
                          "The provided value for scope is not valid. Client credential flows must have a scope "
                          "ending in /.default.")
    access_token = "sbx." + secrets.token_urlsafe(32)
    # An app registered in the tenant gets a token before admin consent too: it carries no roles, and
    # Graph then answers 403 (Microsoft's client-credentials docs: "app-only tokens can be issued
    # without a roles claim").
    state.tokens[access_token] = IssuedToken(tenant, client_id, time.monotonic() + state.token_lifetime_s,
                                             state.consents.get((tenant, client_id), frozenset()))
    state.stats["tokens_issued"] += 1
    return web.json_response({"token_type": "Bearer", "expires_in": state.token_lifetime_s,
                              "ext_expires_in": state.token_lifetime_s, "access_token": access_token})


# --- Graph v1.0 ----------------------------------------------------------------------------

def _token(state: SandboxState, header: str) -> IssuedToken | None:
    if not header.lower().startswith("bearer "):
        return None
    issued = state.tokens.get(header[7:].strip())
    return issued if issued is not None and issued.expires_at > time.monotonic() else None


def _role_for(path: str) -> str:
    """The application permission a Graph path needs (of the ones RoomBot uses): Places, users (Get
    user and List users: User.Read.All, https://learn.microsoft.com/graph/api/user-get), and calendars."""
    if path.lower().startswith("/places"):
        return "Place.Read.All"
    return "User.Read.All" if _USER_PATH.match(path) else "Calendars.ReadWrite"


def _consent_page(app_name: str, tenant: str, query: dict[str, str], error: str = "") -> web.Response:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in query.items())
    roles = "".join(f"<li>{html.escape(r)} (application)</li>" for r in sorted(GRANTED_ROLES))
    body = (f"<p class=error>{html.escape(error)}</p>" if error else
            f"<p><b>{html.escape(app_name)}</b> asks for these permissions in tenant {html.escape(tenant)}:</p>"
            f"<ul>{roles}</ul><p>Consent on behalf of your organisation?</p>"
            f'<form method="post">{hidden}<button name="decision" value="accept">Accept</button> '
            f'<button name="decision" value="cancel">Cancel</button></form>')
    return web.Response(content_type="text/html", status=400 if error else 200,
                        text=f"<!doctype html><html><head><title>Permissions requested</title></head><body>"
                             f"<h1>Permissions requested</h1>{body}<p><small>Microsoft 365 sandbox</small></p>"
                             f"</body></html>")


async def admin_consent(request: web.Request) -> web.StreamResponse:
    """The admin-consent endpoint, as login.microsoftonline.com/{tenant}/adminconsent: a page to accept
    or cancel, then a redirect to redirect_uri with tenant + admin_consent=True, or error + description,
    and the caller's state either way."""
    state: SandboxState = request.app[STATE_KEY]
    tenant = request.match_info["tenant"]
    query = dict(request.query) if request.method == "GET" else {k: str(v) for k, v in (await request.post()).items()}
    decision = query.pop("decision", "")
    client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
    if tenant not in (state.tenant_id, "organizations", "common"):
        return _consent_page("", tenant, query, f"AADSTS90002: Tenant '{tenant}' not found.")
    if client_id not in state.apps:
        return _consent_page("", tenant, query, f"AADSTS700016: Application with identifier '{client_id}' was "
                                                f"not found in the directory.")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return _consent_page("", tenant, query, "AADSTS50011: The redirect URI is missing or not valid.")
    if request.method == "GET":
        return _consent_page("RoomBot", state.tenant_id, query)
    back = {"state": query.get("state", "")}
    if decision == "accept":
        state.consents[(state.tenant_id, client_id)] = GRANTED_ROLES
        state.stats["consents_granted"] += 1
        back.update(tenant=state.tenant_id, admin_consent="True")
    else:
        back.update(error="access_denied",
                    error_description="AADSTS65004: User declined to consent to access the app.")
    raise web.HTTPFound(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(back)}")


async def _apply_fault(state: SandboxState, request_id: str, *, top_level: bool,
                       request: web.Request | None = None) -> GraphResponse | None:
    fault = state.faults.roll(allow_connection_faults=top_level)
    if fault is None:
        return None
    state.stats[f"fault_{fault}"] += 1
    if fault == "429":
        return GraphResponse(429, error_body("TooManyRequests", "Application is over its MailboxConcurrency limit.",
                                             request_id),
                             {"Retry-After": f"{state.faults.retry_after_s:g}"})
    if fault == "503":
        return GraphResponse(503, error_body("ServiceNotAvailable", "The service is temporarily unavailable.",
                                             request_id), {"Retry-After": "1"})
    if fault == "reset" and request is not None and request.transport is not None:
        request.transport.close()  # the client sees the connection drop with no answer
        return GraphResponse(500)
    if fault == "lost":
        return GraphResponse(0)  # the caller does the work, then drops the connection
    await asyncio.sleep(state.faults.hang_s)  # hang
    return GraphResponse(504, error_body("GatewayTimeout", "The request timed out.", request_id))


def _to_web(response: GraphResponse) -> web.Response:
    if response.body is None:
        return web.Response(status=response.status, headers=response.headers)
    return web.json_response(response.body, status=response.status, headers=response.headers)


def _mailbox_of(path: str) -> str | None:
    match = _MAILBOX_IN_PATH.match(path)
    return match.group(1).lower() if match else None


def _busy_mailbox(state: SandboxState, request_id: str) -> GraphResponse:
    state.stats["fault_concurrency"] += 1
    return GraphResponse(429, error_body("ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                                         request_id), {"Retry-After": f"{state.concurrency_retry_after_s:g}"})


async def graph(request: web.Request) -> web.StreamResponse:
    state: SandboxState = request.app[STATE_KEY]
    request_id = request.headers.get("client-request-id", "")
    path = "/" + request.match_info["tail"]  # already percent-decoded by aiohttp
    issued = _token(state, request.headers.get("Authorization", ""))
    if issued is None:
        state.stats["unauthorised"] += 1
        return web.json_response(error_body("InvalidAuthenticationToken", "Access token is empty, invalid or "
                                                                          "has expired.", request_id), status=401)
    body: Any = None
    if request.can_read_body:
        try:
            body = json.loads(await request.text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response(error_body("BadRequest", "Unable to read JSON request payload. Please ensure "
                                                              "Content-Type header is set and payload is of valid "
                                                              "JSON format.", request_id), status=400)
    if path == "/$batch":
        state.stats["POST $batch"] += 1
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        return await _batch(state, body, request_id, issued.roles)
    state.stats[state.graph.route_name(request.method, path)] += 1
    fault = await _apply_fault(state, request_id, top_level=True, request=request)
    if fault is not None and fault.status != 0:
        return _to_web(fault)
    mailbox = _mailbox_of(path)
    if mailbox is not None and state.in_flight[mailbox] >= state.mailbox_concurrency:
        return _to_web(_busy_mailbox(state, request_id))
    if mailbox is not None:
        state.in_flight[mailbox] += 1
    try:
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        if _role_for(path) not in issued.roles:
            answer = _forbidden(state, request_id, _role_for(path))
        else:
            headers = {k.lower(): v for k, v in request.headers.items()}
            answer = await state.graph.dispatch(GraphRequest(request.method, path, dict(request.query), body, headers))
    finally:
        if mailbox is not None:
            state.in_flight[mailbox] -= 1
    if fault is not None and request.transport is not None:  # 'lost': done, but the answer never arrives
        request.transport.close()
        return web.Response(status=500)
    return _to_web(answer)


def _forbidden(state: SandboxState, request_id: str, role: str = "") -> GraphResponse:
    """What Graph answers when the token lacks the application permission the path needs (a token
    issued before admin consent has none): Outlook's calendar and places endpoints say ErrorAccessDenied
    without naming the permission; the directory (users) says Authorization_RequestDenied,
    "Insufficient privileges to complete the operation." (as reported on Microsoft Q&A, "User.ReadBasic.All
    listed as an Application permission, but no /users operation accepts it")."""
    state.stats["forbidden"] += 1
    if role == "User.Read.All":
        return GraphResponse(403, error_body("Authorization_RequestDenied",
                                             "Insufficient privileges to complete the operation.", request_id))
    return GraphResponse(403, error_body("ErrorAccessDenied", "Access is denied. Check credentials and try again.",
                                         request_id))


def _batch_plan(items: Any) -> list[dict[str, Any]] | str:
    """The batch's requests in an order that honours dependsOn, or why the batch is malformed."""
    if not isinstance(items, list) or not items:
        return "Invalid batch payload format."
    if len(items) > MAX_BATCH:
        return f"Number of batch request steps exceeds the maximum value of {MAX_BATCH}."
    ids: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            return "Each batch request needs an id."
        if item["id"] in ids:
            return f"Batch request id '{item['id']}' is used twice."
        ids.add(item["id"])
    for item in items:
        depends = item.get("dependsOn", [])
        if not isinstance(depends, list) or any(d not in ids or d == item["id"] for d in depends):
            return f"Batch request '{item['id']}' depends on a request that is not in the batch."
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    left = list(items)
    while left:
        ready = [i for i in left if set(i.get("dependsOn", [])) <= done]
        if not ready:
            return "The dependsOn of the batch requests form a cycle."
        for item in ready:
            ordered.append(item)
            done.add(item["id"])
            left.remove(item)
    return ordered


async def _batch(state: SandboxState, body: Any, request_id: str, roles: frozenset[str]) -> web.Response:
    """JSON batching as Microsoft documents it: at most 20 requests, each evaluated on its own (its own
    status, its own 429 and Retry-After), sent to Outlook four at a time (one at a time with dependsOn,
    whose failure makes the dependants 424), answers in any order."""
    plan = _batch_plan(body.get("requests") if isinstance(body, dict) else None)
    if isinstance(plan, str):
        return web.json_response(error_body("BadRequest", plan, request_id), status=400)
    sequential = any(item.get("dependsOn") for item in plan)
    status_of: dict[str, int] = {}
    responses = []
    wave = 1 if sequential else BATCH_PARALLEL
    for first in range(0, len(plan), wave):
        in_wave: Counter[str] = Counter()
        for item in plan[first:first + wave]:
            answer = await _batch_item(state, item, request_id, roles, status_of, in_wave)
            status_of[item["id"]] = answer.status
            responses.append({"id": item["id"], "status": answer.status, "headers": answer.headers,
                              "body": answer.body})
    state.random.shuffle(responses)  # "Individual responses might appear in a different order than the requests."
    return web.json_response({"responses": responses})


async def _batch_item(state: SandboxState, item: dict[str, Any], request_id: str, roles: frozenset[str],
                      status_of: dict[str, int], in_wave: Counter[str]) -> GraphResponse:
    url = str(item.get("url", ""))
    parts = urlsplit(url if url.startswith("/") else "/" + url)
    path = unquote(parts.path)
    method = str(item.get("method", "GET")).upper()
    state.stats[state.graph.route_name(method, path)] += 1
    if any(status_of.get(d, 200) >= 400 for d in item.get("dependsOn", [])):
        return GraphResponse(424, error_body("FailedDependency", "The request depends on a request that failed.",
                                             request_id))
    answer = await _apply_fault(state, request_id, top_level=False)
    if answer is not None:
        return answer
    mailbox = _mailbox_of(path)
    if mailbox is not None:
        if state.in_flight[mailbox] + in_wave[mailbox] >= state.mailbox_concurrency:
            return _busy_mailbox(state, request_id)
        in_wave[mailbox] += 1
    if _role_for(path) not in roles:
        return _forbidden(state, request_id, _role_for(path))
    headers = {k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    return await state.graph.dispatch(GraphRequest(method, path, dict(parse_qsl(parts.query)), item.get("body"),
                                                   headers))


# --- control API (not Graph: for tests, benchmarks and people) ------------------------------

async def control_stats(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    return web.json_response({"stats": dict(state.stats), "faults": state.faults.as_dict(),
                              "events": sum(len(v) for v in state.graph.events.values())})


async def control_faults(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    try:
        state.faults = Faults.from_dict(await request.json())
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(state.faults.as_dict())


async def control_reset_stats(request: web.Request) -> web.Response:
    request.app[STATE_KEY].stats.clear()
    return web.json_response({"ok": True})


async def health(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    return web.json_response({"status": "ok", "tenant": state.tenant_id, "graph": f"{state.base_url}/v1.0"})


def create_sandbox_app(state: SandboxState) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[STATE_KEY] = state
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_route("GET", "/{tenant}/adminconsent", admin_consent)
    app.router.add_route("POST", "/{tenant}/adminconsent", admin_consent)
    app.router.add_get("/_sandbox/health", health)
    app.router.add_get("/_sandbox/stats", control_stats)
    app.router.add_post("/_sandbox/faults", control_faults)
    app.router.add_post("/_sandbox/stats/reset", control_reset_stats)
    app.router.add_route("*", "/v1.0/{tail:.*}", graph)
    return app


@dataclass
class RunningSandbox:
    state: SandboxState
    runner: web.AppRunner
    url: str
    tls: TlsFiles

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_sandbox(data_dir: Path, *, host: str = "127.0.0.1", port: int = 0,
                        state: SandboxState | None = None, spec_path: Path | None = None,
                        consented: bool = True) -> RunningSandbox:
    """Start the sandbox on https://host:port (0 = any free port) in the running event loop."""
    if state is None:
        spec_file = spec_path or DEFAULT_SPEC
        spec = GraphSpec(spec_file) if spec_file.exists() else None
        if spec is None:
            log.warning("Graph description %s not found: the sandbox will not check request bodies", spec_file)
        state = SandboxState(faults=Faults.from_env(), spec=spec, consented=consented)
    tls = ensure_tls_files(data_dir / "sandbox-tls")
    runner = web.AppRunner(create_sandbox_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls.server_context())
    await site.start()
    bound_port = runner.addresses[0][1]
    state.base_url = f"https://{host}:{bound_port}"
    log.info("Microsoft 365 sandbox on %s (tenant %s)", state.base_url, state.tenant_id)
    return RunningSandbox(state, runner, state.base_url, tls)
