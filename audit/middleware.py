"""Refused permissions in the audit log."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404

from audit.services import audit_record

logger = logging.getLogger("licensing_portal.access")


class AccessDeniedAuditMiddleware:
    """Refused permissions are audited: a signed-in user's 403, or the 404 that stands in for one
    (another organization's objects answer 404, never confirming they exist)."""

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
        refusal = "forbidden" if isinstance(exception, PermissionDenied) else "not found"
        logger.warning("access refused (%s): %s %s for %s", refusal, request.method, request.path, user.get_username())
        audit_record(
            actor=user,
            action="access.denied",
            organization=user.organization,
            object_type="url",
            object_repr=f"{request.method} {request.path}"[:200],
            after={"refusal": refusal, "reason": str(exception)[:200]},
        )
        return None  # Django answers the 403 or 404 as usual
