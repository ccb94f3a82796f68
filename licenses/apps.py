from django.apps import AppConfig


class LicensesConfig(AppConfig):
    name = "licenses"

    def ready(self):
        from licenses import checks  # noqa: F401  (registers the start-up check of the secrets)
