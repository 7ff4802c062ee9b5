from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from multidict import CIMultiDict
from pydantic import SecretStr, ValidationError

from batchrelay.errors import ConfigError, InputReason, SignatureError
from batchrelay.sources.certs import CertificateCache, CertificateUnavailable, parse_cert_url
from batchrelay.sources.eventbridge_auth import (
    CERT_URL,
    DEFAULT_CERT_URL_PREFIXES,
    HASH_METHOD,
    METHOD,
    SECRET,
    SIGNATURE_V1,
    SIGNATURE_V2,
    TIMESTAMP,
    TOKEN,
    VERSION,
    EventBridgeAuthConfig,
    check_token,
    signed_url,
    string_to_sign,
    verify_push,
)
from tests.fakes import FakeClock

from .support import CertServer, cert_pem

NOW = 1_795_144_340
PATH = "/ingest/eventbridge?rule=imm"
HOST = "relay.example.com"
URL = f"https://{HOST}{PATH}"
BODY = b'{"id":"45ef4dewdwe1-7c35","source":"acs.imm","type":"imm:Task:MediaConvert"}'
TOKEN_VALUE = "tok-3f9a1c7e5b2d4a68"
TEMP_SECRET = b"eb-temp-secret-51c2a9"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seal(key: rsa.RSAPrivateKey, secret: bytes) -> bytes:
    """What EventBridge does to the temporary secret: an RSA private-key operation over a
    PKCS#1 v1.5 type-1 block (Java ``Cipher("RSA")`` encrypting with a private key)."""
    numbers = key.private_numbers()
    size = key.key_size // 8
    block = b"\x00\x01" + b"\xff" * (size - 3 - len(secret)) + b"\x00" + secret
    value = pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n)
    return value.to_bytes(size, "big")


def base_headers(cert_url: str, now: float, token: str | None) -> dict[str, str]:
    headers = {
        TIMESTAMP: str(int(now * 1000)),
        VERSION: "1.0",
        CERT_URL: cert_url,
        "Host": HOST,
        "Content-Type": "application/json;charset=utf-8",
    }
    if token is not None:
        headers[TOKEN] = token
    return headers


def signed_v2(
    key: rsa.RSAPrivateKey,
    cert_url: str,
    *,
    body: bytes = BODY,
    url: str = URL,
    now: float = NOW,
    token: str | None = TOKEN_VALUE,
) -> dict[str, str]:
    headers = base_headers(cert_url, now, token) | {HASH_METHOD: "SHA256"}
    data = string_to_sign(url, headers, body, version="v2")
    headers[SIGNATURE_V2] = b64(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    return headers


def signed_v1(
    key: rsa.RSAPrivateKey,
    cert_url: str,
    *,
    body: bytes = BODY,
    url: str = URL,
    now: float = NOW,
    token: str | None = TOKEN_VALUE,
    secret: bytes = TEMP_SECRET,
) -> dict[str, str]:
    headers = base_headers(cert_url, now, token) | {METHOD: "HMAC-SHA1"}
    headers[SECRET] = b64(seal(key, secret))
    data = string_to_sign(url, headers, body, version="v1")
    headers[SIGNATURE_V1] = b64(hmac.new(secret, data, hashlib.sha1).digest())
    return headers


@dataclass
class Env:
    cert_url: str
    certs: CertificateCache
    config: EventBridgeAuthConfig
    raised: list[Exception] = field(default_factory=list)

    async def verify(
        self,
        headers: Mapping[str, str],
        *,
        body: bytes = BODY,
        path: str = PATH,
        now: float = NOW,
        **config: Any,
    ) -> None:
        await verify_push(
            path,
            headers,
            body,
            now=now,
            config=self.config.model_copy(update=config),
            certs=self.certs,
        )

    async def reason(self, headers: Mapping[str, str], **kwargs: Any) -> InputReason:
        with pytest.raises(SignatureError) as caught:
            await self.verify(headers, **kwargs)
        self.raised.append(caught.value)
        return caught.value.reason


@pytest.fixture
async def env(
    cert_server: CertServer, clock: FakeClock, signing_key: rsa.RSAPrivateKey
) -> AsyncIterator[Env]:
    cert_server.files["/x509_public_certificate.pem"] = cert_pem(signing_key)
    config = EventBridgeAuthConfig(
        token=SecretStr(TOKEN_VALUE), signature="any", cert_url_prefixes=(cert_server.root,)
    )
    async with CertificateCache(config.allow_list(), config.cert_cache, clock=clock) as certs:
        environment = Env(cert_server.url("/x509_public_certificate.pem"), certs, config)
        yield environment
    for exc in environment.raised:
        assert TOKEN_VALUE not in str(exc) and TOKEN_VALUE not in repr(exc)
        assert TEMP_SECRET.decode() not in str(exc)


def test_v1_string_to_sign_follows_the_official_verifier() -> None:
    cert = "https://cn-hangzhou-eventbridge.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate_2021012101.pem"
    headers = {
        TIMESTAMP: "1612167546574",
        METHOD: "HMAC-SHA1",
        CERT_URL: cert,
        VERSION: "1.0",
        SECRET: "c2VjcmV0",
        SIGNATURE_V1: "b2tLMA==",
    }
    body = b"Data is data1, constant is Please deal with it timely."
    assert string_to_sign("http://127.0.0.1:8080/cloudevents", headers, body, version="v1") == (
        b"http://127.0.0.1:8080/cloudevents\n"
        b"x-eventbridge-signature-timestamp: 1612167546574\n"
        b"x-eventbridge-signature-method: HMAC-SHA1\n"
        b"x-eventbridge-signature-version: 1.0\n"
        b"x-eventbridge-signature-url: " + cert.encode() + b"\n"
        b"x-eventbridge-signature-token: \n" + body + b"\n"
    )


@pytest.mark.parametrize("token", [None, "t0k"])
def test_v2_string_to_sign_follows_the_documented_formula(token: str | None) -> None:
    headers = {
        TIMESTAMP: "1795144340000",
        HASH_METHOD: "SHA256",
        VERSION: "1.0",
        CERT_URL: "https://c/x.pem",
        METHOD: "ignored-in-v2",
    } | ({TOKEN: token} if token else {})
    token_line = f"x-eventbridge-signature-token: {token}\n".encode() if token else b""
    assert string_to_sign(URL, headers, b"{}", version="v2") == (
        URL.encode() + b"\n"
        b"x-eventbridge-signature-timestamp: 1795144340000\n"
        b"x-eventbridge-hash-method: SHA256\n"
        b"x-eventbridge-signature-version: 1.0\n"
        b"x-eventbridge-signature-url: https://c/x.pem\n" + token_line + b"{}"
    )


def test_signed_url_prefers_the_public_url() -> None:
    assert signed_url(None, scheme="http", host="h:8080", path="/a?b=1") == "http://h:8080/a?b=1"
    assert signed_url("https://pub.example/x", scheme="http", host="h", path="/a?b=1") == (
        "https://pub.example/x?b=1"
    )
    assert signed_url("https://pub.example/x?k=v", scheme="http", host="h", path="/a?b=1") == (
        "https://pub.example/x?k=v"
    )
    assert signed_url("https://pub.example/x", scheme="http", host="h", path="/a") == (
        "https://pub.example/x"
    )
    with pytest.raises(SignatureError):
        signed_url(None, scheme="https", host=None, path="/a")


@pytest.mark.parametrize(
    "headers",
    [
        {TOKEN: TOKEN_VALUE},
        {"Authorization": f"Bearer {TOKEN_VALUE}"},
        {"authorization": f"bearer {TOKEN_VALUE}"},
    ],
    ids=["token-header", "bearer", "lower-case-bearer"],
)
def test_token_is_accepted_from_either_header(headers: dict[str, str]) -> None:
    check_token(headers, SecretStr(TOKEN_VALUE))


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, InputReason.MISSING_SIGNATURE),
        ({"Authorization": f"Basic {TOKEN_VALUE}"}, InputReason.MISSING_SIGNATURE),
        ({TOKEN: ""}, InputReason.MISSING_SIGNATURE),
        ({TOKEN: TOKEN_VALUE[:-1]}, InputReason.BAD_SIGNATURE),
        ({TOKEN: TOKEN_VALUE + "x"}, InputReason.BAD_SIGNATURE),
        ({"Authorization": "Bearer nope"}, InputReason.BAD_SIGNATURE),
        ({TOKEN: "x" * 100_000}, InputReason.BAD_SIGNATURE),
    ],
    ids=["none", "basic", "empty", "short", "long", "wrong-bearer", "huge"],
)
def test_token_failures(headers: dict[str, str], reason: InputReason) -> None:
    with pytest.raises(SignatureError) as caught:
        check_token(headers, SecretStr(TOKEN_VALUE))
    assert caught.value.reason is reason
    assert TOKEN_VALUE not in str(caught.value)


async def test_token_only_needs_no_certificates() -> None:
    config = EventBridgeAuthConfig(token=SecretStr(TOKEN_VALUE))
    await verify_push(PATH, {TOKEN: TOKEN_VALUE}, BODY, now=NOW, config=config, certs=None)


async def test_signature_without_a_cache_is_a_config_error() -> None:
    config = EventBridgeAuthConfig(signature="v2", regions=("cn-hangzhou",))
    with pytest.raises(ConfigError):
        await verify_push(PATH, {}, BODY, now=NOW, config=config, certs=None)


async def test_v2_push_verifies(env: Env, signing_key: rsa.RSAPrivateKey) -> None:
    await env.verify(signed_v2(signing_key, env.cert_url))
    await env.verify(signed_v2(signing_key, env.cert_url), signature="v2")


async def test_v1_push_verifies(env: Env, signing_key: rsa.RSAPrivateKey) -> None:
    await env.verify(signed_v1(signing_key, env.cert_url))
    await env.verify(signed_v1(signing_key, env.cert_url), signature="v1")


async def test_signature_without_a_token(env: Env, signing_key: rsa.RSAPrivateKey) -> None:
    await env.verify(signed_v2(signing_key, env.cert_url, token=None), token=None)
    await env.verify(signed_v1(signing_key, env.cert_url, token=None), token=None)


async def test_seconds_timestamps_are_accepted(env: Env, signing_key: rsa.RSAPrivateKey) -> None:
    headers = base_headers(env.cert_url, NOW, TOKEN_VALUE) | {TIMESTAMP: str(NOW)}
    data = string_to_sign(URL, headers, BODY, version="v2")
    headers[SIGNATURE_V2] = b64(signing_key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    await env.verify(headers)


async def test_public_url_is_what_is_signed(env: Env, signing_key: rsa.RSAPrivateKey) -> None:
    public = "https://events.example.org/hooks/eb"
    headers = signed_v2(signing_key, env.cert_url, url=public + "?rule=imm")
    assert await env.reason(headers) is InputReason.BAD_SIGNATURE  # our own Host differs
    await env.verify(headers, public_url=public)


@pytest.mark.parametrize("sign", [signed_v1, signed_v2], ids=["v1", "v2"])
async def test_tampered_body_fails(env: Env, signing_key: rsa.RSAPrivateKey, sign: Any) -> None:
    headers = sign(signing_key, env.cert_url)
    assert await env.reason(headers, body=BODY + b" ") is InputReason.BAD_SIGNATURE
    assert await env.reason(headers, path="/ingest/eventbridge") is InputReason.BAD_SIGNATURE


@pytest.mark.parametrize("sign", [signed_v1, signed_v2], ids=["v1", "v2"])
async def test_tampered_signed_header_fails(
    env: Env, signing_key: rsa.RSAPrivateKey, sign: Any
) -> None:
    headers = sign(signing_key, env.cert_url)
    moved = headers | {TIMESTAMP: str(NOW * 1000 + 1)}
    assert await env.reason(moved) is InputReason.BAD_SIGNATURE
    versioned = headers | {VERSION: "2.0"}
    assert await env.reason(versioned) is InputReason.BAD_SIGNATURE


@pytest.mark.parametrize("sign", [signed_v1, signed_v2], ids=["v1", "v2"])
async def test_wrong_key_fails(env: Env, other_key: rsa.RSAPrivateKey, sign: Any) -> None:
    assert await env.reason(sign(other_key, env.cert_url)) is InputReason.BAD_SIGNATURE


async def test_v1_with_a_forged_hmac_fails(env: Env, signing_key: rsa.RSAPrivateKey) -> None:
    headers = signed_v1(signing_key, env.cert_url)
    forged = headers | {SIGNATURE_V1: b64(hmac.new(b"guess", BODY, hashlib.sha1).digest())}
    assert await env.reason(forged) is InputReason.BAD_SIGNATURE


async def test_v1_secret_sealed_with_another_key_fails(
    env: Env, signing_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    headers = signed_v1(signing_key, env.cert_url) | {SECRET: b64(seal(other_key, TEMP_SECRET))}
    assert await env.reason(headers) is InputReason.BAD_SIGNATURE


@pytest.mark.parametrize("offset", [-61, 61], ids=["stale", "future"])
@pytest.mark.parametrize("sign", [signed_v1, signed_v2], ids=["v1", "v2"])
async def test_timestamp_outside_the_window_is_stale(
    env: Env, signing_key: rsa.RSAPrivateKey, sign: Any, offset: int
) -> None:
    headers = sign(signing_key, env.cert_url, now=NOW + offset)
    assert await env.reason(headers) is InputReason.STALE_SIGNATURE
    await env.verify(headers, max_skew=120)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({TIMESTAMP: None}, InputReason.MISSING_SIGNATURE),
        ({TIMESTAMP: "soon"}, InputReason.BAD_SIGNATURE),
        ({TIMESTAMP: "9" * 40}, InputReason.BAD_SIGNATURE),
        ({SIGNATURE_V2: None}, InputReason.MISSING_SIGNATURE),
        ({SIGNATURE_V2: "not*base64"}, InputReason.BAD_SIGNATURE),
        ({SIGNATURE_V2: "QUJD" * 5000}, InputReason.BAD_SIGNATURE),
        ({CERT_URL: None}, InputReason.MISSING_SIGNATURE),
        ({HASH_METHOD: "MD5"}, InputReason.BAD_SIGNATURE),
        ({"Host": None}, InputReason.BAD_SIGNATURE),
    ],
    ids=[
        "no-timestamp",
        "garbage-timestamp",
        "huge-timestamp",
        "no-signature",
        "garbage-signature",
        "huge-signature",
        "no-cert-url",
        "md5",
        "no-host",
    ],
)
async def test_v2_missing_and_malformed_headers(
    env: Env, signing_key: rsa.RSAPrivateKey, change: dict[str, str | None], reason: InputReason
) -> None:
    headers = signed_v2(signing_key, env.cert_url)
    for name, value in change.items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    assert await env.reason(headers, signature="v2") is reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({SECRET: None}, InputReason.MISSING_SIGNATURE),
        ({SECRET: "@@@@"}, InputReason.BAD_SIGNATURE),
        ({SECRET: b64(b"short")}, InputReason.BAD_SIGNATURE),
        ({SIGNATURE_V1: None}, InputReason.MISSING_SIGNATURE),
        ({SIGNATURE_V1: "%%%"}, InputReason.BAD_SIGNATURE),
        ({METHOD: "HMAC-MD5"}, InputReason.BAD_SIGNATURE),
    ],
    ids=["no-secret", "garbage-secret", "short-secret", "no-signature", "garbage", "hmac-md5"],
)
async def test_v1_missing_and_malformed_headers(
    env: Env, signing_key: rsa.RSAPrivateKey, change: dict[str, str | None], reason: InputReason
) -> None:
    headers = signed_v1(signing_key, env.cert_url)
    for name, value in change.items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    assert await env.reason(headers, signature="v1") is reason


async def test_mode_selects_the_required_headers(env: Env, signing_key: rsa.RSAPrivateKey) -> None:
    v1, v2 = signed_v1(signing_key, env.cert_url), signed_v2(signing_key, env.cert_url)
    assert await env.reason(v1, signature="v2") is InputReason.MISSING_SIGNATURE
    assert await env.reason(v2, signature="v1") is InputReason.MISSING_SIGNATURE
    assert await env.reason({TOKEN: TOKEN_VALUE}) is InputReason.MISSING_SIGNATURE
    await env.verify({TOKEN: TOKEN_VALUE}, signature="off")


async def test_repeated_signature_headers_are_refused(
    env: Env, signing_key: rsa.RSAPrivateKey
) -> None:
    headers = CIMultiDict(signed_v2(signing_key, env.cert_url))
    headers.add(TIMESTAMP, str(NOW * 1000))
    assert await env.reason(headers) is InputReason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://cn-hangzhou-eventbridge.oss-accelerate.aliyuncs.com.evil.com/c.pem",
        "https://cn-hangzhou-eventbridge.oss-accelerate.aliyuncs.com@evil/c.pem",
        "https://evil.example/x509_public_certificate.pem",
    ],
)
async def test_off_list_certificate_urls_are_untrusted(
    env: Env, signing_key: rsa.RSAPrivateKey, cert_server: CertServer, cert_url: str
) -> None:
    assert await env.reason(signed_v2(signing_key, cert_url)) is InputReason.UNTRUSTED_CERT
    assert sum(cert_server.hits.values()) == 0


async def test_unreachable_certificate_is_unavailable(
    env: Env, signing_key: rsa.RSAPrivateKey, cert_server: CertServer
) -> None:
    with pytest.raises(CertificateUnavailable):
        await env.verify(signed_v2(signing_key, cert_server.url("/gone.pem")))


def test_config_defaults_and_validation() -> None:
    config = EventBridgeAuthConfig()
    assert config.signature == "off" and config.token is None and config.max_skew == 60
    assert config.cert_url_prefixes == DEFAULT_CERT_URL_PREFIXES
    secret = EventBridgeAuthConfig(token=SecretStr(TOKEN_VALUE))
    assert TOKEN_VALUE not in repr(secret) and TOKEN_VALUE not in str(secret.model_dump())
    for bad in (
        {"signature": "v3"},
        {"regions": ["Hangzhou"]},
        {"public_url": "relay.example.com/hook"},
        {"cert_url_prefixes": ["ftp://x/"]},
        {"tokens": "x"},
    ):
        with pytest.raises(ValidationError):
            EventBridgeAuthConfig.model_validate(bad)
    narrowed = EventBridgeAuthConfig(regions=("cn-hangzhou",)).allow_list()[0]
    assert narrowed.host.fullmatch("cn-hangzhou-eventbridge.oss-accelerate.aliyuncs.com")
    assert not narrowed.host.fullmatch("cn-beijing-eventbridge.oss-accelerate.aliyuncs.com")


def test_checking_signatures_under_the_region_placeholder_needs_regions() -> None:
    with pytest.raises(ValidationError, match="regions: list the regions"):
        EventBridgeAuthConfig(signature="any")
    EventBridgeAuthConfig(signature="any", regions=("cn-hangzhou", "cn-shanghai"))
    EventBridgeAuthConfig(signature="any", cert_url_prefixes=("https://certs.example.com/",))


HANGZHOU = "https://cn-hangzhou-eventbridge"


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        # the official SDK's test vector (protocols.md §3.7)
        (f"{HANGZHOU}.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate_2021012101.pem", True),
        (f"{HANGZHOU}.oss-accelerate.aliyuncs.com/x509_public_certificate.pem", True),
        ("https://g.alicdn.com/eventbridge/certifacete/public.pem", True),  # a public sample
        ("https://cn-beijing-eventbridge.oss-cn-beijing.aliyuncs.com/x.pem", False),  # region
        (f"{HANGZHOU}.oss-cn-hangzhou.aliyuncs.com.evil.example/x.pem", False),
        ("https://g.alicdn.com/other/public.pem", False),
        ("http://g.alicdn.com/eventbridge/public.pem", False),
    ],
)
def test_the_default_allow_list_covers_the_hosts_eventbridge_uses(url: str, trusted: bool) -> None:
    config = EventBridgeAuthConfig(signature="any", regions=("cn-hangzhou",))
    parsed = parse_cert_url(url)
    assert any(rule.matches(parsed) for rule in config.allow_list()) is trusted
