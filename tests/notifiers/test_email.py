"""Email against a real local SMTP server (aiosmtpd on 127.0.0.1) with STARTTLS, a
certificate made for the test, and AUTH PLAIN / LOGIN."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from structlog.testing import capture_logs

from batchrelay.notifiers import RECEIVER_ADAPTER, FailureReason, Notification, build_notifier
from batchrelay.notifiers.smtp import EmailConfig

from .support import assert_no_secret, failed_task, make_notification, send_error

USER = "relay@example.test"
PASSWORD = "pw-Xk29-ABCdef-7741"


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "batchrelay test SMTP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_path, key_path)


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps what was delivered and how the client logged in."""

    refuse_rcpt: str = ""  # an SMTP reply to give to RCPT TO, e.g. "550 5.1.1 no such user"
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    mechanisms: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert session.authenticated and session.ssl is not None  # delivered over TLS, logged in
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 2.0.0 queued"

    def authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)


@dataclass
class MailServer:
    port: int
    inbox: Inbox


StartServer = Callable[..., Awaitable[MailServer]]


@pytest.fixture
async def smtp_server(certificate: Certificate) -> AsyncIterator[StartServer]:
    servers: list[asyncio.Server] = []

    async def start(tls: bool = True, exclude: tuple[str, ...] = (), **inbox: Any) -> MailServer:
        loop = asyncio.get_running_loop()
        box = Inbox(**inbox)
        context = None
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certificate.cert, certificate.key)

        def protocol() -> SMTP:
            return SMTP(
                box,
                hostname="mail.example.test",
                tls_context=context,
                require_starttls=tls,
                authenticator=box.authenticator if tls else None,
                auth_required=tls,
                auth_require_tls=True,
                auth_exclude_mechanism=exclude,
                loop=loop,
            )

        server = await loop.create_server(protocol, "127.0.0.1", 0)
        servers.append(server)
        return MailServer(server.sockets[0].getsockname()[1], box)

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def config(port: int, certificate: Certificate | None, **extra: object) -> EmailConfig:
    fields: dict[str, object] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "username": USER,
        "password": PASSWORD,
        "sender": "batchrelay@example.test",
        "to": ["oncall@example.test", "media-team@example.test"],
        "ca_file": str(certificate.cert) if certificate else None,
        "timeout": 3,
    }
    parsed = RECEIVER_ADAPTER.validate_python(fields | extra)
    assert isinstance(parsed, EmailConfig)
    return parsed


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_starttls_auth_and_both_parts(
    smtp_server: StartServer,
    certificate: Certificate,
    session: aiohttp.ClientSession,
    notification: Notification,
    mechanism: str,
) -> None:
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    server = await smtp_server(exclude=(other,))
    notifier = build_notifier("mail", config(server.port, certificate), session)
    assert notifier.kind == "email"

    await notifier.send(notification)

    assert server.inbox.mechanisms == [mechanism]
    [message] = server.inbox.messages
    assert server.inbox.envelopes == [
        ("batchrelay@example.test", ["oncall@example.test", "media-team@example.test"])
    ]
    assert message["Subject"] == "3 tasks failed in batch batch-7f3a (video-prod)"
    assert message["Message-ID"] == f"<{notification.id}@batchrelay>"
    assert message["X-Batchrelay-Notification"] == notification.id
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "- Failure ratio: 3.0%" in text.get_content()
    assert "<code>oss://media-in/2026/clip_0002.mp4</code>" in html.get_content()


async def test_html_part_escapes_event_text(
    smtp_server: StartServer, certificate: Certificate, session: aiohttp.ClientSession
) -> None:
    server = await smtp_server()
    hostile = make_notification(events=[failed_task(0, message='<img src=x onerror="steal()">')])
    await build_notifier("mail", config(server.port, certificate), session).send(hostile)
    html = server.inbox.messages[0].get_body(("html",))
    assert html is not None
    assert "&lt;img src=x onerror=&quot;steal()&quot;&gt;" in html.get_content()
    assert "<img" not in html.get_content()


async def test_wrong_password_is_auth_error(
    smtp_server: StartServer, certificate: Certificate, session: aiohttp.ClientSession
) -> None:
    server = await smtp_server()
    wrong = "not-the-password-123"
    cfg = config(server.port, certificate, password=wrong)
    with capture_logs() as logs:
        error = await send_error(build_notifier("mail", cfg, session).send(make_notification()))
    assert (error.reason, error.retryable) == (FailureReason.AUTH_ERROR, False)
    assert "535" in str(error)
    assert_no_secret([wrong, PASSWORD], error, repr(error), repr(cfg), logs)


async def test_server_without_starttls_is_refused_before_login(
    smtp_server: StartServer, session: aiohttp.ClientSession
) -> None:
    server = await smtp_server(tls=False)
    error = await send_error(
        build_notifier("mail", config(server.port, None), session).send(make_notification())
    )
    assert (error.reason, error.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert "SMTPNotSupportedError" in str(error)
    assert server.inbox.mechanisms == []  # the password never went out


async def test_untrusted_certificate_is_refused(
    smtp_server: StartServer, session: aiohttp.ClientSession
) -> None:
    server = await smtp_server()
    error = await send_error(
        build_notifier("mail", config(server.port, None), session).send(make_notification())
    )
    assert error.reason is FailureReason.CLIENT_ERROR and "certificate" in str(error)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("550 5.1.1 no such user", FailureReason.CLIENT_ERROR),
        ("452 4.2.2 mailbox full", FailureReason.SERVER_ERROR),
    ],
)
async def test_refused_recipients(
    smtp_server: StartServer,
    certificate: Certificate,
    session: aiohttp.ClientSession,
    reply: str,
    reason: FailureReason,
) -> None:
    server = await smtp_server(refuse_rcpt=reply)
    error = await send_error(
        build_notifier("mail", config(server.port, certificate), session).send(make_notification())
    )
    assert error.reason is reason


async def test_connection_refused(
    certificate: Certificate, session: aiohttp.ClientSession, refused_port: int
) -> None:
    notifier = build_notifier("mail", config(refused_port, certificate), session)
    error = await send_error(notifier.send(make_notification()))
    assert (error.reason, error.retryable) == (FailureReason.CONNECTION, True)


async def test_silent_server_times_out(
    certificate: Certificate, session: aiohttp.ClientSession
) -> None:
    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.read(), 3)  # until the client gives up
        writer.close()

    server = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        cfg = config(port, certificate, timeout=0.2)
        error = await send_error(build_notifier("mail", cfg, session).send(make_notification()))
        assert (error.reason, error.retryable) == (FailureReason.TIMEOUT, True)
        await asyncio.sleep(0.3)  # the worker thread's socket times out and closes too
    finally:
        server.close()
        await server.wait_closed()


def test_config_rules(certificate: Certificate) -> None:
    with pytest.raises(ValueError, match="go together"):
        config(25, certificate, password=None)
    with pytest.raises(ValueError, match="needs security"):
        config(25, certificate, security="none")
    assert config(25, None, username=None, password=None, security="none").rate_limits == ()
