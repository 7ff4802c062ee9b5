from __future__ import annotations

import hashlib

import pytest
from multidict import CIMultiDict
from pydantic import SecretStr, ValidationError

from batchrelay.errors import InputReason, SignatureError
from batchrelay.sources.ice_auth import IceAuthConfig, signature, verify_callback

NOW = 1_795_144_340
CALLBACK_URL = "https://relay.example.com/ingest/ice"
AUTH_KEY = "Ice4uthKeyMixed9"
CONFIG = IceAuthConfig(auth_key=SecretStr(AUTH_KEY), callback_url=CALLBACK_URL)


def expected_digest(url: str, timestamp: str, key: str) -> str:
    # Straight from the formula in protocols.md §5.2, computed here rather than copied.
    return hashlib.md5(f"{url}|{timestamp}|{key}".encode()).hexdigest()


def signed(
    timestamp: int | str = NOW, key: str = AUTH_KEY, url: str = CALLBACK_URL
) -> dict[str, str]:
    stamp = str(timestamp)
    return {"X-ICE-TIMESTAMP": stamp, "X-ICE-SIGNATURE": expected_digest(url, stamp, key)}


def reason(headers: object, config: IceAuthConfig = CONFIG, now: float = NOW) -> InputReason:
    with pytest.raises(SignatureError) as caught:
        verify_callback(headers, now=now, config=config)  # type: ignore[arg-type]
    assert AUTH_KEY not in str(caught.value) and AUTH_KEY not in repr(caught.value)
    return caught.value.reason


def test_signature_is_the_documented_formula() -> None:
    url, stamp, key = "https://www.example.com/your/callback", "1519375990", "Test123"
    assert signature(url, stamp, key) == expected_digest(url, stamp, key)
    assert signature(url, stamp, key) != signature(url, stamp, key + "x")


def test_a_signed_callback_verifies() -> None:
    verify_callback(signed(), now=NOW, config=CONFIG)


def test_header_names_and_hex_case_do_not_matter() -> None:
    headers = {k.lower(): v.upper() for k, v in signed().items()}
    verify_callback(headers, now=NOW, config=CONFIG)


def test_the_same_signature_may_arrive_twice() -> None:
    # Two callbacks in the same second (or an ICE retry) carry the same signature: both pass.
    headers = signed()
    verify_callback(headers, now=NOW, config=CONFIG)
    verify_callback(headers, now=NOW + 1, config=CONFIG)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamps_at_the_window_edge_pass(offset: int) -> None:
    verify_callback(signed(NOW + offset), now=NOW, config=CONFIG)


@pytest.mark.parametrize("offset", [-301, 301], ids=["stale", "future"])
def test_timestamps_outside_the_window_are_stale(offset: int) -> None:
    assert reason(signed(NOW + offset)) is InputReason.STALE_SIGNATURE


def test_window_is_configurable() -> None:
    narrow = CONFIG.model_copy(update={"window": 30})
    assert reason(signed(NOW - 31), narrow) is InputReason.STALE_SIGNATURE


@pytest.mark.parametrize(
    "headers",
    [
        signed(key="SomeOtherKey1"),
        signed(url="https://relay.example.com/ingest/ice?x=1"),
        {**signed(), "X-ICE-TIMESTAMP": str(NOW + 1)},
        {**signed(), "X-ICE-SIGNATURE": "0" * 32},
        {**signed(), "X-ICE-SIGNATURE": "z" * 32},
        {**signed(), "X-ICE-SIGNATURE": "abc"},
        {**signed(), "X-ICE-SIGNATURE": "a" * 100_000},
        {**signed(), "X-ICE-TIMESTAMP": "soon"},
        {**signed(), "X-ICE-TIMESTAMP": "+1795144340"},
        {**signed(), "X-ICE-TIMESTAMP": "1795144340000"},
        {**signed(), "X-ICE-TIMESTAMP": "9" * 5000},
    ],
    ids=[
        "wrong-key",
        "wrong-url",
        "moved-timestamp",
        "zero-signature",
        "not-hex",
        "short",
        "huge",
        "word-timestamp",
        "signed-timestamp",
        "millisecond-timestamp",
        "huge-timestamp",
    ],
)
def test_bad_signatures(headers: dict[str, str]) -> None:
    assert reason(headers) is InputReason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-ICE-TIMESTAMP": str(NOW)},
        {"X-ICE-SIGNATURE": signed()["X-ICE-SIGNATURE"]},
        {**signed(), "X-ICE-SIGNATURE": "  "},
    ],
    ids=["none", "no-signature", "no-timestamp", "blank-signature"],
)
def test_missing_headers(headers: dict[str, str]) -> None:
    assert reason(headers) is InputReason.MISSING_SIGNATURE


def test_repeated_headers_are_refused() -> None:
    headers = CIMultiDict(signed())
    headers.add("X-ICE-SIGNATURE", "0" * 32)
    assert reason(headers) is InputReason.BAD_SIGNATURE


def test_no_auth_key_means_no_check() -> None:
    verify_callback({}, now=NOW, config=IceAuthConfig())


def test_config_needs_the_callback_url_with_a_key() -> None:
    with pytest.raises(ValidationError, match="callback_url is required"):
        IceAuthConfig(auth_key=SecretStr(AUTH_KEY))
    with pytest.raises(ValidationError):
        IceAuthConfig.model_validate({"callback_url": "relay.example.com/ice"})
    with pytest.raises(ValidationError):
        IceAuthConfig.model_validate({"window": 0})
    with pytest.raises(ValidationError):
        IceAuthConfig.model_validate({"authkey": "x"})
    assert AUTH_KEY not in repr(CONFIG)
