"""People: invitations (send, resend, cancel, accept) and a user's role and active state.

Deactivation is ``is_active = False``. Sessions end at once: every authentication backend here
refuses an inactive user when it loads the session's user (``ModelBackend.get_user`` and
``accounts.sso.PortalOIDCBackend.get_user``). API tokens must do the same: a token is honoured only
while its creator ``is_active`` (see docs/PEOPLE.md).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from smtplib import SMTPException

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Invitation, token_digest
from audit.services import audit_record
from organizations.models import Organization, User
from organizations.services import user_create


def roles_grantable_by(actor: User) -> list[str]:
    """The roles ``actor`` may invite to or give: everything for super-admins, the organization's for its admin."""
    if actor.is_super_admin:
        return list(User.Role.values)
    if actor.role == User.Role.ORG_ADMIN and actor.organization_id:
        return [User.Role.ORG_ADMIN, User.Role.CO_ADMIN, User.Role.PARTNER]
    return []


def may_manage_user(actor: User, user: User) -> bool:
    """Super-admins manage everyone; an org admin manages the non-super-admins of their own organization."""
    if actor.is_super_admin:
        return True
    return (
        actor.role == User.Role.ORG_ADMIN
        and actor.organization_id is not None
        and user.organization_id == actor.organization_id
        and not user.is_super_admin
        and user.role != User.Role.SUPER_ADMIN
    )


def _check_role(actor: User, role: str, organization: Organization | None) -> Organization | None:
    """The organization a user of ``role`` gets, after checking that ``actor`` may grant it there."""
    if role not in roles_grantable_by(actor):
        raise ValidationError({"role": _("You cannot give this role.")})
    if not actor.is_super_admin:
        organization = actor.organization
    if role == User.Role.SUPER_ADMIN:
        return None
    if role in (User.Role.ORG_ADMIN, User.Role.CO_ADMIN) and organization is None:
        raise ValidationError({"organization": _("Organization admins and co-admins belong to an organization.")})
    return organization


def _send_invitation(invitation: Invitation, token: str, accept_url: str) -> None:
    context = {"invitation": invitation, "accept_url": accept_url, "days": settings.INVITATION_DAYS}
    try:
        send_mail(
            subject=render_to_string("accounts/invitation_subject.txt", context).strip(),
            message=render_to_string("accounts/invitation_email.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except (SMTPException, OSError) as error:  # nothing is saved: the transaction rolls back
        raise ValidationError(
            {"email": _("The invitation could not be mailed (%(error)s). Nothing was saved.") % {"error": error}}
        )


def _new_token(invitation: Invitation, now) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_digest = token_digest(token)
    invitation.sent_at = now
    invitation.expires_at = now + timedelta(days=settings.INVITATION_DAYS)
    return token


@transaction.atomic
def invitation_create(
    *, actor: User, email: str, role: str, organization: Organization | None, accept_url_for
) -> Invitation:
    """Invite ``email`` with ``role``; mails a one-time link (``accept_url_for(token)``) that expires."""
    email = email.strip()
    organization = _check_role(actor, role, organization)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": _("A user with this e-mail exists already.")})
    now = timezone.now()
    if Invitation.objects.filter(
        email__iexact=email, accepted_at__isnull=True, cancelled_at__isnull=True, expires_at__gt=now
    ).exists():
        raise ValidationError({"email": _("This e-mail has a pending invitation: resend or cancel it.")})
    invitation = Invitation(email=email, role=role, organization=organization, invited_by=actor)
    token = _new_token(invitation, now)
    invitation.save()
    audit_record(
        actor=actor, action="invitation.create", organization=organization, obj=invitation, after=invitation.snapshot()
    )
    _send_invitation(invitation, token, accept_url_for(token))
    return invitation


def _pending(invitation: Invitation, actor: User) -> Invitation:
    invitation = Invitation.objects.select_for_update(of=("self",)).select_related("organization").get(pk=invitation.pk)
    if invitation.accepted_at or invitation.cancelled_at:
        raise ValidationError(_("This invitation was accepted or cancelled already."))
    if not actor.is_super_admin and invitation.organization_id != actor.organization_id:
        raise PermissionDenied(_("Not your organization's invitation."))
    return invitation


@transaction.atomic
def invitation_resend(*, actor: User, invitation: Invitation, accept_url_for) -> Invitation:
    """A new link (the old one stops working) with a new expiry, mailed again."""
    invitation = _pending(invitation, actor)
    token = _new_token(invitation, timezone.now())
    invitation.save(update_fields=["token_digest", "sent_at", "expires_at"])
    audit_record(
        actor=actor,
        action="invitation.resend",
        organization=invitation.organization,
        obj=invitation,
        after=invitation.snapshot(),
    )
    _send_invitation(invitation, token, accept_url_for(token))
    return invitation


@transaction.atomic
def invitation_cancel(*, actor: User, invitation: Invitation) -> Invitation:
    invitation = _pending(invitation, actor)
    invitation.cancelled_at = timezone.now()
    invitation.save(update_fields=["cancelled_at"])
    audit_record(actor=actor, action="invitation.cancel", organization=invitation.organization, obj=invitation)
    return invitation


def invitation_by_token(token: str) -> Invitation | None:
    """The pending, unexpired invitation of this link, or None."""
    invitation = (
        Invitation.objects.select_related("organization").filter(token_digest=token_digest(token or "")).first()
    )
    if invitation is None or invitation.status_at(timezone.now()) != Invitation.Status.PENDING:
        return None
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, username: str, password: str) -> User:
    """Create the invited user (the link then stops working). The password is validated by the caller's form."""
    invitation = invitation_by_token(token)
    if invitation is None:
        raise ValidationError(_("This invitation link has expired, was used already or was cancelled."))
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at or invitation.cancelled_at:
        raise ValidationError(_("This invitation link has expired, was used already or was cancelled."))
    user = user_create(
        actor=f"invitation of {invitation.email}",
        username=username,
        role=invitation.role,
        organization=invitation.organization,
        email=invitation.email,
        password=password,
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_user = user
    invitation.save(update_fields=["accepted_at", "accepted_user"])
    audit_record(
        actor=user,
        action="invitation.accept",
        organization=invitation.organization,
        obj=invitation,
        after={"username": user.username},
    )
    return user


def _locked_user(actor: User, user: User) -> User:
    user = User.objects.select_for_update().get(pk=user.pk)
    if not may_manage_user(actor, user):
        raise PermissionDenied(_("You may not manage this user."))
    if user.pk == actor.pk:
        raise ValidationError(_("You cannot change your own role or deactivate yourself."))
    return user


def _user_snapshot(user: User) -> dict:
    return {
        "role": user.role,
        "organization": user.organization.slug if user.organization_id else None,
        "is_active": user.is_active,
    }


@transaction.atomic
def user_set_role(*, actor: User, user: User, role: str, organization: Organization | None = None) -> User:
    """Give ``user`` a new role (and, for super-admins acting, organization); super-admins get the Django admin."""
    user = _locked_user(actor, user)
    if user.is_super_admin and not actor.is_super_admin:
        raise PermissionDenied(_("Only super-admins change a super-admin."))
    before = _user_snapshot(user)
    organization = _check_role(actor, role, organization if actor.is_super_admin else user.organization)
    is_super = role == User.Role.SUPER_ADMIN
    user.role, user.organization = role, organization
    user.is_staff = user.is_superuser = is_super
    user.save(update_fields=["role", "organization", "is_staff", "is_superuser"])
    audit_record(
        actor=actor,
        action="user.set_role",
        organization=user.organization,
        obj=user,
        before=before,
        after=_user_snapshot(user),
    )
    return user


@transaction.atomic
def user_set_active(*, actor: User, user: User, active: bool) -> User:
    """Deactivate (every session of the user ends at its next request) or reactivate a user."""
    user = _locked_user(actor, user)
    if user.is_active == active:
        return user
    before = _user_snapshot(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action="user.reactivate" if active else "user.deactivate",
        organization=user.organization,
        obj=user,
        before=before,
        after=_user_snapshot(user),
    )
    if not active:
        transaction.on_commit(lambda: user_end_sessions(user_id=user.pk))
    return user


def user_end_sessions(*, user_id: int) -> int:
    """Delete the stored sessions of a user (the backends refuse an inactive user anyway; this frees them)."""
    from django.contrib.sessions.models import Session

    if "django.contrib.sessions.backends.db" not in settings.SESSION_ENGINE:
        return 0
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user_id):
            session.delete()
            ended += 1
    return ended


@transaction.atomic
def user_set_language(*, user: User, language: str) -> User:
    """Remember the pages' language ``user`` chose (a code of settings.LANGUAGES, or blank: the browser's)."""
    if language and language not in dict(settings.LANGUAGES):
        raise ValidationError(f"Unknown language {language!r}.")
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.language == language:
        return user
    before = {"language": user.language}
    user.language = language
    user.save(update_fields=["language"])
    audit_record(
        actor=user,
        action="user.set_language",
        organization=user.organization,
        obj=user,
        before=before,
        after={"language": language},
    )
    return user
