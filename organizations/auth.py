"""Sign-in with a lock-out: after SIGN_IN_FAILURE_LIMIT failures in 15 minutes for an account
(or four times as many from one address) sign-in is refused until the window ends.

Counters live in the shared cache (Redis with REDIS_URL), like the API's rate limits.
Every failure, lock-out and success is audited; the password never is.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from audit.services import audit_record
from core import ratelimit

WINDOW = 15 * 60


def _limits(username: str, ip: str):
    account = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    return (
        (ratelimit.Limit("signin-account", settings.SIGN_IN_FAILURE_LIMIT, WINDOW), account),
        (ratelimit.Limit("signin-ip", settings.SIGN_IN_FAILURE_LIMIT * 4, WINDOW), ip or "unknown"),
    )


def sign_in_locked(username: str, ip: str) -> bool:
    """True while this account or address has used up its failed sign-ins."""
    return any(ratelimit.count(limit, identity) >= limit.limit for limit, identity in _limits(username, ip))


class LockoutModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        ip = getattr(request, "client_ip", "") if request is not None else ""
        label = (username or "")[:100]
        if sign_in_locked(username, ip):
            audit_record(actor="anonymous", action="auth.sign_in_locked", object_type="user", object_repr=label)
            raise PermissionDenied("too many failed sign-ins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            for limit, identity in _limits(username, ip):
                ratelimit.hit(limit, identity)
            audit_record(actor="anonymous", action="auth.sign_in_failed", object_type="user", object_repr=label)
            return None
        audit_record(actor=user, action="auth.sign_in", organization=user.organization, obj=user)
        return user
