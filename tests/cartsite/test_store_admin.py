"""Stores, keys and staff are managed in the admin too (API.md: each setup command also in the admin)."""

import re

import pytest

from carts.models import Store, StoreKey, StoreOrigin

pytestmark = pytest.mark.django_db


def test_adding_a_store_in_the_admin_normalises_it_and_shows_its_keys_once(client, superuser):
    client.force_login(superuser)

    response = client.post(
        "/admin/carts/store/add/",
        {
            "name": "https://NewShop.example.com/",
            "currency": "usd",
            "recovery_url": "",
            "origins-TOTAL_FORMS": "1",
            "origins-INITIAL_FORMS": "0",
            "origins-0-origin": "HTTPS://NewShop.example.com/",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
        },
        follow=True,
    )

    assert response.status_code == 200
    store = Store.objects.get()
    assert (store.name, store.currency) == ("newshop.example.com", "USD")
    assert list(StoreOrigin.objects.values_list("origin", flat=True)) == ["https://newshop.example.com"]
    page = response.content.decode()
    publishable = re.search(r"publishable (pk_[\w-]+)", page).group(1)
    secret = re.search(r"secret (sk_[\w-]+)", page).group(1)
    assert set(StoreKey.objects.values_list("key_hash", flat=True)) == {
        StoreKey.digest(publishable),
        StoreKey.digest(secret),
    }
    assert secret not in client.get(f"/admin/carts/store/{store.pk}/change/").content.decode()


def test_revoke_action_revokes_selected_keys(client, superuser, store_keys):
    client.force_login(superuser)
    secret = StoreKey.objects.get(key_hash=StoreKey.digest(store_keys.secret_key))

    client.post("/admin/carts/storekey/", {"action": "revoke", "_selected_action": [secret.pk]}, follow=True)

    secret.refresh_from_db()
    assert secret.revoked_at is not None
    assert StoreKey.objects.filter(revoked_at__isnull=True).count() == 1
