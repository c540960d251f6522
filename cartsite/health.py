"""Liveness, readiness and metrics endpoints for load balancers and Prometheus."""

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from cartsite.metrics import metrics_exposition


@require_GET
def healthz(request):
    """The process is up and answering; touches no dependency."""
    return JsonResponse({"status": "ok"})


def dependency_checks() -> dict[str, str]:
    results = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        results["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", whatever its kind
        results["database"] = f"unavailable: {type(exc).__name__}"
    try:
        cache.set("readyz:probe", "1", timeout=5)
        results["cache"] = "ok" if cache.get("readyz:probe") == "1" else "unavailable: read back failed"
    except Exception as exc:
        results["cache"] = f"unavailable: {type(exc).__name__}"
    return results


@require_GET
def readyz(request):
    """Ready to serve: the database and Redis answer. 503 names what is down."""
    checks = dependency_checks()
    down = sorted(name for name, result in checks.items() if result != "ok")
    if down:
        return JsonResponse(
            {
                "status": "error",
                "error": "Service Unavailable",
                "message": f"unavailable: {', '.join(down)}",
                "checks": checks,
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": checks})


@require_GET
def metrics_view(request):
    body, content_type = metrics_exposition()
    return HttpResponse(body, content_type=content_type)
