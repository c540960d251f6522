"""Pages for people (HTML, not the API envelope): the resume link of a payment reminder and the
default return page of plan purchases."""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cartsite.errors import Conflict, NotFound, UpstreamFailed
from payments.services import checkout_resume


@require_GET
def checkout_resume_view(request, session_id):
    """Sends the customer to a payable Stripe Checkout for a pending session."""
    try:
        result = checkout_resume(session_id=session_id)
    except NotFound:
        return render(request, "payments/resume.html", {"state": "missing"}, status=404)
    except Conflict:
        return render(request, "payments/resume.html", {"state": "closed"}, status=410)
    except UpstreamFailed:
        return render(request, "payments/resume.html", {"state": "unavailable"}, status=502)
    return HttpResponseRedirect(result.url)


@require_GET
def checkout_return_view(request):
    status = "success" if request.GET.get("status") == "success" else "cancelled"
    return render(request, "payments/return.html", {"status": status})
