"""E-mail notices, each sent once (``Notice``): ``notice_send(notice_id)``, ``sweep(now)``, and the
notices that changes cause (``audit_event_mailed``: a trial key issued, an endpoint disabled).

A notice is written (by the expiry scan or a change, in that transaction) before it is mailed; the
job ``notice_send`` locks its row, mails each recipient in their language, a plain-text body with
an HTML alternative, and marks it sent in the same transaction. A failure to send leaves it unsent
(and the lock released): ``sweep`` defers it again a few minutes later. Two workers never both
send one notice: the second skips the locked row, then finds it sent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from smtplib import SMTPException

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from licenses.models import Kind, LicenseKey
from notifications import jobs
from notifications.models import Notice, WebhookEndpoint
from organizations.models import Organization, User

logger = logging.getLogger(__name__)

RESEND_AFTER = timedelta(minutes=2)  # an unsent notice this old has lost its job (or its send failed)
RESEND_WITHIN = timedelta(days=7)  # ... and one older than this is no longer worth sending
SWEEP_BATCH = 200
ISSUED = "issued"  # the occasion of a trial key's notice: one per key


# Writing notices ---------------------------------------------------------------------------------


def notice_add(*, kind: str, subject_id: str, occasion: str, organization: Organization | None) -> Notice | None:
    """Write a notice and defer its mail, in the caller's transaction; None if it exists already."""
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                kind=kind, subject_id=subject_id, occasion=occasion, organization=organization
            )
            jobs.defer("notice_send", notice_id=notice.pk)
    except IntegrityError:
        return None
    return notice


def audit_event_mailed(audit_event) -> None:
    """``settings.AUDIT_EVENT_HOOKS``: the notices an audited change causes. A stopgap (trial) key
    issued tells the organization's admins; an endpoint the portal disabled tells its creator."""
    after = audit_event.after or {}
    if audit_event.action == "license.issue" and after.get("kind") == Kind.TRIAL:
        notice_add(
            kind=Notice.Kind.TRIAL_REQUESTED,
            subject_id=audit_event.object_id,
            occasion=ISSUED,
            organization=audit_event.organization,
        )
    elif audit_event.action == "webhook.disable":
        endpoint = WebhookEndpoint.objects.filter(uuid=audit_event.object_id).first()
        if endpoint is not None:
            endpoint_disabled_notify(endpoint)


def endpoint_disabled_notify(endpoint: WebhookEndpoint) -> Notice | None:
    """Tell the creator of ``endpoint`` that the portal disabled it (once per disable)."""
    return notice_add(
        kind=Notice.Kind.ENDPOINT_DISABLED,
        subject_id=str(endpoint.uuid),
        occasion=endpoint.updated_at.isoformat()[:64],
        organization=endpoint.organization,
    )


# Sending -----------------------------------------------------------------------------------------


def notice_send(notice_id: int) -> None:
    """Mail the notice ``notice_id`` to its recipients, unless it is sent or another job has it."""
    with transaction.atomic():
        notice = Notice.objects.select_for_update(skip_locked=True).filter(pk=notice_id).first()
        if notice is None or notice.sent_at is not None:
            return
        messages = notice_messages(notice)
        if messages:
            try:
                with get_connection() as connection:
                    connection.send_messages(messages)
            except (SMTPException, OSError) as error:
                logger.warning("notice %s not sent (%s); the sweep tries again", notice, error)
                return
        notice.sent_at = timezone.now()
        notice.recipients = [address for message in messages for address in message.to]
        notice.save(update_fields=["sent_at", "recipients"])


def sweep(now: datetime) -> int:
    """Defer again the notices left unsent for a while (a failed send, a lost job); returns how many."""
    unsent = (
        Notice.objects.filter(sent_at__isnull=True, created_at__lte=now - RESEND_AFTER)
        .filter(created_at__gt=now - RESEND_WITHIN)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    found = list(unsent)
    for notice_id in found:
        jobs.defer("notice_send", notice_id=notice_id)
    return len(found)


# What a notice says ------------------------------------------------------------------------------


def absolute_url(path: str) -> str:
    """The portal's address and ``path``. The pages build their links from the request
    (``request.build_absolute_uri``); a job has none, so ``settings.PORTAL_URL`` says where the
    portal is, or else the first named host of ``ALLOWED_HOSTS``."""
    base = getattr(settings, "PORTAL_URL", "").rstrip("/")
    if not base:
        host = next((host for host in settings.ALLOWED_HOSTS if host != "*" and not host.startswith(".")), "localhost")
        scheme = "http" if settings.DEBUG or host in ("localhost", "127.0.0.1", "[::1]") else "https"
        base = f"{scheme}://{host}"
    return base + path


def _moment(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _date(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d}"


def notice_recipients(notice: Notice) -> list[User]:
    """The organization's active admins and co-admins with an address; an endpoint's creator."""
    if notice.kind == Notice.Kind.ENDPOINT_DISABLED:
        endpoint = WebhookEndpoint.objects.select_related("created_by").filter(uuid=notice.subject_id).first()
        creator = endpoint.created_by if endpoint is not None else None
        return [creator] if creator is not None and creator.is_active and creator.email else []
    if notice.organization_id is None:
        return []
    return list(
        User.objects.filter(
            organization_id=notice.organization_id,
            role__in=[User.Role.ORG_ADMIN, User.Role.CO_ADMIN],
            is_active=True,
        )
        .exclude(email="")
        .order_by("pk")
    )


def notice_messages(notice: Notice) -> list[EmailMultiAlternatives]:
    """One message per recipient, in the recipient's language; none if the notice is out of date
    (a subscription renewed, a key revoked or given another date before it was mailed)."""
    context = _context(notice)
    if context is None:
        logger.info("notice %s is out of date: not mailed", notice)
        return []
    messages = []
    for user in notice_recipients(notice):
        with translation.override(user.language or settings.LANGUAGE_CODE):
            messages.append(_message(notice, context, user))
    return messages


_TEMPLATES = {
    Notice.Kind.SUBSCRIPTION_EXPIRING: "subscription_expiring",
    Notice.Kind.SUBSCRIPTION_EXPIRED: "subscription_expired",
    Notice.Kind.LICENSE_EXPIRING: "license_expiring",
    Notice.Kind.LICENSE_EXPIRED: "license_expired",
    Notice.Kind.TRIAL_REQUESTED: "trial_requested",
    Notice.Kind.ENDPOINT_DISABLED: "endpoint_disabled",
}


def _subject(notice: Notice, context: dict) -> str:
    kind = notice.kind
    if kind == Notice.Kind.SUBSCRIPTION_EXPIRING:
        return _("Your subscription ends on %(date)s") % context
    if kind == Notice.Kind.SUBSCRIPTION_EXPIRED:
        return _("Your subscription ended on %(date)s") % context
    what = _key_name(context.get("key"))
    if kind == Notice.Kind.LICENSE_EXPIRING:
        return _("Your %(key)s expires on %(date)s") % {**context, "key": what}
    if kind == Notice.Kind.LICENSE_EXPIRED:
        return _("Your %(key)s expired on %(date)s") % {**context, "key": what}
    if kind == Notice.Kind.TRIAL_REQUESTED:
        return _("A trial key was issued for %(organization)s") % {"organization": context["organization"].name}
    return _("Your webhook endpoint was disabled")


def _key_name(key: LicenseKey | None) -> str:
    if key is None:
        return ""
    if key.kind == Kind.SERVER:
        return _("server access key for %(machine)s") % {"machine": key.machine_name}
    return _("trial key")


def _message(notice: Notice, context: dict, user: User) -> EmailMultiAlternatives:
    context = {**context, "user": user, "key_name": _key_name(context.get("key"))}
    context["subject"] = _subject(notice, context)
    name = _TEMPLATES[notice.kind]
    message = EmailMultiAlternatives(
        subject=context["subject"],
        body=render_to_string(f"notifications/mail/{name}.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string(f"notifications/mail/{name}.html", context), "text/html")
    return message


def _context(notice: Notice) -> dict | None:
    """What the templates show, or None if the notice no longer fits its subject."""
    if notice.kind == Notice.Kind.ENDPOINT_DISABLED:
        endpoint = WebhookEndpoint.objects.filter(uuid=notice.subject_id).first()
        if endpoint is None or endpoint.enabled:
            return None
        return {"endpoint": endpoint, "portal_url": absolute_url(reverse("dashboard"))}
    if notice.kind in (Notice.Kind.SUBSCRIPTION_EXPIRING, Notice.Kind.SUBSCRIPTION_EXPIRED):
        organization = Organization.objects.filter(uuid=notice.subject_id).first()
        if organization is None or not notice.occasion.startswith(_date(organization.subscription_ends_at)):
            return None
        return _organization_context(organization, organization.subscription_ends_at, notice)
    key = LicenseKey.objects.select_related("organization").filter(public_id=notice.subject_id).first()
    if key is None or key.status == LicenseKey.Status.REVOKED or key.expires_at is None:
        return None
    if notice.kind != Notice.Kind.TRIAL_REQUESTED and not notice.occasion.startswith(_date(key.expires_at)):
        return None
    return {
        **_organization_context(key.organization, key.expires_at, notice),
        "key": key,
        "key_url": absolute_url(reverse("license_detail", args=[key.public_id])),
        "server_keys_url": absolute_url(reverse("server_key_list", args=[key.organization.slug])),
    }


def _organization_context(organization: Organization, ends: datetime, notice: Notice) -> dict:
    days = notice.occasion.rpartition(":")[2].removesuffix("d")
    return {
        "organization": organization,
        "date": _date(ends),
        "moment": _moment(ends),
        "days": int(days) if days.isdigit() else 0,
        "organization_url": absolute_url(organization.get_absolute_url()),
        "trial_url": absolute_url(reverse("trial_key", args=[organization.slug])),
    }
