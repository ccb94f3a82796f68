"""Error answers: JSON under /api/ (the protocol's shape), plain pages elsewhere."""

from __future__ import annotations

from django.views import defaults


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        from licenses.api import error_response

        return error_response(404, "NOT_FOUND_ROUTE", f"No API endpoint at {request.path}.")
    return defaults.page_not_found(request, exception)


def permission_denied(request, exception=None):
    """The 403 page, in the portal's layout, naming who can grant what was refused."""
    from django.template.response import TemplateResponse

    from organizations.selectors import who_can_help

    user = getattr(request, "user", None)
    helpers = who_can_help(user) if user is not None and user.is_authenticated else []
    response = TemplateResponse(request, "403.html", {"helpers": helpers}, status=403)
    return response.render()


def server_error(request):
    if request.path.startswith("/api/"):
        from licenses.api import error_response

        return error_response(500, "INTERNAL_ERROR", "An internal error occurred.")
    return defaults.server_error(request)
