"""MNS request signing (protocols.md §3.4), both sides: verify a request, or sign one.

    Authorization: MNS {AccessKeyId}:{base64(HMAC-SHA1(secret, StringToSign))}
    StringToSign = VERB \\n Content-MD5 \\n Content-Type \\n Date \\n
                   CanonicalizedMNSHeaders CanonicalizedResource

CanonicalizedMNSHeaders are the ``x-mns-*`` headers, lower-cased, sorted, ``name:value\\n``
each; CanonicalizedResource is the path and query exactly as sent (the SDK does not
percent-encode receipt handles, so the raw request target must be used, never a re-encoded
one). Date skew beyond the limit is answered 408 TimeExpired, the code MNS documents for an
expired request (a Date that cannot be parsed is 400 InvalidDateHeader).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime

from batchrelay.emulator.errors import MnsError

MNS_VERSION = "2015-06-06"


def canonical_mns_headers(headers: Iterable[tuple[str, str]]) -> str:
    pairs = sorted((k.lower(), v.strip()) for k, v in headers if k.lower().startswith("x-mns-"))
    return "".join(f"{name}:{value}\n" for name, value in pairs)


def string_to_sign(
    method: str,
    headers: Mapping[str, str],
    resource: str,
) -> str:
    """The StringToSign of a request (or of a push: same shape, see push.py)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return "\n".join(
        (
            method.upper(),
            lowered.get("content-md5", ""),
            lowered.get("content-type", ""),
            lowered.get("date", ""),
            canonical_mns_headers(lowered.items()) + resource,
        )
    )


def hmac_signature(secret: str, to_sign: str) -> str:
    digest = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization(
    key_id: str, secret: str, method: str, headers: Mapping[str, str], resource: str
) -> str:
    """The ``Authorization`` header value a client sends for this request."""
    return f"MNS {key_id}:{hmac_signature(secret, string_to_sign(method, headers, resource))}"


def content_md5(body: bytes) -> str:
    """The SDK's Content-MD5: base64 of the *hex* digest, not of the raw 16 bytes."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).hexdigest().encode()).decode()


def _raw_content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def parse_authorization(value: str | None) -> tuple[str, str]:
    """``(access key id, signature)`` from ``MNS id:signature``."""
    if not value:
        raise MnsError(400, "MissingAuthorizationHeader", "Authorization header is required.")
    scheme, _, credential = value.strip().partition(" ")
    key_id, _, signature = credential.partition(":")
    if scheme != "MNS" or not key_id or not signature:
        raise MnsError(
            400, "InvalidAuthorizationHeader", "The Authorization header format is invalid."
        )
    return key_id, signature


class Verifier:
    """Checks a request's signature, Date, version and Content-MD5 against the known keys."""

    def __init__(
        self, keys: Mapping[str, str], max_skew: float, clock: Callable[[], float]
    ) -> None:
        self._keys = dict(keys)
        self._max_skew = max_skew
        self._clock = clock

    def verify(self, method: str, headers: Mapping[str, str], resource: str, body: bytes) -> str:
        """The access key id of a correctly signed request; otherwise raises MnsError."""
        key_id, signature = parse_authorization(headers.get("Authorization"))
        sent_at = self._sent_at(headers)
        if not headers.get("x-mns-version"):
            raise MnsError(400, "MissingVersionHeader", "x-mns-version header is required.")
        secret = self._keys.get(key_id)
        if secret is None:
            raise MnsError(403, "InvalidAccessKeyId", "The AccessKey Id you provided is not exist.")
        expected = hmac_signature(secret, string_to_sign(method, headers, resource))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise MnsError(403, "SignatureDoesNotMatch", "The request signature does not match.")
        if abs(self._clock() - sent_at) > self._max_skew:
            raise MnsError(408, "TimeExpired", "The http request you sent is expired.")
        _check_md5(headers.get("Content-MD5"), body)
        return key_id

    def _sent_at(self, headers: Mapping[str, str]) -> float:
        value = headers.get("x-mns-date") or headers.get("Date")
        if not value:
            raise MnsError(400, "MissingDateHeader", "Date header is required.")
        try:
            return parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            raise MnsError(400, "InvalidDateHeader", "The Date header format is invalid.") from None


def _check_md5(value: str | None, body: bytes) -> None:
    # Accept the SDK's base64(hex) and the standard base64(raw digest) forms.
    if value and value not in (content_md5(body), _raw_content_md5(body)):
        # "InvalidDegist" is spelled as in the MNS error-code table.
        raise MnsError(400, "InvalidDegist", "The Content-MD5 you specified is invalid.")
