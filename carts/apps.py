from django.apps import AppConfig


class CartsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "carts"
    verbose_name = "Stores and carts"

    def ready(self):
        from corsheaders.signals import check_request_enabled

        from carts.cors import origin_is_configured

        # django-cors-headers' extension point for origins that live in the database.
        check_request_enabled.connect(origin_is_configured, dispatch_uid="carts.cors")
