"""Fixtures for the signature tests (helpers live in ``support.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from batchrelay.sources.certs import CertCacheConfig, CertificateCache, CertUrlPrefix
from tests.fakes import FakeClock

from .support import CacheFactory, CertServer, make_key


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return make_key()


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return make_key()


@pytest.fixture
async def cert_server() -> AsyncIterator[CertServer]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1", port=0)
    certs = CertServer(server)
    app.router.add_route("GET", "/{tail:.*}", certs.handle)
    await server.start_server()
    try:
        yield certs
    finally:
        await server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
async def make_cache(cert_server: CertServer, clock: FakeClock) -> AsyncIterator[CacheFactory]:
    """Caches allowing the test server's root (or ``prefixes``); all closed at teardown."""
    made: list[CertificateCache] = []

    def factory(prefixes: list[str] | None = None, **bounds: Any) -> CertificateCache:
        allow = [CertUrlPrefix.parse(p) for p in (prefixes or [cert_server.root])]
        cache = CertificateCache(allow, CertCacheConfig(**bounds), clock=clock)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        await cache.close()
