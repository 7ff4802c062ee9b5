"""Pushes shaped like real MNS pushes (protocols.md §3.7) reach the ledger through
``POST /ingest/mns``; tampered ones are refused; an unknown certificate URL is never fetched.

The daemon is the whole app on a real server; the certificate is served by a real local
HTTP server or pinned from a file, exactly as an operator would configure either.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from batchrelay.http.common import STORE

from ..conftest import SettingsFactory, sample
from .real_push import FORMATS, REAL_CERT_URL, Format, RealPush, legacy_cert_pem
from .support import CertServer

BATCH = "batch-7c1d2e3f-0a1b-4c2d-8e9f-001122334455"
TASK = sample("imm-task-mns-queue.json").decode()
CERT_PATH = "/x509_public_certificate.pem"


@pytest.fixture
async def served(
    cert_server: CertServer, make_settings: SettingsFactory, start_daemon: Any
) -> tuple[Any, CertServer]:
    """A daemon that trusts the local certificate server, which serves the 512-bit cert."""
    cert_server.files[CERT_PATH] = legacy_cert_pem()
    mns_push = {"cert_url_prefixes": [cert_server.root]}
    daemon = await start_daemon(make_settings(ingress={"mns_push": mns_push}))
    return daemon, cert_server


async def post(daemon: Any, push: RealPush, **altered_headers: str) -> int:
    headers = push.headers | altered_headers
    response = await daemon.post(push.path, data=push.body, headers=headers)
    assert "Traceback" not in await response.text()
    status: int = response.status
    return status


async def task_counts(daemon: Any) -> dict[str, int] | None:
    response = await daemon.get(f"/api/v1/batches/{BATCH}")
    if response.status == 404:
        return None
    counts: dict[str, int] = (await response.json())["task_counts"]
    return counts


async def journal(daemon: Any) -> list[dict[str, Any]]:
    rows = await daemon.app[STORE].read_journal(0, 100)
    return [inbound.event.normalized() for _, inbound in rows]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_real_push_from_an_allow_listed_url_is_committed(
    served: tuple[Any, CertServer], fmt: Format
) -> None:
    daemon, certs = served
    push = RealPush(TASK, fmt, cert_url=certs.url(CERT_PATH), tag="imm")
    assert await post(daemon, push) == 204
    assert await task_counts(daemon) == {"succeeded": 1}
    assert certs.hits[CERT_PATH] == 1
    # The certificate is cached: a second push (a redelivery) costs no fetch and no count.
    assert await post(daemon, push) == 204
    assert certs.hits[CERT_PATH] == 1
    assert await task_counts(daemon) == {"succeeded": 1}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_real_push_verified_with_a_pinned_certificate(
    tmp_path: Path, make_settings: SettingsFactory, start_daemon: Any, fmt: Format
) -> None:
    pem = tmp_path / "mns.pem"
    pem.write_bytes(legacy_cert_pem())
    mns_push = {"cert_files": {REAL_CERT_URL: str(pem)}}  # the default allow-list covers it
    daemon = await start_daemon(make_settings(ingress={"mns_push": mns_push}))
    assert await post(daemon, RealPush(TASK, fmt)) == 204
    assert await task_counts(daemon) == {"succeeded": 1}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "altered",
    [
        pytest.param({"x-mns-topic-name": "another-topic"}, id="signed-header"),
        pytest.param({"x-mns-message-id": "7D1B2A3C4E5F6071-1-19A8B7C6D5E-200000002"}, id="id"),
        pytest.param({"Date": "Mon, 07 Dec 2026 16:00:00 GMT"}, id="date"),
        pytest.param({"Content-Type": "text/plain"}, id="content-type"),
        pytest.param({"Authorization": base64.b64encode(b"\x01" * 64).decode()}, id="signature"),
    ],
)
async def test_a_tampered_header_is_403(
    served: tuple[Any, CertServer], fmt: Format, altered: dict[str, str]
) -> None:
    daemon, certs = served
    push = RealPush(TASK, fmt, cert_url=certs.url(CERT_PATH))
    assert await post(daemon, push, **altered) == 403
    assert await task_counts(daemon) is None


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_tampered_body_is_403(served: tuple[Any, CertServer], fmt: Format) -> None:
    daemon, certs = served
    push = RealPush(TASK, fmt, cert_url=certs.url(CERT_PATH))
    forged = push.body.replace(b"Succeeded", b"Failed")
    # Content-MD5 recomputed for the forged body: only the signature can catch it.
    headers = push.headers | {"Content-MD5": hashlib.md5(forged).hexdigest().upper()}
    response = await daemon.post(push.path, data=forged, headers=headers)
    assert response.status == 403
    # And left as it was, Content-MD5 catches it first.
    response = await daemon.post(push.path, data=forged, headers=push.headers)
    assert response.status == 403
    assert await task_counts(daemon) is None


async def test_a_certificate_url_outside_the_allow_list_is_403_without_a_fetch(
    served: tuple[Any, CertServer],
) -> None:
    daemon, certs = served
    certs.files["/elsewhere.pem"] = legacy_cert_pem()
    for url in (
        "https://attacker.example/x509_public_certificate.pem",
        "https://mnstest.oss-cn-hangzhou.aliyuncs.com.attacker.example/x.pem",
    ):
        assert await post(daemon, RealPush(TASK, cert_url=url)) == 403
    assert sum(certs.hits.values()) == 0
    assert await task_counts(daemon) is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("message", ["Message is here.", "mock mns message", "Done"])
async def test_plain_text_on_a_shared_topic_is_an_unknown_event(
    served: tuple[Any, CertServer], fmt: Format, message: str
) -> None:
    daemon, certs = served
    push = RealPush(message, fmt, cert_url=certs.url(CERT_PATH))
    assert await post(daemon, push) == 204
    [view] = await journal(daemon)
    assert (view["kind"], view["data"]) == ("unknown", {"text": message})
    assert view["event_id"] == f"mns:{push.message_id}"
    assert view["time"] == "2024-10-31T09:57:20.272Z"  # x-mns-publish-time / PublishTime


async def test_an_oss_event_on_a_shared_topic_is_an_unknown_event(
    served: tuple[Any, CertServer],
) -> None:
    daemon, certs = served
    oss = (Path(__file__).parents[1] / "fixtures/captures/oss-object-created.json").read_bytes()
    message = base64.b64encode(oss).decode()  # OSS publishes its events base64-encoded
    assert await post(daemon, RealPush(message, "JSON", cert_url=certs.url(CERT_PATH))) == 204
    [view] = await journal(daemon)
    assert (view["kind"], view["source"]) == ("unknown", "acs.oss")
    assert view["data"]["events"][0]["eventName"] == json.loads(oss)["events"][0]["eventName"]
