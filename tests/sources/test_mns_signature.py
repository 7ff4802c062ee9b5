from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import ValidationError

from batchrelay.errors import InputReason, SignatureError
from batchrelay.sources.certs import CertificateCache, CertificateUnavailable
from batchrelay.sources.mns_signature import (
    DEFAULT_CERT_URL_PREFIX,
    MnsPushAuthConfig,
    sign_push,
    string_to_sign,
    verify_push,
)
from tests.fakes import FakeClock

from .support import CertServer, cert_pem

NOW = 1_795_144_340.0
PATH = "/ingest/mns?src=topic"
BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<Notification xmlns="http://mns.aliyuncs.com/doc/v1/">'
    b"<TopicOwner>1234567890123456</TopicOwner><TopicName>imm-notify</TopicName>"
    b"<MessageId>7D1B2A3C4E5F6071-1-19A8B7C6D5E-200000001</MessageId>"
    b'<Message>{"TaskId":"MediaConvert-0b9e","Status":"Succeeded"}</Message>'
    b"<PublishTime>1795144340012</PublishTime></Notification>"
)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def md5_header(body: bytes) -> str:
    """The MNS convention: base64 of the hex digest."""
    return b64(hashlib.md5(body).hexdigest())


@dataclass
class Push:
    """One signed push, and the ways to check it."""

    headers: dict[str, str]
    body: bytes
    path: str
    config: MnsPushAuthConfig
    certs: CertificateCache

    async def verify(
        self,
        *,
        now: float = NOW,
        path: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        config: MnsPushAuthConfig | None = None,
    ) -> None:
        await verify_push(
            "POST",
            self.path if path is None else path,
            self.headers if headers is None else headers,
            self.body if body is None else body,
            now=now,
            config=config or self.config,
            certs=self.certs,
        )

    async def reason(self, **changes: Any) -> InputReason:
        with pytest.raises(SignatureError) as caught:
            await self.verify(**changes)
        return caught.value.reason

    def with_headers(self, **updates: str | None) -> dict[str, str]:
        """The push's headers with some replaced (``None`` removes); ``_`` stands for ``-``."""
        headers = dict(self.headers)
        for name, value in updates.items():
            headers.pop(name.replace("_", "-"), None)
            if value is not None:
                headers[name.replace("_", "-")] = value
        return headers


def signed_headers(
    key: rsa.RSAPrivateKey, cert_url: str, body: bytes, path: str = PATH, now: float = NOW
) -> dict[str, str]:
    headers = {
        "Content-Type": "text/xml;charset=utf-8",
        "Content-MD5": md5_header(body),
        "Date": formatdate(now, usegmt=True),
        "x-mns-request-id": "5F1A2B3C4D5E6F708192A3B4",
        "x-mns-signing-cert-url": b64(cert_url),
        "x-mns-message-id": "7D1B2A3C4E5F6071-1-19A8B7C6D5E-200000001",
    }
    headers["Authorization"] = sign_push(key, "POST", path, headers)
    return headers


@pytest.fixture
async def push(
    cert_server: CertServer, clock: FakeClock, signing_key: rsa.RSAPrivateKey
) -> AsyncIterator[Push]:
    cert_server.files["/x509_public_certificate.pem"] = cert_pem(signing_key)
    config = MnsPushAuthConfig(cert_url_prefixes=(cert_server.root,))
    cert_url = cert_server.url("/x509_public_certificate.pem")
    headers = signed_headers(signing_key, cert_url, BODY)
    async with CertificateCache(config.allow_list(), config.cert_cache, clock=clock) as certs:
        yield Push(headers, BODY, PATH, config, certs)


def test_string_to_sign_layout() -> None:
    headers = {
        "Content-Type": "text/xml;charset=utf-8",
        "Date": "Thu, 09 Jul 2015 03:01:34 GMT",
        "X-MNS-Version": "2015-06-06",
        "x-mns-signing-cert-url": "aHR0cHM6Ly9leGFtcGxlLw==",
        "Host": "relay.example.com",
    }
    assert string_to_sign("post", "/ingest/mns?a=1", headers) == (
        "POST\n"
        "\n"  # no Content-MD5
        "text/xml;charset=utf-8\n"
        "Thu, 09 Jul 2015 03:01:34 GMT\n"
        "x-mns-signing-cert-url:aHR0cHM6Ly9leGFtcGxlLw==\n"
        "x-mns-version:2015-06-06\n"
        "/ingest/mns?a=1"
    )


def test_string_to_sign_matches_the_documented_request_vector() -> None:
    # protocols.md §3.4: the same layout signs MNS requests; the doc's HMAC reproduces.
    text = string_to_sign(
        "GET", "/MyQueue", {"Date": "Thu, 09 Jul 2015 03:01:34 GMT", "x-mns-version": "2015-06-06"}
    )
    digest = hmac.new(b"TestAccessSecret", text.encode(), hashlib.sha1).digest()
    assert b64(digest).startswith("uwx3yeWoILzgmvesW0BQSgfM")


async def test_a_signed_push_verifies(push: Push, cert_server: CertServer) -> None:
    await push.verify()
    await push.verify()
    assert cert_server.hits["/x509_public_certificate.pem"] == 1


@pytest.mark.parametrize("shape", ["lower", "upper", "multidict"])
async def test_header_names_are_case_insensitive(push: Push, shape: str) -> None:
    headers: Mapping[str, str]
    if shape == "lower":
        headers = {k.lower(): v for k, v in push.headers.items()}
    elif shape == "upper":
        headers = {k.upper(): v for k, v in push.headers.items()}
    else:
        headers = CIMultiDictProxy(CIMultiDict(push.headers))
    await push.verify(headers=headers)


async def test_an_mns_prefix_on_authorization_is_tolerated(push: Push) -> None:
    await push.verify(
        headers=push.with_headers(Authorization="MNS " + push.headers["Authorization"])
    )


async def test_raw_digest_content_md5_is_accepted(
    push: Push, signing_key: rsa.RSAPrivateKey, cert_server: CertServer
) -> None:
    headers = signed_headers(signing_key, cert_server.url("/x509_public_certificate.pem"), BODY)
    headers["Content-MD5"] = b64(hashlib.md5(BODY).digest())
    headers["Authorization"] = sign_push(signing_key, "POST", PATH, headers)
    await push.verify(headers=headers)


async def test_public_url_replaces_a_rewritten_path(
    push: Push, signing_key: rsa.RSAPrivateKey, cert_server: CertServer
) -> None:
    cert_url = cert_server.url("/x509_public_certificate.pem")
    headers = signed_headers(signing_key, cert_url, BODY, path="/notifications?x=1")
    config = push.config.model_copy(
        update={"public_url": "https://relay.example.com/notifications?x=1"}
    )
    assert await push.reason(headers=headers) is InputReason.BAD_SIGNATURE
    await push.verify(headers=headers, config=config)


async def test_tampered_body_fails_content_md5(push: Push) -> None:
    assert await push.reason(body=BODY + b" ") is InputReason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "change",
    [
        {"x_mns_message_id": "7D1B2A3C4E5F6071-1-19A8B7C6D5E-200000002"},
        {"Content_Type": "application/json"},
        {"x_mns_extra": "added"},
        {"x_mns_request_id": None},
    ],
    ids=["message-id", "content-type", "added-header", "removed-header"],
)
async def test_tampered_headers_fail(push: Push, change: dict[str, str | None]) -> None:
    assert await push.reason(headers=push.with_headers(**change)) is InputReason.BAD_SIGNATURE


async def test_tampered_path_fails(push: Push) -> None:
    assert await push.reason(path="/ingest/mns?src=other") is InputReason.BAD_SIGNATURE


async def test_body_with_recomputed_md5_fails_the_signature(push: Push) -> None:
    body = BODY.replace(b"Succeeded", b"Failed")
    headers = push.with_headers(Content_MD5=md5_header(body))
    assert await push.reason(headers=headers, body=body) is InputReason.BAD_SIGNATURE


async def test_wrong_key_fails(
    push: Push, other_key: rsa.RSAPrivateKey, cert_server: CertServer
) -> None:
    headers = signed_headers(other_key, cert_server.url("/x509_public_certificate.pem"), BODY)
    assert await push.reason(headers=headers) is InputReason.BAD_SIGNATURE


@pytest.mark.parametrize("offset", [-901.0, 901.0], ids=["stale", "future"])
async def test_date_outside_skew_is_stale(push: Push, offset: float) -> None:
    assert await push.reason(now=NOW + offset) is InputReason.STALE_SIGNATURE


@pytest.mark.parametrize("offset", [-899.0, 899.0])
async def test_date_inside_skew_passes(push: Push, offset: float) -> None:
    await push.verify(now=NOW + offset)


async def test_date_check_can_be_turned_off(push: Push) -> None:
    config = push.config.model_copy(update={"max_date_skew": None})
    await push.verify(now=NOW + 86_400, config=config)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Authorization": None}, InputReason.MISSING_SIGNATURE),
        ({"Authorization": ""}, InputReason.MISSING_SIGNATURE),
        ({"x_mns_signing_cert_url": None}, InputReason.MISSING_SIGNATURE),
        ({"Date": None}, InputReason.MISSING_SIGNATURE),
        ({"Content_MD5": None}, InputReason.MISSING_SIGNATURE),
        ({"Authorization": "not base64 at all!"}, InputReason.BAD_SIGNATURE),
        ({"Authorization": "QUJD" * 2000}, InputReason.BAD_SIGNATURE),
        ({"Authorization": "QUJD"}, InputReason.BAD_SIGNATURE),
        ({"x_mns_signing_cert_url": "%%%"}, InputReason.BAD_SIGNATURE),
        ({"x_mns_signing_cert_url": b64(b"\xff\xfe")}, InputReason.BAD_SIGNATURE),
        ({"x_mns_signing_cert_url": "QUJD" * 2000}, InputReason.BAD_SIGNATURE),
        ({"Content_MD5": "@@@"}, InputReason.BAD_SIGNATURE),
        ({"Date": "yesterday"}, InputReason.BAD_SIGNATURE),
    ],
    ids=[
        "no-authorization",
        "empty-authorization",
        "no-cert-url",
        "no-date",
        "no-content-md5",
        "garbage-authorization",
        "huge-authorization",
        "short-authorization",
        "garbage-cert-url",
        "binary-cert-url",
        "huge-cert-url",
        "garbage-content-md5",
        "garbage-date",
    ],
)
async def test_missing_and_malformed_headers(
    push: Push, change: dict[str, str | None], reason: InputReason
) -> None:
    assert await push.reason(headers=push.with_headers(**change)) is reason


async def test_content_md5_may_be_optional(
    push: Push, signing_key: rsa.RSAPrivateKey, cert_server: CertServer
) -> None:
    headers = signed_headers(signing_key, cert_server.url("/x509_public_certificate.pem"), BODY)
    del headers["Content-MD5"]
    headers["Authorization"] = sign_push(signing_key, "POST", PATH, headers)
    config = push.config.model_copy(update={"require_content_md5": False})
    await push.verify(headers=headers, config=config)


@pytest.mark.parametrize("name", ["Authorization", "x-mns-message-id", "Date"])
async def test_repeated_headers_are_refused(push: Push, name: str) -> None:
    headers = CIMultiDict(push.headers)
    headers.add(name, push.headers[name])
    assert await push.reason(headers=headers) is InputReason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com.evil.com/x509_public_certificate.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com@evil/x509_public_certificate.pem",
        "https://evil.example/x509_public_certificate.pem",
    ],
)
async def test_off_list_certificate_urls_are_untrusted(
    push: Push, signing_key: rsa.RSAPrivateKey, cert_server: CertServer, cert_url: str
) -> None:
    headers = signed_headers(signing_key, cert_url, BODY)
    assert await push.reason(headers=headers) is InputReason.UNTRUSTED_CERT
    assert sum(cert_server.hits.values()) == 0


async def test_cheap_checks_run_before_any_download(push: Push, cert_server: CertServer) -> None:
    assert await push.reason(now=NOW + 3600) is InputReason.STALE_SIGNATURE
    assert await push.reason(body=b"tampered") is InputReason.BAD_SIGNATURE
    assert sum(cert_server.hits.values()) == 0


async def test_unreachable_certificate_is_unavailable_not_forged(
    push: Push, signing_key: rsa.RSAPrivateKey, cert_server: CertServer
) -> None:
    headers = signed_headers(signing_key, cert_server.url("/rotated-away.pem"), BODY)
    with pytest.raises(CertificateUnavailable):
        await push.verify(headers=headers)


def test_config_defaults_and_strictness() -> None:
    config = MnsPushAuthConfig()
    assert config.cert_url_prefixes == (DEFAULT_CERT_URL_PREFIX,)
    assert config.max_date_skew == 900
    assert config.require_content_md5
    with pytest.raises(ValidationError):
        MnsPushAuthConfig.model_validate({"cert_url_prefix": ["https://x.example/"]})
    with pytest.raises(ValidationError, match="not an http"):
        MnsPushAuthConfig.model_validate({"cert_url_prefixes": ["ftp://x.example/"]})
    with pytest.raises(ValidationError):
        MnsPushAuthConfig.model_validate({"public_url": "/notifications"})
