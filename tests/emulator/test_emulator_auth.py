"""Request signing: the documented test vector, the SDK's own signer, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import random
import string
from email.utils import formatdate

import pytest
from mns.auth import Credentials
from mns.mns_client import MNSClient

from batchrelay.emulator.auth import (
    Verifier,
    authorization,
    canonical_mns_headers,
    content_md5,
    hmac_signature,
    string_to_sign,
)
from batchrelay.emulator.errors import MnsError

NOW = 1_436_410_894.0  # Thu, 09 Jul 2015 03:01:34 GMT


def test_documented_test_vector() -> None:
    headers = {"Date": "Thu, 09 Jul 2015 03:01:34 GMT", "x-mns-version": "2015-06-06"}
    to_sign = string_to_sign("GET", headers, "/MyQueue")
    assert to_sign == "GET\n\n\nThu, 09 Jul 2015 03:01:34 GMT\nx-mns-version:2015-06-06\n/MyQueue"
    signature = hmac_signature("TestAccessSecret", to_sign)
    assert signature.startswith("uwx3yeWoILzgmvesW0BQSgfM")  # the doc masks the last 4 chars
    assert signature == "uwx3yeWoILzgmvesW0BQSgfM7b8="  # protocols.md §3.4 [V]


def test_canonical_headers_are_lower_cased_sorted_and_only_mns() -> None:
    headers = [("X-MNS-Version", "2015-06-06"), ("x-mns-prefix", "a"), ("Host", "h")]
    assert canonical_mns_headers(headers) == "x-mns-prefix:a\nx-mns-version:2015-06-06\n"


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_the_sdk_signer(seed: int) -> None:
    rng = random.Random(seed)
    word = "".join(rng.choices(string.ascii_letters, k=8))
    headers = {
        "content-md5": content_md5(word.encode()),
        "content-type": "text/xml;charset=UTF-8",
        "date": formatdate(NOW, usegmt=True),
        "x-mns-version": "2015-06-06",
        f"x-mns-{word.lower()}": word,
    }
    resource = f"/queues/{word}/messages?ReceiptHandle=1-{word}&VisibilityTimeout=5"
    client = MNSClient("http://127.0.0.1:1", "id", "secret")
    try:
        expected = client.get_signature("PUT", headers, resource, Credentials("id", "secret"))
    finally:
        client.close_connection()
    assert authorization("id", "secret", "PUT", headers, resource) == expected


def _verifier(skew: float = 900.0) -> Verifier:
    return Verifier({"id": "secret"}, skew, lambda: NOW)


def _signed(secret: str = "secret", key_id: str = "id", **extra: str) -> dict[str, str]:
    headers = {"Date": formatdate(NOW, usegmt=True), "x-mns-version": "2015-06-06", **extra}
    headers["Authorization"] = authorization(key_id, secret, "GET", headers, "/queues/q")
    return headers


def test_a_correct_signature_names_its_key() -> None:
    assert _verifier().verify("GET", _signed(), "/queues/q", b"") == "id"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 400, "MissingAuthorizationHeader"),
        ({"Authorization": "Basic abc"}, 400, "InvalidAuthorizationHeader"),
        ({"Authorization": "MNS id:sig"}, 400, "MissingDateHeader"),
        ({"Authorization": "MNS id:sig", "Date": "yesterday"}, 400, "InvalidDateHeader"),
        (_signed(secret="wrong"), 403, "SignatureDoesNotMatch"),
        (_signed(key_id="nobody"), 403, "InvalidAccessKeyId"),
        (_signed(**{"x-mns-version": ""}), 400, "MissingVersionHeader"),
    ],
)
def test_refusals(headers: dict[str, str], status: int, code: str) -> None:
    with pytest.raises(MnsError) as caught:
        _verifier().verify("GET", headers, "/queues/q", b"")
    assert (caught.value.status, caught.value.code) == (status, code)


def test_a_stale_date_is_time_expired() -> None:
    headers = {"Date": formatdate(NOW - 901, usegmt=True), "x-mns-version": "2015-06-06"}
    headers["Authorization"] = authorization("id", "secret", "GET", headers, "/")
    with pytest.raises(MnsError) as caught:
        _verifier().verify("GET", headers, "/", b"")
    assert (caught.value.status, caught.value.code) == (408, "TimeExpired")


def test_content_md5_is_checked_in_both_encodings() -> None:
    body = b"<Message/>"
    sdk_form = content_md5(body)  # base64 of the hex digest, as the SDK sends it
    raw_form = base64.b64encode(hashlib.md5(body).digest()).decode()
    for value in (sdk_form, raw_form):
        assert _verifier().verify("GET", _signed(**{"Content-MD5": value}), "/queues/q", body)
    bad = _signed(**{"Content-MD5": content_md5(b"other")})
    with pytest.raises(MnsError, match="InvalidDegist"):
        _verifier().verify("GET", bad, "/queues/q", body)
