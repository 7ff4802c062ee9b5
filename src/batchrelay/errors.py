"""The exception tree. Every error batchrelay raises on purpose is a ``RelayError``.

RelayError
├── ConfigError            bad configuration; the message names the key
├── InputError             one input could not be accepted (carries a closed ``reason``)
│   ├── DecodeError        bytes could not be unwrapped into a document
│   ├── ParseError         a document could not become a typed event
│   └── RejectedError      the input was refused before decoding
│       ├── SignatureError     bad, missing or stale signature (HTTP 403)
│       └── TooLargeError      body over the configured bound (HTTP 413)
├── StoreError             the store cannot be reached or refused a write
│   └── NotReadyError      the store or daemon is starting or draining (HTTP 503)
├── DeliveryError          a notification could not be sent
│   ├── RetryableError     try again, not before ``delay`` seconds when given
│   └── PermanentError     do not try again
├── CloudApiError          an IMM or ICE API call failed (carries a closed ``reason``)
└── ActionRefused          a batch action broke a service rule; nothing was called
"""

from __future__ import annotations

from enum import StrEnum


class InputReason(StrEnum):
    """Why an input was quarantined or refused. Closed: logs, store and metrics use these."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    TOO_MANY_EVENTS = "too_many_events"  # more events in one body than server.max_events_per_body
    BAD_ENCODING = "bad_encoding"  # not UTF-8, bad base64
    BAD_JSON = "bad_json"  # truncated or otherwise invalid JSON
    BAD_XML = "bad_xml"  # malformed XML
    FORBIDDEN_XML = "forbidden_xml"  # DTDs, entity declarations, external entities
    BAD_CLOUDEVENT = "bad_cloudevent"  # a CloudEvent missing required attributes
    WRONG_TYPE = "wrong_type"  # a field has the wrong JSON type
    MISSING_FIELD = "missing_field"
    BAD_TIME = "bad_time"
    TOO_DEEP = "too_deep"  # wrappers nested past the unwrap limit
    BAD_SIGNATURE = "bad_signature"
    STALE_SIGNATURE = "stale_signature"
    MISSING_SIGNATURE = "missing_signature"
    UNTRUSTED_CERT = "untrusted_cert"  # certificate URL outside the allow-list
    POISON = "poison"  # an MNS message that kept failing past its dequeue limit


class RelayError(Exception):
    """Base of every error batchrelay raises on purpose."""


class ConfigError(RelayError):
    """The configuration is invalid; the message names the key and the bad value."""


class InputError(RelayError):
    """One input could not be accepted. ``reason`` is closed, ``detail`` is for people."""

    def __init__(self, reason: InputReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class DecodeError(InputError):
    """Bytes could not be unwrapped into a document."""


class ParseError(InputError):
    """A decoded document could not become a typed event."""


class RejectedError(InputError):
    """The input was refused before decoding (signature, size)."""


class SignatureError(RejectedError):
    """Bad, missing or stale signature."""


class StoreError(RelayError):
    """The store cannot be reached or refused a write."""


class NotReadyError(StoreError):
    """The store or the daemon is starting or draining; the caller should retry later."""


class DeliveryError(RelayError):
    """A notification could not be sent."""


class RetryableError(DeliveryError):
    """Try again, not before ``delay`` seconds when it is given."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        self.delay = delay
        super().__init__(message)


class PermanentError(DeliveryError):
    """Do not try again."""


class CloudApiError(RelayError):
    """An IMM or ICE API call failed: why (closed ``reason``: ``throttled``, ``auth_error``,
    ``not_found``, ``client_error``, ``server_error``, ``connection``), the service's code
    and its message; ``retry_after`` in seconds when the service said."""

    def __init__(
        self, reason: str, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{reason}: {code}: {message}" if code else f"{reason}: {message}")
        self.reason = reason
        self.code = code
        self.message = message
        self.retry_after = retry_after


class ActionRefused(RelayError):
    """A batch action that the service's rules forbid in the batch's state: refused before
    any call, with the service's own wording."""
