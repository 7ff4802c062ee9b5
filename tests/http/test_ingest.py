"""The three push endpoints end to end: real server, real store, every answer code."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from email.utils import formatdate
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from batchrelay.sources.ice_auth import signature as ice_signature
from batchrelay.sources.mns_signature import sign_push
from tests.conftest import SettingsFactory, sample
from tests.sources.support import CertServer, cert_pem

EB_HEADERS = {"Content-Type": "application/cloudevents+json"}
BATCH = "batch-2f3e4d5c-6b7a-4890-a1b2-c3d4e5f60718"


async def post(client: Any, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    resp = await client.post(path, data=body, headers=headers or {})
    await resp.read()
    return resp


# --- EventBridge ----------------------------------------------------------------------------


async def test_eventbridge_commits_then_dedups(daemon: Any) -> None:
    body = sample("imm-task-eventbridge.json")
    first = await daemon.post("/ingest/eventbridge", data=body, headers=EB_HEADERS)
    assert first.status == 200
    assert await first.json() == {"committed": 1, "duplicates": 0}
    again = await daemon.post("/ingest/eventbridge", data=body, headers=EB_HEADERS)
    assert await again.json() == {"committed": 0, "duplicates": 1}
    batch = await (await daemon.get(f"/api/v1/batches/{BATCH}")).json()
    assert batch["task_counts"] == {"failed": 1}
    assert batch["error_codes"] == {"InvalidFile.Corrupted": 1}


async def test_eventbridge_binary_mode(daemon: Any) -> None:
    event = json.loads(sample("imm-task-eventbridge.json"))
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "binary-1",
        "ce-source": "acs.imm",
        "ce-type": "imm:Task:OfficeConversion",
        "ce-time": "2026-11-20T11:30:02+08:00",
        "Content-Type": "application/json",
    }
    resp = await daemon.post("/ingest/eventbridge", data=json.dumps(event["data"]), headers=headers)
    assert resp.status == 200, await resp.text()
    tasks = await (await daemon.get(f"/api/v1/batches/{BATCH}/tasks")).json()
    assert [t["object_path"] for t in tasks["tasks"]] == [
        "oss://docs-in/contracts/2026/q4-0042.docx"
    ]


async def test_eventbridge_array_of_events(daemon: Any) -> None:
    one = json.loads(sample("imm-task-eventbridge.json"))
    two = dict(one, id="second-id", data=dict(one["data"], TaskId="OfficeConversion-2"))
    resp = await daemon.post("/ingest/eventbridge", data=json.dumps([one, two]))
    assert await resp.json() == {"committed": 2, "duplicates": 0}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"specversion": "1.0", "id": "x", "source": "acs.imm", "type": "imm:Ta', "bad_json"),
        (b"\xff\xfe\x00garbage", "bad_encoding"),
        (b"", "empty"),
        (b"12345", "wrong_type"),
        (b"[" * 5000 + b"]" * 5000, "bad_json"),
    ],
)
async def test_malformed_bodies_are_quarantined_then_400(
    daemon: Any, body: bytes, reason: str
) -> None:
    resp = await daemon.post("/ingest/eventbridge", data=body, headers={"X-Trace": "t-1"})
    assert resp.status == 400
    answer = await resp.json()
    assert answer["error"] == reason
    page = await (await daemon.get("/api/v1/quarantine")).json()
    [record] = page["quarantine"]
    assert record["reason"] == reason
    assert base64.b64decode(record["raw_base64"]) == body
    assert record["headers"]["X-Trace"] == "t-1"


async def test_array_with_one_bad_element_commits_the_rest_and_answers_400(daemon: Any) -> None:
    good = json.loads(sample("imm-task-eventbridge.json"))
    bad = dict(good, id="bad-1", data=dict(good["data"], Status=["not", "a", "string"]))
    resp = await daemon.post("/ingest/eventbridge", data=json.dumps([good, bad]))
    assert resp.status == 400
    assert (await resp.json())["committed"] == 1
    page = await (await daemon.get("/api/v1/quarantine")).json()
    assert page["quarantine"][0]["reason"] == "wrong_type"


async def test_eventbridge_token(make_settings: SettingsFactory, start_daemon: Any) -> None:
    client = await start_daemon(make_settings(ingress={"eventbridge": {"token": "s3cret-tok"}}))
    body = sample("imm-task-eventbridge.json")
    assert (await post(client, "/ingest/eventbridge", body)).status == 403
    wrong = {"x-eventbridge-signature-token": "nope"}
    assert (await post(client, "/ingest/eventbridge", body, wrong)).status == 403
    right = {"x-eventbridge-signature-token": "s3cret-tok"}
    assert (await post(client, "/ingest/eventbridge", body, right)).status == 200
    bearer = {"Authorization": "Bearer s3cret-tok"}
    assert (await post(client, "/ingest/eventbridge", body, bearer)).status == 200
    # A refused push is never quarantined: forgeries must not fill the store.
    page = await (await client.get("/api/v1/quarantine")).json()
    assert page["quarantine"] == []


async def test_oversized_body_gets_413(make_settings: SettingsFactory, start_daemon: Any) -> None:
    client = await start_daemon(make_settings(server={"max_body_bytes": 4096}))
    big = b'{"id": "' + b"x" * 10_000 + b'"}'
    assert (await post(client, "/ingest/eventbridge", big)).status == 413

    async def chunks() -> Any:  # no Content-Length: the bound must hold while reading
        for _ in range(10):
            yield b"x" * 1024

    resp = await client.post("/ingest/eventbridge", data=chunks())
    assert resp.status == 413


async def test_503_while_not_accepting(daemon: Any) -> None:
    from batchrelay.http.health import GATE

    daemon.app[GATE].open = False
    resp = await post(daemon, "/ingest/eventbridge", sample("imm-task-eventbridge.json"))
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert (await daemon.get("/readyz")).status == 503
    assert (await daemon.get("/healthz")).status == 200


async def test_503_when_the_store_cannot_commit(daemon: Any) -> None:
    from batchrelay.http.batches import STORE

    await daemon.app[STORE].close()
    resp = await post(daemon, "/ingest/eventbridge", sample("imm-task-eventbridge.json"))
    assert resp.status == 503


async def test_metrics_count_outcomes(daemon: Any) -> None:
    body = sample("imm-task-eventbridge.json")
    await post(daemon, "/ingest/eventbridge", body)
    await post(daemon, "/ingest/eventbridge", body)
    await post(daemon, "/ingest/eventbridge", b"{broken")
    text = await (await daemon.get("/metrics")).text()
    assert 'batchrelay_inputs_total{ingress="eventbridge",outcome="committed"} 1.0' in text
    assert 'batchrelay_duplicates_total{ingress="eventbridge"} 1.0' in text
    assert 'batchrelay_quarantined_total{ingress="eventbridge",reason="bad_json"} 1.0' in text
    assert "batchrelay_group_commit_size_bucket" in text
    assert 'batchrelay_batches{state="unknown"} 1.0' in text


# --- MNS push --------------------------------------------------------------------------------


def mns_push(
    key: rsa.RSAPrivateKey, cert_url: str, body: bytes, *, date: str | None = None
) -> dict[str, str]:
    """The headers an MNS topic push carries, signed with ``key``."""
    headers = {
        "Content-Type": "text/xml;charset=utf-8",
        "Content-MD5": base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode(),
        "Date": date or formatdate(usegmt=True),
        "x-mns-request-id": "5F1A2B3C4D5E6F7A8B9C0D1E",
        "x-mns-signing-cert-url": base64.b64encode(cert_url.encode()).decode(),
        "x-mns-version": "2015-06-06",
    }
    headers["Authorization"] = sign_push(key, "POST", "/ingest/mns", headers)
    return headers


@pytest.fixture
async def mns_daemon(
    make_settings: SettingsFactory,
    start_daemon: Any,
    cert_server: CertServer,
    signing_key: rsa.RSAPrivateKey,
) -> tuple[Any, str]:
    cert_server.files["/signing.pem"] = cert_pem(signing_key)
    settings = make_settings(ingress={"mns_push": {"cert_url_prefixes": [cert_server.root]}})
    return await start_daemon(settings), cert_server.url("/signing.pem")


async def test_mns_push_verified_and_committed(
    mns_daemon: tuple[Any, str], signing_key: rsa.RSAPrivateKey
) -> None:
    client, cert_url = mns_daemon
    body = sample("mns-push-xml.xml")
    resp = await post(client, "/ingest/mns", body, mns_push(signing_key, cert_url, body))
    assert resp.status == 204
    batch = await (
        await client.get("/api/v1/batches/batch-7c1d2e3f-0a1b-4c2d-8e9f-001122334455")
    ).json()
    assert batch["task_counts"] == {"succeeded": 1}


async def test_mns_push_with_a_corrupt_encoding_is_400_and_kept_as_sent(
    mns_daemon: tuple[Any, str], signing_key: rsa.RSAPrivateKey
) -> None:
    client, cert_url = mns_daemon
    body = b"\x78\x9c\x0bgarbage-not-deflate"
    headers = {**mns_push(signing_key, cert_url, body), "Content-Encoding": "deflate"}
    resp = await post(client, "/ingest/mns", body, headers)
    assert resp.status == 400  # it was a 500: aiohttp inflated the body before we saw it
    [record] = (await (await client.get("/api/v1/quarantine")).json())["quarantine"]
    assert record["reason"] == "bad_encoding"
    assert base64.b64decode(record["raw_base64"]) == body
    assert record["headers"]["Authorization"] == "<redacted>"


async def test_mns_push_tampered_body_is_403(
    mns_daemon: tuple[Any, str], signing_key: rsa.RSAPrivateKey
) -> None:
    client, cert_url = mns_daemon
    body = sample("mns-push-xml.xml")
    headers = mns_push(signing_key, cert_url, body)
    tampered = body.replace(b"Succeeded", b"Failed")
    resp = await post(client, "/ingest/mns", tampered, headers)
    assert resp.status == 403


async def test_mns_push_wrong_key_is_403(
    mns_daemon: tuple[Any, str], other_key: rsa.RSAPrivateKey
) -> None:
    client, cert_url = mns_daemon
    body = sample("mns-push-xml.xml")
    resp = await post(client, "/ingest/mns", body, mns_push(other_key, cert_url, body))
    assert resp.status == 403
    assert (await resp.json())["error"] == "bad_signature"


async def test_mns_push_stale_date_is_403(
    mns_daemon: tuple[Any, str], signing_key: rsa.RSAPrivateKey
) -> None:
    client, cert_url = mns_daemon
    body = sample("mns-push-xml.xml")
    stale = formatdate(time.time() - 3600, usegmt=True)
    resp = await post(
        client, "/ingest/mns", body, mns_push(signing_key, cert_url, body, date=stale)
    )
    assert resp.status == 403
    assert (await resp.json())["error"] == "stale_signature"


async def test_mns_push_untrusted_certificate_url_is_403(
    mns_daemon: tuple[Any, str], signing_key: rsa.RSAPrivateKey
) -> None:
    client, _ = mns_daemon
    body = sample("mns-push-xml.xml")
    headers = mns_push(signing_key, "https://evil.example.com/cert.pem", body)
    resp = await post(client, "/ingest/mns", body, headers)
    assert resp.status == 403
    assert (await resp.json())["error"] == "untrusted_cert"


async def test_mns_push_missing_signature_is_403(mns_daemon: tuple[Any, str]) -> None:
    client, _ = mns_daemon
    resp = await post(client, "/ingest/mns", sample("mns-push-xml.xml"))
    assert resp.status == 403
    assert (await resp.json())["error"] == "missing_signature"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            b"<Notification><Message>&lol2;</Message></Notification>",
            "forbidden_xml",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<Notification><Message>&e;</Message></Notification>",
            "forbidden_xml",
        ),
        (b"<Notification><Message>unterminated", "bad_xml"),
    ],
)
async def test_mns_push_hostile_xml_is_quarantined(
    mns_daemon: tuple[Any, str], signing_key: rsa.RSAPrivateKey, body: bytes, reason: str
) -> None:
    client, cert_url = mns_daemon
    resp = await post(client, "/ingest/mns", body, mns_push(signing_key, cert_url, body))
    assert resp.status == 400
    assert (await resp.json())["error"] == reason
    page = await (await client.get("/api/v1/quarantine")).json()
    assert page["quarantine"][0]["reason"] == reason
    assert page["quarantine"][0]["headers"]["Authorization"] == "<redacted>"


async def test_same_task_by_mns_push_and_eventbridge_counts_once(
    mns_daemon: tuple[Any, str], signing_key: rsa.RSAPrivateKey
) -> None:
    client, cert_url = mns_daemon
    body = sample("mns-push-xml.xml")
    assert (
        await post(client, "/ingest/mns", body, mns_push(signing_key, cert_url, body))
    ).status == 204
    envelope = json.loads(sample("imm-task-mns-queue.json"))
    cloud_event = {
        "specversion": "1.0",
        "id": "eventbridge-copy-of-the-same-task",
        "source": "acs.imm",
        "type": envelope["type"],
        "time": "2026-11-20T11:12:19.800+08:00",
        "data": json.loads(envelope["content"]),
    }
    resp = await post(client, "/ingest/eventbridge", json.dumps(cloud_event).encode())
    assert resp.status == 200
    batch_key = "batch-7c1d2e3f-0a1b-4c2d-8e9f-001122334455"
    batch = await (await client.get(f"/api/v1/batches/{batch_key}")).json()
    assert batch["task_counts"] == {"succeeded": 1}
    assert batch["events"] == 2  # both journaled, the task counted once


# --- ICE -------------------------------------------------------------------------------------

ICE_URL = "https://relay.example.com/ingest/ice"


@pytest.fixture
async def ice_daemon(make_settings: SettingsFactory, start_daemon: Any) -> Any:
    settings = make_settings(
        ingress={"ice": {"auth_key": "Test123abc", "callback_url": ICE_URL, "window": 300}}
    )
    return await start_daemon(settings)


def ice_headers(stamp: int, key: str = "Test123abc") -> dict[str, str]:
    return {"X-ICE-TIMESTAMP": str(stamp), "X-ICE-SIGNATURE": ice_signature(ICE_URL, stamp, key)}


async def test_ice_callback_signed(ice_daemon: Any) -> None:
    body = sample("ice-produce-media-complete.json")
    resp = await post(ice_daemon, "/ingest/ice", body, ice_headers(int(time.time())))
    assert resp.status == 200
    batch = await (await ice_daemon.get("/api/v1/batches/f00dfeed00112233445566778899aabb")).json()
    assert batch["error_codes"] == {"InvalidParameter.Timeline": 1}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (lambda: ice_headers(int(time.time()) - 3600), "stale_signature"),
        (lambda: ice_headers(int(time.time()), key="WrongKey1"), "bad_signature"),
        (lambda: {}, "missing_signature"),
    ],
)
async def test_ice_callback_refused(ice_daemon: Any, headers: Any, reason: str) -> None:
    resp = await post(
        ice_daemon, "/ingest/ice", sample("ice-produce-media-complete.json"), headers()
    )
    assert resp.status == 403
    assert (await resp.json())["error"] == reason


async def test_mns_push_with_an_unreachable_certificate_is_503_not_403(
    mns_daemon: tuple[Any, str], signing_key: rsa.RSAPrivateKey, cert_server: CertServer
) -> None:
    client, _ = mns_daemon
    body = sample("mns-push-xml.xml")
    missing = cert_server.url("/rotated-away.pem")  # allow-listed, but not served
    resp = await post(client, "/ingest/mns", body, mns_push(signing_key, missing, body))
    assert resp.status == 503  # not proof of forgery: MNS should retry later
    assert int(resp.headers["Retry-After"]) >= 1
