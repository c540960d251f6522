"""POST /api/cart-tracking/track and /track/bulk: seed 001 §2 and API.md "Tracking events"."""

import json
import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from carts.services import store_create
from cartsite import metrics
from tests.fakes.redis_down import DEAD_REDIS
from tests.tracking.conftest import address_with_fresh_window
from tracking.models import CartTrackingEvent

TRACK = "/api/cart-tracking/track"
BULK = "/api/cart-tracking/track/bulk"
ID_PATTERN = re.compile(r"^cart-event-\d{13}-[a-z0-9]{7}$")
CREATED_AT_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

FULL_EVENT = {
    "storeName": "myshop.myshopify.com",
    "productId": 8123456789,
    "productTitle": "Linen shirt",
    "productUrl": "https://myshop.myshopify.com/products/linen-shirt",
    "variantId": "44000000001",
    "customerEmail": "Ada.Lovelace@Example.com",
    "customerFirstName": "Ada",
    "customerLastName": "Lovelace",
    "generatedImageUrl": "https://cdn.example.com/gen/1.png",
    "personImageUrl": "https://cdn.example.com/person/1.png",
    "clothingImageUrl": "http://cdn.example.com/clothing/1.png",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
    "sessionId": "sess-123",
}


def post(client, body, path=TRACK, **extra):
    return client.post(path, data=json.dumps(body), content_type="application/json", **extra)


def validation_body(message, field, reason):
    return {
        "status": "error",
        "error": "Validation Error",
        "message": message,
        "details": {"field": field, "reason": reason},
    }


# --- 200 --------------------------------------------------------------------------------------


def test_a_full_event_is_stored_and_answered_with_the_seed_body(storefront_client, store):
    # given every field of seed 001
    # when the storefront posts it
    response = post(storefront_client, FULL_EVENT)

    # then the answer is seed 001's success body
    assert response.status_code == 200
    body = response.json()
    event_id, created_at = body["data"]["id"], body["data"]["createdAt"]
    assert body == {
        "status": "success",
        "message": "Cart event tracked successfully",
        "data": {"id": event_id, "createdAt": created_at},
    }
    assert ID_PATTERN.match(event_id)
    assert CREATED_AT_PATTERN.match(created_at)
    # and the row holds every field, the id's milliseconds being createdAt's
    row = CartTrackingEvent.objects.get()
    assert row.id == event_id
    assert int(event_id.split("-")[2]) == int(row.created_at.timestamp() * 1000)
    assert row.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z") == created_at
    assert row.created_at == row.updated_at
    assert row.store == store
    assert {
        "store_name": row.store_name,
        "product_id": row.product_id,
        "product_title": row.product_title,
        "product_url": row.product_url,
        "variant_id": row.variant_id,
        "customer_email": row.customer_email,
        "customer_first_name": row.customer_first_name,
        "customer_last_name": row.customer_last_name,
        "generated_image_url": row.generated_image_url,
        "person_image_url": row.person_image_url,
        "clothing_image_url": row.clothing_image_url,
        "user_agent": row.user_agent,
        "session_id": row.session_id,
        "ip_address": row.ip_address,
    } == {
        "store_name": "myshop.myshopify.com",
        "product_id": "8123456789",
        "product_title": "Linen shirt",
        "product_url": "https://myshop.myshopify.com/products/linen-shirt",
        "variant_id": "44000000001",
        "customer_email": "ada.lovelace@example.com",
        "customer_first_name": "Ada",
        "customer_last_name": "Lovelace",
        "generated_image_url": "https://cdn.example.com/gen/1.png",
        "person_image_url": "https://cdn.example.com/person/1.png",
        "clothing_image_url": "http://cdn.example.com/clothing/1.png",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "session_id": "sess-123",
        "ip_address": "127.0.0.1",
    }


def test_only_store_name_is_required_and_the_rest_is_null(storefront_client):
    response = post(storefront_client, {"storeName": "myshop"})

    assert response.status_code == 200
    row = CartTrackingEvent.objects.get()
    assert row.product_id is None and row.customer_email is None and row.session_id is None
    assert row.product_title is None and row.generated_image_url is None


def test_unknown_fields_are_ignored(storefront_client):
    response = post(storefront_client, {"storeName": "myshop", "sessionId": "s1", "isAdmin": True, "price": 1})

    assert response.status_code == 200
    assert CartTrackingEvent.objects.get().session_id == "s1"


def test_empty_strings_mean_not_given(storefront_client):
    response = post(storefront_client, {"storeName": "myshop", "customerEmail": "", "productUrl": "  "})

    assert response.status_code == 200
    row = CartTrackingEvent.objects.get()
    assert (row.customer_email, row.product_url) == (None, None)


def test_long_text_is_truncated_to_its_maximum(storefront_client):
    # given a title of 600 characters (seed 001: max 500) and over-long free text elsewhere
    body = {
        "storeName": "myshop",
        "productTitle": "T" * 600,
        "customerFirstName": "F" * 400,
        "userAgent": "U" * 5000,
        "sessionId": "S" * 300,
        "productId": "P" * 300,
    }

    response = post(storefront_client, body)

    assert response.status_code == 200
    row = CartTrackingEvent.objects.get()
    assert row.product_title == "T" * 500
    assert row.customer_first_name == "F" * 255
    assert row.user_agent == "U" * 1024
    assert row.session_id == "S" * 255
    assert row.product_id == "P" * 255


def test_nul_characters_are_dropped_and_text_trimmed(storefront_client):
    response = post(storefront_client, {"storeName": "myshop", "productTitle": "  Sh\x00irt  "})

    assert response.status_code == 200
    assert CartTrackingEvent.objects.get().product_title == "Shirt"


def test_a_lone_surrogate_is_stored_as_a_replacement_character(storefront_client):
    # given a title cut in the middle of an emoji by the storefront's script, and an id holding
    # the other half alone: JSON carries each half as an escape, UTF-8 cannot encode either
    body = '{"storeName": "myshop", "productTitle": "Shirt \\ud83d", "productId": "p\\udc00-1"}'

    # when the event is posted
    response = storefront_client.post(TRACK, data=body, content_type="application/json")

    # then it is kept, each broken character stored as U+FFFD
    assert response.status_code == 200
    row = CartTrackingEvent.objects.get()
    assert (row.product_title, row.product_id) == ("Shirt \ufffd", "p\ufffd-1")


def test_a_broken_character_in_one_event_costs_the_batch_nothing(storefront_client):
    # given a batch in which one event carries a lone surrogate
    body = (
        '{"events": [{"storeName": "myshop", "productTitle": "ok"},'
        ' {"storeName": "myshop", "userAgent": "UA \\udfff"}]}'
    )

    # when it is posted to the bulk endpoint
    response = storefront_client.post(BULK, data=body, content_type="application/json")

    # then both events are stored
    assert response.status_code == 200
    assert (response.json()["data"]["accepted"], response.json()["data"]["rejected"]) == (2, [])
    assert sorted(CartTrackingEvent.objects.values_list("user_agent", flat=True), key=str) == [None, "UA \ufffd"]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("MyShop", "myshop.myshopify.com"),
        ("https://MyShop.myshopify.com/admin", "myshop.myshopify.com"),
        ("  myshop.myshopify.com.  ", "myshop.myshopify.com"),
        ("MYSHOP.MYSHOPIFY.COM:443", "myshop.myshopify.com"),
    ],
)
def test_store_name_is_normalised_as_api_md_says(storefront_client, raw, stored):
    response = post(storefront_client, {"storeName": raw})

    assert response.status_code == 200
    assert CartTrackingEvent.objects.get().store_name == stored


def test_a_full_host_name_is_kept(db):
    keys = store_create(name="shop.example.com")
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=keys.publishable_key)

    response = post(client, {"storeName": "Shop.Example.com"})

    assert response.status_code == 200
    assert CartTrackingEvent.objects.get().store_name == "shop.example.com"


def test_the_key_may_come_as_query_parameter_for_send_beacon(store_keys):
    response = post(APIClient(), {"storeName": "myshop"}, path=f"{TRACK}?key={store_keys.publishable_key}")

    assert response.status_code == 200


def test_the_secret_key_may_track_too(merchant_client):
    assert post(merchant_client, {"storeName": "myshop"}).status_code == 200


# --- 400 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"storeName": ""}, {"storeName": "   "}, {"storeName": None}])
def test_store_name_is_required_with_the_seed_body(storefront_client, body):
    response = post(storefront_client, {"sessionId": "s1", **body})

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "error": "Validation Error",
        "message": "storeName is required",
        "details": {"field": "storeName", "reason": "Field is required"},
    }
    assert CartTrackingEvent.objects.count() == 0


def test_store_name_must_be_a_string(storefront_client):
    response = post(storefront_client, {"storeName": 42})

    assert response.status_code == 400
    assert response.json() == validation_body("storeName must be a string", "storeName", "Must be a string")


def test_store_name_must_be_a_host_name(storefront_client):
    response = post(storefront_client, {"storeName": "my shop!"})

    assert response.status_code == 400
    assert response.json() == validation_body("storeName is not a valid store name", "storeName", "Invalid store name")


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "ada@@example.com", "ada@example..com", "x" * 250 + "@e.co"])
def test_customer_email_must_be_an_email_address(storefront_client, email):
    response = post(storefront_client, {"storeName": "myshop", "customerEmail": email})

    assert response.status_code == 400
    assert response.json() == validation_body(
        "customerEmail must be a valid email address", "customerEmail", "Invalid email format"
    )
    assert CartTrackingEvent.objects.count() == 0


@pytest.mark.parametrize("field", ["productUrl", "generatedImageUrl", "personImageUrl", "clothingImageUrl"])
@pytest.mark.parametrize(
    "url",
    ["ftp://cdn.example.com/a.png", "javascript:alert(1)", "not a url", "/relative/path.png", "https://", "data:x"],
)
def test_urls_must_be_absolute_http_urls(storefront_client, field, url):
    response = post(storefront_client, {"storeName": "myshop", field: url})

    assert response.status_code == 400
    assert response.json() == validation_body(f"{field} must be a valid http(s) URL", field, "Must be an http(s) URL")


def test_an_over_long_url_is_rejected_not_cut(storefront_client):
    response = post(storefront_client, {"storeName": "myshop", "productUrl": "https://e.com/" + "a" * 2040})

    assert response.status_code == 400
    assert response.json() == validation_body(
        "productUrl is too long", "productUrl", "URL is longer than 2048 characters"
    )


@pytest.mark.parametrize(("field", "value"), [("productTitle", 12), ("sessionId", ["a"]), ("productId", True)])
def test_text_fields_must_be_strings(storefront_client, field, value):
    response = post(storefront_client, {"storeName": "myshop", field: value})

    assert response.status_code == 400
    kind = "a string or an integer" if field == "productId" else "a string"
    assert response.json() == validation_body(f"{field} must be {kind}", field, f"Must be {kind}")


def test_a_body_that_is_not_an_object_is_a_400(storefront_client):
    response = post(storefront_client, ["myshop"])

    assert response.status_code == 400
    assert response.json() == validation_body("Request body must be a JSON object", "body", "Must be an object")


def test_malformed_json_is_a_400(storefront_client):
    response = storefront_client.post(TRACK, data="{nope", content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "error": "Validation Error",
        "message": "Malformed JSON in request body",
    }


def test_a_body_over_64_kib_is_a_413(storefront_client):
    response = post(storefront_client, {"storeName": "myshop", "productTitle": "x" * 70_000})

    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


# --- 401 / 403 --------------------------------------------------------------------------------


def test_without_a_key_it_is_a_401(anonymous_client):
    response = post(anonymous_client, {"storeName": "myshop"})

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


def test_another_stores_name_is_a_403(storefront_client, other_store):
    response = post(storefront_client, {"storeName": "other-shop.example.com"})

    assert response.status_code == 403
    assert response.json() == {
        "status": "error",
        "error": "Forbidden",
        "message": "This key belongs to another store",
        "details": {"field": "storeName", "reason": "Store mismatch"},
    }
    assert CartTrackingEvent.objects.count() == 0


def test_staff_track_for_a_store_they_belong_to_only(staff_client, other_store):
    assert post(staff_client, {"storeName": "MyShop"}).status_code == 200
    assert post(staff_client, {"storeName": "other-shop.example.com"}).status_code == 403


# --- client IP --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "extra", "stored"),
    [
        # no proxy: the peer
        ([], {"REMOTE_ADDR": "203.0.113.5"}, "203.0.113.5"),
        # through a trusted proxy: the hop it appended (the forged left-most entry ignored)
        (["10.0.0.0/8"], {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.5"}, "203.0.113.5"),
        (["10.0.0.0/8"], {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": "203.0.113.6"}, "203.0.113.6"),
        # spoofed X-Forwarded-For from an untrusted peer: the peer
        (["10.0.0.0/8"], {"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": "10.0.0.9, 6.6.6.6"}, "203.0.113.5"),
        # IPv6, direct and through a proxy
        ([], {"REMOTE_ADDR": "2001:db8::7"}, "2001:db8::7"),
        (["fd00::/8"], {"REMOTE_ADDR": "fd00::1", "HTTP_X_FORWARDED_FOR": "2001:db8:0:0:0:0:0:8"}, "2001:db8::8"),
    ],
)
def test_the_stored_ip_follows_the_trusted_proxy_rule(storefront_client, settings, trusted, extra, stored):
    settings.TRUSTED_PROXIES = trusted

    response = post(storefront_client, {"storeName": "myshop"}, **extra)

    assert response.status_code == 200
    assert CartTrackingEvent.objects.get().ip_address == stored


# --- rate limits ------------------------------------------------------------------------------


def test_the_101st_request_in_a_minute_is_a_429_even_with_forged_forwarded_for(storefront_client, fresh_address):
    # given a client that forges a new X-Forwarded-For on every request (no proxy is trusted)
    def send(number):
        return post(
            storefront_client,
            {"storeName": "myshop"},
            REMOTE_ADDR=fresh_address,
            HTTP_X_FORWARDED_FOR=f"10.{number // 250}.{number % 250}.1",
            HTTP_X_REAL_IP=f"172.16.0.{number % 250}",
        )

    # when it sends 101 requests
    statuses = [send(number).status_code for number in range(100)]
    last = send(100)

    # then the first 100 pass and the 101st is refused
    assert statuses == [200] * 100
    assert last.status_code == 429
    assert last.json() == {
        "status": "error",
        "error": "Too Many Requests",
        "message": "Too many requests, retry later",
        "code": "RATE_LIMITED",
    }
    assert 1 <= int(last["Retry-After"]) <= 60
    assert CartTrackingEvent.objects.count() == 100


def test_the_limit_is_per_client_ip(storefront_client, fresh_address):
    for _ in range(101):
        post(storefront_client, {"storeName": "myshop"}, REMOTE_ADDR=fresh_address)

    other = post(storefront_client, {"storeName": "myshop"}, REMOTE_ADDR="192.0.2.200")

    assert other.status_code == 200


def test_an_ipv6_client_is_limited_by_its_64(storefront_client):
    # given 100 requests from different addresses of one /64
    first = address_with_fresh_window(ipv6=True)
    network = first.rsplit("::", 1)[0]
    for number in range(100):
        post(storefront_client, {"storeName": "myshop"}, REMOTE_ADDR=f"{network}::{number + 1:x}")

    # when one more address of that /64 sends, and one of another /64
    same = post(storefront_client, {"storeName": "myshop"}, REMOTE_ADDR=f"{network}::ffff:1")
    other = post(storefront_client, {"storeName": "myshop"}, REMOTE_ADDR="2001:db8:ffff:1::1")

    assert same.status_code == 429
    assert other.status_code == 200


def test_the_hourly_limit_applies_too(storefront_client, fresh_address, monkeypatch):
    # given a generous minute limit, the hour's limit is what stops the client (scaled down)
    monkeypatch.setattr("tracking.ratelimit.RATES", ("1000/m", "10/h"))
    statuses = [
        post(storefront_client, {"storeName": "myshop"}, REMOTE_ADDR=fresh_address).status_code for _ in range(11)
    ]

    assert statuses == [200] * 10 + [429]


def test_bulk_calls_count_against_the_same_budget(storefront_client, fresh_address):
    for _ in range(99):
        post(storefront_client, {"storeName": "myshop"}, REMOTE_ADDR=fresh_address)

    bulk = post(storefront_client, {"events": [{"storeName": "myshop"}] * 5}, path=BULK, REMOTE_ADDR=fresh_address)
    after = post(storefront_client, {"storeName": "myshop"}, REMOTE_ADDR=fresh_address)

    assert bulk.status_code == 200 and bulk.json()["data"]["accepted"] == 5
    assert after.status_code == 429


@override_settings(CACHES=DEAD_REDIS)
def test_with_redis_down_events_are_still_tracked_unlimited(storefront_client, json_logs):
    # given the rate limiter's Redis is unreachable (nothing listens on port 1)
    # when the storefront tracks events
    responses = [post(storefront_client, {"storeName": "myshop"}) for _ in range(3)]
    bulk = post(storefront_client, {"events": [{"storeName": "myshop"}]}, path=BULK)

    # then they are stored (fail open), never a 500, and the skipped check is logged
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert bulk.status_code == 200
    assert CartTrackingEvent.objects.count() == 4
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert sum(1 for line in lines if line["message"] == "rate limiter unavailable") == 4


# --- database faults --------------------------------------------------------------------------


def test_a_database_error_is_a_500_with_the_seed_body(storefront_client):
    # given the table refuses every new row (a real constraint violation inside PostgreSQL)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE cart_tracking_events ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")

    response = post(storefront_client, FULL_EVENT)

    assert response.status_code == 500
    assert response.json() == {
        "status": "error",
        "error": "Server Error",
        "message": "Failed to track cart event",
        "code": "DATABASE_ERROR",
    }


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_is_a_503_with_the_seed_body(store_keys):
    # given the database connection points at a port where nothing listens
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=store_keys.publishable_key)
    original_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"
    try:
        response = post(client, FULL_EVENT)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original_port

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "error": "Service Unavailable",
        "message": "Database service unavailable",
        "code": "DATABASE_UNAVAILABLE",
    }
    # and once the database is back, tracking works again
    assert post(client, FULL_EVENT).status_code == 200


# --- logging and metrics ----------------------------------------------------------------------


def _lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_logs_one_access_line_with_request_id_store_and_outcome(storefront_client, json_logs):
    response = post(storefront_client, FULL_EVENT, HTTP_X_REQUEST_ID="req-track-1")

    assert response.status_code == 200
    access = [line for line in _lines(json_logs) if line["logger"] == "cartsite.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "req-track-1"
    assert access[0]["store"] == "myshop.myshopify.com"
    assert access[0]["outcome"] == "tracked"
    assert access[0]["status"] == 200


def test_no_log_line_holds_the_full_email(storefront_client, json_logs):
    post(storefront_client, FULL_EVENT)
    post(storefront_client, {**FULL_EVENT, "customerEmail": "ada.lovelace@example"})  # invalid: logged
    post(storefront_client, {**FULL_EVENT, "storeName": ""})

    output = json_logs.getvalue()
    assert output  # something was logged
    assert "ada.lovelace@" not in output.lower()
    assert "lovelace@example" not in output.lower()


def test_validation_errors_are_logged_with_field_and_outcome(storefront_client, json_logs):
    post(storefront_client, {"storeName": "myshop", "customerEmail": "nope"}, HTTP_X_REQUEST_ID="req-bad-1")

    lines = _lines(json_logs)
    rejected = [line for line in lines if line["message"] == "tracking event rejected"]
    assert len(rejected) == 1
    assert rejected[0]["field"] == "customerEmail"
    assert rejected[0]["reason"] == "Invalid email format"
    assert rejected[0]["request_id"] == "req-bad-1"
    access = [line for line in lines if line["logger"] == "cartsite.access"]
    assert access[0]["outcome"] == "invalid"
    assert access[0]["status"] == 400


def test_rate_limit_hits_are_logged(storefront_client, json_logs, fresh_address):
    for _ in range(101):
        post(storefront_client, {"storeName": "myshop"}, REMOTE_ADDR=fresh_address)

    lines = _lines(json_logs)
    hits = [line for line in lines if line["message"] == "rate limit exceeded"]
    assert len(hits) == 1
    assert hits[0]["client_ip"] == fresh_address
    assert hits[0]["rate"] == "100/m"
    assert [line["outcome"] for line in lines if line["logger"] == "cartsite.access"][-1] == "rate_limited"


def test_metrics_count_events_per_store_and_outcome(storefront_client):
    def value(outcome):
        return metrics.TRACKING_EVENTS.labels("myshop.myshopify.com", outcome)._value.get()

    tracked, invalid = value("tracked"), value("invalid")

    post(storefront_client, {"storeName": "myshop"})
    post(storefront_client, {"storeName": "myshop"})
    post(storefront_client, {"storeName": "myshop", "productUrl": "nope"})

    assert value("tracked") == tracked + 2
    assert value("invalid") == invalid + 1


# --- concurrency of ids -----------------------------------------------------------------------


def test_an_id_collision_is_retried_with_a_new_id(storefront_client, store, monkeypatch):
    # given an event already holding the id the generator will hand out first
    first = post(storefront_client, {"storeName": "myshop"}).json()["data"]["id"]
    ids = iter([first, "cart-event-1700000000000-zzzzzzz"])
    monkeypatch.setattr("tracking.services.event_id_new", lambda at_ms=None: next(ids))

    response = post(storefront_client, {"storeName": "myshop"})

    assert response.status_code == 200
    assert response.json()["data"]["id"] == "cart-event-1700000000000-zzzzzzz"
    assert CartTrackingEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_tracking_gives_distinct_ids(store_keys):
    import threading

    ids, errors = [], []

    def worker():
        client = APIClient()
        client.credentials(HTTP_X_STORE_KEY=store_keys.publishable_key)
        try:
            for number in range(10):
                response = post(client, {"storeName": "myshop"}, REMOTE_ADDR=f"192.0.2.{number + 1}")
                ids.append(response.json()["data"]["id"])
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(ids) == 60 == len(set(ids)) == CartTrackingEvent.objects.count()


# --- bulk -------------------------------------------------------------------------------------


def test_bulk_stores_valid_events_and_reports_rejections_by_index(storefront_client, other_store):
    events = [
        {"storeName": "myshop", "sessionId": "s1"},
        {"storeName": "myshop", "customerEmail": "not-an-email"},
        {"storeName": "MyShop", "productUrl": "https://myshop.myshopify.com/p/1", "unknown": 1},
        {"storeName": "other-shop.example.com"},
        {"sessionId": "no-store"},
        "not an object",
        {"storeName": "https://myshop.myshopify.com/", "productTitle": "x" * 600},
    ]

    response = post(storefront_client, {"events": events}, path=BULK)

    assert response.status_code == 200
    body = response.json()
    ids = body["data"]["ids"]
    assert body == {
        "status": "success",
        "data": {
            "accepted": 3,
            "ids": ids,
            "rejected": [
                {"index": 1, "field": "customerEmail", "reason": "Invalid email format"},
                {"index": 3, "field": "storeName", "reason": "Store mismatch"},
                {"index": 4, "field": "storeName", "reason": "Field is required"},
                {"index": 5, "field": "body", "reason": "Must be an object"},
            ],
        },
    }
    assert len(set(ids)) == 3 and all(ID_PATTERN.match(i) for i in ids)
    rows = {row.id: row for row in CartTrackingEvent.objects.all()}
    assert set(rows) == set(ids)
    assert rows[ids[0]].session_id == "s1"
    assert rows[ids[1]].product_url == "https://myshop.myshopify.com/p/1"
    assert rows[ids[2]].product_title == "x" * 500
    assert {row.store_name for row in rows.values()} == {"myshop.myshopify.com"}
    assert {row.ip_address for row in rows.values()} == {"127.0.0.1"}


def test_bulk_with_nothing_valid_stores_nothing(storefront_client):
    response = post(storefront_client, {"events": [{"customerEmail": "x"}]}, path=BULK)

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "data": {
            "accepted": 0,
            "ids": [],
            "rejected": [{"index": 0, "field": "storeName", "reason": "Field is required"}],
        },
    }
    assert CartTrackingEvent.objects.count() == 0


def test_bulk_takes_up_to_1000_events(storefront_client):
    response = post(storefront_client, {"events": [{"storeName": "myshop", "sessionId": "s"}] * 1000}, path=BULK)

    assert response.status_code == 200
    assert response.json()["data"]["accepted"] == 1000
    assert CartTrackingEvent.objects.count() == 1000


def test_bulk_over_1000_events_is_a_400(storefront_client):
    response = post(storefront_client, {"events": [{"storeName": "myshop"}] * 1001}, path=BULK)

    assert response.status_code == 400
    assert response.json() == validation_body("events holds more than 1000 events", "events", "At most 1000 events")
    assert CartTrackingEvent.objects.count() == 0


@pytest.mark.parametrize("body", [{}, {"events": "x"}, [1, 2]])
def test_bulk_needs_an_events_list(storefront_client, body):
    response = post(storefront_client, body, path=BULK)

    assert response.status_code == 400
    assert response.json() == validation_body("events is required (a list of events)", "events", "Field is required")


def test_bulk_body_over_1_mib_is_a_413(storefront_client):
    events = [{"storeName": "myshop", "productTitle": "x" * 1100}] * 1000

    response = post(storefront_client, {"events": events}, path=BULK)

    assert response.status_code == 413


def test_bulk_database_error_is_a_500_and_stores_nothing(storefront_client):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE cart_tracking_events ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")

    response = post(storefront_client, {"events": [{"storeName": "myshop"}] * 3}, path=BULK)

    assert response.status_code == 500
    assert response.json()["code"] == "DATABASE_ERROR"


def test_bulk_id_collision_retries_the_whole_batch(storefront_client, monkeypatch):
    # given the first ids handed out include one that is already taken
    existing = post(storefront_client, {"storeName": "myshop"}).json()["data"]["id"]
    batches = iter(
        [
            [existing, "cart-event-1700000000000-bbbbbbb"],
            ["cart-event-1700000000000-aaaaaa0", "cart-event-1700000000000-aaaaaa1"],
        ]
    )
    monkeypatch.setattr("tracking.services.event_ids_new", lambda count, at_ms: next(batches))

    # when a bulk call stores two events
    response = post(storefront_client, {"events": [{"storeName": "myshop"}] * 2}, path=BULK)

    # then the whole batch was retried with new ids, and nothing of the failed try remains
    assert response.status_code == 200
    assert response.json()["data"]["ids"] == ["cart-event-1700000000000-aaaaaa0", "cart-event-1700000000000-aaaaaa1"]
    assert set(CartTrackingEvent.objects.values_list("id", flat=True)) == {
        existing,
        "cart-event-1700000000000-aaaaaa0",
        "cart-event-1700000000000-aaaaaa1",
    }


def test_created_at_is_utc(storefront_client):
    before = datetime.now(UTC)
    post(storefront_client, {"storeName": "myshop"})

    row = CartTrackingEvent.objects.get()
    assert row.created_at.utcoffset().total_seconds() == 0
    assert (row.created_at - before).total_seconds() < 5


def test_a_configured_storefront_origin_gets_a_cors_preflight_answer(store, anonymous_client):
    response = anonymous_client.options(
        TRACK,
        HTTP_ORIGIN="https://myshop.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, x-store-key",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://myshop.example"
    assert "x-store-key" in response["Access-Control-Allow-Headers"]
