"""Error answers: JSON under /api/ (the protocol's shape), plain pages elsewhere."""

from __future__ import annotations

from django.views import defaults


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        from licenses.api import error_response

        return error_response(404, "NOT_FOUND_ROUTE", f"No API endpoint at {request.path}.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        from licenses.api import error_response

        return error_response(500, "INTERNAL_ERROR", "An internal error occurred.")
    return defaults.server_error(request)
