"""The setup commands of API.md: create_store, revoke_key, add_staff."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from carts.models import Store, StoreKey, StoreMembership

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_store_prints_both_keys_once_and_stores_only_digests():
    output = run(
        "create_store",
        "MyShop",
        "--currency",
        "usd",
        "--recovery-url",
        "https://shop.example/cart",
        "--origin",
        "https://shop.example/",
        "--origin",
        "http://localhost:3000",
    )

    publishable = re.search(r"publishable key: (pk_\S+)", output).group(1)
    secret = re.search(r"secret key: (sk_\S+)", output).group(1)
    store = Store.objects.get()
    assert store.name == "myshop.myshopify.com"
    assert store.currency == "USD"
    assert store.recovery_url == "https://shop.example/cart"
    assert sorted(store.origins.values_list("origin", flat=True)) == ["http://localhost:3000", "https://shop.example"]
    hashes = set(StoreKey.objects.values_list("key_hash", flat=True))
    assert hashes == {StoreKey.digest(publishable), StoreKey.digest(secret)}
    stored_text = str(list(StoreKey.objects.values()))
    assert publishable not in stored_text and secret not in stored_text


def test_create_store_refuses_a_duplicate_normalised_name():
    run("create_store", "MyShop")

    with pytest.raises(CommandError, match="exists already"):
        run("create_store", "https://myshop.myshopify.com/")
    assert Store.objects.count() == 1


def test_create_store_rejects_a_bad_origin():
    with pytest.raises(CommandError, match="expected scheme://host"):
        run("create_store", "MyShop", "--origin", "shop.example/path")


def test_revoke_key_marks_the_key_revoked(store_keys):
    output = run("revoke_key", store_keys.secret_key)

    key = StoreKey.objects.get(key_hash=StoreKey.digest(store_keys.secret_key))
    assert key.revoked_at is not None
    assert output.startswith("revoked secret key sk_")
    publishable = StoreKey.objects.get(key_hash=StoreKey.digest(store_keys.publishable_key))
    assert publishable.revoked_at is None


def test_revoke_key_of_unknown_key_fails():
    with pytest.raises(CommandError, match="No such key"):
        run("revoke_key", "sk_unknown")


def test_add_staff_makes_the_user_staff_and_member_idempotently(store):
    get_user_model().objects.create_user("merchant", password="pw-123456")

    first = run("add_staff", "MyShop", "merchant")
    second = run("add_staff", "myshop.myshopify.com", "merchant")

    user = get_user_model().objects.get(username="merchant")
    assert user.is_staff
    assert StoreMembership.objects.filter(user=user, store=store).count() == 1
    assert first == "merchant added to myshop.myshopify.com\n"
    assert second == "merchant already a member of myshop.myshopify.com\n"


def test_add_staff_names_what_is_missing(store):
    with pytest.raises(CommandError, match="No user named ghost"):
        run("add_staff", "MyShop", "ghost")
    with pytest.raises(CommandError, match="No store named"):
        run("add_staff", "unknown-shop", "ghost")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add_staff", "MyShop", "bob\x00"], "must not contain a NUL character"),
        (["add_staff", "my\udcffshop", "bob"], "is not valid UTF-8 text"),
        (["revoke_key", "pk_\udcff"], "is not valid UTF-8 text"),
        (["revoke_key", "pk_\x00"], "must not contain a NUL character"),
    ],
)
def test_text_the_database_cannot_hold_is_a_usage_error(store, args, message):
    # given a user who could be made staff
    get_user_model().objects.create_user("bob")

    # when a command gets a NUL, or bytes that were no UTF-8 (a lone surrogate in argv)
    with pytest.raises(CommandError, match=message):
        call_command(*args, stdout=StringIO())

    # then nothing changed
    assert not StoreMembership.objects.exists()
    assert not StoreKey.objects.filter(revoked_at__isnull=False).exists()
