"""Test-run environment, set before Django reads its settings.

Secrets for the test run are created in a temporary directory; the database is
SQLite unless DATABASE_URL points elsewhere (CI sets PostgreSQL).
"""

import atexit
import os
import shutil
import tempfile

_secrets = tempfile.mkdtemp(prefix="portal-test-secrets-")
atexit.register(shutil.rmtree, _secrets, ignore_errors=True)  # each process removes the one it made
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "licensing_portal.settings")
os.environ.setdefault("SECRETS_DIR", _secrets)
os.environ.setdefault("AUTO_CREATE_SECRETS", "true")
os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-django-checks")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's event loop shares the test thread
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the test servers speak plain HTTP

from django.conf import settings  # noqa: E402

settings.DATABASES  # noqa: B018  (read now, so that pytest-django sets Django up with the values above)
# Password hashing is slow on purpose; tests do not need it to be.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The in-process job runner (SQLite) runs a job in the thread that committed its change, and no
# periodic loop: the test database is one connection's, and tests/notifications/test_in_process.py
# turns the runner's thread back on to test it.
settings.JOB_RUNNER_IN_THREAD = False
settings.JOB_RUNNER_LOOP = False
# Pages render from the source static files; collectstatic's manifest is a deployment step.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
