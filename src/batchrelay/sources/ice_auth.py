"""Authenticate an ICE HTTP callback (``protocols.md`` §5.2).

ICE sends ``X-ICE-TIMESTAMP`` (unix seconds) and ``X-ICE-SIGNATURE`` =
``md5_hex(f"{callback_url}|{timestamp}|{auth_key}")``, where ``callback_url`` is the URL ICE
was told to call. We recompute it from the configured ``callback_url`` (behind a proxy the
request's own URL differs), compare in constant time, and refuse timestamps more than
``window`` seconds from our clock in either direction.

No replay cache, on purpose. The signature covers only the URL and the timestamp, not the
body, so every callback ICE sends within one second carries the *same* signature: a cache
of seen (timestamp, signature) pairs would refuse the second of two different jobs
finishing together, and ICE's own retries (three attempts, 1 s apart, possibly with the
same timestamp) as well. It would add no integrity either: a replayed pair can carry any
body, and only TLS prevents that. What bounds replays is the window, and what makes them
harmless is the ledger, which dedups a repeated callback by JobId + EventType + Status.
Serve the endpoint over HTTPS.

Failures raise ``SignatureError``; the handler answers 403.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from typing import Self

from multidict import CIMultiDict
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from batchrelay.errors import InputReason, SignatureError

TIMESTAMP = "x-ice-timestamp"
SIGNATURE = "x-ice-signature"
_DIGITS = re.compile(r"[0-9]{1,12}")
_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")


class IceAuthConfig(BaseModel):
    """How ICE callbacks are authenticated (``ingress.ice``).

    ``auth_key``: the AuthKey given to ICE (``SetEventCallback``); none turns the check off.
    ``callback_url``: the exact URL ICE calls, required with ``auth_key``.
    ``window``: seconds a timestamp may differ from our clock, either way.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth_key: SecretStr | None = None
    callback_url: str | None = None
    window: float = Field(300.0, gt=0)

    @field_validator("callback_url")
    @classmethod
    def _callback_url_is_absolute(cls, value: str | None) -> str | None:
        parts = urllib.parse.urlsplit(value or "http://h/")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("not an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _key_needs_url(self) -> Self:
        if self.auth_key is not None and self.callback_url is None:
            raise ValueError("callback_url is required when auth_key is set (ICE signs it)")
        return self


def signature(callback_url: str, timestamp: str, auth_key: str) -> str:
    """What ICE puts in ``X-ICE-SIGNATURE``: lower-case hex MD5 of ``url|timestamp|key``."""
    text = f"{callback_url}|{timestamp}|{auth_key}"
    # ICE fixes MD5; the flag only stops FIPS builds of Python from refusing to compute it.
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def verify_callback(headers: Mapping[str, str], *, now: float, config: IceAuthConfig) -> None:
    """Return if the callback is ICE's own (or the check is off); else raise ``SignatureError``.

    ``now`` is epoch seconds.
    """
    if config.auth_key is None or config.callback_url is None:
        return
    view = CIMultiDict(headers)
    stamp = _required(view, TIMESTAMP)
    claimed = _required(view, SIGNATURE)
    check_timestamp(stamp, now=now, window=config.window)
    if not _MD5_HEX.fullmatch(claimed):
        raise _bad(f"{SIGNATURE} is not an MD5 hex digest")
    expected = signature(config.callback_url, stamp, config.auth_key.get_secret_value())
    if not hmac.compare_digest(expected, claimed.lower()):
        raise _bad(f"{SIGNATURE} does not match")


def check_timestamp(value: str, *, now: float, window: float) -> None:
    """``value`` must be unix seconds within ``window`` of ``now``, either way."""
    if not _DIGITS.fullmatch(value):
        raise _bad(f"{TIMESTAMP} is not unix seconds")
    skew = now - int(value)
    if abs(skew) > window:
        direction = "old" if skew > 0 else "in the future"
        raise SignatureError(
            InputReason.STALE_SIGNATURE, f"timestamp {abs(skew):.0f} s {direction}"
        )


def _required(view: CIMultiDict[str], name: str) -> str:
    values = view.getall(name, [])
    if len(values) > 1:
        raise _bad(f"repeated {name} header")
    if not values or not values[0].strip():
        raise SignatureError(InputReason.MISSING_SIGNATURE, f"no {name} header")
    # Signed as sent: the timestamp string goes into the digest, so no reformatting.
    return values[0].strip()


def _bad(detail: str) -> SignatureError:
    return SignatureError(InputReason.BAD_SIGNATURE, detail)
