"""Who is calling: the bearer token, its rate limit, and the checks of its scopes and reach."""

from __future__ import annotations

from django.conf import settings
from ninja.security import HttpBearer

from core.ratelimit import Limit, hit
from integrations.api.errors import APIError
from integrations.tokens import Caller, api_token_authenticate
from organizations.models import Organization
from organizations.services import organization_lookup


class BearerToken(HttpBearer):
    """``Authorization: Bearer lpat_...``; a missing, malformed or dead token gets 401, a token over
    its rate limit 429 with Retry-After (counted per token in the shared cache, Redis in production)."""

    openapi_description = "An API token made on the portal's API tokens page or by `create_api_token`."

    def authenticate(self, request, token: str) -> Caller | None:
        caller = api_token_authenticate(token.strip())
        if caller is None:
            return None
        limit = Limit("manage-api", settings.MANAGEMENT_API_RATE_LIMIT, 60)
        retry_after = hit(limit, str(caller.token.pk))
        if retry_after:
            raise APIError(
                429,
                f"This token made more than {limit.limit} calls in a minute; retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
        body_check(request)
        request.caller = caller
        return caller


_BODY_METHODS = {"POST", "PUT", "PATCH"}


def body_check(request) -> None:
    """A body over ``MANAGEMENT_API_MAX_BODY`` bytes (413) or not JSON (415) is refused before it is
    read, once the caller is known (an unauthenticated request gets its 401 first)."""
    if request.method not in _BODY_METHODS:
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.MANAGEMENT_API_MAX_BODY:
        raise APIError(413, f"The body is larger than {settings.MANAGEMENT_API_MAX_BODY} bytes.")
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if length and content_type != "application/json":
        raise APIError(415, "Send the body as application/json.")


def caller_with(request, scope: str) -> Caller:
    """The request's caller, if its token has ``scope`` now (403 otherwise)."""
    caller: Caller = request.auth
    if not caller.has(scope):
        raise APIError(403, f"This token lacks the scope {scope}.")
    return caller


def organization_for(caller: Caller, reference: str) -> Organization:
    """The organization ``reference`` (uuid or slug) if the token reaches it; 404 otherwise, the
    same answer for another organization's as for none (never reveal it exists)."""
    try:
        organization = organization_lookup(reference)
    except Organization.DoesNotExist:
        raise APIError(404, "No such organization.") from None
    if not caller.reaches(organization):
        raise APIError(404, "No such organization.")
    return organization
