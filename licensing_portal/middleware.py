"""Request context: a request id (``X-Request-ID``) and the client's address."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string

from audit.context import request_context

logger = logging.getLogger("licensing_portal.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def client_ip(request) -> str:
    """The client's address: the trusted proxy header if one is configured, else the socket peer."""
    header = settings.TRUSTED_PROXY_IP_HEADER
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        # X-Forwarded-For style: the proxy appends the address it saw last.
        candidate = value.split(",")[-1].strip()
        if candidate:
            return candidate[:45]
    return request.META.get("REMOTE_ADDR", "")[:45]


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        request.client_ip = client_ip(request)
        with request_context(request_id=request.request_id, ip=request.client_ip):
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class SecurityHeadersMiddleware:
    """A strict Content-Security-Policy (no inline script) on every page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class DatabaseUnavailableMiddleware:
    """A clear 503 page when the database is down; the next request reconnects by itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - the connection is already broken
            pass
        if request.path.startswith("/api/"):
            from licenses.api import error_response

            return error_response(
                503, "UNAVAILABLE", "The license service is unavailable; retry later.", {"Retry-After": "5"}
            )
        try:
            body = render_to_string("503.html", request=None)
        except TemplateDoesNotExist:
            body = "<!doctype html><title>Unavailable</title><h1>The portal is unavailable</h1>"
        response = HttpResponse(body, status=503)
        response["Retry-After"] = "5"
        return response


class NullCharacterMiddleware:
    """A query string with a NUL character is refused with 400 before any page sees it: PostgreSQL
    cannot store or compare one, so a filter like ``?kind__exact=%00`` would end in a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(("/api/", "/.well-known/", "/healthz")):
            return self.get_response(request)  # the agent API reads no query string and answers JSON itself
        if "\x00" in request.META.get("QUERY_STRING", "") or any(
            "\x00" in name or any("\x00" in value for value in values) for name, values in request.GET.lists()
        ):
            return HttpResponseBadRequest(
                "The address contains a NUL character.", content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)


# A signed-in user's refusals of one path are recorded once an hour, and at most this many distinct
# paths an hour per user: a script walking URLs fills the log (the access log still has every one).
ACCESS_DENIED_WINDOW_SECONDS = 3600
ACCESS_DENIED_PATHS_PER_WINDOW = 50


def access_denied_is_new(user, method: str, path: str) -> bool:
    """Whether this refusal is worth its own audit event (the first of its user and path this hour)."""
    digest = hashlib.sha256(f"{method} {path}".encode()).hexdigest()[:32]
    if not cache.add(f"access-denied:{user.pk}:{digest}", 1, ACCESS_DENIED_WINDOW_SECONDS):
        return False
    counter = f"access-denied-paths:{user.pk}"
    cache.add(counter, 0, ACCESS_DENIED_WINDOW_SECONDS)
    try:
        return cache.incr(counter) <= ACCESS_DENIED_PATHS_PER_WINDOW
    except ValueError:  # the counter expired between the two calls
        return True


class AccessDeniedAuditMiddleware:
    """Refused permissions are audited: a signed-in user's 403, or the 404 that stands in for one
    (another organization's objects answer 404, never confirming they exist); repeats of one user's
    refused path within the hour are logged, not audited again (``access_denied_is_new``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (PermissionDenied, Http404)):
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        from audit.services import audit_record

        refusal = "forbidden" if isinstance(exception, PermissionDenied) else "not found"
        logger.warning("access refused (%s): %s %s for %s", refusal, request.method, request.path, user.get_username())
        if not access_denied_is_new(user, request.method, request.path):
            return None
        audit_record(
            actor=user,
            action="access.denied",
            organization=user.organization,
            object_type="url",
            object_repr=f"{request.method} {request.path}"[:200],
            after={"refusal": refusal, "reason": str(exception)[:200]},
        )
        return None  # Django answers the 403 or 404 as usual
