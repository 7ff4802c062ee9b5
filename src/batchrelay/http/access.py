"""Who may call what over HTTP: one middleware decides for every route, by its path.

Each request falls in one class, decided here once, so a route added later is covered by
being registered, not by its handler remembering a check:

* probes (``/healthz``, ``/readyz`` and their Prometheus-style names ``/-/healthy``,
  ``/-/ready``): always open, for load balancers and orchestrators;
* ingress (``/ingest/...``): proven by their own signatures and tokens (``sources/``);
* the login form (``/-/login``) and the few files it shows: open;
* writes (any other request whose method is not GET, HEAD or OPTIONS):
  ``Authorization: Bearer <api.token>`` and nothing else; refused when no token is set;
* reads, in four surfaces: ``metrics`` (``/metrics``), ``stream`` (``/api/v1/stream``),
  ``api`` (the rest of ``/api/v1/``) and ``dashboard`` (pages and static files). Open
  unless ``api.read_token`` or ``api.read_users`` is set; a surface listed in
  ``api.open_reads`` stays open even then.

A read is proven by ``Authorization: Bearer`` with the read token (or the write token,
which may do more), by HTTP basic auth against a user's bcrypt hash (as Prometheus's web
config does), or by the dashboard's session cookie. Browsers send basic auth and cookies
by themselves, also for ``EventSource``, which cannot set headers; so with a read token
the dashboard shows a login form that trades the token for an HttpOnly, SameSite=Strict
cookie: an HMAC of an expiry time under the token, never the token itself. Changing the
token ends every session. A cookie is never enough for a write.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import html
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Literal

import bcrypt
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from batchrelay.http.dashboard import SECURITY_HEADERS

ReadSurface = Literal["api", "dashboard", "stream", "metrics"]

PROBES = frozenset({"/healthz", "/readyz", "/-/healthy", "/-/ready"})
LOGIN_PATH = "/-/login"
#: Files the login form needs; nothing in them is data.
PUBLIC_FILES = frozenset({"/static/dashboard/app.css", "/static/dashboard/favicon.svg"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
COOKIE = "batchrelay_read"
SESSION_SECONDS = 12 * 3600
REALM = "batchrelay"
#: bcrypt is slow on purpose: at most this many checks at once, and good answers cached.
BCRYPT_AT_ONCE = 2
BCRYPT_CACHE = 64


class AccessConfig(BaseModel):
    """The ``api`` section's access settings (``config.ApiConfig`` builds on it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = None  # bearer token for mutating calls; none = they are refused
    read_token: SecretStr | None = None  # bearer token for reads; none (and no users) = open
    read_users: dict[str, SecretStr] = Field(default_factory=dict)  # name -> bcrypt hash
    open_reads: list[ReadSurface] = Field(default_factory=list)  # left open with read auth

    @field_validator("read_users")
    @classmethod
    def _bcrypt_hashes(cls, users: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, hashed in users.items():
            if not name or ":" in name:
                raise ValueError(f"user name {name!r} must be non-empty and without ':'")
            if not hashed.get_secret_value().startswith(("$2a$", "$2b$", "$2y$")):
                raise ValueError(f"the password of {name!r} must be a bcrypt hash ($2b$...)")
        return users

    @property
    def reads_closed(self) -> bool:
        return self.read_token is not None or bool(self.read_users)


class Refusal(Exception):
    """Why a request may not go on: its status, a closed error word and a detail."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the ``Authorization`` header carries, when it is well formed."""

    bearer: str | None = None
    basic: tuple[str, str] | None = None


def credentials(header: str | None, *, basic: bool = True) -> Credentials:
    """Parse ``Authorization``; a header that is there but unreadable is a ``Refusal`` (400).
    ``basic=False``: basic credentials count for nothing, and are not read.

    aiohttp hands header bytes that are not UTF-8 over as surrogate escapes: they are
    refused here, before anything compares or logs them.
    """
    if header is None:
        return Credentials()
    try:
        header.encode("utf-8")
    except UnicodeEncodeError:
        raise Refusal(400, "bad_request", "the Authorization header is not UTF-8") from None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        if not value or " " in value:
            raise Refusal(400, "bad_request", "Authorization must be 'Bearer <token>'")
        return Credentials(bearer=value)
    if scheme.lower() == "basic" and basic:
        return Credentials(basic=_basic(value))
    return Credentials()  # another scheme, or a bare token: no credentials we accept


def _basic(value: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Refusal(400, "bad_request", "Basic credentials are not base64 of UTF-8") from None
    user, sep, password = text.partition(":")
    if not sep:
        raise Refusal(400, "bad_request", "Basic credentials must be user:password")
    return user, password


def same_secret(given: str, secret: SecretStr | None) -> bool:
    """Constant-time comparison; a missing secret matches nothing."""
    if secret is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), secret.get_secret_value().encode("utf-8"))


@dataclass
class Passwords:
    """Checks basic-auth passwords against bcrypt hashes, a few at a time, good ones cached."""

    users: dict[str, SecretStr]
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(BCRYPT_AT_ONCE))
    _good: OrderedDict[bytes, None] = field(default_factory=OrderedDict)

    async def check(self, user: str, password: str) -> bool:
        hashed = self.users.get(user)
        if hashed is None:
            return False
        secret = hashed.get_secret_value().encode("ascii", "replace")
        key = hashlib.sha256(b"\0".join([user.encode(), password.encode(), secret])).digest()
        if key in self._good:
            self._good.move_to_end(key)
            return True
        async with self._slots:
            ok = await asyncio.to_thread(_bcrypt_ok, password.encode(), secret)
        if ok:
            self._good[key] = None
            if len(self._good) > BCRYPT_CACHE:
                self._good.popitem(last=False)
        return ok


def _bcrypt_ok(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a malformed hash: the config validator lets few through
        return False


# ------------------------------------------------------------------ sessions (cookies)


def session_cookie(read_token: SecretStr, now: float) -> str:
    expires = int(now) + SESSION_SECONDS
    return f"{expires}.{_session_mac(read_token, expires)}"


def session_valid(value: str, read_token: SecretStr | None, now: float) -> bool:
    if read_token is None:
        return False
    expires, _, mac = value.partition(".")
    if not expires.isdigit() or len(expires) > 12 or int(expires) < now:
        return False
    return hmac.compare_digest(mac.encode(), _session_mac(read_token, int(expires)).encode())


def _session_mac(read_token: SecretStr, expires: int) -> str:
    key = read_token.get_secret_value().encode("utf-8")
    return hmac.new(key, f"batchrelay-read:{expires}".encode(), hashlib.sha256).hexdigest()


# ------------------------------------------------------------------ the decision


def surface(path: str) -> ReadSurface:
    if path == "/metrics":
        return "metrics"
    if path == "/api/v1/stream":
        return "stream"
    if path.startswith("/api/"):
        return "api"
    return "dashboard"


@dataclass
class Access:
    """The daemon's access rules (see the module docstring); one per application."""

    config: AccessConfig
    clock: Callable[[], float] = time.time
    passwords: Passwords = field(init=False)

    def __post_init__(self) -> None:
        self.passwords = Passwords(dict(self.config.read_users))

    def replace(self, config: AccessConfig) -> None:
        """Apply reloaded rules to the next request (a changed read token ends sessions)."""
        self.config = config
        self.passwords = Passwords(dict(config.read_users))

    def check_write(self, request: web.Request) -> None:
        """Raise ``Refusal`` unless the request carries ``Bearer <api.token>``."""
        given = credentials(request.headers.get("Authorization"), basic=False)
        if self.config.token is None:
            raise Refusal(403, "forbidden", "mutating calls are disabled: set api.token")
        if given.bearer is None:
            raise Refusal(401, "unauthorized", "Authorization: Bearer <token> is required")
        if not same_secret(given.bearer, self.config.token):
            raise Refusal(403, "forbidden", "wrong token")

    async def check_read(self, request: web.Request) -> None:
        """Raise ``Refusal`` (401) unless the request may read its surface."""
        config = self.config
        if not config.reads_closed or surface(request.path) in config.open_reads:
            return
        given = credentials(request.headers.get("Authorization"))
        if given.bearer is not None and (
            same_secret(given.bearer, config.read_token) or same_secret(given.bearer, config.token)
        ):
            return
        if given.basic is not None and await self.passwords.check(*given.basic):
            return
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and session_valid(cookie, config.read_token, self.clock()):
            return
        raise Refusal(401, "unauthorized", "reading needs the read token or a user")

    def challenge(self) -> str:
        return f'Basic realm="{REALM}"' if self.config.read_users else f'Bearer realm="{REALM}"'


ACCESS: web.AppKey[Access] = web.AppKey("access", Access)


def kind(request: web.Request) -> Literal["open", "write", "read"]:
    path = request.path
    if path in PROBES or path.startswith("/ingest/") or path == LOGIN_PATH:
        return "open"
    if path in PUBLIC_FILES and request.method in SAFE_METHODS:
        return "open"
    return "read" if request.method in SAFE_METHODS else "write"


@web.middleware
async def guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every request passes here first (see the module docstring)."""
    access = request.app[ACCESS]
    try:
        match kind(request):
            case "write":
                access.check_write(request)
            case "read":
                await access.check_read(request)
    except Refusal as refusal:
        return refused(request, access, refusal)
    return await handler(request)


def refused(request: web.Request, access: Access, refusal: Refusal) -> web.Response:
    headers = {"WWW-Authenticate": access.challenge()} if refusal.status == 401 else {}
    wants_page = "text/html" in request.headers.get("Accept", "")
    if refusal.status == 401 and wants_page and access.config.read_token is not None:
        return login_page(request.path_qs, "", headers)
    body = {"error": refusal.error, "detail": refusal.detail}
    return web.json_response(body, status=refusal.status, headers=headers)


# ------------------------------------------------------------------ the login form


def login_page(next_path: str, message: str, headers: dict[str, str]) -> web.Response:
    shell = files("batchrelay.http").joinpath("static", "login.html").read_text("utf-8")
    body = shell.format(next=html.escape(next_path, quote=True), message=html.escape(message))
    return web.Response(
        status=401,
        text=body,
        content_type="text/html",
        headers={**SECURITY_HEADERS, **headers, "Cache-Control": "no-store"},
    )


def _local_path(value: str) -> str:
    """Where to go after logging in: a path on this site, never another origin."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def login(request: web.Request) -> web.StreamResponse:
    """``POST /-/login`` (form: ``token``, ``next``): a session cookie for reads."""
    access = request.app[ACCESS]
    form = await request.post()
    token, next_path = form.get("token"), _local_path(str(form.get("next") or "/"))
    read_token = access.config.read_token
    if read_token is None:
        return _see_other(next_path)
    if not isinstance(token, str) or not (
        same_secret(token, read_token) or same_secret(token, access.config.token)
    ):
        return login_page(next_path, "Wrong token.", {})
    response = _see_other(next_path)
    response.set_cookie(
        COOKIE,
        session_cookie(read_token, access.clock()),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return response


def _see_other(path: str) -> web.Response:
    return web.Response(status=303, headers={"Location": path, "Cache-Control": "no-store"})


def routes() -> list[web.RouteDef]:
    return [web.post(LOGIN_PATH, login)]


def setup(app: web.Application, config: AccessConfig) -> None:
    """Install the rules: ``guard`` must be the first of the app's middlewares."""
    app[ACCESS] = Access(config)
