"""Fixtures for emulator tests.

The MNS SDK is blocking, so tests run the emulator on the test's event loop and call the
SDK through ``asyncio.to_thread``. Every SDK Account opened through ``sdk`` is closed at
teardown (the SDK keeps one keep-alive socket per Account).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import aiohttp
import pytest
from mns.account import Account
from yarl import URL

from batchrelay.emulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    EmulatorConfig,
    RunningEmulator,
    Signer,
    authorization,
    content_md5,
    running_emulator,
)

EmulatorFactory = Callable[..., AbstractAsyncContextManager[RunningEmulator]]
SdkFactory = Callable[..., Account]


@pytest.fixture(scope="session")
def signer() -> Signer:
    """The key real MNS signs with is 512 bits in a certificate expired in 2016 (protocols.md
    §3.7): every push test signs like that, so receivers are tested against the real thing."""
    return Signer.legacy()


@pytest.fixture
def emulator(signer: Signer) -> EmulatorFactory:
    """``async with emulator(**config overrides) as emu``: a fresh emulator on a free port."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[RunningEmulator]:
        settings: dict[str, Any] = {"port": 0, "seed": 1234, "retry_scale": 0.001}
        config = EmulatorConfig(**(settings | overrides))
        return running_emulator(config, signer=signer)

    return start


@pytest.fixture
async def emu(emulator: EmulatorFactory) -> AsyncIterator[RunningEmulator]:
    async with emulator() as running:
        yield running


@pytest.fixture
def sdk(emu: RunningEmulator) -> Iterator[SdkFactory]:
    """``sdk()`` -> an SDK Account on ``emu``; pass ``url``/``key_id``/``secret`` to vary."""
    opened: list[Account] = []

    def account(
        url: str | None = None,
        key_id: str = DEFAULT_ACCESS_KEY_ID,
        secret: str = DEFAULT_ACCESS_KEY_SECRET,
    ) -> Account:
        opened.append(Account(url or emu.url, key_id, secret))
        return opened[-1]

    yield account
    for each in opened:
        each.mns_client.close_connection()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture
async def mns_http(emu: RunningEmulator) -> AsyncIterator[Callable[..., Any]]:
    """Signed raw requests, for what the SDK cannot send (bad XML, odd parameters)."""
    async with aiohttp.ClientSession() as session:

        async def call(
            method: str,
            resource: str,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            *,
            sign: bool = True,
            secret: str = DEFAULT_ACCESS_KEY_SECRET,
        ) -> Reply:
            sent = {"Date": formatdate(usegmt=True), "x-mns-version": "2015-06-06"}
            if body:
                sent |= {"Content-Type": "text/xml;charset=UTF-8", "Content-MD5": content_md5(body)}
            sent |= headers or {}
            if sign:
                sent["Authorization"] = authorization(
                    DEFAULT_ACCESS_KEY_ID, secret, method, sent, resource
                )
            # encoded=True: send the resource byte for byte as it was signed; no automatic
            # Content-Type either, since an unsigned header would break the signature.
            url = URL(emu.url + resource, encoded=True)
            data = io.BytesIO(body) if body else None  # BytesIO: large bodies stream
            async with session.request(
                method, url, data=data, headers=sent, skip_auto_headers={"Content-Type"}
            ) as response:
                return Reply(response.status, dict(response.headers), await response.read())

        yield call
