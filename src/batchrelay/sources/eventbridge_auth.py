"""Authenticate an EventBridge push to an HTTP target (``protocols.md`` §2.5).

Two independent checks, each on when configured:

- **token**: the user-defined token of the target, sent in ``x-eventbridge-signature-token``
  or as ``Authorization: Bearer <token>``, compared in constant time.
- **signature** (``off`` / ``v1`` / ``v2`` / ``any``): ``v2`` is RSA PKCS#1 v1.5 over SHA-256
  in ``x-eventbridge-signature-v2``; ``v1`` recovers a temporary secret from
  ``x-eventbridge-signature-secret`` with the certificate's public key and checks
  HMAC-SHA1 in ``x-eventbridge-signature``; ``any`` takes v2 when its header is present,
  else v1. Both require a fresh ``x-eventbridge-signature-timestamp`` and an allow-listed
  ``x-eventbridge-signature-url``.

Failures raise ``SignatureError`` (the handler answers 403) or
:class:`~batchrelay.sources.certs.CertificateUnavailable` (503; see ``certs.py``).

The string to sign is not fully confirmed by the documentation: :func:`string_to_sign`
holds every guess in one place and says which is which.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from multidict import CIMultiDict
from pydantic import Field, SecretStr, field_validator, model_validator

from batchrelay.errors import ConfigError, InputReason, SignatureError
from batchrelay.sources.certs import (
    REGION_PATTERN,
    CertificateCache,
    CertUrlPrefix,
    PushCertConfig,
    compile_prefixes,
)

SignatureMode = Literal["off", "v1", "v2", "any"]
Version = Literal["v1", "v2"]

# Where EventBridge certificates have been seen (protocols.md §2.5, §3.7): the documented
# accelerate host, the regional OSS host of the official SDK's test vector, and the CDN path
# a public sample uses. "{region}" stands for one of ``regions`` (required once signatures
# are checked).
DEFAULT_CERT_URL_PREFIXES = (
    "https://{region}-eventbridge.oss-accelerate.aliyuncs.com/",
    "https://{region}-eventbridge.oss-{region}.aliyuncs.com/",
    "https://g.alicdn.com/eventbridge/",
)
_REGION = "{region}"
MAX_HEADER_CHARS = 4096  # a 4096-bit signature is 684 base64 characters

TIMESTAMP = "x-eventbridge-signature-timestamp"
METHOD = "x-eventbridge-signature-method"
HASH_METHOD = "x-eventbridge-hash-method"
VERSION = "x-eventbridge-signature-version"
CERT_URL = "x-eventbridge-signature-url"
TOKEN = "x-eventbridge-signature-token"
SECRET = "x-eventbridge-signature-secret"
SIGNATURE_V1 = "x-eventbridge-signature"
SIGNATURE_V2 = "x-eventbridge-signature-v2"


class EventBridgeAuthConfig(PushCertConfig):
    """How EventBridge pushes are authenticated (``ingress.eventbridge``).

    ``public_url``: the URL configured on the EventBridge target. It is what EventBridge
    signs, so behind a proxy (where our own scheme, host or path differ) set it; without it
    the request's scheme, ``Host`` and path are used. ``regions``: what ``{region}`` in
    ``cert_url_prefixes`` may stand for; required when signatures are checked with such a
    prefix, because OSS bucket names are open to anyone.
    """

    token: SecretStr | None = None
    signature: SignatureMode = "off"
    public_url: str | None = None
    max_skew: float = Field(60.0, gt=0)
    cert_url_prefixes: tuple[str, ...] = DEFAULT_CERT_URL_PREFIXES
    regions: tuple[str, ...] = ()

    @field_validator("regions")
    @classmethod
    def _regions_look_like_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            if not re.fullmatch(REGION_PATTERN, region):
                raise ValueError(f"{region!r} is not a region id like 'cn-hangzhou'")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str | None) -> str | None:
        parts = urllib.parse.urlsplit(value or "http://h/")
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise ValueError("not an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _prefixes_compile(self) -> Self:
        self.allow_list()
        return self

    @model_validator(mode="after")
    def _placeholder_needs_regions(self) -> Self:
        # Bucket names are first come, first served: with no region list, a bucket someone
        # names "cn-fake-eventbridge" would serve a certificate we trust.
        placeholder = any(_REGION in p for p in self.cert_url_prefixes)
        if self.signature != "off" and placeholder and not self.regions:
            raise ValueError(
                "regions: list the regions of your EventBridge rules (e.g. ['cn-hangzhou']);"
                " without them any bucket named '<region-like>-eventbridge' would be trusted"
            )
        return self

    def allow_list(self) -> list[CertUrlPrefix]:
        """The compiled ``cert_url_prefixes``, for :class:`CertificateCache`."""
        return compile_prefixes(self.cert_url_prefixes, self.regions)


@dataclass(frozen=True, slots=True)
class _Layout:
    method_header: str  # which header fills the second line
    always_token: bool  # a token line even when no token header was sent
    body_newline: bool  # a newline after the body


_LAYOUTS: dict[Version, _Layout] = {
    "v1": _Layout(METHOD, always_token=True, body_newline=True),
    "v2": _Layout(HASH_METHOD, always_token=False, body_newline=False),
}


def string_to_sign(url: str, headers: Mapping[str, str], body: bytes, *, version: Version) -> bytes:
    """``url`` ``\\n`` five ``name: value`` header lines joined by ``\\n`` ``\\n`` body.

    The lines are timestamp, method, version, certificate URL and token, in that order.

    Confirmed (EventBridge signature page, both languages): the URL, the header order, the
    ``name: value`` form, ``\\n`` separators, the body last.

    Inferred, correct here when real pushes say otherwise:

    - the URL is the target URL with ``?query`` only when there is a query (the official
      verifier's test vector has none and no ``?``);
    - v1 follows the official Java verifier (aliyun/alibabacloud-eventbridge-sdk,
      ``StringToSignBuilder``), whose test vector looks captured from a real push: the
      token line is always present (``x-eventbridge-signature-token: `` when none was
      sent) and the body is followed by ``\\n``; the documentation's formula shows neither;
    - v2 follows the documentation's formula (no newline after the body, token line only
      when sent), and its second line is ``x-eventbridge-hash-method``, the header the v2
      page introduces in place of ``x-eventbridge-signature-method``;
    - missing fixed headers give ``name: `` lines, as in the Java verifier;
    - the body is signed as received (the Java verifier round-trips it through a UTF-8
      string, which is the same for any UTF-8 body).
    """
    layout = _LAYOUTS[version]
    view = CIMultiDict(headers)
    lines = [url]
    for name in (TIMESTAMP, layout.method_header, VERSION, CERT_URL, TOKEN):
        value = _one(view, name)
        if name != TOKEN or value is not None or layout.always_token:
            lines.append(f"{name}: {value or ''}")
    head = _utf8("\n".join(lines) + "\n")
    return head + body + (b"\n" if layout.body_newline else b"")


def signed_url(public_url: str | None, *, scheme: str, host: str | None, path: str) -> str:
    """The URL part of the string to sign: ``public_url`` when configured, else the request's.

    ``path`` is the request target as sent (path and query); its query is appended to a
    ``public_url`` that has none of its own.
    """
    query = urllib.parse.urlsplit(path).query
    if public_url is not None:
        has_query = bool(urllib.parse.urlsplit(public_url).query)
        return f"{public_url}?{query}" if query and not has_query else public_url
    if not host:
        raise _bad("no Host header and no public_url configured")
    return f"{scheme}://{host}{path}"


async def verify_push(
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    config: EventBridgeAuthConfig,
    certs: CertificateCache | None,
    scheme: str = "https",
) -> None:
    """Return if the push passes the configured checks; raise ``SignatureError`` or
    ``CertificateUnavailable``.

    ``path`` is the request target as sent, undecoded (aiohttp: ``request.raw_path``),
    ``scheme`` the request's (``request.scheme``), ``now`` epoch seconds. ``certs`` may be
    ``None`` only when ``config.signature`` is ``off``.
    """
    view = CIMultiDict(headers)
    if config.token is not None:
        check_token(view, config.token)
    if config.signature == "off":
        return
    if certs is None:
        raise ConfigError("ingress.eventbridge.signature is on but no certificate cache was given")
    version = _version(view, config.signature)
    check_timestamp(_one(view, TIMESTAMP), now=now, max_skew=config.max_skew)
    url = signed_url(config.public_url, scheme=scheme, host=_one(view, "host"), path=path)
    check = _check_v2 if version == "v2" else _check_v1
    await check(view, url, body, certs)


def check_token(headers: Mapping[str, str], expected: SecretStr) -> None:
    """The configured token must arrive in the token header or as a bearer token."""
    view = CIMultiDict(headers)
    offered = [t.strip() for t in (_one(view, TOKEN), _bearer(view)) if t and t.strip()]
    if not offered:
        raise SignatureError(InputReason.MISSING_SIGNATURE, "no EventBridge token")
    want = _utf8(expected.get_secret_value())
    if not any(hmac.compare_digest(_utf8(t), want) for t in offered):
        raise _bad("EventBridge token does not match")


def check_timestamp(value: str | None, *, now: float, max_skew: float) -> None:
    """The signing time must be within ``max_skew`` of ``now``, either way.

    EventBridge sends epoch milliseconds (the official verifier's test vector,
    ``1612167546574``, and ``protocols.md`` §3.7). A value below 10^11 is read as seconds,
    a tolerance for senders that follow the page's word "timestamp" (10^11 ms is 1973, so
    no real millisecond value is mistaken for seconds).
    """
    if value is None:
        raise SignatureError(InputReason.MISSING_SIGNATURE, f"no {TIMESTAMP} header")
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 16):
        raise _bad(f"{TIMESTAMP} is not a number")
    stamp = int(text)
    skew = now - (stamp / 1000 if stamp >= 10**11 else stamp)
    if abs(skew) > max_skew:
        direction = "old" if skew > 0 else "in the future"
        raise SignatureError(InputReason.STALE_SIGNATURE, f"signed {abs(skew):.0f} s {direction}")


async def _check_v2(view: CIMultiDict[str], url: str, body: bytes, certs: CertificateCache) -> None:
    signature = _b64(_required(view, SIGNATURE_V2), SIGNATURE_V2)
    method = (_one(view, HASH_METHOD) or "SHA256").strip().upper().replace("-", "")
    if method != "SHA256":
        raise _bad(f"unsupported {HASH_METHOD}")
    key = await certs.public_key(_required(view, CERT_URL).strip())
    verify_v2(key, signature, string_to_sign(url, view, body, version="v2"))


async def _check_v1(view: CIMultiDict[str], url: str, body: bytes, certs: CertificateCache) -> None:
    signature = _b64(_required(view, SIGNATURE_V1), SIGNATURE_V1)
    sealed = _b64(_required(view, SECRET), SECRET)
    if (_one(view, METHOD) or "HMAC-SHA1").strip().upper() != "HMAC-SHA1":
        raise _bad(f"unsupported {METHOD}")
    key = await certs.public_key(_required(view, CERT_URL).strip())
    verify_v1(key, sealed, signature, string_to_sign(url, view, body, version="v1"))


def verify_v2(key: RSAPublicKey, signature: bytes, data: bytes) -> None:
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise _bad("signature does not verify") from None


def verify_v1(key: RSAPublicKey, sealed_secret: bytes, signature: bytes, data: bytes) -> None:
    """Recover the temporary secret (RSA "public decrypt"), then check HMAC-SHA1 over data."""
    try:
        secret = key.recover_data_from_signature(sealed_secret, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        raise _bad(f"{SECRET} does not open with the certificate") from None
    expected = hmac.new(secret, data, hashlib.sha1).digest()
    if not hmac.compare_digest(expected, signature):
        raise _bad("signature does not verify")


def _version(view: CIMultiDict[str], mode: SignatureMode) -> Version:
    if mode == "v2" or (mode == "any" and SIGNATURE_V2 in view):
        return "v2"
    if mode == "v1" or SIGNATURE_V1 in view:
        return "v1"
    raise SignatureError(InputReason.MISSING_SIGNATURE, "no EventBridge signature headers")


def _bearer(view: CIMultiDict[str]) -> str | None:
    scheme, _, token = (_one(view, "authorization") or "").strip().partition(" ")
    return token if scheme.lower() == "bearer" else None


def _required(view: CIMultiDict[str], name: str) -> str:
    value = _one(view, name)
    if not value or not value.strip():
        raise SignatureError(InputReason.MISSING_SIGNATURE, f"no {name} header")
    return value


def _one(view: CIMultiDict[str], name: str) -> str | None:
    values = view.getall(name, [])
    if len(values) > 1:
        raise _bad(f"repeated {name} header")
    return values[0] if values else None


def _b64(value: str, header: str) -> bytes:
    if len(value) > MAX_HEADER_CHARS:
        raise _bad(f"{header} is longer than {MAX_HEADER_CHARS} characters")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{header} is not base64") from None


def _utf8(text: str) -> bytes:
    # aiohttp decodes header bytes as UTF-8 with surrogateescape; this gives them back as sent.
    return text.encode("utf-8", "surrogateescape")


def _bad(detail: str) -> SignatureError:
    return SignatureError(InputReason.BAD_SIGNATURE, detail)
