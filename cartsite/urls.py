from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cartsite import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # App doors. Admin extensions are mounted before admin.site.urls so they take precedence.
    path("", include("carts.urls")),
    path("", include("tracking.urls")),
    path("", include("payments.urls")),
    path("", include("notifications.urls")),
    path("", include("cartsite.privacy")),
    path("admin/", admin.site.urls),
]

if settings.DEMO_MODE:
    urlpatterns.insert(0, path("demo/", include("cartsite.demo_shop")))
