"""A real SMTP server for the tests (aiosmtpd), and a fixture pointing the portal's SMTP backend at it.

    def test_x(smtp_server):
        ...                      # the portal mails through django.core.mail's SMTP backend
        smtp_server.messages     # email.message.EmailMessage objects, as received on the wire

``smtp_server.stop()`` takes it down (a send then fails: connection refused) and ``start()`` brings
it back on the same port.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Collector:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(self):
        self.port = free_port()
        self.collector = _Collector()
        self.controller: Controller | None = None

    def start(self) -> SMTPServer:
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        with self.collector.lock:
            return list(self.collector.messages)

    def to(self, address: str) -> list[email.message.EmailMessage]:
        """The messages received for ``address``."""
        return [message for message in self.messages if address in str(message["To"])]

    def clear(self) -> None:
        with self.collector.lock:
            self.collector.messages.clear()
            self.collector.envelopes.clear()


def bodies(message: email.message.EmailMessage) -> tuple[str, str]:
    """A message's plain-text and HTML bodies."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return (text.get_content() if text else "", html.get_content() if html else "")


@pytest.fixture
def smtp_server(settings):
    server = SMTPServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield server
    finally:
        server.stop()
