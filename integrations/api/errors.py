"""The management API's error answers, always ``{"error": {"code", "detail", "fields"?}}`` (never
HTML, never a stack trace), and the handlers that turn every exception into one."""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as ServiceValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError

logger = logging.getLogger(__name__)

CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "IDEMPOTENCY_MISMATCH",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "UNAVAILABLE",
}


class APIError(Exception):
    def __init__(self, status: int, detail: str, *, code: str = "", fields: dict | None = None, headers=None):
        super().__init__(detail)
        self.status, self.detail, self.fields = status, detail, fields
        self.code = code or CODES.get(status, "ERROR")
        self.headers = headers or {}


def patch_changes(payload) -> dict:
    """The fields a PATCH body sets; 400 naming each one sent as null (none of them may be)."""
    changes = payload.model_dump(exclude_unset=True)
    nulls = [name for name, value in changes.items() if value is None]
    if nulls:
        raise APIError(400, "These fields cannot be null.", fields={name: ["Cannot be null."] for name in nulls})
    return changes


def error_answer(status: int, detail: str, *, code: str = "", fields: dict | None = None, headers=None):
    body = {"code": code or CODES.get(status, "ERROR"), "detail": detail}
    if fields:
        body["fields"] = fields
    response = JsonResponse({"error": body}, status=status)
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_name(location) -> str:
    """``("body", "payload", "name")`` → ``name``; ``("query", "limit")`` → ``limit``."""
    parts = [str(part) for part in location[1:]]
    if location and location[0] == "body" and parts:
        parts = parts[1:]  # the body's parameter name, not a field the caller sent
    return ".".join(parts) or str(location[0] if location else "body")


def request_fields(errors: list[dict]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        message = error.get("msg", "Invalid value.")
        if error.get("type") == "json_invalid":
            message = "The body is not valid JSON."
        fields.setdefault(_field_name(error.get("loc", ())), []).append(message)
    return fields


def install(api) -> None:
    """Replace django-ninja's default handlers (422 with pydantic's list, HTML 500s) with the contract's."""

    @api.exception_handler(APIError)
    def api_error(request, error: APIError):
        return error_answer(error.status, error.detail, code=error.code, fields=error.fields, headers=error.headers)

    @api.exception_handler(RequestValidationError)
    def request_invalid(request, error: RequestValidationError):
        return error_answer(400, "The request has invalid fields.", fields=request_fields(error.errors))

    @api.exception_handler(ServiceValidationError)
    def service_refused(request, error: ServiceValidationError):
        if hasattr(error, "error_dict"):
            return error_answer(400, "The request has invalid fields.", fields=error.message_dict)
        return error_answer(409, " ".join(error.messages))

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, error):
        detail = "A valid API token is required (Authorization: Bearer lpat_...)."
        return error_answer(401, detail, headers={"WWW-Authenticate": "Bearer"})

    @api.exception_handler(PermissionDenied)
    def forbidden(request, error):
        return error_answer(403, str(error) or "This token may not do this.")

    @api.exception_handler(Http404)
    def not_found(request, error):
        return error_answer(404, str(error) or "Not found.")

    @api.exception_handler(ObjectDoesNotExist)
    def does_not_exist(request, error):
        return error_answer(404, "Not found.")

    @api.exception_handler(HttpError)
    def http_error(request, error: HttpError):
        return error_answer(error.status_code, str(error))

    @api.exception_handler(Exception)
    def internal(request, error):
        if isinstance(error, (OperationalError, InterfaceError)):
            logger.warning("management API: database unavailable: %s", error)
            return error_answer(503, "The service is unavailable; try again shortly.", headers={"Retry-After": "5"})
        logger.exception("management API: unexpected error on %s %s", request.method, request.path)
        return error_answer(500, "An internal error occurred.")
