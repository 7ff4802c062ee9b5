"""Verify an MNS topic push (``protocols.md`` §3.5).

MNS signs each push with RSA PKCS#1 v1.5 over SHA-1 and names the certificate in
``x-mns-signing-cert-url`` (base64 of the URL). :func:`verify_push` checks, cheapest first:
the headers are present and decodable, ``Date`` is within ``max_date_skew``, ``Content-MD5``
matches the body (the signature covers that header, not the body itself), the certificate
URL is allow-listed, and the signature holds over :func:`string_to_sign`. The emulator
signs with :func:`sign_push`, so signer and verifier cannot drift apart.

Failures raise ``SignatureError`` (the handler answers 403) or
:class:`~batchrelay.sources.certs.CertificateUnavailable` (503; see ``certs.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from multidict import CIMultiDict
from pydantic import Field, field_validator

from batchrelay.errors import InputReason, SignatureError
from batchrelay.sources.certs import CertificateCache, PushCertConfig, compile_prefixes

DEFAULT_CERT_URL_PREFIX = "https://mnstest.oss-cn-hangzhou.aliyuncs.com/"
MAX_HEADER_CHARS = 4096  # a 4096-bit signature is 684 base64 characters

CERT_URL_HEADER = "x-mns-signing-cert-url"
_HEX_MD5 = re.compile(r"[0-9A-Fa-f]{32}")
_FIXED_HEADERS = ("content-md5", "content-type", "date")


class MnsPushAuthConfig(PushCertConfig):
    """How MNS pushes are verified (``ingress.mns_push``).

    ``public_url``: the subscription endpoint as MNS calls it; when a proxy rewrites the
    path, its path and query replace the request's in the string to sign.
    ``max_date_skew``: seconds ``Date`` may differ from our clock; ``None`` turns the check off.
    ``require_content_md5``: the signature covers ``Content-MD5``, not the body, so without
    that header the body is unauthenticated; MNS documents it on every push.
    """

    cert_url_prefixes: tuple[str, ...] = (DEFAULT_CERT_URL_PREFIX,)
    max_date_skew: float | None = Field(900.0, gt=0)
    public_url: str | None = None
    require_content_md5: bool = True

    @field_validator("cert_url_prefixes")
    @classmethod
    def _prefixes_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        compile_prefixes(value)
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str | None) -> str | None:
        parts = urllib.parse.urlsplit(value or "http://h/")
        if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path:
            raise ValueError("not an absolute http(s) URL with a path")
        return value


def string_to_sign(method: str, path: str, headers: Mapping[str, str]) -> str:
    """``METHOD\\nContent-MD5\\nContent-Type\\nDate\\n`` + sorted ``x-mns-*:value\\n`` + path.

    ``path`` is the request target as sent (path and query, not decoded). Header names are
    lower-cased and sorted; values are used as they arrived; missing headers give empty lines.
    """
    view = CIMultiDict(headers)
    fixed = [method.upper(), *(_one(view, n) or "" for n in _FIXED_HEADERS)]
    mns = sorted((k.lower(), v) for k, v in view.items() if k.lower().startswith("x-mns-"))
    _refuse_repeats([name for name, _ in mns])
    return "".join(f"{line}\n" for line in fixed) + "".join(f"{k}:{v}\n" for k, v in mns) + path


def sign_push(key: RSAPrivateKey, method: str, path: str, headers: Mapping[str, str]) -> str:
    """The ``Authorization`` value MNS would send: base64 of RSA-SHA1 over the string to sign."""
    data = _utf8(string_to_sign(method, path, headers))
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA1())).decode()


async def verify_push(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    config: MnsPushAuthConfig,
    certs: CertificateCache,
) -> None:
    """Return if the push is MNS's own; raise ``SignatureError`` or ``CertificateUnavailable``.

    ``path`` is the request target as sent, undecoded (aiohttp: ``request.raw_path``);
    ``now`` is epoch seconds.
    """
    view = CIMultiDict(headers)
    signature = decode_signature(_required(view, "authorization"))
    cert_url = decode_cert_url(_required(view, CERT_URL_HEADER))
    if config.max_date_skew is not None:
        check_date(_one(view, "date"), now=now, max_skew=config.max_date_skew)
    check_content_md5(_one(view, "content-md5"), body, required=config.require_content_md5)
    key = await certs.public_key(cert_url)
    signed_path = _signed_path(config.public_url, path)
    verify_rsa_sha1(key, signature, _utf8(string_to_sign(method, signed_path, view)))


def decode_signature(value: str) -> bytes:
    """The signature bytes of ``Authorization``; an ``MNS `` prefix (and key id) is tolerated."""
    token = value.strip()
    if token[:4].upper() == "MNS ":
        token = token[4:].rsplit(":", 1)[-1].strip()
    return _b64(token, "Authorization")


def decode_cert_url(value: str) -> str:
    """The certificate URL carried base64-encoded in ``x-mns-signing-cert-url``."""
    try:
        return _b64(value.strip(), CERT_URL_HEADER).decode("ascii")
    except UnicodeDecodeError:
        raise _bad(f"{CERT_URL_HEADER} is not an ASCII URL") from None


def check_date(value: str | None, *, now: float, max_skew: float) -> None:
    """``Date`` (RFC 1123) must be within ``max_skew`` seconds of ``now``, either way."""
    if value is None:
        raise SignatureError(InputReason.MISSING_SIGNATURE, "no Date header")
    try:
        sent = parsedate_to_datetime(value.strip())
        if sent.tzinfo is None:  # "-0000" means UTC with unknown origin (RFC 2822)
            sent = sent.replace(tzinfo=UTC)
        skew = now - sent.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        raise _bad("Date is not an RFC 1123 date") from None
    if abs(skew) > max_skew:
        direction = "old" if skew > 0 else "in the future"
        raise SignatureError(InputReason.STALE_SIGNATURE, f"Date {abs(skew):.0f} s {direction}")


def check_content_md5(value: str | None, body: bytes, *, required: bool) -> None:
    """When ``Content-MD5`` is sent (or ``required``) it must match the body.

    Three spellings are accepted (``protocols.md`` §3.4, §3.7): 32 hex characters in either
    case (what real pushes send, upper case), base64 of the hex digest (the SDK and the 2016
    push doc) and base64 of the raw digest (RFC 1864). Compared in constant time.
    """
    if value is None:
        if required:
            raise SignatureError(InputReason.MISSING_SIGNATURE, "no Content-MD5 header")
        return
    claimed = value.strip()
    digest = hashlib.md5(body, usedforsecurity=False)  # the flag only placates FIPS builds
    hex_digest = digest.hexdigest().encode()
    if _HEX_MD5.fullmatch(claimed):
        matches = hmac.compare_digest(claimed.lower().encode(), hex_digest)
    else:
        decoded = _b64(claimed, "Content-MD5")
        matches = hmac.compare_digest(decoded.lower(), hex_digest) or hmac.compare_digest(
            decoded, digest.digest()
        )
    if not matches:
        raise _bad("Content-MD5 does not match the body")


def verify_rsa_sha1(key: RSAPublicKey, signature: bytes, data: bytes) -> None:
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA1())
    except (InvalidSignature, ValueError):
        raise _bad("signature does not verify") from None


def _signed_path(public_url: str | None, path: str) -> str:
    if public_url is None:
        return path
    parts = urllib.parse.urlsplit(public_url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _required(view: CIMultiDict[str], name: str) -> str:
    value = _one(view, name)
    if not value:
        raise SignatureError(InputReason.MISSING_SIGNATURE, f"no {name} header")
    return value


def _one(view: CIMultiDict[str], name: str) -> str | None:
    values = view.getall(name, [])
    if len(values) > 1:
        raise _bad(f"repeated {name} header")
    return values[0] if values else None


def _refuse_repeats(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise _bad("repeated x-mns-* header")


def _b64(value: str, header: str) -> bytes:
    if len(value) > MAX_HEADER_CHARS:
        raise _bad(f"{header} is longer than {MAX_HEADER_CHARS} characters")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{header} is not base64") from None


def _utf8(text: str) -> bytes:
    # aiohttp decodes header bytes as UTF-8 with surrogateescape; this gives them back as sent.
    return text.encode("utf-8", "surrogateescape")


def _bad(detail: str) -> SignatureError:
    return SignatureError(InputReason.BAD_SIGNATURE, detail)
