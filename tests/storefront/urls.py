"""The site's URLconf with the demo shop mounted, plus a bare test page for the client.

cartsite.urls mounts the demo shop only when DEMO_MODE was on at import; tests switch it on with
`settings.DEMO_MODE = True` and point ROOT_URLCONF here.
"""

import json

from django.http import HttpResponse
from django.templatetags.static import static
from django.urls import include, path

from cartsite.urls import urlpatterns as site_urlpatterns

BARE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bare storefront</title><link rel="icon" href="data:,"></head>
<body>
<p>Clicks: <output id="clicks">0</output></p>
<button type="button" id="click-me" onclick="clicks.value = String(Number(clicks.value) + 1)">Click</button>
<p id="results"></p>
<script src="%(script)s"></script>
<script>
  window.storefrontConfig = %(config)s;
  Cartsite.init(window.storefrontConfig);
</script>
</body></html>
"""


def bare_storefront(request):
    """A shop page that only loads the client, with the key and apiBase given in the query."""
    config = {
        "key": request.GET.get("key", ""),
        "apiBase": request.GET.get("api", ""),
        "storeName": request.GET.get("store", ""),
    }
    # json.dumps escapes nothing HTML-special; "<" cannot occur after this replace.
    html = BARE_PAGE % {
        "script": static("cartsite/cartsite.js"),
        "config": json.dumps(config).replace("<", "\\u003c"),
    }
    return HttpResponse(html)


urlpatterns = [
    path("demo/", include("cartsite.demo_shop")),
    path("storefront-test/bare", bare_storefront, name="storefront-test-bare"),
    *site_urlpatterns,
]
