"""WSGI entry point (gunicorn licensing_portal.wsgi). Checks the secrets before serving."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "licensing_portal.settings")

application = get_wsgi_application()

from licenses.checks import secrets_validate  # noqa: E402

secrets_validate()
