from django.contrib import admin
from django.urls import path

from notifications import admin_views, api, views

urlpatterns = [
    # API paths (JSON envelope); mounted before admin.site.urls, so these win over the admin.
    path("admin/cart-abandonment", api.SweepStatisticsView.as_view(), name="cart-abandonment-stats"),
    path("admin/cart-abandonment/process", api.SweepProcessView.as_view(), name="cart-abandonment-process"),
    path("admin/cart-abandonment/carts/<str:cart_id>", api.CartReminderView.as_view(), name="cart-abandonment-cart"),
    # Admin page.
    path("admin/notifications/stats/", admin.site.admin_view(admin_views.statistics_view), name="notifications-stats"),
    # Customer pages (HTML).
    path("r/<str:token>", views.recovery_redirect, name="recovery-link"),
    path("u/<str:token>", views.unsubscribe, name="unsubscribe-link"),
]
