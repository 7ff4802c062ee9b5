"""Email over SMTP: a plain-text and an HTML part, STARTTLS (or implicit TLS) and AUTH.

Why ``smtplib`` in a worker thread rather than ``aiosmtplib``: the standard library client
is complete (STARTTLS, AUTH PLAIN/LOGIN/CRAM-MD5, SMTPUTF8), one send is a handful of
round trips, and email budgets are small, so a thread per send costs nothing worth a
dependency. Every socket operation is bounded by ``timeout`` and the whole send by
``timeout`` as well (a send cut off there finishes or fails in its thread within one more
socket timeout).

Security: ``security: starttls`` (default, port 587) refuses to continue when the server
does not offer STARTTLS, so a password is never sent in clear; ``tls`` is implicit TLS
(port 465); ``none`` is allowed only without credentials. ``ca_file`` adds a CA bundle for
servers with a private certificate (it replaces the system store); verification is never
switched off.

Failures: authentication refused → ``auth_error``; SMTP 4xx replies → ``server_error``
(retry); 5xx replies and a missing STARTTLS/AUTH extension or a certificate the CA bundle
does not trust → ``client_error``; refused or dropped connections → ``connection``;
socket timeouts → ``timeout``.

The subject is the rendered ``title``; the text part is the ``chat`` template in the
``text`` dialect (or ``template``); the HTML part is ``email.html`` (or ``html_template``).
``Message-ID`` derives from the notification id, so a retried message is the same message.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import formatdate

import aiohttp

from batchrelay.notifiers.base import FailureReason, Notification, SendError, send_error
from batchrelay.notifiers.common import ChatNotifier
from batchrelay.notifiers.config import EmailConfig
from batchrelay.notifiers.template_context import build_context
from batchrelay.notifiers.templates import template_or_default as load_template


class EmailNotifier(ChatNotifier):
    kind = "email"
    dialect = "text"
    show_title = False  # the title is the subject

    def __init__(self, name: str, config: EmailConfig, session: aiohttp.ClientSession) -> None:
        super().__init__(name, config, session)
        self.email = config
        self._html = load_template(config.html_template, "email.html", self.where("html_template"))
        self._tls = ssl.create_default_context(cafile=config.ca_file)

    def secrets(self) -> Iterable[str]:
        if self.email.password is not None:
            yield self.email.password.get_secret_value()

    async def send(self, notification: Notification) -> None:
        message = self.message(notification)
        try:
            await asyncio.wait_for(asyncio.to_thread(self._deliver, message), self.config.timeout)
        except Exception as exc:  # classified here: nothing past a notifier sees smtplib
            raise self._classify(exc) from None

    def message(self, notification: Notification) -> EmailMessage:
        title, text = self.render(notification)
        context = build_context(notification, max_failures=self.config.max_failures)
        message = EmailMessage()
        message["Subject"] = title
        message["From"] = self.email.sender
        message["To"] = ", ".join(self.email.to)
        message["Date"] = formatdate(notification.created_at.timestamp(), usegmt=True)
        message["Message-ID"] = f"<{_local_part(notification.id)}@batchrelay>"
        message["X-Batchrelay-Notification"] = notification.id
        message.set_content(text + "\n")
        message.add_alternative(self._html.render_context(context), subtype="html")
        return message

    def _deliver(self, message: EmailMessage) -> None:
        """Runs in a worker thread: connect, secure, log in, send, quit."""
        cfg = self.email
        if cfg.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout, context=self._tls
            )
        else:
            client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        with client:
            client.ehlo()
            if cfg.security == "starttls":
                client.starttls(context=self._tls)  # SMTPNotSupportedError if not offered
                client.ehlo()
            if cfg.username is not None and cfg.password is not None:
                client.login(cfg.username, cfg.password.get_secret_value())
            client.send_message(message)

    def _classify(self, exc: Exception) -> SendError:
        reason, detail = classify_smtp(exc)
        return send_error(reason, self._redact(detail))


def classify_smtp(exc: Exception) -> tuple[FailureReason, str]:
    """(reason, detail) for an exception raised while talking SMTP."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return FailureReason.AUTH_ERROR, f"{name}: {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        transient = all(400 <= code < 500 for code in codes)
        return _by_code(450 if transient else 550), f"{name}: {sorted(set(codes))}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
        )
        return _by_code(exc.smtp_code), f"{name}: {exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return FailureReason.CLIENT_ERROR, f"{name}: {exc}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a socket timeout while reading a reply as a disconnection.
        if isinstance(exc.__context__, TimeoutError):
            return FailureReason.TIMEOUT, f"no answer in time ({name})"
        return FailureReason.CONNECTION, f"{name}: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return FailureReason.CLIENT_ERROR, f"{name}: {exc.verify_message}"
    if isinstance(exc, TimeoutError):
        return FailureReason.TIMEOUT, f"no answer in time ({name})"
    if isinstance(exc, OSError):
        return FailureReason.CONNECTION, f"{name}: {exc}"
    if isinstance(exc, smtplib.SMTPException):
        return FailureReason.CLIENT_ERROR, f"{name}: {exc}"
    raise exc


def _by_code(code: int) -> FailureReason:
    return FailureReason.SERVER_ERROR if 400 <= code < 500 else FailureReason.CLIENT_ERROR


def _local_part(identifier: str) -> str:
    return re.sub(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]", "-", identifier)[:200] or "notification"
