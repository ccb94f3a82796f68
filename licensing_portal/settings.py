"""Settings, read from the environment (django-environ). See README "Production".

Every value has a safe default for a development run except the secrets,
which a development run (DEBUG on) creates under ``var/`` on first start;
with DEBUG off a missing secret stops the portal with a clear message.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _setting(name: str, reader, **kwargs):
    """Read one variable, turning a malformed value into a message that names it."""
    try:
        return reader(name, **kwargs)
    except (ValueError, TypeError, ImproperlyConfigured) as error:
        raise ImproperlyConfigured(f"The environment variable {name} has a bad value: {error}") from error


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _strict_bool(name: str, default: bool = False) -> bool:
    """A boolean variable: true/false, yes/no, on/off, 1/0; anything else is an error."""
    value = env.str(name, default=str(default)).strip().lower()
    if value not in _TRUE | _FALSE:
        raise ValueError(f"{value!r} is not a boolean (use true or false)")
    return value in _TRUE


env.bool = _strict_bool  # every boolean below is read strictly

DEBUG = _setting("DEBUG", env.bool, default=False)
AUTO_CREATE_SECRETS = _setting("AUTO_CREATE_SECRETS", env.bool, default=DEBUG)
SECRETS_DIR = Path(_setting("SECRETS_DIR", env.str, default=str(BASE_DIR / "var")))


def _secret_from_file(name: str, path: Path, make) -> str:
    """A secret from variable NAME, else from file NAME_FILE (default ``path``)."""
    value = _setting(name, env.str, default="")
    if value:
        return value
    file_path = Path(_setting(f"{name}_FILE", env.str, default=str(path)))
    if file_path.exists():
        return file_path.read_text().strip()
    if not AUTO_CREATE_SECRETS:
        raise ImproperlyConfigured(f"{name} is not set and {file_path} does not exist (set {name} or {name}_FILE).")
    file_path.parent.mkdir(parents=True, exist_ok=True)
    try:  # exclusive: of several processes starting at once, exactly one creates it
        descriptor = os.open(file_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(make())
        print(f"Created {name} in {file_path} (keep it secret).", file=sys.stderr)
    for _ in range(50):  # the creator may still be writing
        if value := file_path.read_text().strip():
            return value
        time.sleep(0.02)
    raise ImproperlyConfigured(f"{file_path} is empty.")


def _new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = _secret_from_file("SECRET_KEY", SECRETS_DIR / "secret-key", lambda: secrets.token_urlsafe(50))
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long.")

# Keys encrypting license keys at rest: comma-separated Fernet keys, the first encrypts.
ENCRYPTION_KEYS = [
    key.strip()
    for key in _secret_from_file("ENCRYPTION_KEYS", SECRETS_DIR / "encryption-keys", _new_fernet_key)
    .replace("\n", ",")
    .split(",")
    if key.strip()
]
# The Ed25519 signing keyring (JSON), inline or in a file; see licenses/signing.py.
SIGNING_KEYS = _setting("SIGNING_KEYS", env.str, default="")
SIGNING_KEYS_FILE = _setting("SIGNING_KEYS_FILE", env.str, default=str(SECRETS_DIR / "signing-keys.json"))

ALLOWED_HOSTS = _setting(
    "ALLOWED_HOSTS", env.list, default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else ["127.0.0.1", "localhost"]
)
CSRF_TRUSTED_ORIGINS = _setting("CSRF_TRUSTED_ORIGINS", env.list, default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "core",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "audit",
    "organizations",
    "environments",
    "licenses",
    "accounts",
    "integrations",
    "notifications",
    "ninja",  # the management API's interactive docs: its templates and swagger-ui static files
]

# Called with an organization's uuid on every audited change of its data (audit.services.audit_record).
AUDIT_CHANGE_HOOKS = ["licenses.agent_api.state_cache.organization_changed"]
# Called with every AuditEvent as it is written, in its transaction: the webhook events' source.
AUDIT_EVENT_HOOKS = ["notifications.services.audit_event_published", "notifications.mail.audit_event_mailed"]

MIDDLEWARE = [
    "core.middleware.RequestContextMiddleware",
    "integrations.middleware.ManagementAPIMiddleware",
    "core.middleware.SecurityHeadersMiddleware",
    "core.middleware.NullCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.PageLocaleMiddleware",  # LocaleMiddleware, the agent API left in English
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",
    "audit.middleware.AccessDeniedAuditMiddleware",
]

ROOT_URLCONF = "licensing_portal.urls"
WSGI_APPLICATION = "licensing_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": _setting("DATABASE_URL", env.db, default=f"sqlite:///{BASE_DIR / 'var' / 'portal.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", _setting("CONN_MAX_AGE", env.int, default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASE_IS_POSTGRESQL = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")

# Background work (webhook deliveries, e-mail notices, the expiry scan), docs/WEBHOOKS.md:
# "procrastinate": PostgreSQL's job queue, jobs deferred in the change's transaction, run by
#   `manage.py procrastinate worker` (any number of hosts);
# "in_process": the embedded SQLite default: the same tasks run in a thread of the web process.
JOB_RUNNER = _setting("JOB_RUNNER", env.str, default="procrastinate" if DATABASE_IS_POSTGRESQL else "in_process")
if JOB_RUNNER not in {"procrastinate", "in_process"}:
    raise ImproperlyConfigured(f"JOB_RUNNER must be procrastinate or in_process, not {JOB_RUNNER!r}")
if JOB_RUNNER == "procrastinate" and not DATABASE_IS_POSTGRESQL:
    raise ImproperlyConfigured("JOB_RUNNER=procrastinate needs PostgreSQL (DATABASE_URL)")
if JOB_RUNNER == "procrastinate":  # the job queue's tables (migrate) and the worker command
    INSTALLED_APPS.insert(INSTALLED_APPS.index("notifications"), "procrastinate.contrib.django")
# Webhook destinations on private, loopback or link-local addresses are refused unless allowed
# (a receiver inside the vendor's own network; the tests).
WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = _setting("WEBHOOK_ALLOW_PRIVATE_DESTINATIONS", env.bool, default=False)
# The portal's address for links in mails that jobs send (no request to build them from), e.g.
# https://licenses.example.com; else the first of ALLOWED_HOSTS.
PORTAL_URL = _setting("PORTAL_URL", env.str, default="")
WEBHOOK_TIMEOUT_SECONDS = _setting("WEBHOOK_TIMEOUT_SECONDS", env.int, default=15)

REDIS_URL = _setting("REDIS_URL", env.str, default="")
CACHE_KEY_PREFIX = _setting("CACHE_KEY_PREFIX", env.str, default="portal")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:  # the embedded single-process default: counters live in this process only
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": CACHE_KEY_PREFIX}}

AUTH_USER_MODEL = "organizations.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# The pages in English and German (docs/I18N.md): the signed-in user's choice (User.language), else
# the language cookie set by the switcher, else the browser's Accept-Language, else English.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["licensing_portal.formats"]  # the pages' short dates per language
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
TIME_ZONE = _setting("TIME_ZONE", env.str, default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(_setting("STATIC_ROOT", env.str, default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# Mail (invitations, password resets): SMTP in production, see docs/PEOPLE.md.
CONSOLE_EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_BACKEND = _setting(
    "EMAIL_BACKEND", env.str, default=CONSOLE_EMAIL_BACKEND if DEBUG else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = _setting("EMAIL_HOST", env.str, default="localhost")
EMAIL_PORT = _setting("EMAIL_PORT", env.int, default=25)
EMAIL_HOST_USER = _setting("EMAIL_HOST_USER", env.str, default="")
EMAIL_HOST_PASSWORD = _setting("EMAIL_HOST_PASSWORD", env.str, default="")
EMAIL_USE_TLS = _setting("EMAIL_USE_TLS", env.bool, default=False)
EMAIL_USE_SSL = _setting("EMAIL_USE_SSL", env.bool, default=False)
EMAIL_TIMEOUT = _setting("EMAIL_TIMEOUT", env.int, default=10)
DEFAULT_FROM_EMAIL = _setting("DEFAULT_FROM_EMAIL", env.str, default="licensing-portal@localhost")
# Reset and invitation links written to the log are a takeover: with DEBUG off the console backend
# is refused unless ALLOW_CONSOLE_EMAIL says it is meant (a closed demo, a test of the deployment).
ALLOW_CONSOLE_EMAIL = _setting("ALLOW_CONSOLE_EMAIL", env.bool, default=False)
if not DEBUG and EMAIL_BACKEND == CONSOLE_EMAIL_BACKEND and not ALLOW_CONSOLE_EMAIL:
    raise ImproperlyConfigured(
        "EMAIL_BACKEND is the console backend with DEBUG off: password reset links would be written to the "
        "log. Configure SMTP (EMAIL_HOST...) or set ALLOW_CONSOLE_EMAIL=true if that is really meant."
    )

# People (docs/PEOPLE.md): invitations, two-factor sign-in, single sign-on.
INVITATION_DAYS = _setting("INVITATION_DAYS", env.int, default=7)
TWO_FACTOR_REQUIRED_FOR_SUPER_ADMINS = True  # not an environment variable: super-admins always need one
TWO_FACTOR_REQUIRED_FOR_EVERYONE = _setting("TWO_FACTOR_REQUIRED_FOR_EVERYONE", env.bool, default=False)
OTP_TOTP_ISSUER = _setting("OTP_TOTP_ISSUER", env.str, default="Licensing portal")
PASSWORD_RESET_LIMIT_PER_ADDRESS = _setting("PASSWORD_RESET_LIMIT_PER_ADDRESS", env.int, default=10)  # per hour
PASSWORD_RESET_LIMIT_PER_ACCOUNT = _setting("PASSWORD_RESET_LIMIT_PER_ACCOUNT", env.int, default=3)  # per hour
# mozilla-django-oidc: the provider's endpoints and client come from accounts.SingleSignOn rows.
OIDC_AUTHENTICATION_CALLBACK_URL = "sso_callback"
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid email"
OIDC_USE_PKCE = True
OIDC_TIMEOUT = _setting("OIDC_TIMEOUT", env.int, default=10)
OIDC_STORE_ACCESS_TOKEN = False
OIDC_STORE_ID_TOKEN = False
LOGIN_REDIRECT_URL_FAILURE = "login"

# The portal's own rules.
LICENSE_ISSUER = _setting("LICENSE_ISSUER", env.str, default="licensing-portal")
LICENSE_TOKEN_LEASE_DAYS = _setting("LICENSE_TOKEN_LEASE_DAYS", env.int, default=30)
LICENSE_TRIAL_DAYS = 30
# A manual (air-gapped) activation code lives until its key ends (or its subscription); a key that
# nothing ends (a free-edition key) gets a code of this many days.
LICENSE_MANUAL_CODE_MAX_DAYS = _setting("LICENSE_MANUAL_CODE_MAX_DAYS", env.int, default=3650)
# Refused agent calls are recorded in the key's history, one row per key, machine and code in this
# many seconds, with a count of the calls it stands for (licenses/agent_api/trail.py).
LICENSE_REFUSAL_HISTORY_SECONDS = _setting("LICENSE_REFUSAL_HISTORY_SECONDS", env.int, default=3600)
# With Redis the refusals are counted there, and a row's count reaches PostgreSQL at most this often.
LICENSE_REFUSAL_COUNT_WRITE_SECONDS = _setting("LICENSE_REFUSAL_COUNT_WRITE_SECONDS", env.float, default=60.0)
# "Last seen" reaches PostgreSQL at most this often: per machine without Redis, in one batch for all
# machines with it (licenses/agent_api/seen.py); the benchmark shortens it to measure a flush.
MACHINE_SEEN_WRITE_SECONDS = _setting("MACHINE_SEEN_WRITE_SECONDS", env.int, default=60)
# With REDIS_URL: how long the agent API keeps a key's rows cached in Redis (licenses/agent_api/state_cache.py);
# changes invalidate them at once, this bounds staleness if an invalidation is lost. 0 turns it off.
LICENSE_STATE_CACHE_SECONDS = _setting("LICENSE_STATE_CACHE_SECONDS", env.int, default=3600)
# How often each worker reads the verdict-cache renewals pending in PostgreSQL (licenses/cache_renewals.py):
# the longest a change whose renewal could not reach Redis from its own worker may be answered stale
# by another worker that Redis never failed.
LICENSE_STATE_CACHE_RECHECK_SECONDS = _setting("LICENSE_STATE_CACHE_RECHECK_SECONDS", env.float, default=1.0)

# Behind a proxy: the header that carries the client's address, set by the proxy only.
TRUSTED_PROXY_IP_HEADER = _setting("TRUSTED_PROXY_IP_HEADER", env.str, default="")

# Security (see README "Security"); production runs with DEBUG off behind TLS.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_SSL_REDIRECT = _setting("SECURE_SSL_REDIRECT", env.bool, default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SESSION_COOKIE_SECURE = _setting("SESSION_COOKIE_SECURE", env.bool, default=not DEBUG)
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_SECURE = _setting("CSRF_COOKIE_SECURE", env.bool, default=not DEBUG)
SECURE_HSTS_SECONDS = _setting("SECURE_HSTS_SECONDS", env.int, default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
if _setting("SECURE_PROXY_SSL_HEADER", env.bool, default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": _setting("LOG_LEVEL", env.str, default="INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # Procrastinate says at every start which tasks it registered: only its warnings matter here
        "procrastinate.blueprints": {"level": "WARNING"},
        "procrastinate.periodic": {"level": "WARNING"},
        "procrastinate.jobs": {"level": "WARNING"},  # "Deferred 1 job", from every change that defers one
    },
}

# Rate limits (see README "Security"): events per window, counted in REDIS_URL when set.
API_RATE_LIMIT_PER_IP = _setting("API_RATE_LIMIT_PER_IP", env.int, default=1200)  # per minute
# The management API (docs/MANAGEMENT_API.md): calls per token and minute, and the largest body.
MANAGEMENT_API_RATE_LIMIT = _setting("MANAGEMENT_API_RATE_LIMIT", env.int, default=600)
MANAGEMENT_API_MAX_BODY = _setting("MANAGEMENT_API_MAX_BODY", env.int, default=65_536)
API_RATE_LIMIT_PER_KEY = _setting("API_RATE_LIMIT_PER_KEY", env.int, default=60)  # per minute
# Failed key guesses (well-formed keys that name no key) per address and minute: low, since a fleet
# behind one NAT address shares API_RATE_LIMIT_PER_IP but sends almost no unknown keys.
API_FAILED_GUESS_LIMIT_PER_IP = _setting("API_FAILED_GUESS_LIMIT_PER_IP", env.int, default=30)
# Failed sign-ins of one account from one address before the waits start (accounts/lockout.py).
SIGN_IN_FAILURE_LIMIT = _setting("SIGN_IN_FAILURE_LIMIT", env.int, default=5)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

AUTHENTICATION_BACKENDS = ["accounts.signin.LockoutModelBackend", "accounts.sso.PortalOIDCBackend"]

# A content security policy with no inline script (see core/middleware.py).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
