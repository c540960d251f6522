from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class CartsiteConfig(AppConfig):
    name = "cartsite"
    verbose_name = "cartsite"

    def ready(self):
        from cartsite.schedules import schedules_ensure_after_migrate

        # Wiring only: the periodic tasks are database rows that must exist after every migrate.
        post_migrate.connect(schedules_ensure_after_migrate, dispatch_uid="cartsite.schedules_ensure")


class CartsiteAdminConfig(AdminConfig):
    """django.contrib.admin with the project's site (cartsite/admin_site.py) as `admin.site`."""

    default_site = "cartsite.admin_site.CartsiteAdminSite"
