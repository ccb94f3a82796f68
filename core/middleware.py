"""Request context: a request id (``X-Request-ID``) and the client's address."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpResponse, HttpResponseBadRequest
from django.middleware.locale import LocaleMiddleware
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import translation

from core.context import request_context
from core.errors import error_response

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


class PageLocaleMiddleware(LocaleMiddleware):
    """Django's ``LocaleMiddleware`` for the pages only. The APIs (``/api/``, ``/healthz``,
    ``/.well-known/``) run in English whatever the thread served before; the agent API gives a call
    that asks for German its texts in German itself, under ``translation.override``, with
    ``Vary: Accept-Language`` (``licenses.agent_api.language``)."""

    _CONTRACT_PATHS = ("/api/", "/.well-known/", "/healthz")

    def process_request(self, request):
        if request.path.startswith(self._CONTRACT_PATHS):
            translation.activate(settings.LANGUAGE_CODE)  # the thread may have served a German page
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return None
        return super().process_request(request)

    def process_response(self, request, response):
        if request.path.startswith(self._CONTRACT_PATHS):
            return response
        return super().process_response(request, response)
