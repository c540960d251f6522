from django.urls import path  # noqa: F401

# The demo shop (DEMO_MODE only): a storefront using cartsite.js and a demo merchant backend.
urlpatterns = []
