"""Signing certificates for MNS and EventBridge pushes: an allow-list and a bounded cache.

A push names the URL of the certificate that verifies it, so the URL is attacker input.
:class:`CertificateCache` fetches a certificate only when :class:`CertUrlPrefix` rules allow
the URL, compared on the parsed URL (scheme, host, port, path segments), never as a string
prefix: ``https://trusted.example.com.evil.com/`` and ``https://trusted.example.com@evil/``
must not pass. Userinfo, fragments, ``.``/``..`` segments, backslashes, non-ASCII and
control characters are refused outright, and redirects are not followed, so the URL that
was checked is the URL that is fetched.

What the handler answers:

- ``SignatureError(UNTRUSTED_CERT)``: the URL is off the list. Proof enough that the push
  is not from the service: **403**.
- :class:`CertificateUnavailable`: the URL is allowed but the download failed (timeout,
  connection, HTTP status, oversized or unparseable body). That is our problem or the
  network's, not proof of forgery, so the handler answers **503** with ``Retry-After``;
  MNS and EventBridge retry, and the retry finds the certificate once it can be fetched.
  The failure is remembered for ``negative_ttl`` seconds so a flood of pushes naming a
  broken URL costs one download, not one each.

Bounds: ``max_entries`` certificates (least recently used evicted; failures kept in a
separate list of the same size so they cannot evict good certificates), ``ttl`` per
certificate, ``max_bytes`` per download, ``timeout`` per download, and concurrent requests
for the same URL share one download.

Trust comes from the allow-listed origin alone: neither the key size nor the certificate's
chain or validity dates are checked. Real MNS pushes are signed with a 512-bit key in a
certificate that expired in 2016 (``protocols.md`` §3.7), and the services' own sample
verifiers check neither. The key size is logged once per URL, so operators can see it.

Pinned certificates (``cert_files``: URL → local PEM file) are used instead of fetching,
for networks that cannot reach OSS; a pinned URL must still pass the allow-list.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Self, TypeVar

import aiohttp
import structlog
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from yarl import URL

from batchrelay.errors import InputReason, RelayError, SignatureError

log = structlog.get_logger(__name__)

Clock = Callable[[], float]
"""Monotonic seconds; injected so tests move time without sleeping."""

MAX_URL_LENGTH = 2048
MAX_PEM_BYTES = 65_536
REGION_PATTERN = r"[a-z]{2,}(?:-[a-z0-9]+){1,4}"  # cn-hangzhou, cn-shanghai-finance-1, ...
_REGION_PLACEHOLDER = "{region}"
_SAFE_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CertificateUnavailable(RelayError):
    """An allow-listed certificate could not be fetched or read (HTTP 503, not 403).

    ``retry_after`` is how long the failure stays cached, a fair ``Retry-After`` value.
    """

    def __init__(self, url: str, detail: str, retry_after: float) -> None:
        self.url = url
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"certificate unavailable: {detail} ({_shown(url)})")


class CertCacheConfig(BaseModel):
    """Bounds of one certificate cache (``ingress.<source>.cert_cache``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_entries: int = Field(32, ge=1, le=4096)
    ttl: float = Field(3600.0, gt=0)  # certificates rotate by URL, so an hour is plenty
    negative_ttl: float = Field(5.0, ge=0, le=300)
    timeout: float = Field(3.0, gt=0, le=60)  # MNS wants an answer within 5 s
    max_bytes: int = Field(65_536, ge=1024, le=1_048_576)


@dataclass(frozen=True, slots=True)
class CertUrlPrefix:
    """One allow-list rule: scheme, exact host (``{region}`` may stand for one region id),
    port and a path prefix that must end on a segment boundary."""

    scheme: str
    host: re.Pattern[str]
    port: int
    path: str

    @classmethod
    def parse(cls, pattern: str, regions: Collection[str] = ()) -> CertUrlPrefix:
        """Compile ``https://host[:port]/path/``; raises ``ValueError`` naming the pattern."""
        parts = urllib.parse.urlsplit(pattern)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"{pattern!r} is not an http(s) URL prefix")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError(f"{pattern!r}: a prefix has no userinfo, query or fragment")
        port = parts.port or _DEFAULT_PORTS[scheme]
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return cls(scheme, _host_regex(parts.hostname, regions), port, path)

    def matches(self, url: URL) -> bool:
        """Whether a URL already passed through :func:`parse_cert_url` falls under this rule."""
        host = (url.raw_host or "").lower()
        return (
            url.scheme == self.scheme
            and self.host.fullmatch(host) is not None
            and url.port == self.port
            and (url.raw_path + "/").startswith(self.path)
        )


def _host_regex(host: str, regions: Collection[str]) -> re.Pattern[str]:
    region = "|".join(re.escape(r) for r in regions) if regions else REGION_PATTERN
    escaped = re.escape(host.lower()).replace(re.escape(_REGION_PLACEHOLDER), f"(?:{region})")
    return re.compile(escaped)


def parse_cert_url(raw: str) -> URL:
    """Parse a certificate URL strictly, refusing what could make checker and fetcher differ."""
    if len(raw) > MAX_URL_LENGTH or not _SAFE_URL_CHARS.fullmatch(raw):
        raise _untrusted(raw, "characters outside a plain URL")
    segments = urllib.parse.unquote(urllib.parse.urlsplit(raw).path).split("/")
    if "." in segments or ".." in segments:
        raise _untrusted(raw, "dot segments in the path")
    try:
        url = URL(raw)
    except ValueError:
        raise _untrusted(raw, "not a URL") from None
    if not url.absolute or url.user is not None or url.password is not None or url.fragment:
        raise _untrusted(raw, "not an absolute URL without userinfo or fragment")
    return url


def _untrusted(raw: str, why: str) -> SignatureError:
    return SignatureError(InputReason.UNTRUSTED_CERT, f"certificate URL {_shown(raw)}: {why}")


def _shown(url: str) -> str:
    # The URL comes from a request header: repr() escapes control characters for the log.
    return repr(url[:200])


def load_rsa_public_key(data: bytes) -> RSAPublicKey:
    """The RSA key of a PEM certificate (or a bare PEM public key); ``ValueError`` if none."""
    key: PublicKeyTypes
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError("not a PEM certificate with a supported key") from exc
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the certificate key is not RSA")
    return key


def _readable_certificate(path: Path) -> Path:
    load_pinned_key(path)  # checked when the config is loaded, so check-config reports it
    return path


PinnedCertFile = Annotated[Path, AfterValidator(_readable_certificate)]
"""A local PEM file standing in for a certificate URL (``cert_files``)."""


def load_pinned_key(path: Path) -> RSAPublicKey:
    """The RSA key of a local PEM file; ``ValueError`` saying what is wrong with it."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    if len(data) > MAX_PEM_BYTES:
        raise ValueError(f"{str(path)!r} is larger than {MAX_PEM_BYTES} bytes")
    try:
        return load_rsa_public_key(data)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: {exc}") from None


def check_pinned_urls(urls: Iterable[str], allow: Iterable[CertUrlPrefix]) -> None:
    """A pinned URL must pass the allow-list too; ``ValueError`` names the first that does not."""
    rules = tuple(allow)
    for raw in urls:
        try:
            url = parse_cert_url(raw)
        except SignatureError as exc:
            raise ValueError(f"cert_files: {exc.detail}") from None
        if not any(rule.matches(url) for rule in rules):
            raise ValueError(f"cert_files: {_shown(raw)} is not under cert_url_prefixes")


class PushCertConfig(BaseModel):
    """Where the certificates of a signed push may come from: allow-listed URL prefixes,
    local files pinned for some URLs (``cert_files``), and the cache's bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_url_prefixes: tuple[str, ...] = ()
    cert_files: dict[str, PinnedCertFile] = Field(default_factory=dict)
    cert_cache: CertCacheConfig = CertCacheConfig()

    @model_validator(mode="after")
    def _pins_are_allowed(self) -> Self:
        check_pinned_urls(self.cert_files, self.allow_list())
        return self

    def allow_list(self) -> list[CertUrlPrefix]:
        """The compiled ``cert_url_prefixes``, for :class:`CertificateCache`."""
        return compile_prefixes(self.cert_url_prefixes)

    def certificate_cache(self, **options: Any) -> CertificateCache:
        """A cache over this allow-list, with the pinned files' keys (read now)."""
        pinned = {url: load_pinned_key(path) for url, path in self.cert_files.items()}
        return CertificateCache(self.allow_list(), self.cert_cache, pinned=pinned, **options)


_V = TypeVar("_V")


class _TtlLru(Generic[_V]):
    """A bounded mapping whose entries expire; the least recently used goes first."""

    def __init__(self, max_entries: int, clock: Clock) -> None:
        self._items: OrderedDict[str, tuple[float, _V]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def get(self, key: str) -> tuple[float, _V] | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item

    def put(self, key: str, value: _V, ttl: float) -> None:
        self._items[key] = (self._clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return list(self._items)


class _FetchFailed(Exception):
    """A download that did not produce a certificate; the message is for people."""


class CertificateCache:
    """Fetches, checks and caches RSA signing keys by certificate URL.

    Give it a session to share connections with the rest of the daemon, or let it own one
    (created on first use, closed by :meth:`close`). Use as ``async with`` or call
    :meth:`close` at shutdown; closing cancels downloads in flight.
    """

    def __init__(
        self,
        allow: Iterable[CertUrlPrefix],
        config: CertCacheConfig | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Clock = time.monotonic,
        pinned: Mapping[str, RSAPublicKey] | None = None,
    ) -> None:
        self._allow = tuple(allow)
        self._config = config or CertCacheConfig()
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._pinned = {str(parse_cert_url(url)): key for url, key in (pinned or {}).items()}
        self._keys: _TtlLru[RSAPublicKey] = _TtlLru(self._config.max_entries, clock)
        self._failures: _TtlLru[str] = _TtlLru(self._config.max_entries, clock)
        self._announced: _TtlLru[int] = _TtlLru(self._config.max_entries, clock)
        self._inflight: dict[str, asyncio.Task[RSAPublicKey | str]] = {}

    def check_url(self, raw: str) -> URL:
        """The parsed URL if the allow-list accepts it, else ``SignatureError(UNTRUSTED_CERT)``."""
        url = parse_cert_url(raw)
        if not any(rule.matches(url) for rule in self._allow):
            raise _untrusted(raw, "not on the allow-list")
        return url

    async def public_key(self, raw_url: str) -> RSAPublicKey:
        """The key for ``raw_url``: cached, or fetched once however many callers ask at once.

        Raises ``SignatureError(UNTRUSTED_CERT)`` or :class:`CertificateUnavailable`.
        """
        url = self.check_url(raw_url)
        key = str(url)
        pinned = self._pinned.get(key)
        if pinned is not None:
            return pinned
        cached = self._cached(key)
        result = cached if cached is not None else await self._fetch_shared(key, url)
        if isinstance(result, str):
            raise CertificateUnavailable(key, result, self._retry_after(key))
        return result

    def _cached(self, key: str) -> RSAPublicKey | str | None:
        hit = self._keys.get(key)
        if hit is not None:
            return hit[1]
        failure = self._failures.get(key)
        return failure[1] if failure is not None else None

    def _retry_after(self, key: str) -> float:
        failure = self._failures.get(key)
        return max(failure[0] - self._clock(), 0.0) if failure is not None else 0.0

    async def _fetch_shared(self, key: str, url: URL) -> RSAPublicKey | str:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(url), name=f"cert-fetch {key}")
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        # Shielded: one caller hanging up must not cancel the download the others wait for.
        return await asyncio.shield(task)

    def _settle(self, key: str, task: asyncio.Task[RSAPublicKey | str]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        result = task.result()
        if isinstance(result, str):
            self._failures.put(key, result, self._config.negative_ttl)
        else:
            self._failures.pop(key)
            self._keys.put(key, result, self._config.ttl)
            self._announce(key, result)

    def _announce(self, url: str, key: RSAPublicKey) -> None:
        # Once per URL and key: the cache refetches every ``ttl``, the log need not repeat it.
        fingerprint = hash(key.public_numbers())
        seen = self._announced.get(url)
        if seen is None or seen[1] != fingerprint:
            self._announced.put(url, fingerprint, math.inf)
            log.info("certificate.fetched", url=url, key_bits=key.key_size)

    async def _fetch(self, url: URL) -> RSAPublicKey | str:
        """The key, or a short description of why there is none (which is then cached)."""
        try:
            async with asyncio.timeout(self._config.timeout):
                data = await self._download(url)
            return load_rsa_public_key(data)
        except TimeoutError:
            return f"no answer within {self._config.timeout:g} s"
        except (_FetchFailed, ValueError) as exc:
            return str(exc)
        except (aiohttp.ClientError, OSError) as exc:
            return f"{type(exc).__name__} while fetching"

    async def _download(self, url: URL) -> bytes:
        session = self._ensure_session()
        async with session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise _FetchFailed(f"HTTP {response.status}")
            limit = self._config.max_bytes
            if response.content_length is not None and response.content_length > limit:
                raise _FetchFailed(f"certificate larger than {limit} bytes")
            return await _read_limited(response, limit)

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def cached_urls(self) -> list[str]:
        """URLs with a usable certificate, least recently used first (for tests and the API)."""
        return self._keys.keys()

    def __len__(self) -> int:
        return len(self._keys)

    async def close(self) -> None:
        """Cancel downloads in flight and close the session if this cache created it."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    # Content-Length can be absent or false (chunked encoding), so count what arrives.
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(16_384):
        size += len(chunk)
        if size > limit:
            raise _FetchFailed(f"certificate larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def compile_prefixes(patterns: Iterable[str], regions: Collection[str] = ()) -> list[CertUrlPrefix]:
    """Compile configured prefixes; ``ValueError`` names the first bad one."""
    return [CertUrlPrefix.parse(p, regions) for p in patterns]
