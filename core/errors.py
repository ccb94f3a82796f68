"""Error answers: JSON under /api/ (the agent protocol's shape), plain pages elsewhere."""

from __future__ import annotations

from django.http import JsonResponse
from django.views import defaults


def error_response(status: int, code: str, detail: str, headers: dict | None = None) -> JsonResponse:
    """``{"error": {"code": ..., "detail": ...}}``, never cached."""
    response = JsonResponse({"error": {"code": code, "detail": detail}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response(404, "NOT_FOUND_ROUTE", f"No API endpoint at {request.path}.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return error_response(500, "INTERNAL_ERROR", "An internal error occurred.")
    return defaults.server_error(request)
