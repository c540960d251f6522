"""Pages for customers: the recovery link and the unsubscribe page (HTML, no login)."""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from carts.models import Cart
from cartsite.errors import NotFound
from notifications import links, services


def _invalid_link(request):
    return render(request, "notifications/link_invalid.html", status=404)


@require_GET
def recovery_redirect(request, token: str):
    """GET /r/<token>: counts the click, 302 to the store's recovery URL with the session token."""
    try:
        message_id = links.recovery_token_read(token)
        target = services.recovery_click(message_id=message_id)
    except (links.InvalidLink, NotFound):
        return _invalid_link(request)
    request.log_outcome = "recovery_click"
    response = HttpResponseRedirect(target)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@csrf_exempt  # RFC 8058 one-click: mail providers POST without a session or a CSRF token.
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET /u/<token>: a confirm page. POST: unsubscribes the cart's e-mail and phone (idempotent)."""
    try:
        cart_id = links.unsubscribe_token_read(token)
    except links.InvalidLink:
        return _invalid_link(request)
    cart = Cart.objects.filter(pk=cart_id).select_related("store").only("id", "store__name").first()
    if cart is None:
        return _invalid_link(request)
    context = {"store_name": cart.store.name, "action": request.path}
    if request.method == "GET":
        return render(request, "notifications/unsubscribe_confirm.html", context)
    services.suppression_add_for_cart(cart_id=cart.id)
    request.log_outcome = "unsubscribed"
    return render(request, "notifications/unsubscribe_done.html", context)
