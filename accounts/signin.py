"""Signing in: the password backend with its throttle, the sign-in form, and password reset with limits."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import PermissionDenied
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import lockout
from accounts.two_factor import has_second_factor
from audit.services import audit_record
from core import ratelimit

RESET_WINDOW = 3600


class LockoutModelBackend(ModelBackend):
    """Django's password backend behind ``accounts.lockout``'s throttle; every outcome is audited."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None  # another backend's sign-in (single sign-on)
        ip = getattr(request, "client_ip", "") if request is not None else ""
        label = username[:100]
        wait = lockout.sign_in_wait(username, ip)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if wait:
            if user is not None and has_second_factor(user):
                audit_record(
                    actor=user, action="auth.sign_in", organization=user.organization, obj=user,
                    after={"throttled": True, "second_factor": "required"},
                )  # fmt: skip
                return user
            audit_record(actor="anonymous", action="auth.sign_in_locked", object_type="user", object_repr=label)
            if request is not None:
                request.sign_in_wait = wait
            raise PermissionDenied(_("too many failed sign-ins"))
        if user is None:
            lockout.sign_in_failed(username, ip)
            audit_record(actor="anonymous", action="auth.sign_in_failed", object_type="user", object_repr=label)
            if request is not None:
                request.sign_in_wait = lockout.sign_in_wait(username, ip)
            return None
        lockout.sign_in_succeeded(username, ip)
        audit_record(actor=user, action="auth.sign_in", organization=user.organization, obj=user)
        return user


class SignInForm(AuthenticationForm):
    """Django's sign-in form; says plainly how long to wait when this account is throttled from this address."""

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError:
            wait = getattr(self.request, "sign_in_wait", 0)
            if wait:
                raise forms.ValidationError(
                    _(
                        "Too many failed sign-ins for this account from your address. Try again in %(wait)s, "
                        "or reset your password (a completed reset lifts the wait)."
                    ),
                    code="locked",
                    params={"wait": _duration(wait)},
                ) from None
            raise


def _duration(seconds: int) -> str:
    if seconds < 90:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = round(seconds / 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        from accounts.models import SingleSignOn

        context = super().get_context_data(**kwargs)
        context["staff_sso"] = SingleSignOn.objects.filter(for_staff=True, is_enabled=True).exists()
        context["organization_sso"] = SingleSignOn.objects.filter(for_staff=False, is_enabled=True).exists()
        return context


class LimitedPasswordResetForm(PasswordResetForm):
    """At most PASSWORD_RESET_LIMIT_PER_ADDRESS requests an hour from one address (an error says so) and
    PASSWORD_RESET_LIMIT_PER_ACCOUNT mails an hour to one e-mail (beyond that none is sent, silently:
    the page never tells whether an e-mail is known)."""

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        ip = getattr(self.request, "client_ip", "") or "unknown"
        limit = ratelimit.Limit("reset-ip", settings.PASSWORD_RESET_LIMIT_PER_ADDRESS, RESET_WINDOW)
        if ratelimit.hit(limit, ip):
            audit_record(actor="anonymous", action="auth.password_reset_limited", object_type="address", object_repr=ip)
            raise forms.ValidationError(
                _("Too many password reset requests from your address. Try again in an hour."), code="limited"
            )
        return data

    def get_users(self, email):
        limit = ratelimit.Limit("reset-account", settings.PASSWORD_RESET_LIMIT_PER_ACCOUNT, RESET_WINDOW)
        for user in super().get_users(email):
            if ratelimit.hit(limit, str(user.pk)):
                audit_record(actor="anonymous", action="auth.password_reset_limited", organization=None, obj=user)
                continue
            audit_record(actor="anonymous", action="auth.password_reset_mailed", obj=user)
            yield user


class LimitedPasswordResetView(auth_views.PasswordResetView):
    form_class = LimitedPasswordResetForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class UnlockingPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A completed reset also lifts the account's sign-in throttle from every address."""

    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        lockout.sign_in_unlock(form.user.get_username())
        audit_record(actor=form.user, action="auth.password_reset", organization=form.user.organization, obj=form.user)
        return response
