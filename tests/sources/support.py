"""Test helpers for the signature tests: RSA keys, self-signed certificates, a certificate
server that counts its requests, and a clock that moves only when told."""

from __future__ import annotations

import asyncio
import datetime
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from batchrelay.sources.certs import CertificateCache


def make_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cert_pem(key: rsa.RSAPrivateKey, name: str = "batchrelay test signer") -> bytes:
    """A self-signed PEM certificate for ``key``."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class CertServer:
    """Serves ``files`` by path; ``hits`` counts requests per path, served or not."""

    server: TestServer
    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    chunked: set[str] = field(default_factory=set)
    delay: float = 0.0
    hits: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    @property
    def root(self) -> str:
        return self.url("/")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if path in self.redirects:
            raise web.HTTPFound(self.redirects[path])
        if path not in self.files:
            return web.Response(status=404)
        if path in self.chunked:
            return await self._stream(request, self.files[path])
        return web.Response(body=self.files[path], status=self.status.get(path, 200))

    async def _stream(self, request: web.Request, body: bytes) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 4096):
            await response.write(body[start : start + 4096])
        await response.write_eof()
        return response


CacheFactory = Callable[..., CertificateCache]
