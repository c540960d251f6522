"""Back office for stores, keys and staff. Cart pages live in carts/admin_carts.py."""

from django.contrib import admin, messages
from django.utils import timezone

from carts.models import Store, StoreKey, StoreMembership, StoreOrigin
from carts.services import store_key_issue, store_origin_normalise


class StoreOriginInline(admin.TabularInline):
    model = StoreOrigin
    extra = 1


class StoreKeyInline(admin.TabularInline):
    model = StoreKey
    extra = 0
    fields = ("kind", "hint", "created_at", "revoked_at")
    readonly_fields = ("kind", "hint", "created_at", "revoked_at")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class StoreMembershipInline(admin.TabularInline):
    model = StoreMembership
    extra = 1
    autocomplete_fields = ("user",)


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("name", "currency", "recovery_target", "created_at")
    search_fields = ("name",)
    inlines = (StoreOriginInline, StoreMembershipInline, StoreKeyInline)
    actions = ("issue_new_keys",)

    @admin.display(description="Recovery links lead to")
    def recovery_target(self, obj):
        return obj.effective_recovery_url

    def save_model(self, request, obj, form, change):
        from carts.names import store_name_normalise

        obj.name = store_name_normalise(obj.name, field="name")
        obj.currency = obj.currency.upper()
        super().save_model(request, obj, form, change)
        if not change:
            self._issue_and_show(request, obj)

    def save_formset(self, request, form, formset, change):
        if formset.model is StoreOrigin:
            for inline_form in formset.forms:
                if inline_form.cleaned_data.get("origin"):
                    inline_form.instance.origin = store_origin_normalise(inline_form.cleaned_data["origin"])
        super().save_formset(request, form, formset, change)

    def _issue_and_show(self, request, store):
        publishable = store_key_issue(store=store, kind=StoreKey.Kind.PUBLISHABLE)
        secret = store_key_issue(store=store, kind=StoreKey.Kind.SECRET)
        messages.warning(
            request,
            f"Keys for {store.name} (copy them now, the secret key is not shown again): "
            f"publishable {publishable} · secret {secret}",
        )

    @admin.action(description="Issue a new key pair (old keys keep working until revoked)")
    def issue_new_keys(self, request, queryset):
        for store in queryset:
            self._issue_and_show(request, store)


@admin.register(StoreKey)
class StoreKeyAdmin(admin.ModelAdmin):
    list_display = ("hint", "store", "kind", "created_at", "revoked_at")
    list_filter = ("kind", ("revoked_at", admin.EmptyFieldListFilter), "store")
    search_fields = ("store__name", "hint")
    readonly_fields = ("store", "kind", "hint", "created_at", "revoked_at")
    actions = ("revoke",)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected keys (they stop working at once)")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        messages.success(request, f"Revoked {count} key(s).")


@admin.register(StoreMembership)
class StoreMembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "store", "created_at")
    list_filter = ("store",)
    search_fields = ("user__username", "store__name")
    autocomplete_fields = ("user", "store")


# The cart pages (changelist, report and live-page entries) register themselves on import.
from carts import admin_carts  # noqa: E402, F401
