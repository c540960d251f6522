"""CPU of one request in a web process: a WSGI callable called in a loop, in-process.

`python -m bench.cpu_probe '<json>'`, run by bench/harness.py in the environment a gunicorn worker
of that server gets (the project's production settings, or the ceiling's plan). It builds the
environ gunicorn would (same bodies and headers as bench/load.lua: a different X-Forwarded-For
per request, the store key for the project), calls the application `warmup` times, then
`requests` times under `time.process_time`, and prints one JSON line: CPU and wall milliseconds
per request, and the answers' statuses. Anything the app logs goes to stderr (a file of the
harness), as a worker's access lines go to gunicorn's log.

No load generator, database server or Redis shares the figure: it is what the web process alone
spends per request, which is what separates the project from the ceiling once both wait for the
same database (docs/performance.md, "The hot paths").
"""

import importlib
import io
import json
import sys
import time


def track_body(n: int, store: str, prefix: str) -> bytes:
    product = n % 2000
    return json.dumps(
        {
            "storeName": store,
            "productId": f"prod-{product}",
            "productTitle": f"Bench product {product}",
            "productUrl": f"https://{store}/products/prod-{product}",
            "variantId": f"v-{n % 7}",
            "sessionId": f"{prefix}-s-{n % 5000}",
            "customerEmail": f"customer{n % 1000}@example.com",
            "customerFirstName": "Ada",
            "generatedImageUrl": f"https://img.example.com/g/{n}.png",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) wrk",
        },
        separators=(",", ":"),
    ).encode()


def sync_body(n: int, prefix: str) -> bytes:
    # Each token twice in a row, as bench/load.lua sends them: a creation, then an update.
    token = n // 2
    return json.dumps(
        {
            "session_token": f"{prefix}-{token}",
            "items": [
                {"productId": f"prod-{token % 500}", "quantity": 1 + n % 3, "price": 19.9, "title": "Bench product"},
                {"productId": "prod-acc", "quantity": 1, "price": 5, "title": "Accessory"},
            ],
        },
        separators=(",", ":"),
    ).encode()


def environ_for(n: int, *, mode: str, path: str, key: str, store: str, prefix: str) -> dict:
    body = track_body(n, store, prefix) if mode == "track" else sync_body(n, prefix)
    ipn = n % 131072
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "RAW_URI": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_FORWARDED_FOR": f"198.{18 + ipn // 65536}.{(ipn // 256) % 256}.{ipn % 256}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if key:
        environ["HTTP_X_STORE_KEY"] = key
    return environ


def measure(args: dict) -> dict:
    module, _, name = args["app"].partition(":")
    application = getattr(importlib.import_module(module), name)
    statuses: dict[str, int] = {}

    def start_response(status, headers, exc_info=None):
        code = status.split(" ", 1)[0]
        statuses[code] = statuses.get(code, 0) + 1

    def call(numbers) -> None:
        for n in numbers:
            environ = environ_for(
                n, mode=args["mode"], path=args["path"], key=args["key"], store=args["store"], prefix=args["prefix"]
            )
            answer = application(environ, start_response)
            try:
                for _chunk in answer:
                    pass
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()

    requests, warmup = args["requests"], args["warmup"]
    # The warm-up's numbers come after the measured ones, so that the measured syncs start with
    # a creation, then alternate creation and update as under load.
    call(range(requests, requests + warmup))
    statuses.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    call(range(requests))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "requests": requests,
        "cpu_ms": round(cpu / requests * 1000, 4),
        "wall_ms": round(wall / requests * 1000, 4),
        "statuses": statuses,
    }


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
