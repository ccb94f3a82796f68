from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app uses and that knows no app: request context, page helpers, the command base,
    time formatting, rate limits, JSON errors, the site's admin, template tags."""

    name = "core"
    verbose_name = "Core"
