"""The management API's answers before and after its views: a body too large (413) or not JSON
(415) is refused before it is read, and any answer that is not JSON (Django's 405, a 404 of no
route) is given the contract's error shape."""

from __future__ import annotations

from django.conf import settings

from integrations.api.errors import error_answer

PREFIX = "/api/manage/v1/"
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class ManagementAPIMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(PREFIX):
            return self.get_response(request)
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            status = response.status_code
            headers = {"Allow": response["Allow"]} if response.has_header("Allow") else {}
            detail = {405: f"{request.method} is not allowed here.", 404: f"No API endpoint at {request.path}."}
            return error_answer(status, detail.get(status, "The request was refused."), headers=headers)
        return response

    def _refusal(self, request):
        if request.method not in _BODY_METHODS:
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MANAGEMENT_API_MAX_BODY:
            return error_answer(413, f"The body is larger than {settings.MANAGEMENT_API_MAX_BODY} bytes.")
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if length and content_type != "application/json":
            return error_answer(415, "Send the body as application/json.")
        return None
