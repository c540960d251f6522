"""Production static serving of the client: collectstatic with the manifest storage, then WhiteNoise
answering a non-DEBUG request (no finders, no autorefresh), as gunicorn serves it."""

import gzip
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.templatetags.static import static
from django.test import Client

SOURCE = Path(django_settings.BASE_DIR) / "static" / "cartsite" / "cartsite.js"


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """STATIC_ROOT filled by collectstatic, once for the module (it takes a few seconds)."""
    return tmp_path_factory.mktemp("staticfiles")


@pytest.fixture
def production_static(settings, collected):
    settings.DEBUG = False
    settings.STATIC_ROOT = collected
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    if not (collected / "staticfiles.json").exists():
        call_command("collectstatic", interactive=False, verbosity=0)
    return collected


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_pinned_client_is_served_after_collectstatic(production_static):
    response = Client().get("/static/cartsite/cartsite-1.0.0.js")

    assert response.status_code == 200
    assert body(response) == SOURCE.read_bytes()
    assert response["Content-Type"].startswith("text/javascript")
    # A <script> tag needs no CORS; the header lets shops use integrity= with crossorigin too.
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "max-age=" in response["Cache-Control"]


def test_the_hashed_client_is_cached_for_ever_and_served_compressed(production_static):
    url = static("cartsite/cartsite.js")
    assert url.startswith("/static/cartsite/cartsite.") and url != "/static/cartsite/cartsite.js"

    plain = Client().get(url)
    compressed = Client().get(url, HTTP_ACCEPT_ENCODING="gzip")

    assert plain.status_code == 200
    assert body(plain) == SOURCE.read_bytes()
    assert plain["Cache-Control"] == "max-age=315360000, public, immutable"
    assert compressed["Content-Encoding"] == "gzip"
    assert gzip.decompress(body(compressed)) == SOURCE.read_bytes()


def test_the_demo_page_links_the_hashed_pinned_file_in_production(production_static, settings, db):
    settings.DEMO_MODE = True
    settings.ROOT_URLCONF = "tests.storefront.urls"

    html = Client().get("/demo/").content.decode()

    pinned = static("cartsite/cartsite-1.0.0.js")
    assert pinned != "/static/cartsite/cartsite-1.0.0.js"
    assert f'src="{pinned}"' in html
    assert Client().get(pinned).status_code == 200
