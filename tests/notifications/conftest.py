"""Fixtures: a fake WhatsApp Cloud API and a real SMTP server (aiosmtpd), both on 127.0.0.1."""

import socket
import threading
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from tests.fakes.whatsapp_server import FakeWhatsApp


@pytest.fixture(scope="session")
def _whatsapp_server():
    server = FakeWhatsApp().start()
    yield server
    server.stop()


@pytest.fixture
def fake_whatsapp(_whatsapp_server, settings):
    """The fake Cloud API, emptied, with WHATSAPP_* settings pointing at it."""
    _whatsapp_server.reset()
    _whatsapp_server.delay_seconds = 0.0
    settings.WHATSAPP_API_BASE = _whatsapp_server.base_url
    settings.WHATSAPP_PHONE_NUMBER_ID = "1234567890"
    settings.WHATSAPP_ACCESS_TOKEN = "EAATESTTOKEN"
    settings.WHATSAPP_TEMPLATE_LANGUAGE = "en"
    settings.WHATSAPP_TIMEOUT_SECONDS = 5
    yield _whatsapp_server
    _whatsapp_server.reset()


class RecordingHandler:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "message": message_from_bytes(envelope.original_content, policy=policy.default),
                }
            )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) with Django's SMTP backend pointed at it."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    yield handler
    controller.stop()


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def due_cart(make_cart, now):
    """A cart with every contact and consent, idle for `hours` before `now`."""

    def factory(hours: float = 25, **fields):
        defaults = {
            "email": "anna@example.com",
            "phone": "+4915112345678",
            "first_name": "Anna",
            "email_consent": True,
            "whatsapp_consent": True,
            "last_activity_at": now - timedelta(hours=hours),
        }
        defaults.update(fields)
        return make_cart(**defaults)

    return factory
