"""Tracking doors: the API of API.md "Tracking events" and the admin analytics page."""

from django.contrib import admin
from django.urls import path

from tracking import admin_views, api

urlpatterns = [
    path("api/cart-tracking/track", api.TrackView.as_view(), name="cart-tracking-track"),
    path("api/cart-tracking/track/bulk", api.TrackBulkView.as_view(), name="cart-tracking-track-bulk"),
    path("api/cart-tracking/events", api.EventsView.as_view(), name="cart-tracking-events"),
    path("api/cart-tracking/analytics", api.AnalyticsView.as_view(), name="cart-tracking-analytics"),
    path(
        "admin/tracking/analytics/",
        admin.site.admin_view(admin_views.analytics_view),
        name="tracking-admin-analytics",
    ),
]
