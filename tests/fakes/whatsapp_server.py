"""A fake WhatsApp Cloud API on 127.0.0.1: records requests, answers like the Graph API.

server = FakeWhatsApp().start()
server.base_url            # http://127.0.0.1:<port>/v21.0
server.fail_next(131026)   # the next request gets that Graph error (right HTTP status)
server.requests            # [RecordedRequest(path, headers, body)]
server.stop()
"""

import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# HTTP status the Cloud API answers with each error code (Meta's error code reference).
GRAPH_ERROR_STATUS = {
    0: 401,
    2: 503,
    3: 403,
    4: 400,
    10: 403,
    100: 400,
    190: 401,
    80007: 400,
    130429: 429,
    131000: 500,
    131016: 503,
    131026: 400,
    131047: 400,
    131048: 400,
    131051: 400,
    131056: 400,
    132000: 400,
    132001: 404,
    133004: 503,
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict
    body: dict


class FakeWhatsApp:
    def __init__(self, *, version: str = "v21.0", delay_seconds: float = 0.0):
        self.version = version
        self.delay_seconds = delay_seconds
        self.requests: list[RecordedRequest] = []
        self._failures: list[tuple[int, int, str]] = []
        self._always: tuple[int, int, str] | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{self.version}"

    def fail_next(self, code: int, *, http_status: int | None = None, subcode: int = 2494055, times: int = 1):
        """The next `times` requests answer Graph error `code` (HTTP status as the Cloud API uses)."""
        with self._lock:
            for _ in range(times):
                self._failures.append((code, http_status or GRAPH_ERROR_STATUS.get(code, 400), subcode))

    def fail_always(self, code: int | None, *, http_status: int | None = None):
        with self._lock:
            self._always = None if code is None else (code, http_status or GRAPH_ERROR_STATUS.get(code, 400), 0)

    def reset(self):
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._always = None
            self._ids = itertools.count(1)

    def _answer(self, handler: BaseHTTPRequestHandler):
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        # Recorded on receipt, before any delay: a request whose client gave up waiting (a timeout
        # test) is then never logged into the next test's list after its reset.
        with self._lock:
            self.requests.append(
                RecordedRequest(method=handler.command, path=handler.path, headers=dict(handler.headers), body=body)
            )
            failure = self._failures.pop(0) if self._failures else self._always
            message_number = next(self._ids)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if failure is not None:
            code, status, subcode = failure
            payload = {
                "error": {
                    "message": f"(#{code}) fake Graph error",
                    "type": "OAuthException",
                    "code": code,
                    "error_subcode": subcode,
                    "fbtrace_id": f"FAKE{message_number:08d}",
                }
            }
        elif not handler.path.endswith("/messages"):
            status, payload = 404, {"error": {"message": "Unknown path", "type": "GraphMethodException", "code": 100}}
        else:
            status = 200
            payload = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body.get("to", ""), "wa_id": str(body.get("to", "")).lstrip("+")}],
                "messages": [{"id": f"wamid.FAKE{message_number:012d}"}],
            }
        encoded = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(encoded)))
        handler.end_headers()
        handler.wfile.write(encoded)

    def start(self) -> "FakeWhatsApp":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                fake._answer(self)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
