"""The admin site: Django's own, with its titles and two guards on what an admin URL can carry.

Django's admin answers most malformed query strings itself (a bad filter value sends the
changelist back with `?e=1`), but two kinds of value end in a 500:

- a date-hierarchy year too large for a C long (`?created_at__year=99999999999999999999`):
  Django turns a value that is no date into "incorrect lookup parameters", but lets this
  `OverflowError` through;
- a prefilled field the form cannot render (`add/?store=abc`, `add/?started_at=…`): Django
  passes the URL's text to the add form as it is; an autocomplete or select widget queries
  `id IN ('abc')`, and the date-time widget fails on any text, a valid date included.

Every ModelAdmin registered on this site, the third-party ones included (auth, Celery beat), gets
both guards: the first is answered like any other bad filter; for the second the form gets the
field's value (a date as a date) or, when the text is none, opens without that prefill.
"""

import functools

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models


class GuardedChangeList(ChangeList):
    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except OverflowError as exc:
            raise IncorrectLookupParameters(exc) from exc


class AdminInputGuards:
    """Mixed into every ModelAdmin by `CartsiteAdminSite.register`."""

    def get_changelist(self, request, **kwargs):
        return _guarded_changelist(super().get_changelist(request, **kwargs))

    def get_changeform_initial_data(self, request):
        # Django hands the form the URL's raw text; keep a prefill only as a value of its field.
        initial = super().get_changeform_initial_data(request)
        for name, value in list(initial.items()):
            try:
                field = self.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            try:
                initial[name] = _prefill_value(field, value)
            except ValidationError:
                del initial[name]
        return initial


@functools.cache
def _guarded_changelist(changelist: type[ChangeList]) -> type[ChangeList]:
    # One class per admin's ChangeList (an admin may have its own), made once, not per request.
    if issubclass(changelist, GuardedChangeList):
        return changelist
    return type(changelist.__name__, (GuardedChangeList, changelist), {"__module__": changelist.__module__})


def _prefill_value(field, value):
    """The value a form can render for `add/?<field>=<value>`; ValidationError when there is none."""
    if not field.is_relation:
        # Dates and times as Python values: the admin's date-time widget fails on any text. Other
        # fields keep the text as Django passes it (a checkbox takes "true" or "on", which a
        # BooleanField's to_python would refuse).
        return field.to_python(value) if isinstance(field, models.DateField | models.TimeField) else value
    if field.related_model is None:  # a generic foreign key: no widget of its own
        return value
    target = field.target_field if field.many_to_one or field.one_to_one else field.related_model._meta.pk
    # Ids stay as given; one that is no id of the model would be queried by the widget.
    # A many-to-many prefill is a list (Django splits it on commas).
    for item in value if isinstance(value, list) else [value]:
        target.run_validators(target.to_python(item))
    return value


class CartsiteAdminSite(admin.AdminSite):
    site_header = "cartsite"
    site_title = "cartsite"
    index_title = "Carts, reminders and recovered revenue"

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AdminInputGuards):
            admin_class = type(
                admin_class.__name__, (AdminInputGuards, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)
