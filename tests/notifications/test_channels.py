"""The channels against real local servers: the fake WhatsApp Cloud API and an aiosmtpd SMTP server."""

import pytest

from notifications import links
from notifications.models import ReminderMessage
from notifications.services import sweep_run

pytestmark = pytest.mark.django_db


def test_whatsapp_receives_exactly_the_template_request(due_cart, now, fake_whatsapp, settings):
    # given a cart with WhatsApp consent and the template language set to German
    settings.WHATSAPP_TEMPLATE_LANGUAGE = "de"
    cart = due_cart(email_consent=False)

    # when the sweep sends stage 1
    sweep_run(now=now)

    # then the Cloud API got one POST on the phone number's messages edge, with the template
    [request] = fake_whatsapp.requests
    message = ReminderMessage.objects.get(cart=cart)
    assert request.method == "POST"
    assert request.path == "/v21.0/1234567890/messages"
    assert request.headers["Authorization"] == "Bearer EAATESTTOKEN"
    assert request.headers["Content-Type"] == "application/json"
    link = request.body["template"]["components"][0]["parameters"][2]["text"]
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+4915112345678",
        "type": "template",
        "template": {
            "name": "cart_abandonment_first",
            "language": {"code": "de"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Anna"},
                        {"type": "text", "text": str(cart.id)},
                        {"type": "text", "text": link},
                    ],
                }
            ],
        },
    }
    assert link.startswith("http://testserver/r/")
    assert links.recovery_token_read(link.removeprefix("http://testserver/r/")) == message.id
    assert message.provider_message_id == "wamid.FAKE000000000001"


def test_whatsapp_stage_two_uses_the_second_template_and_there_without_a_name(due_cart, now, fake_whatsapp):
    from datetime import timedelta

    due_cart(hours=48, email_consent=False, first_name="")
    sweep_run(now=now - timedelta(hours=24))
    sweep_run(now=now)

    names = [r.body["template"]["name"] for r in fake_whatsapp.requests]
    first_params = [r.body["template"]["components"][0]["parameters"][0]["text"] for r in fake_whatsapp.requests]
    assert names == ["cart_abandonment_first", "cart_abandonment_second"]
    assert first_params == ["there", "there"]


def test_whatsapp_without_credentials_is_an_alert_not_a_crash(due_cart, now, settings):
    settings.WHATSAPP_ACCESS_TOKEN = ""
    cart = due_cart(email_consent=False)

    summary = sweep_run(now=now)

    message = ReminderMessage.objects.get(cart=cart)
    assert summary.errors == 1
    assert (message.status, message.error_kind) == ("failed", "alert")


def test_emails_reach_a_real_smtp_server_with_both_unsubscribe_headers(due_cart, now, smtp_server):
    # given a cart with two items and e-mail consent
    cart = due_cart(
        phone="",
        items=[
            {"productId": "tea", "title": "Chai tea", "quantity": 2, "price": 9.5},
            {"productId": "oil", "title": "Sesame oil", "quantity": 1, "price": 14},
        ],
    )

    # when the sweep sends stage 1 through Django's SMTP backend
    summary = sweep_run(now=now, enable_whatsapp=False)

    # then the SMTP server received one message with text and HTML, the items, both links and headers
    assert summary.by_channel["email"] == {"sent": 1, "failed": 0}
    [received] = smtp_server.messages
    email = received["message"]
    message = ReminderMessage.objects.get(cart=cart)
    unsubscribe = links.unsubscribe_url(cart_id=cart.id)
    assert received["to"] == ["anna@example.com"]
    assert email["Subject"] == "You left something in your cart at myshop.myshopify.com"
    # (a long header value may be folded onto the next line; unfolded, it is the same)
    assert email["List-Unsubscribe"].strip() == f"<{unsubscribe}>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["Message-ID"].strip("<>") == message.provider_message_id
    text = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert "Chai tea" in body
        assert "Sesame oil" in body
        assert "33.00 EUR" in body
        assert unsubscribe in body
    recovery = next(word for word in text.split() if word.startswith("http://testserver/r/"))
    assert links.recovery_token_read(recovery.removeprefix("http://testserver/r/")) == message.id
    assert f'href="{recovery}"' in html
    assert "Return to your cart" in html


def test_a_refused_recipient_is_final_and_a_dead_smtp_server_is_retried(due_cart, now, settings):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = dead_port
    settings.EMAIL_TIMEOUT = 2
    cart = due_cart(phone="")

    summary = sweep_run(now=now, enable_whatsapp=False)

    message = ReminderMessage.objects.get(cart=cart)
    assert summary.by_channel["email"] == {"sent": 0, "failed": 1}
    assert (message.status, message.error_kind) == ("failed", "retry")
    assert message.last_error.startswith("SMTP unavailable")
