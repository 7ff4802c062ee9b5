"""HTTPS from the config (``server.tls``): a daemon process serves its certificate, plain
HTTP is not spoken, and a certificate replaced on disk is served to new connections
without a restart."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .processes import Child, free_port, write_config

RELOAD_WAIT = 40.0  # the listener looks at the files every 10 s; margin for a loaded machine


def write_pair(folder: Path, name: str) -> bytes:
    """A self-signed certificate for 127.0.0.1 and its key, as the daemon's files; returns
    the certificate in DER, to recognise it on the wire."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (folder / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert.public_bytes(serialization.Encoding.DER)


async def served_certificate(port: int) -> bytes:
    """The DER certificate a new TLS connection to ``port`` is given."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we compare the certificate itself below
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der: bytes = ssl_object.getpeercert(binary_form=True)
        return der
    finally:
        writer.close()


async def test_https_is_served_and_a_new_certificate_is_picked_up(tmp_path: Path) -> None:
    first = write_pair(tmp_path, "batchrelay first")
    port = free_port()
    tls = {"cert_file": str(tmp_path / "tls.crt"), "key_file": str(tmp_path / "tls.key")}
    config = write_config(
        tmp_path, port, server={"host": "127.0.0.1", "port": port, "drain_timeout": 5, "tls": tls}
    )
    child = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    child.start()
    try:
        trusted = ssl.create_default_context(cafile=str(tmp_path / "tls.crt"))
        async with asyncio.timeout(30), aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"https://127.0.0.1:{port}/readyz", ssl=trusted) as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.2)
        assert await served_certificate(port) == first
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as plain:
                    assert plain.status >= 400  # never a plain-text answer to plain HTTP
            except aiohttp.ClientError:
                pass  # the TLS listener hung up on plain HTTP: as it should

        second = write_pair(tmp_path, "batchrelay second")
        async with asyncio.timeout(RELOAD_WAIT):
            while await served_certificate(port) != second:
                await asyncio.sleep(0.5)
    finally:
        child.stop()
