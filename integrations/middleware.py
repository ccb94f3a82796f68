"""The management API's answers that its views do not make (Django's 405, a route's absence) are
given the contract's error shape: nothing under /api/manage/v1/ answers HTML."""

from __future__ import annotations

from integrations.api.errors import error_answer

PREFIX = "/api/manage/v1/"


class ManagementAPIMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(PREFIX) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        headers = {"Allow": response["Allow"]} if response.has_header("Allow") else {}
        detail = {405: f"{request.method} is not allowed here.", 404: f"No API endpoint at {request.path}."}
        return error_answer(status, detail.get(status, "The request was refused."), headers=headers)
