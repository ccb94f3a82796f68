"""Request context: a request id (``X-Request-ID``) and the client's address."""

from __future__ import annotations

import re
import uuid

from django.conf import settings

from audit.context import request_context

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
