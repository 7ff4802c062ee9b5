from __future__ import annotations

import asyncio
from importlib.resources import files

import aiohttp
import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError
from structlog.testing import capture_logs

from batchrelay.errors import InputReason, SignatureError
from batchrelay.sources.certs import (
    CertCacheConfig,
    CertificateCache,
    CertificateUnavailable,
    CertUrlPrefix,
    load_rsa_public_key,
    parse_cert_url,
)
from tests.fakes import FakeClock

from .support import CacheFactory, CertServer, cert_pem

MNS = "https://mnstest.oss-cn-hangzhou.aliyuncs.com/"
EB = "https://{region}-eventbridge.oss-accelerate.aliyuncs.com/"


def allowed(url: str, *prefixes: str, regions: tuple[str, ...] = ()) -> bool:
    try:
        parsed = parse_cert_url(url)
    except SignatureError as exc:
        assert exc.reason is InputReason.UNTRUSTED_CERT
        return False
    return any(CertUrlPrefix.parse(p, regions).matches(parsed) for p in prefixes)


@pytest.mark.parametrize(
    "url",
    [
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com/keys/2026/cert.pem",
        "HTTPS://MNSTEST.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com:443/x509_public_certificate.pem",
    ],
)
def test_mns_prefix_accepts_its_own_host(url: str) -> None:
    assert allowed(url, MNS)


@pytest.mark.parametrize(
    "url",
    [
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com.evil.com/x509_public_certificate.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com@evil/x509_public_certificate.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com:443@evil.com/cert.pem",
        "https://user:pw@mnstest.oss-cn-hangzhou.aliyuncs.com/cert.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com./cert.pem",
        "http://mnstest.oss-cn-hangzhou.aliyuncs.com/cert.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com:8443/cert.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com/a/../cert.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com/a/%2e%2e/cert.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com/a/./cert.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com/cert.pem#fragment",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com\\@evil.com/cert.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com /cert.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com/cert.pem\r\nX-Evil: 1",
        "https://mnst\u0435st.oss-cn-hangzhou.aliyuncs.com/cert.pem",  # a Cyrillic "e"
        "https://evil.com/https://mnstest.oss-cn-hangzhou.aliyuncs.com/cert.pem",
        "https://evil.com/?https://mnstest.oss-cn-hangzhou.aliyuncs.com/",
        "//mnstest.oss-cn-hangzhou.aliyuncs.com/cert.pem",
        "mnstest.oss-cn-hangzhou.aliyuncs.com/cert.pem",
        "file:///etc/passwd",
        "",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com/" + "a" * 3000,
    ],
)
def test_mns_prefix_refuses_lookalikes(url: str) -> None:
    assert not allowed(url, MNS)


def test_prefix_path_ends_on_a_segment_boundary() -> None:
    assert allowed("https://h.example/certs/a.pem", "https://h.example/certs")
    assert not allowed("https://h.example/certs-evil/a.pem", "https://h.example/certs")


@pytest.mark.parametrize(
    "url",
    [
        "https://cn-hangzhou-eventbridge.oss-accelerate.aliyuncs.com/x509_public_certificate.pem",
        "https://cn-shanghai-finance-1-eventbridge.oss-accelerate.aliyuncs.com/c.pem",
        "https://ap-southeast-1-eventbridge.oss-accelerate.aliyuncs.com/c.pem",
    ],
)
def test_region_placeholder_accepts_region_ids(url: str) -> None:
    assert allowed(url, EB)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil-eventbridge.oss-accelerate.aliyuncs.com/c.pem",
        "https://a.cn-hangzhou-eventbridge.oss-accelerate.aliyuncs.com/c.pem",
        "https://cn-hangzhou-eventbridge.oss-accelerate.aliyuncs.com.evil.com/c.pem",
        "https://cn-hangzhou-eventbridge.oss-cn-hangzhou.aliyuncs.com/c.pem",
        "http://cn-hangzhou-eventbridge.oss-accelerate.aliyuncs.com/c.pem",
        "https://-eventbridge.oss-accelerate.aliyuncs.com/c.pem",
    ],
)
def test_region_placeholder_refuses_other_hosts(url: str) -> None:
    assert not allowed(url, EB)


def test_regions_narrow_the_placeholder() -> None:
    hangzhou = "https://cn-hangzhou-eventbridge.oss-accelerate.aliyuncs.com/c.pem"
    shanghai = "https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/c.pem"
    assert allowed(hangzhou, EB, regions=("cn-hangzhou",))
    assert not allowed(shanghai, EB, regions=("cn-hangzhou",))


@pytest.mark.parametrize(
    "pattern",
    ["ftp://h.example/", "https://u@h.example/", "https://h.example/?q=1", "not a url", "https://"],
)
def test_bad_prefixes_are_config_errors(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"prefix|URL"):
        CertUrlPrefix.parse(pattern)


def test_load_rsa_public_key_reads_certificates_and_bare_keys(
    signing_key: rsa.RSAPrivateKey,
) -> None:
    bare = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    want = signing_key.public_key().public_numbers()
    assert load_rsa_public_key(cert_pem(signing_key)).public_numbers() == want
    assert load_rsa_public_key(bare).public_numbers() == want


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_load_rsa_public_key_refuses_garbage(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a PEM"):
        load_rsa_public_key(data)


def test_load_rsa_public_key_refuses_other_algorithms() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="not RSA"):
        load_rsa_public_key(pem)


async def test_fetches_once_then_serves_from_cache(
    cert_server: CertServer, make_cache: CacheFactory, signing_key: rsa.RSAPrivateKey
) -> None:
    cert_server.files["/c.pem"] = cert_pem(signing_key)
    cache = make_cache()
    first = await cache.public_key(cert_server.url("/c.pem"))
    second = await cache.public_key(cert_server.url("/c.pem"))
    assert first.public_numbers() == signing_key.public_key().public_numbers()
    assert second is first
    assert cert_server.hits["/c.pem"] == 1


async def test_concurrent_requests_share_one_download(
    cert_server: CertServer, make_cache: CacheFactory, signing_key: rsa.RSAPrivateKey
) -> None:
    cert_server.files["/c.pem"] = cert_pem(signing_key)
    cert_server.delay = 0.2
    cache = make_cache()
    keys = await asyncio.gather(*(cache.public_key(cert_server.url("/c.pem")) for _ in range(20)))
    assert cert_server.hits["/c.pem"] == 1
    assert all(k is keys[0] for k in keys)


async def test_a_cancelled_waiter_does_not_cancel_the_shared_download(
    cert_server: CertServer, make_cache: CacheFactory, signing_key: rsa.RSAPrivateKey
) -> None:
    cert_server.files["/c.pem"] = cert_pem(signing_key)
    cert_server.delay = 0.2
    cache = make_cache()
    impatient = asyncio.create_task(cache.public_key(cert_server.url("/c.pem")))
    patient = asyncio.create_task(cache.public_key(cert_server.url("/c.pem")))
    await asyncio.sleep(0.05)
    impatient.cancel()
    key = await patient
    assert key.public_numbers() == signing_key.public_key().public_numbers()
    assert impatient.cancelled()
    assert cert_server.hits["/c.pem"] == 1


async def test_off_list_urls_are_refused_without_a_request(
    cert_server: CertServer, make_cache: CacheFactory
) -> None:
    cache = make_cache(prefixes=[cert_server.url("/certs/")])
    with pytest.raises(SignatureError) as caught:
        await cache.public_key(cert_server.url("/other/c.pem"))
    assert caught.value.reason is InputReason.UNTRUSTED_CERT
    assert sum(cert_server.hits.values()) == 0


async def test_entries_expire_after_ttl(
    cert_server: CertServer,
    make_cache: CacheFactory,
    clock: FakeClock,
    signing_key: rsa.RSAPrivateKey,
) -> None:
    cert_server.files["/c.pem"] = cert_pem(signing_key)
    cache = make_cache(ttl=60)
    await cache.public_key(cert_server.url("/c.pem"))
    clock.advance(59)
    await cache.public_key(cert_server.url("/c.pem"))
    assert cert_server.hits["/c.pem"] == 1
    clock.advance(2)
    await cache.public_key(cert_server.url("/c.pem"))
    assert cert_server.hits["/c.pem"] == 2


async def test_least_recently_used_entry_is_evicted(
    cert_server: CertServer, make_cache: CacheFactory, signing_key: rsa.RSAPrivateKey
) -> None:
    for name in ("a", "b", "c"):
        cert_server.files[f"/{name}.pem"] = cert_pem(signing_key)
    cache = make_cache(max_entries=2)
    url = {name: cert_server.url(f"/{name}.pem") for name in ("a", "b", "c")}
    await cache.public_key(url["a"])
    await cache.public_key(url["b"])
    await cache.public_key(url["a"])  # a is now the most recently used
    await cache.public_key(url["c"])  # evicts b
    assert cache.cached_urls() == [url["a"], url["c"]]
    assert len(cache) == 2
    await cache.public_key(url["b"])
    await cache.public_key(url["c"])
    assert cert_server.hits == {"/a.pem": 1, "/b.pem": 2, "/c.pem": 1}


async def test_failures_are_cached_briefly(
    cert_server: CertServer,
    make_cache: CacheFactory,
    clock: FakeClock,
    signing_key: rsa.RSAPrivateKey,
) -> None:
    cache = make_cache(negative_ttl=5)
    url = cert_server.url("/c.pem")  # not served yet: 404
    for _ in range(10):
        with pytest.raises(CertificateUnavailable) as caught:
            await cache.public_key(url)
    assert cert_server.hits["/c.pem"] == 1
    assert "HTTP 404" in str(caught.value)
    assert 0 < caught.value.retry_after <= 5
    cert_server.files["/c.pem"] = cert_pem(signing_key)
    clock.advance(5.1)
    key = await cache.public_key(url)
    assert key.public_numbers() == signing_key.public_key().public_numbers()
    assert cert_server.hits["/c.pem"] == 2


async def test_failures_do_not_evict_good_certificates(
    cert_server: CertServer, make_cache: CacheFactory, signing_key: rsa.RSAPrivateKey
) -> None:
    cert_server.files["/good.pem"] = cert_pem(signing_key)
    cache = make_cache(max_entries=1)
    await cache.public_key(cert_server.url("/good.pem"))
    for n in range(3):
        with pytest.raises(CertificateUnavailable):
            await cache.public_key(cert_server.url(f"/missing-{n}.pem"))
    await cache.public_key(cert_server.url("/good.pem"))
    assert cert_server.hits["/good.pem"] == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversized_download_is_refused(
    cert_server: CertServer, make_cache: CacheFactory, chunked: bool
) -> None:
    cert_server.files["/big.pem"] = b"A" * (70 * 1024)
    if chunked:
        cert_server.chunked.add("/big.pem")
    cache = make_cache(max_bytes=64 * 1024)
    with pytest.raises(CertificateUnavailable, match="larger than 65536 bytes"):
        await cache.public_key(cert_server.url("/big.pem"))


async def test_slow_server_times_out(
    cert_server: CertServer, make_cache: CacheFactory, signing_key: rsa.RSAPrivateKey
) -> None:
    cert_server.files["/c.pem"] = cert_pem(signing_key)
    cert_server.delay = 1.0
    cache = make_cache(timeout=0.1)
    with pytest.raises(CertificateUnavailable, match=r"no answer within 0\.1 s"):
        await cache.public_key(cert_server.url("/c.pem"))


async def test_redirects_are_not_followed(
    cert_server: CertServer, make_cache: CacheFactory, signing_key: rsa.RSAPrivateKey
) -> None:
    cert_server.files["/elsewhere.pem"] = cert_pem(signing_key)
    cert_server.redirects["/c.pem"] = cert_server.url("/elsewhere.pem")
    cache = make_cache()
    with pytest.raises(CertificateUnavailable, match="HTTP 302"):
        await cache.public_key(cert_server.url("/c.pem"))
    assert cert_server.hits["/elsewhere.pem"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"<html>not a cert</html>", "not a PEM"), (b"", "not a PEM")],
)
async def test_unreadable_certificates_are_unavailable(
    cert_server: CertServer, make_cache: CacheFactory, body: bytes, message: str
) -> None:
    cert_server.files["/c.pem"] = body
    cache = make_cache()
    with pytest.raises(CertificateUnavailable, match=message):
        await cache.public_key(cert_server.url("/c.pem"))


async def test_server_errors_are_unavailable(
    cert_server: CertServer, make_cache: CacheFactory, signing_key: rsa.RSAPrivateKey
) -> None:
    cert_server.files["/c.pem"] = cert_pem(signing_key)
    cert_server.status["/c.pem"] = 500
    cache = make_cache()
    with pytest.raises(CertificateUnavailable, match="HTTP 500"):
        await cache.public_key(cert_server.url("/c.pem"))


async def test_connection_refused_is_unavailable(clock: FakeClock) -> None:
    # Bind and release a port so nothing listens on it.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    root = f"http://127.0.0.1:{port}/"
    async with CertificateCache([CertUrlPrefix.parse(root)], clock=clock) as cache:
        with pytest.raises(CertificateUnavailable, match="while fetching"):
            await cache.public_key(root + "c.pem")


async def test_close_cancels_downloads_in_flight(
    cert_server: CertServer, make_cache: CacheFactory, signing_key: rsa.RSAPrivateKey
) -> None:
    cert_server.files["/c.pem"] = cert_pem(signing_key)
    cert_server.delay = 5.0
    cache = make_cache()
    waiting = asyncio.create_task(cache.public_key(cert_server.url("/c.pem")))
    await asyncio.sleep(0.05)
    await cache.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_an_injected_session_is_left_open(
    cert_server: CertServer, clock: FakeClock, signing_key: rsa.RSAPrivateKey
) -> None:
    cert_server.files["/c.pem"] = cert_pem(signing_key)
    async with aiohttp.ClientSession() as session:
        cache = CertificateCache(
            [CertUrlPrefix.parse(cert_server.root)], session=session, clock=clock
        )
        await cache.public_key(cert_server.url("/c.pem"))
        await cache.close()
        assert not session.closed


def test_cache_config_is_strict() -> None:
    with pytest.raises(ValidationError):
        CertCacheConfig.model_validate({"max_entries": 0})
    with pytest.raises(ValidationError):
        CertCacheConfig.model_validate({"size": 10})


async def test_a_512_bit_expired_certificate_is_used_and_its_size_logged_once(
    make_cache: CacheFactory, cert_server: CertServer, clock: FakeClock
) -> None:
    # Real MNS pushes are signed with such a key (protocols.md §3.7): the allow-list is the
    # trust anchor, not the key size or the dates.
    legacy = files("batchrelay.emulator").joinpath("legacy_push_cert.pem").read_bytes()
    cert_server.files["/x509_public_certificate.pem"] = legacy
    cache = make_cache(ttl=10)
    url = cert_server.url("/x509_public_certificate.pem")
    structlog.reset_defaults()  # a daemon started by an earlier test may log warnings only
    with capture_logs() as logs:
        key = await cache.public_key(url)
        clock.advance(11)  # past the ttl: fetched again, same key, not announced again
        await cache.public_key(url)
    assert key.key_size == 512 and cert_server.hits["/x509_public_certificate.pem"] == 2
    announced = [entry for entry in logs if entry["event"] == "certificate.fetched"]
    assert announced == [
        {"event": "certificate.fetched", "url": url, "key_bits": 512, "log_level": "info"}
    ]
