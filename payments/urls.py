from django.contrib import admin
from django.urls import path

from payments import api, views
from payments.admin import checkout_report_view

urlpatterns = [
    path("api/payments/create-checkout", api.CreateCheckoutView.as_view(), name="payments-create-checkout"),
    path("api/payments/checkout-session", api.CheckoutSessionView.as_view(), name="payments-checkout-session"),
    path("api/payments/webhook", api.StripeWebhookView.as_view(), name="payments-webhook"),
    path("payments/resume/<uuid:session_id>", views.checkout_resume_view, name="payments-resume"),
    path("payments/return", views.checkout_return_view, name="payments-return"),
    path("admin/payments/report/", admin.site.admin_view(checkout_report_view), name="payments-admin-report"),
]
