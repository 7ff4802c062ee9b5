"""The egress guard of subscriber URLs: https only by default, no internal addresses unless
allowed, checked on the resolved address when sending, redirects never followed."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from batchrelay.notifiers.base import FailureReason, SendError
from batchrelay.notifiers.egress import EgressPolicy, GuardedResolver, networks
from batchrelay.notifiers.subscription import SubscriptionSender

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STRICT = EgressPolicy()
LOCAL_HTTP = EgressPolicy(allow_http=True, allowed_networks=networks(["127.0.0.0/8"]))


@pytest.mark.parametrize(
    ("policy", "url", "words"),
    [
        (STRICT, "http://example.com/hook", "https://"),
        (STRICT, "https://127.0.0.1/hook", "internal address"),
        (STRICT, "https://10.0.0.7/hook", "internal address"),
        (STRICT, "https://192.168.1.1/hook", "internal address"),
        (STRICT, "https://169.254.169.254/latest/meta-data", "internal address"),
        (STRICT, "https://[::1]/hook", "internal address"),
        (STRICT, "https://[::ffff:127.0.0.1]/hook", "internal address"),
        (STRICT, "https://[fe80::1]/hook", "internal address"),
        (STRICT, "https://0.0.0.0/hook", "internal address"),
        (STRICT, "https://user:pw@example.com/hook", "credentials"),
        (STRICT, "not a url", "https://"),
        (LOCAL_HTTP, "http://10.0.0.7/hook", "internal address"),
        (LOCAL_HTTP, "ftp://127.0.0.1/hook", "http://"),
    ],
)
def test_urls_refused_before_any_lookup(policy: EgressPolicy, url: str, words: str) -> None:
    problem = policy.url_refusal(url)
    assert problem is not None and words in problem


@pytest.mark.parametrize(
    ("policy", "url"),
    [
        (STRICT, "https://example.com/hook"),
        (STRICT, "https://8.8.8.8/hook"),
        (LOCAL_HTTP, "http://127.0.0.1:8080/hook"),
        (LOCAL_HTTP, "https://127.0.0.2/hook"),
    ],
)
def test_urls_allowed(policy: EgressPolicy, url: str) -> None:
    assert policy.url_refusal(url) is None


def test_allowed_networks_open_only_themselves() -> None:
    policy = EgressPolicy(allowed_networks=networks(["10.20.0.0/16"]))
    assert policy.allows(ipaddress.ip_address("10.20.3.4"))
    assert not policy.allows(ipaddress.ip_address("10.21.3.4"))
    assert policy.allows(ipaddress.ip_address("93.184.216.34"))


@pytest.fixture
async def local() -> AsyncIterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 answering /hook, and /moved redirecting there."""
    hits: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    async def moved(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPFound("/hook")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/moved", moved)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"127.0.0.1:{server.port}", hits
    finally:
        await server.close()


async def send(policy: EgressPolicy, url: str) -> None:
    sender = SubscriptionSender(policy, timeout=5)
    try:
        await sender.send(url, "msg_1", {"type": "ping"}, [SECRET], {})
    finally:
        await sender.close()


async def test_a_name_is_checked_on_the_address_it_resolves_to(
    local: tuple[str, list[str]],
) -> None:
    where, hits = local
    port = where.rsplit(":", 1)[1]
    http_only = EgressPolicy(allow_http=True)  # loopback not allowed
    with pytest.raises(SendError) as refused:
        await send(http_only, f"http://localhost:{port}/hook")
    assert refused.value.reason is FailureReason.CLIENT_ERROR and not refused.value.retryable
    assert "resolves to an internal address" in refused.value.detail
    await send(LOCAL_HTTP, f"http://localhost:{port}/hook")  # allowed: it arrives
    assert hits == ["/hook"]


async def test_the_connection_itself_is_guarded(local: tuple[str, list[str]]) -> None:
    """The resolver the sender connects through refuses too: a name that resolved to a
    public address a moment ago and to an internal one now (DNS rebinding) gets nowhere."""
    where, hits = local
    port = where.rsplit(":", 1)[1]
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(EgressPolicy(allow_http=True)))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.post(f"http://localhost:{port}/hook", data=b"{}")
    assert hits == []


async def test_redirects_are_not_followed(local: tuple[str, list[str]]) -> None:
    where, hits = local
    with pytest.raises(SendError) as failed:
        await send(LOCAL_HTTP, f"http://{where}/moved")
    assert failed.value.reason is FailureReason.CLIENT_ERROR and "HTTP 302" in failed.value.detail
    assert hits == ["/moved"]
