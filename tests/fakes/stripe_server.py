"""A small fake of the Stripe API on 127.0.0.1 for the official `stripe` library, and real webhook
signatures.

It answers the Checkout Session endpoints the product uses, the way Stripe does (form-encoded
requests, JSON objects, `{"error": {...}}` bodies, list pagination with `has_more`), records every
request's parsed parameters and headers, and can fail the next requests on demand.

Use the `fake_stripe` fixture (import it into a conftest.py): it starts a server per test and points
settings.STRIPE_API_BASE at it. `sign_webhook()` signs a payload exactly as Stripe does:
`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, f"{t}.{payload}")>`.
"""

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def parse_stripe_form(body: str) -> dict:
    """`a[b][0][c]=1&metadata[x]=y` → {"a": {"b": [{"c": "1"}]}, "metadata": {"x": "y"}}."""
    root: dict = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        head = raw_key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(raw_key[len(head) :])]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists_from_index_dicts(root)


def _lists_from_index_dicts(value):
    if isinstance(value, dict):
        converted = {key: _lists_from_index_dicts(item) for key, item in value.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return value


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict
    headers: dict


@dataclass
class InjectedError:
    status: int
    body: dict


@dataclass
class FakeStripeState:
    sessions: dict = field(default_factory=dict)  # id → session object, in creation order
    requests: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    idempotent: dict = field(default_factory=dict)  # Idempotency-Key → session id
    prices: dict = field(default_factory=dict)  # price id → unit amount
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stripe_error(
    status: int, message: str, *, error_type="invalid_request_error", code=None, param=None
) -> InjectedError:
    error = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return InjectedError(status=status, body={"error": error})


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeStripe/1.0"
    state: FakeStripeState  # set on the subclass per server

    def log_message(self, format, *args):  # quiet test output
        pass

    def _answer(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(8)}")
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str):
        parts = urlsplit(self.path)
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            params = parse_stripe_form(self.rfile.read(length).decode())
        else:
            params = parse_stripe_form(parts.query)
        state = self.state
        with state.lock:
            state.requests.append(
                RecordedRequest(method=method, path=parts.path, params=params, headers=dict(self.headers.items()))
            )
            injected = state.errors.pop(0) if state.errors else None
        if injected is not None:
            return self._answer(injected.status, injected.body)
        if not (self.headers.get("Authorization") or "").startswith("Bearer sk_"):
            return self._answer(401, _stripe_error(401, "Invalid API Key provided").body)
        with state.lock:
            answer = self._route(method, parts.path, params)
        if isinstance(answer, InjectedError):
            return self._answer(answer.status, answer.body)
        return self._answer(200, answer)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _route(self, method, path, params):
        state = self.state
        if path == "/v1/checkout/sessions" and method == "POST":
            return self._create(params)
        if path == "/v1/checkout/sessions" and method == "GET":
            return self._list(params)
        match = re.fullmatch(r"/v1/checkout/sessions/([^/]+)(/expire)?", path)
        if match:
            session = state.sessions.get(match.group(1))
            if session is None:
                return _stripe_error(
                    404, f"No such checkout.session: '{match.group(1)}'", code="resource_missing", param="session"
                )
            if match.group(2) and method == "POST":
                if session["status"] != "open":
                    return _stripe_error(400, "Only Checkout Sessions with a status of open can be expired.")
                session["status"] = "expired"
                return session
            if method == "GET":
                return session
        return _stripe_error(404, f"Unrecognized request URL ({method}: {path})")

    def _create(self, params):
        state = self.state
        key = self.headers.get("Idempotency-Key")
        if key and key in state.idempotent:
            return state.sessions[state.idempotent[key]]
        now = int(time.time())
        expires_at = int(params.get("expires_at") or now + 24 * 3600)
        if not now + 30 * 60 <= expires_at <= now + 24 * 3600:
            return _stripe_error(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
                param="expires_at",
            )
        for required in ("success_url", "line_items"):
            if not params.get(required):
                return _stripe_error(400, f"Missing required param: {required}.", param=required)
        currency = None
        amount_total = 0
        for item in params["line_items"]:
            quantity = int(item.get("quantity") or 1)
            if "price_data" in item:
                currency = item["price_data"]["currency"]
                amount_total += int(item["price_data"]["unit_amount"]) * quantity
            else:
                amount_total += state.prices.get(item.get("price"), 0) * quantity
        session_id = f"cs_test_{secrets.token_hex(12)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount_total,
            "amount_total": amount_total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency or "eur",
            "customer": None,
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "mode": params.get("mode", "payment"),
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": params.get("success_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        state.sessions[session_id] = session
        if key:
            state.idempotent[key] = session_id
        return session

    def _list(self, params):
        sessions = list(reversed(self.state.sessions.values()))  # newest first, as Stripe lists
        created = params.get("created") or {}
        if isinstance(created, dict) and created.get("gte"):
            sessions = [s for s in sessions if s["created"] >= int(created["gte"])]
        if params.get("starting_after"):
            ids = [s["id"] for s in sessions]
            sessions = sessions[ids.index(params["starting_after"]) + 1 :] if params["starting_after"] in ids else []
        limit = int(params.get("limit") or 10)
        return {
            "object": "list",
            "data": sessions[:limit],
            "has_more": len(sessions) > limit,
            "url": "/v1/checkout/sessions",
        }


class FakeStripe:
    """The fake server plus helpers to drive it from tests."""

    def __init__(self):
        self.state = FakeStripeState()
        handler = type("BoundHandler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeStripe":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- inspection -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.state.requests)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.state.requests if r.method == method and r.path == path]

    @property
    def created_sessions(self) -> list[dict]:
        return [r.params for r in self.requests_to("POST", "/v1/checkout/sessions")]

    def session(self, session_id: str) -> dict:
        return self.state.sessions[session_id]

    # --- driving --------------------------------------------------------------------------

    def fail_next(
        self, status: int = 500, *, times: int = 1, error_type: str = "api_error", message: str = "Injected failure"
    ):
        """The next `times` requests answer `status` with a Stripe error body."""
        with self.state.lock:
            for _ in range(times):
                self.state.errors.append(_stripe_error(status, message, error_type=error_type))

    def add_price(self, price_id: str, unit_amount: int) -> None:
        self.state.prices[price_id] = unit_amount

    def complete_session(self, session_id: str, *, payment_status: str = "paid", customer: str = "cus_test_1") -> dict:
        """What happens at Stripe when the customer pays."""
        with self.state.lock:
            session = self.state.sessions[session_id]
            session.update(status="complete", payment_status=payment_status, customer=customer)
            if session.get("mode") == "subscription" and not session.get("subscription"):
                session["subscription"] = f"sub_test_{secrets.token_hex(8)}"
            return dict(session)

    def expire_session(self, session_id: str) -> dict:
        with self.state.lock:
            session = self.state.sessions[session_id]
            session["status"] = "expired"
            return dict(session)

    def set_created(self, session_id: str, created: int) -> None:
        with self.state.lock:
            self.state.sessions[session_id]["created"] = created

    def event_for(self, event_type: str, session_id: str, **event_fields) -> dict:
        """A webhook event carrying the current state of a Checkout Session."""
        return webhook_event(event_type, dict(self.state.sessions[session_id]), **event_fields)


def webhook_event(event_type: str, data_object: dict, *, event_id: str | None = None, created: int | None = None):
    return {
        "id": event_id or f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created or int(time.time()),
        "data": {"object": data_object},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def sign_webhook(payload: str | bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for exactly these bytes."""
    if isinstance(payload, bytes):
        payload = payload.decode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


@pytest.fixture
def fake_stripe(settings):
    """A fake Stripe API for this test; the official library is pointed at it (no retries, so an
    injected failure is seen as it is)."""
    server = FakeStripe().start()
    settings.STRIPE_API_BASE = server.base_url
    settings.STRIPE_SECRET_KEY = "sk_test_cartsite"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    yield server
    server.stop()
