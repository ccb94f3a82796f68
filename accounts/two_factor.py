"""Two-factor sign-in with django-otp: a TOTP device (an authenticator app) plus one-time recovery
codes (django-otp's static device). Required for super-admins; ``TWO_FACTOR_REQUIRED_FOR_EVERYONE``
requires it for every user. ``accounts.middleware.SecondFactorMiddleware`` enforces it.
"""

from __future__ import annotations

import segno
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import audit_record

SESSION_HAS_DEVICE = "second_factor_enrolled"
RECOVERY_CODE_COUNT = 10


def second_factor_required(user) -> bool:
    if settings.TWO_FACTOR_REQUIRED_FOR_EVERYONE:
        return True
    return settings.TWO_FACTOR_REQUIRED_FOR_SUPER_ADMINS and (user.is_super_admin or user.role == "super_admin")


def has_second_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def remember_second_factor(sender, request, user, **kwargs) -> None:
    """On every sign-in: a new sign-in proves the second factor again, and the session notes whether one exists."""
    if request is None or not hasattr(request, "session"):
        return
    if not hasattr(user, "otp_device"):
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
    request.session[SESSION_HAS_DEVICE] = has_second_factor(user)


def qr_code_svg(text: str) -> str:
    """The QR code of ``text`` as inline SVG, drawn by the portal (no image service, no script)."""
    return segno.make(text, error="m").svg_inline(scale=4, border=2, dark="#111", light="#fff")


def totp_pending_device(user) -> TOTPDevice:
    """The user's unconfirmed TOTP device (its secret shown as a QR code until a code confirms it)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def _new_recovery_codes(user) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, name="Recovery codes", defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def second_factor_confirm(*, user, token: str) -> tuple[TOTPDevice, list[str]] | None:
    """Confirm the pending TOTP device with a code from the app: (the device, new recovery codes), or None."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None or not device.verify_token(token.strip()):
        return None
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    audit_record(actor=user, action="user.second_factor_enrol", organization=user.organization, obj=user)
    return device, codes


@transaction.atomic
def second_factor_new_recovery_codes(*, user) -> list[str]:
    codes = _new_recovery_codes(user)
    audit_record(actor=user, action="user.recovery_codes_renew", organization=user.organization, obj=user)
    return codes


@transaction.atomic
def second_factor_verify(*, user, token: str):
    """The device (TOTP, else a recovery code, used up) that accepts ``token``, or None.

    django-otp throttles each device: every failure doubles the wait before its next try.
    """
    token = token.strip().replace(" ", "")
    for device in devices_for_user(user, confirmed=True, for_verify=True):
        if token and device.verify_token(token):
            audit_record(
                actor=user,
                action="auth.second_factor",
                organization=user.organization,
                obj=user,
                after={"device": "recovery code" if isinstance(device, StaticDevice) else "authenticator app"},
            )
            return device
    audit_record(actor=user, action="auth.second_factor_failed", organization=user.organization, obj=user)
    return None


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def second_factor_reset(*, actor, user) -> None:
    """A super-admin removes a user's second factor (lost phone): the user enrols again at next sign-in."""
    from django.core.exceptions import PermissionDenied

    if not actor.is_super_admin:
        raise PermissionDenied(_("Only super-admins reset a second factor."))
    had = has_second_factor(user)
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit_record(
        actor=actor,
        action="user.second_factor_reset",
        organization=user.organization,
        obj=user,
        before={"enrolled": had},
        after={"enrolled": False},
    )
