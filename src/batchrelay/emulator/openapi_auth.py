"""Alibaba Cloud OpenAPI request signatures (V3, ``ACS3-HMAC-SHA256``), the server side.

What the official SDKs (``alibabacloud-tea-openapi``) send by default for IMM and ICE:

    Authorization: ACS3-HMAC-SHA256 Credential={AccessKeyId},SignedHeaders={names},Signature={hex}
    CanonicalRequest = METHOD \\n PATH \\n CanonicalQuery \\n CanonicalHeaders \\n
                       SignedHeaders \\n hex(sha256(body))
    StringToSign     = ACS3-HMAC-SHA256 \\n hex(sha256(CanonicalRequest))
    Signature        = hex(HMAC-SHA256(secret, StringToSign))

``CanonicalQuery`` is every parameter, name and value percent-encoded (RFC 3986, ``~``
kept), sorted, joined with ``&``; ``CanonicalHeaders`` is ``name:value\\n`` for each signed
header, lower-cased names, sorted. The server recomputes the payload hash from the bytes it
received, so a body changed on the way fails as a wrong signature does. ``host`` and every
``x-acs-*`` header must be signed.

Errors as the OpenAPI gateway answers them: a wrong secret is 400 ``SignatureDoesNotMatch``
(the SDK raises ``ClientException``), an unknown key 404 ``InvalidAccessKeyId.NotFound``,
an ``x-acs-date`` off by more than 15 minutes 400 ``InvalidTimeStamp.Expired``, a nonce
seen within that window 400 ``SignatureNonceUsed``, a malformed Authorization 400
``IncompleteSignature``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from urllib.parse import quote

from batchrelay.emulator.openapi_errors import OpenApiError

ALGORITHM = "ACS3-HMAC-SHA256"
MAX_NONCES = 100_000  # bounded: the oldest are forgotten first


def percent(value: str) -> str:
    return quote(value, safe="~")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    pairs = sorted((percent(name), percent(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed: list[str],
    body: bytes,
) -> str:
    lines = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
    return "\n".join(
        (
            method.upper(),
            path or "/",
            canonical_query(query),
            lines,
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        )
    )


def string_to_sign(canonical: str) -> str:
    return f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signature(secret: str, to_sign: str) -> str:
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def parse_authorization(value: str | None) -> tuple[str, list[str], str]:
    """``(access key id, signed header names, signature)`` of an ACS3 Authorization."""
    incomplete = OpenApiError(
        400, "IncompleteSignature", "The request signature does not conform to Aliyun standards."
    )
    if not value:
        raise incomplete
    algorithm, _, rest = value.strip().partition(" ")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    credential, names, signed = (
        fields.get(k, "") for k in ("Credential", "SignedHeaders", "Signature")
    )
    if algorithm != ALGORITHM or not credential or not names or not signed:
        raise incomplete
    return credential, names.split(";"), signed


class OpenApiVerifier:
    """Checks V3 signatures against the known keys; remembers nonces for the skew window."""

    def __init__(
        self, keys: Mapping[str, str], max_skew: float, clock: Callable[[], float]
    ) -> None:
        self._keys = dict(keys)
        self._max_skew = max_skew
        self._clock = clock
        self._nonces: dict[str, float] = {}

    def verify(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> str:
        """The access key id of a correctly signed request; otherwise raises OpenApiError."""
        lowered = {name.lower(): value for name, value in headers.items()}
        key_id, signed, given = parse_authorization(lowered.get("authorization"))
        self._require_signed(lowered, signed)
        secret = self._keys.get(key_id)
        if secret is None:
            raise OpenApiError(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        to_sign = string_to_sign(canonical_request(method, path, query, lowered, signed, body))
        if not hmac.compare_digest(signature(secret, to_sign).encode(), given.encode()):
            shown = to_sign.replace("\n", " ")
            raise OpenApiError(
                400,
                "SignatureDoesNotMatch",
                f"Specified signature does not match our calculation. server StringToSign is "
                f"[{shown}]",
            )
        self._check_time(lowered.get("x-acs-date", ""))
        self._check_nonce(lowered.get("x-acs-signature-nonce", ""))
        return key_id

    @staticmethod
    def _require_signed(headers: Mapping[str, str], signed: list[str]) -> None:
        wanted = {"host", *(name for name in headers if name.startswith("x-acs-"))}
        if not wanted <= set(signed) or signed != sorted(signed):
            raise OpenApiError(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards: host and every "
                "x-acs-* header must be signed, names sorted.",
            )

    def _check_time(self, value: str) -> None:
        try:
            sent = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
        except ValueError:
            raise OpenApiError(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            ) from None
        if abs(self._clock() - sent) > self._max_skew:
            raise OpenApiError(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )

    def _check_nonce(self, nonce: str) -> None:
        if not nonce:
            raise OpenApiError(
                400, "MissingSignatureNonce", "SignatureNonce is mandatory for this action."
            )
        now = self._clock()
        if nonce in self._nonces and now - self._nonces[nonce] <= self._max_skew:
            raise OpenApiError(
                400, "SignatureNonceUsed", "Specified signature nonce was used already."
            )
        self._nonces[nonce] = now
        while len(self._nonces) > MAX_NONCES:
            del self._nonces[next(iter(self._nonces))]
