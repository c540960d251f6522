from django.apps import AppConfig


class CartsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "carts"
    verbose_name = "Stores and carts"

    def ready(self):
        from corsheaders.signals import check_request_enabled
        from django.db.models.signals import post_delete, pre_save

        from carts import cors
        from carts.models import StoreOrigin

        # django-cors-headers' extension point for origins that live in the database.
        check_request_enabled.connect(cors.origin_is_configured, dispatch_uid="carts.cors")
        # Cache coherence, not business logic: it must follow every ORM write of an origin (the
        # admin inline, a store's cascade delete), which a receiver sees and a call per door would
        # miss.
        pre_save.connect(cors.store_origin_pre_save, sender=StoreOrigin, dispatch_uid="carts.cors.pre_save")
        post_delete.connect(cors.store_origin_post_delete, sender=StoreOrigin, dispatch_uid="carts.cors.post_delete")
