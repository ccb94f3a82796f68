"""Refused permissions in the audit log."""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404

from audit.services import audit_record

logger = logging.getLogger("licensing_portal.access")


# A signed-in user's refusals of one path are recorded once an hour, and at most this many distinct
# paths an hour per user: a script walking URLs fills the log (the access log still has every one).
ACCESS_DENIED_WINDOW_SECONDS = 3600
ACCESS_DENIED_PATHS_PER_WINDOW = 50


def access_denied_is_new(user, method: str, path: str) -> bool:
    """Whether this refusal is worth its own audit event (the first of its user and path this hour)."""
    digest = hashlib.sha256(f"{method} {path}".encode()).hexdigest()[:32]
    if not cache.add(f"access-denied:{user.pk}:{digest}", 1, ACCESS_DENIED_WINDOW_SECONDS):
        return False
    counter = f"access-denied-paths:{user.pk}"
    cache.add(counter, 0, ACCESS_DENIED_WINDOW_SECONDS)
    try:
        return cache.incr(counter) <= ACCESS_DENIED_PATHS_PER_WINDOW
    except ValueError:  # the counter expired between the two calls
        return True


class AccessDeniedAuditMiddleware:
    """Refused permissions are audited: a signed-in user's 403, or the 404 that stands in for one
    (another organization's objects answer 404, never confirming they exist); repeats of one user's
    refused path within the hour are logged, not audited again (``access_denied_is_new``)."""

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
        if not access_denied_is_new(user, request.method, request.path):
            return None
        audit_record(
            actor=user,
            action="access.denied",
            organization=user.organization,
            object_type="url",
            object_repr=f"{request.method} {request.path}"[:200],
            after={"refusal": refusal, "reason": str(exception)[:200]},
        )
        return None  # Django answers the 403 or 404 as usual
