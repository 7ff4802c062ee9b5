"""Where a subscriber URL may point: the guard against server-side request forgery.

Anyone holding the API token can make the daemon POST to a URL of their choosing, so a
subscriber URL must be https (unless ``allow_http``) and must not reach the daemon's own
network: loopback, private, link-local (cloud metadata at 169.254.169.254), multicast,
reserved and unspecified addresses are refused unless inside ``allowed_networks``.

The check is made on the address actually connected to: :class:`GuardedResolver` is the
resolver of the subscriptions' HTTP session, so a name that resolves to a public address
when a subscription is created and to a private one later (DNS rebinding) is still
refused. :meth:`EgressPolicy.refusal` checks a URL beforehand, for a clear permanent error
instead of a connection failure. Redirects are never followed (``notifiers/http.py``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

RESOLVE_SECONDS = 3.0  # a lookup for the early check; the connection's own is checked too
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddressError(OSError):
    """A name resolved only to addresses the policy refuses."""


@dataclass(frozen=True)
class EgressPolicy:
    allow_http: bool = False
    allowed_networks: Sequence[Network] = ()

    def allows(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return True
        internal = (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        )
        return not internal

    def url_refusal(self, url: str) -> str | None:
        """Why ``url`` is refused before any lookup (scheme, form, a literal address)."""
        try:
            parsed = URL(url)
        except (ValueError, TypeError):
            return "not a valid URL"
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parsed.scheme not in schemes or not parsed.host:
            allowed = " or ".join(f"{s}://" for s in schemes)
            return f"must be an absolute {allowed} URL (subscriptions.allow_http permits http)"
        if parsed.user or parsed.password:
            return "must not carry credentials: use headers"
        address = _literal(parsed.host)
        if address is not None and not self.allows(address):
            return f"{address} is an internal address (see subscriptions.allowed_networks)"
        return None

    async def refusal(self, url: str) -> str | None:
        """Why ``url`` is refused now, resolving its host; None when it may be sent to."""
        problem = self.url_refusal(url)
        if problem is not None:
            return problem
        host = URL(url).host or ""
        if _literal(host) is not None:
            return None
        try:
            async with asyncio.timeout(RESOLVE_SECONDS):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, None, type=socket.SOCK_STREAM
                )
        except (OSError, TimeoutError):
            return None  # the send fails as a connection error, and is retried
        if not all(self.allows(_address(str(info[4][0]))) for info in infos):
            return f"{host} resolves to an internal address (see subscriptions.allowed_networks)"
        return None


def _address(text: str) -> Address:
    """A resolved address; an IPv6 zone (``fe80::1%eth0``) does not change what it is."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """The system resolver, keeping only addresses ``policy`` allows."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if self.policy.allows(_address(r["host"]))]
        if not kept:
            raise RefusedAddressError(f"{host} resolves only to internal addresses")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def networks(values: Sequence[Any]) -> tuple[Network, ...]:
    """CIDR strings as networks (``ValueError`` on a bad one)."""
    return tuple(ipaddress.ip_network(str(value), strict=False) for value in values)
