"""The second factor, enforced on every page (after django-otp's ``OTPMiddleware``).

A signed-in user who has a second factor and has not proved it in this session is sent to the
verification page; one who must have one (super-admins, or everyone with
TWO_FACTOR_REQUIRED_FOR_EVERYONE) and has none is sent to enrol. Until then only those pages, the
sign-out and static files answer. The agent API (no session) is not concerned.
"""

from __future__ import annotations

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode

from accounts.two_factor import SESSION_HAS_DEVICE, has_second_factor, second_factor_required

_ALWAYS_OPEN = ("/api/", "/healthz", "/.well-known/")


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(_ALWAYS_OPEN):
            return self.get_response(request)
        user = getattr(request, "user", None)
        try:
            signed_in = user is not None and user.is_authenticated
        except (OperationalError, InterfaceError):  # the database is down: the page answers its clear 503
            return self.get_response(request)
        if not signed_in:
            return self.get_response(request)
        if request.path.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/static/"):
            return self.get_response(request)
        if user.is_verified():
            return self.get_response(request)
        open_paths = {
            reverse("second_factor_verify"),
            reverse("second_factor_enrol"),
            reverse("logout"),
            reverse("set_language"),
        }
        if request.path in open_paths:
            return self.get_response(request)
        if SESSION_HAS_DEVICE not in request.session:
            request.session[SESSION_HAS_DEVICE] = has_second_factor(user)
        if request.session[SESSION_HAS_DEVICE]:
            target = "second_factor_verify"
        elif second_factor_required(user):
            target = "second_factor_enrol"
        else:
            return self.get_response(request)
        query = urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
        return redirect(reverse(target) + (f"?{query}" if query else ""))


class UserLanguageMiddleware:
    """The signed-in user's chosen language (``User.language``) wins over the cookie and the browser's
    Accept-Language that ``LocaleMiddleware`` looked at; a user who chose nothing keeps those."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(_ALWAYS_OPEN):  # the agent API: no session, always English
            return self.get_response(request)
        user = getattr(request, "user", None)
        try:
            language = user.language if user is not None and user.is_authenticated else ""
        except (OperationalError, InterfaceError):  # the database is down: the page answers its clear 503
            language = ""
        if language and language in dict(settings.LANGUAGES):
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
