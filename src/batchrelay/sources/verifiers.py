"""Bind each push endpoint to its signature check, with the configured certificate caches."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from batchrelay.errors import ConfigError
from batchrelay.events.models import Ingress
from batchrelay.sources import eventbridge_auth, ice_auth, mns_signature
from batchrelay.sources.certs import CertificateCache, PushCertConfig
from batchrelay.sources.config import IngressConfig

log = structlog.get_logger(__name__)

Verifier = Callable[[web.Request, bytes], Awaitable[None]]
"""Raises SignatureError (→ 403) or CertificateUnavailable (→ 503) when the push is not proven."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    ingress: Ingress
    verify: Verifier
    success_status: int  # MNS documents 204, ICE wants 200


class Verifiers:
    """Owns the certificate caches; ``start``/``close`` follow the daemon's lifecycle."""

    def __init__(self, config: IngressConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.mns_certs = _certificate_cache(config.mns_push, "ingress.mns_push")
        eb = config.eventbridge
        self.eventbridge_certs = (
            _certificate_cache(eb, "ingress.eventbridge") if eb.signature != "off" else None
        )
        self.retired: list[CertificateCache] = []  # replaced on reload, closed at the end

    def replace(self, config: IngressConfig) -> None:
        """Verify with ``config`` from the next push on (a config reload). A certificate
        cache whose settings changed is rebuilt; the old one is closed at :meth:`close`, as
        a push may still be fetching through it (a reload is rare, so few pile up)."""
        mns_certs, eventbridge_certs = self.mns_certs, self.eventbridge_certs
        if config.mns_push != self.config.mns_push:
            mns_certs = _certificate_cache(config.mns_push, "ingress.mns_push")
        eb = config.eventbridge
        if eb != self.config.eventbridge:
            on = eb.signature != "off"
            eventbridge_certs = _certificate_cache(eb, "ingress.eventbridge") if on else None
        for old, new in ((self.mns_certs, mns_certs), (self.eventbridge_certs, eventbridge_certs)):
            if old is not None and old is not new:
                self.retired.append(old)
        self.config, self.mns_certs, self.eventbridge_certs = config, mns_certs, eventbridge_certs

    async def start(self) -> None:
        eb, ice = self.config.eventbridge, self.config.ice
        if eb.enabled and eb.token is None and eb.signature == "off":
            log.warning("ingress.unauthenticated", endpoint="/ingest/eventbridge",
                        hint="set ingress.eventbridge.token or signature")  # fmt: skip
        if ice.enabled and ice.auth_key is None:
            log.warning("ingress.unauthenticated", endpoint="/ingest/ice",
                        hint="set ingress.ice.auth_key and callback_url")  # fmt: skip

    async def close(self) -> None:
        for cache in self.retired:
            await cache.close()
        await self.mns_certs.close()
        if self.eventbridge_certs is not None:
            await self.eventbridge_certs.close()

    async def mns(self, request: web.Request, body: bytes) -> None:
        await mns_signature.verify_push(
            request.method, request.raw_path, request.headers, body,
            now=self.clock(), config=self.config.mns_push, certs=self.mns_certs,
        )  # fmt: skip

    async def eventbridge(self, request: web.Request, body: bytes) -> None:
        await eventbridge_auth.verify_push(
            request.raw_path, request.headers, body, now=self.clock(),
            config=self.config.eventbridge, certs=self.eventbridge_certs, scheme=request.scheme,
        )  # fmt: skip

    async def ice(self, request: web.Request, body: bytes) -> None:
        ice_auth.verify_callback(request.headers, now=self.clock(), config=self.config.ice)


def _certificate_cache(config: PushCertConfig, section: str) -> CertificateCache:
    try:
        return config.certificate_cache()
    except ValueError as exc:  # a pinned file that changed since the config was loaded
        raise ConfigError(f"{section}.cert_files: {exc}") from None


def endpoints(config: IngressConfig, verifiers: Verifiers) -> list[Endpoint]:
    """The enabled push endpoints."""
    candidates = [
        (config.mns_push.enabled, Endpoint("/ingest/mns", "mns-push", verifiers.mns, 204)),
        (config.eventbridge.enabled,
         Endpoint("/ingest/eventbridge", "eventbridge", verifiers.eventbridge, 200)),
        (config.ice.enabled, Endpoint("/ingest/ice", "ice-http", verifiers.ice, 200)),
    ]  # fmt: skip
    return [endpoint for enabled, endpoint in candidates if enabled]
