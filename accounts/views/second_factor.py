"""Two-factor pages: enrol (QR code drawn by the portal), prove it at sign-in, renew recovery codes."""

from __future__ import annotations

import base64

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from accounts import lockout
from accounts.forms import EnrolForm, TokenForm
from accounts.two_factor import (
    SESSION_HAS_DEVICE,
    has_second_factor,
    qr_code_svg,
    recovery_codes_left,
    second_factor_confirm,
    second_factor_new_recovery_codes,
    second_factor_required,
    second_factor_verify,
    totp_pending_device,
)
from core.pages import secret_response


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


@login_required
def second_factor_status(request):
    user = request.user
    return render(
        request,
        "accounts/second_factor.html",
        {
            "enrolled": has_second_factor(user),
            "required": second_factor_required(user),
            "codes_left": recovery_codes_left(user),
        },
    )


@login_required
def second_factor_enrol(request):
    """Scan the QR code (or type the secret), then confirm with a code: one-time recovery codes follow."""
    user = request.user
    if has_second_factor(user) and not user.is_verified():
        return redirect("second_factor_verify")  # a new device needs the current one first
    device = totp_pending_device(user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed = second_factor_confirm(user=user, token=form.cleaned_data["token"])
        if confirmed is not None:
            confirmed_device, codes = confirmed
            otp_login(request, confirmed_device)
            request.session[SESSION_HAS_DEVICE] = True
            messages.success(request, _("Two-factor sign-in is on."))
            return secret_response(
                request, "accounts/recovery_codes.html", {"codes": codes, "next": _next_url(request)}
            )
        form.add_error("token", _("That code is not right (check the time on your phone) — try the next one."))
    secret = base64.b32encode(device.bin_key).decode()
    return secret_response(
        request,
        "accounts/second_factor_enrol.html",
        {
            "form": form,
            "qr_code": mark_safe(qr_code_svg(device.config_url)),  # noqa: S308 - segno's own SVG markup
            "secret": secret,
            "required": second_factor_required(user),
            "next": _next_url(request),
        },
    )


@login_required
def second_factor_verify_view(request):
    """The second step of signing in."""
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    if not has_second_factor(user):
        request.session[SESSION_HAS_DEVICE] = False
        return redirect("second_factor_enrol" if second_factor_required(user) else _next_url(request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = second_factor_verify(user=user, token=form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            request.session.cycle_key()
            lockout.sign_in_succeeded(user.get_username(), getattr(request, "client_ip", ""))
            return redirect(_next_url(request))
        form.add_error("token", _("That code is not right, or too many tries: wait a moment and try again."))
    return render(
        request,
        "accounts/second_factor_verify.html",
        {"form": form, "next": _next_url(request)},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def recovery_codes_renew(request):
    if not has_second_factor(request.user):
        return redirect("second_factor_enrol")
    codes = second_factor_new_recovery_codes(user=request.user)
    return secret_response(request, "accounts/recovery_codes.html", {"codes": codes, "next": "/"})
