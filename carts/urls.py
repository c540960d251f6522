"""Cart doors: the API of API.md "Carts" and the admin pages (mounted before admin.site.urls).

`active`, `sync` and `update` come before `<session_id>` so they are never taken for a session.
"""

from django.contrib import admin
from django.urls import path

from carts import admin_views, api

urlpatterns = [
    path("cart/sync", api.CartSyncView.as_view(), name="cart-sync"),
    path("api/carts/sync", api.CartSyncView.as_view(), name="api-cart-sync"),
    path("api/carts/update", api.CartUpdateView.as_view(), name="api-cart-update"),
    path("api/carts/active", api.ActiveCartsView.as_view(), name="api-carts-active"),
    # `path`: a session token may hold "/" (storefronts send it URL-encoded, as %2F).
    path("api/carts/<path:session_id>", api.CartDetailView.as_view(), name="api-cart-detail"),
    path(
        "admin/carts/abandoned-report/",
        admin.site.admin_view(admin_views.abandoned_report_view),
        name="carts-abandoned-report",
    ),
    path("admin/carts/live/", admin.site.admin_view(admin_views.live_carts_view), name="carts-live"),
]
