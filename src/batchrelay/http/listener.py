"""The daemon's listening socket: bounded connections, optional TLS, graceful stop.

aiohttp bounds a request's size but not the time a client takes to send it, nor how many
connections it may hold. Each accepted connection is wrapped in a :class:`Guarded`
protocol that forwards everything to aiohttp's own and adds:

* ``max_connections``: a connection past it is answered 503 and closed at once;
* ``header_timeout``: from the first byte of a request (or the connection's start) to the
  moment its handler starts, so slow headers ("slowloris") cannot hold a connection;
* ``idle_timeout``: a keep-alive connection with no request in it is closed after this;
* the body of a request is read by ``limits.read_body`` within ``body_timeout``.

A connection in a handler has no timer running: the handler bounds its own work (a
commit, a stream). With ``tls`` set the listener speaks HTTPS only; the certificate and
key files are read again when they change, for new connections.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from pydantic import BaseModel, ConfigDict, Field, model_validator

from batchrelay.errors import ConfigError
from batchrelay.http.protocol_errors import handler_for

log = structlog.get_logger(__name__)

BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 52\r\n\r\n"
    b'{"error": "busy", "detail": "too many connections"}\n'
)
TLS_CHECK_INTERVAL = 10.0  # seconds between looks at the certificate files
REFUSED_LINGER = 2.0  # seconds a refused connection may take to read its 503 and hang up


class TlsConfig(BaseModel):
    """HTTPS for the listener: PEM files, read again when they change. Loaded once when
    the config is, so ``check-config`` finds a missing or mismatched pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path
    key_file: Path

    @model_validator(mode="after")
    def _loads(self) -> TlsConfig:
        try:
            tls_context(self)
        except OSError as exc:
            raise ValueError(f"cannot read the certificate or key: {exc.strerror}") from None
        except ssl.SSLError as exc:
            raise ValueError(f"not a certificate and its key: {exc.reason}") from None
        return self


class ListenerConfig(BaseModel):
    """Connection bounds of ``server`` (``config.ServerConfig`` builds on it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    header_timeout: float = Field(10.0, gt=0, le=600)  # seconds to send a request's headers
    body_timeout: float = Field(30.0, gt=0, le=3600)  # seconds to send a request's body
    idle_timeout: float = Field(30.0, gt=0, le=3600)  # an idle keep-alive connection closes
    max_connections: int = Field(512, ge=1, le=100_000)  # more are answered 503 and closed
    tls: TlsConfig | None = None


class Guard:
    """The connections of one listener, and their bounds."""

    def __init__(self, config: ListenerConfig) -> None:
        self.config = config
        self.open: dict[int, Guarded] = {}  # id of aiohttp's protocol -> its guard
        self.refused = 0

    def wrap(self, inner: RequestHandler) -> Guarded:
        return Guarded(self, inner)

    def started(self, handler: object) -> Callable[[], None]:
        """A request reached its handler on ``handler``'s connection; call the result when
        the handler is done. No-op for connections this guard did not accept (tests)."""
        guarded = self.open.get(id(handler))
        if guarded is None:
            return _nothing
        guarded.busy()
        return guarded.idle


def _nothing() -> None:
    return None


class Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the timers and the count of ``Guard``."""

    def __init__(self, guard: Guard, inner: RequestHandler) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.in_handler = False
        self.waiting = True  # between requests: the next byte starts the header timer
        self.refused = False  # over max_connections: answered 503, never handed to aiohttp

    # -- asyncio.Protocol, forwarded ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if len(self.guard.open) >= self.guard.config.max_connections:
            self.guard.refused += 1
            self._refuse(transport)
            return
        self.guard.open[id(self.inner)] = self
        self.inner.connection_made(transport)
        self._arm(self.guard.config.header_timeout)

    def _refuse(self, transport: asyncio.Transport) -> None:
        """Answer 503 and hang up gracefully: half-close, then drop what the client still
        sends until it closes or ``REFUSED_LINGER`` passes. Closing at once would make the
        kernel answer the client's request bytes with a reset, which can destroy the 503
        before the client reads it."""
        self.refused = True
        transport.write(BUSY)
        if transport.can_write_eof():
            transport.write_eof()
        self.timer = asyncio.get_running_loop().call_later(REFUSED_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # a refused connection's request is never read
        if self.waiting and not self.in_handler:
            self.waiting = False
            self._arm(self.guard.config.header_timeout)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if not self.refused:
            self.inner.eof_received()
        return None  # close the transport (aiohttp's own answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.guard.open.pop(id(self.inner), None) is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- the timers --------------------------------------------------------------------

    def busy(self) -> None:
        self.in_handler = True
        self._disarm()

    def idle(self) -> None:
        self.in_handler = False
        self.waiting = True
        self._arm(self.guard.config.idle_timeout)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        if self.transport is not None and not self.in_handler:
            self.transport.abort()


GUARD: web.AppKey[Guard] = web.AppKey("listener_guard", Guard)


@web.middleware
async def track(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Stop the connection's header timer while its request is handled."""
    guard = request.app.get(GUARD)
    if guard is None:
        return await handler(request)
    done = guard.started(request.protocol)
    try:
        return await handler(request)
    finally:
        done()


class GuardedSite(web.TCPSite):
    """A TCP site whose connections go through ``guard``."""

    def __init__(self, runner: web.AppRunner, guard: Guard, *args: Any, **kwargs: Any) -> None:
        super().__init__(runner, *args, **kwargs)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self.guard.wrap(handler_for(server)),  # protocol errors as JSON
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )


# ------------------------------------------------------------------ TLS


def tls_context(config: TlsConfig) -> ssl.SSLContext:
    """A server context from the PEM files; raises ``OSError``/``ssl.SSLError`` if bad."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.cert_file, config.key_file)
    return context


def _stamp(config: TlsConfig) -> tuple[float, float]:
    return (config.cert_file.stat().st_mtime, config.key_file.stat().st_mtime)


async def reload_tls(
    context: ssl.SSLContext, config: TlsConfig, interval: float = TLS_CHECK_INTERVAL
) -> None:
    """Load the files into ``context`` again whenever they change (new connections use
    them); a bad pair is logged and the previous one kept."""
    seen = _stamp(config)
    while True:
        await asyncio.sleep(interval)
        try:
            stamp = _stamp(config)
            if stamp == seen:
                continue
            context.load_cert_chain(config.cert_file, config.key_file)
        except (OSError, ssl.SSLError) as exc:
            log.error("tls.reload_failed", error=type(exc).__name__, detail=str(exc)[:200])
            continue
        seen = stamp
        log.info("tls.reloaded", cert_file=str(config.cert_file))


# ------------------------------------------------------------------ serving


async def serve(
    app: web.Application,
    host: str,
    port: int,
    config: ListenerConfig,
    drain_timeout: float,
    reload: Callable[[], Coroutine[Any, Any, Any]] | None = None,
    stop_timeout: float | None = None,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then stop gracefully (see ``app.py``);
    SIGHUP runs ``reload`` (the config read again, ``reload.py``) when given. The whole
    stop (the app's shutdown and cleanup) is cut off after ``stop_timeout`` seconds."""
    guard = Guard(config)
    app[GUARD] = guard
    context = tls_context(config.tls) if config.tls is not None else None
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=config.idle_timeout,
        shutdown_timeout=drain_timeout,
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reloads: set[asyncio.Task[Any]] = set()
    if reload is not None:  # SIGHUP: read the config again (reload.py), never die of it

        def on_hangup() -> None:
            task = loop.create_task(reload(), name="reload")
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hangup)
    reloader = None
    try:
        site = GuardedSite(runner, guard, host, port, ssl_context=context)
        try:
            await site.start()
        except OSError as exc:  # in use, not ours, no such address
            raise ConfigError(f"server: cannot listen on {host}:{port}: {exc.strerror}") from None
        if context is not None and config.tls is not None:
            reloader = asyncio.create_task(reload_tls(context, config.tls), name="tls-reload")
        await stop.wait()
    finally:
        if reloader is not None:
            reloader.cancel()
        try:
            await asyncio.wait_for(runner.cleanup(), stop_timeout)
        except TimeoutError:
            # What was not committed was not acknowledged either: it comes again.
            log.error("daemon.stop_timeout", seconds=stop_timeout)
