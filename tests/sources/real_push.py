"""MNS topic pushes built exactly as captures of real ones show them (protocols.md §3.7).

Independent of the emulator on purpose: the emulator shares batchrelay's assumptions, this
builder follows the captures. What makes a push real:

- signed with a 512-bit RSA key whose certificate expired on 2016-07-01;
- ``Content-MD5``: the body's MD5 as 32 upper-case hex characters;
- ``User-Agent: Aliyun Notification Service Agent`` and the full ``x-mns-*`` header set
  (message id, publish time, request id, signing cert URL, subscriber, subscription name,
  topic name and owner, version, the tag when there is one), every one of them signed;
- XML bodies in the ``mns.aliyuncs.com/doc/v1`` namespace, JSON bodies whose
  ``PublishTime`` is a number, SIMPLIFIED bodies that are the message itself.

The key is the legacy key the emulator ships (``--legacy-cert``): key material only, the
headers, body and StringToSign are made here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from email.utils import formatdate
from importlib.resources import files
from typing import Literal
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

Format = Literal["XML", "JSON", "SIMPLIFIED"]
FORMATS: tuple[Format, ...] = ("XML", "JSON", "SIMPLIFIED")
REAL_CERT_URL = "https://mnstest.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate.pem"
_CONTENT_TYPES = {
    "XML": "text/xml;charset=utf-8",
    "JSON": "application/json;charset=utf-8",
    "SIMPLIFIED": "text/plain;charset=utf-8",
}
_PACKAGE = files("batchrelay.emulator")


def legacy_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(
        _PACKAGE.joinpath("legacy_push_key.pem").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 512
    return key


def legacy_cert_pem() -> bytes:
    """The 512-bit certificate, valid from 2015-07-01 to 2016-07-01."""
    return _PACKAGE.joinpath("legacy_push_cert.pem").read_bytes()


@dataclass
class RealPush:
    """One push: ``headers`` and ``body`` as MNS sends them to ``path``."""

    message: str
    format: Format = "XML"
    cert_url: str = REAL_CERT_URL
    path: str = "/ingest/mns"
    message_id: str = "7D1B2A3C4E5F6071-1-19A8B7C6D5E-200000001"
    publish_ms: int = 1730368640272
    tag: str | None = None
    topic: str = "imm-events"
    owner: str = "1234567890123456"
    subscription: str = "batchrelay"
    date: float | None = None  # epoch seconds; now when None
    key: rsa.RSAPrivateKey = field(default_factory=legacy_key)

    @property
    def body(self) -> bytes:
        if self.format == "SIMPLIFIED":
            return self.message.encode()
        fields: list[tuple[str, str | int]] = [
            ("TopicOwner", self.owner),
            ("TopicName", self.topic),
            ("Subscriber", self.owner),
            ("SubscriptionName", self.subscription),
            ("MessageId", self.message_id),
            ("MessageMD5", _md5_hex(self.message.encode())),
            *([("MessageTag", self.tag)] if self.tag else []),
            ("Message", self.message),
            ("PublishTime", self.publish_ms),
        ]
        if self.format == "JSON":
            return json.dumps(dict(fields), ensure_ascii=False).encode()
        inner = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in fields)
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<Notification xmlns="http://mns.aliyuncs.com/doc/v1/">{inner}</Notification>'
        ).encode()

    @property
    def headers(self) -> dict[str, str]:
        body = self.body
        headers = {
            "Content-MD5": _md5_hex(body),
            "Content-Type": _CONTENT_TYPES[self.format],
            "Date": formatdate(self.date, usegmt=True),
            "User-Agent": "Aliyun Notification Service Agent",
            "x-mns-message-id": self.message_id,
            "x-mns-publish-time": str(self.publish_ms),
            "x-mns-request-id": "6745A6F0E5A7D0A1B2C3D4E5",
            "x-mns-signing-cert-url": base64.b64encode(self.cert_url.encode()).decode(),
            "x-mns-subscriber": self.owner,
            "x-mns-subscription-name": self.subscription,
            "x-mns-topic-name": self.topic,
            "x-mns-topic-owner": self.owner,
            "x-mns-version": "2015-06-06",
        }
        if self.tag:
            headers["x-mns-message-tag"] = self.tag
        headers["Authorization"] = self.sign(headers)
        return headers

    def sign(self, headers: dict[str, str]) -> str:
        """§3.5: POST, Content-MD5, Content-Type, Date, sorted x-mns-* lines, the path."""
        mns = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-mns-"))
        to_sign = "\n".join(
            [
                "POST",
                headers["Content-MD5"],
                headers["Content-Type"],
                headers["Date"],
                "".join(f"{k}:{v}\n" for k, v in mns) + self.path,
            ]
        )
        signature = self.key.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA1())
        return base64.b64encode(signature).decode()


def _md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest().upper()
