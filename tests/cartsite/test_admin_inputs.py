"""Admin URLs carrying values Django's admin does not catch itself (cartsite/admin_site.py): the
page answers as for any other bad value, never a 500."""

import re
from datetime import datetime

import pytest
from django.contrib import admin
from django_celery_beat.models import PeriodicTask

from carts.models import Cart
from cartsite.admin_site import AdminInputGuards
from notifications.models import ReminderMessage
from payments.models import CheckoutSession

TOO_LARGE_FOR_A_C_LONG = "99999999999999999999"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/admin/carts/cart/", "created_at"),
        ("/admin/payments/checkoutsession/", "created_at"),
        ("/admin/notifications/remindermessage/", "created_at"),
        ("/admin/django_celery_beat/periodictask/", "start_time"),
    ],
)
def test_a_date_hierarchy_year_too_large_is_a_bad_filter_not_a_500(client, superuser, url, field):
    # given a logged-in superuser
    client.force_login(superuser)

    # when a changelist is asked for a year no date can have
    response = client.get(url, {f"{field}__year": TOO_LARGE_FOR_A_C_LONG})

    # then it goes back to the changelist flagged as a bad filter, as Django does for any other
    assert response.status_code == 302
    assert response["Location"] == f"{url}?e=1"
    assert client.get(f"{url}?e=1").status_code == 200


def test_a_prefill_that_is_no_id_opens_the_form_without_it(client, superuser, store):
    # given a logged-in superuser
    client.force_login(superuser)

    # when the add form of a store membership is prefilled with values that are no ids
    response = client.get("/admin/carts/storemembership/add/", {"store": "abc", "user": "1e400"})

    # then the form opens, with neither field prefilled
    assert response.status_code == 200
    assert response.context["adminform"].form.initial == {}


def test_a_prefill_that_is_an_id_is_kept(client, superuser, store):
    # given a logged-in superuser and a store
    client.force_login(superuser)

    # when the add form is prefilled with the store's id and a user's
    response = client.get("/admin/carts/storemembership/add/", {"store": str(store.pk), "user": str(superuser.pk)})

    # then both stay prefilled, and the store is the selected option
    assert response.status_code == 200
    assert response.context["adminform"].form.initial == {"store": str(store.pk), "user": str(superuser.pk)}
    assert f'<option value="{store.pk}" selected>{store.name}</option>' in response.content.decode()


def test_every_admin_on_the_site_has_the_guards():
    # given the admin site as the project configures it (third-party apps' admins included)
    registered = admin.site._registry

    # then every one of them carries the guards
    assert {Cart, CheckoutSession, ReminderMessage, PeriodicTask} <= set(registered)
    unguarded = [
        type(model_admin).__name__
        for model_admin in registered.values()
        if not isinstance(model_admin, AdminInputGuards)
    ]
    assert unguarded == []


def test_a_date_time_prefill_is_rendered_as_a_date_or_dropped(client, superuser):
    # given a logged-in superuser
    client.force_login(superuser)

    # when the add form of a subscription is prefilled with a date and time, then with text
    dated = client.get("/admin/payments/subscription/add/", {"started_at": "2026-11-22 10:30"})
    undated = client.get("/admin/payments/subscription/add/", {"started_at": "next tuesday"})

    # then the first shows that date and time in the form's two inputs, the second opens empty
    assert dated.status_code == 200
    assert dated.context["adminform"].form.initial == {"started_at": datetime(2026, 11, 22, 10, 30)}
    html = dated.content.decode()
    assert 'name="started_at_0" value="2026-11-22"' in html and 'name="started_at_1" value="10:30:00"' in html
    assert undated.status_code == 200
    assert undated.context["adminform"].form.initial == {}


def test_a_prefill_of_another_kind_of_field_reaches_the_form_as_django_passes_it(client, superuser):
    # given a logged-in superuser
    client.force_login(superuser)

    # when the add form of a periodic task is prefilled with a name and a ticked checkbox
    response = client.get("/admin/django_celery_beat/periodictask/add/", {"name": "nightly", "one_off": "true"})

    # then both reach the form as given, and the checkbox is ticked
    assert response.status_code == 200
    assert response.context["adminform"].form.initial == {"name": "nightly", "one_off": "true"}
    assert re.search(r'<input type="checkbox" name="one_off"[^>]*checked>', response.content.decode())
