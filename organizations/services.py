"""Organizations and their subscription: create, edit, renew, suspend and resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from anyascii import anyascii
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from audit.services import actor_label, audit_record
from organizations.models import Edition, Organization, SubscriptionPeriod, add_months

MAX_RENEWAL_MONTHS = 120
MAX_RENEWAL_DAYS = 3660
MAX_SUBSCRIPTION_DAYS = 36600
MAX_TRANSFER_LIMIT = 100  # moves of one key in 30 days: more is no limit at all


def _transfer_limit_check(transfer_limit: int) -> None:
    if not 0 <= transfer_limit <= MAX_TRANSFER_LIMIT:
        raise ValidationError({"transfer_limit": f"The transfer limit is 0 to {MAX_TRANSFER_LIMIT}."})


def organization_slug_for(name: str) -> str:
    """A free slug derived from ``name`` (acme, acme-2, …); any script is transliterated first, so
    "Müller AG" gives ``muller-ag`` and "東京電力" ``dongjingdianli``, not an empty slug."""
    base = slugify(anyascii(name))[:70].strip("-") or "organization"
    slug, number = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug, number = f"{base}-{number}", number + 1
    return slug


def _subscription_end_check(starts: datetime, ends: datetime) -> datetime:
    """``ends`` in UTC, if the subscription it ends lasts from 0 to ``MAX_SUBSCRIPTION_DAYS`` days
    (PostgreSQL stores no zone offset beyond 16 hours, nor a year past 9999)."""
    if ends < starts:
        raise ValidationError({"subscription_ends_at": _("The subscription cannot end before it starts.")})
    if ends - starts > timedelta(days=MAX_SUBSCRIPTION_DAYS):
        raise ValidationError(
            {"subscription_ends_at": f"A subscription is at most {MAX_SUBSCRIPTION_DAYS} days from its start."}
        )
    return ends.astimezone(UTC) if timezone.is_aware(ends) else ends


@transaction.atomic
def organization_create(
    *,
    actor,
    name: str,
    edition: str = Edition.PAID,
    subscription_days: int = 365,
    slug: str = "",
    subscription_starts_at: datetime | None = None,
    subscription_ends_at: datetime | None = None,
    transfer_limit: int | None = None,
    fingerprint_policy: str | None = None,
) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("An organization needs a name.")})
    if edition not in Edition.values:
        raise ValidationError({"edition": f"Edition must be one of {', '.join(Edition.values)}."})
    if subscription_days < 0:
        raise ValidationError({"subscription_days": _("Subscription days cannot be negative.")})
    if subscription_days > MAX_SUBSCRIPTION_DAYS:
        raise ValidationError({"subscription_days": f"A subscription is at most {MAX_SUBSCRIPTION_DAYS} days."})
    now = timezone.now()
    starts = subscription_starts_at or now
    ends = _subscription_end_check(starts, subscription_ends_at or starts + timedelta(days=subscription_days))
    if slug and Organization.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": _("The slug '%(slug)s' is taken.") % {"slug": slug}})
    if transfer_limit is not None:
        _transfer_limit_check(transfer_limit)
    organization = Organization(
        name=name,
        slug=slug or organization_slug_for(name),
        edition=edition,
        subscription_starts_at=starts,
        subscription_ends_at=ends,
    )
    if transfer_limit is not None:
        organization.transfer_limit = transfer_limit
    if fingerprint_policy is not None:
        if fingerprint_policy not in Organization.FingerprintPolicy.values:
            raise ValidationError({"fingerprint_policy": _("The fingerprint policy must be strict or tolerant.")})
        organization.fingerprint_policy = fingerprint_policy
    organization.save()
    SubscriptionPeriod.objects.create(
        organization=organization,
        kind=SubscriptionPeriod.Kind.INITIAL,
        starts_at=starts,
        ends_at=ends,
        recorded_by=actor_label(actor),
    )
    audit_record(
        actor=actor,
        action="organization.create",
        organization=organization,
        obj=organization,
        after=organization.snapshot(),
    )
    return organization


@transaction.atomic
def organization_update(*, organization: Organization, actor, **fields) -> Organization:
    """Change name, slug, edition, subscription dates, transfer limit or fingerprint policy.

    A changed end date corrects the current (last) subscription period; a renewal is
    ``subscription_renew``, which adds a period."""
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    before = organization.snapshot()
    allowed = {
        "name",
        "slug",
        "edition",
        "subscription_starts_at",
        "subscription_ends_at",
        "transfer_limit",
        "fingerprint_policy",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(organization, name, value)
    organization.name = organization.name.strip()
    if not organization.name:
        raise ValidationError({"name": "An organization needs a name."})
    if organization.edition not in Edition.values:
        raise ValidationError({"edition": f"Edition must be one of {', '.join(Edition.values)}."})
    _transfer_limit_check(organization.transfer_limit)
    organization.subscription_ends_at = _subscription_end_check(
        organization.subscription_starts_at, organization.subscription_ends_at
    )
    if organization.fingerprint_policy not in Organization.FingerprintPolicy.values:
        raise ValidationError({"fingerprint_policy": _("Choose strict or tolerant.")})
    if Organization.objects.exclude(pk=organization.pk).filter(slug=organization.slug).exists():
        raise ValidationError({"slug": _("The slug '%(slug)s' is taken.") % {"slug": organization.slug}})
    _correct_current_period(organization, before)
    organization.save()
    if organization.snapshot() != before:
        audit_record(
            actor=actor,
            action="organization.update",
            organization=organization,
            obj=organization,
            before=before,
            after=organization.snapshot(),
        )
    return organization


def _correct_current_period(organization: Organization, before: dict) -> None:
    """Edited subscription dates correct the last period (the first one's start too, if it is the only one)."""
    if organization.snapshot()["subscription_ends_at"] == before["subscription_ends_at"] and (
        organization.snapshot()["subscription_starts_at"] == before["subscription_starts_at"]
    ):
        return
    periods = list(organization.subscription_periods.select_for_update().order_by("-starts_at", "-id")[:2])
    if not periods:
        SubscriptionPeriod.objects.create(
            organization=organization,
            kind=SubscriptionPeriod.Kind.INITIAL,
            starts_at=organization.subscription_starts_at,
            ends_at=organization.subscription_ends_at,
        )
        return
    current = periods[0]
    if len(periods) == 1:
        current.starts_at = organization.subscription_starts_at
    if organization.subscription_ends_at < current.starts_at:
        raise ValidationError(
            {
                "subscription_ends_at": "The subscription cannot end before its current period starts "
                f"({current.starts_at:%Y-%m-%d %H:%M} UTC)."
            }
        )
    current.ends_at = organization.subscription_ends_at
    current.save(update_fields=["starts_at", "ends_at"])


def renewal_end(previous_end, *, months: int | None = None, days: int | None = None):
    """The end of a renewal of ``months`` or ``days`` from ``previous_end`` (the previous paid end)."""
    if (months is None) == (days is None):
        raise ValidationError({"term": _("Renew by a number of months or of days (one of the two).")})
    if months is not None:
        if not 1 <= months <= MAX_RENEWAL_MONTHS:
            raise ValidationError({"months": _("Renew by 1 to %(count)d months.") % {"count": MAX_RENEWAL_MONTHS}})
        return add_months(previous_end, months), f"{months} month{'s' if months != 1 else ''}"
    if not 1 <= days <= MAX_RENEWAL_DAYS:
        raise ValidationError({"days": _("Renew by 1 to %(count)d days.") % {"count": MAX_RENEWAL_DAYS}})
    return previous_end + timedelta(days=days), f"{days} day{'s' if days != 1 else ''}"


@transaction.atomic
def subscription_renew(
    *, organization: Organization, actor, months: int | None = None, days: int | None = None
) -> SubscriptionPeriod:
    """Add a paid term to the subscription, counted from the previous paid end even if it has passed.

    The stopgap rule (Inedo's): time bridged by a stopgap (trial) key after a lapse is not free, so a
    customer whose subscription ended on 1 January and who renews for 12 months on 1 February is
    paid up to the next 1 January (11 months from the renewal), not to the next 1 February.
    """
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    before = organization.snapshot()
    renewed_from = organization.subscription_ends_at
    ends, term = renewal_end(renewed_from, months=months, days=days)
    period = SubscriptionPeriod.objects.create(
        organization=organization,
        kind=SubscriptionPeriod.Kind.RENEWAL,
        starts_at=renewed_from,
        ends_at=ends,
        term=term,
        recorded_by=actor_label(actor),
    )
    organization.subscription_ends_at = ends
    organization.save(update_fields=["subscription_ends_at"])
    audit_record(
        actor=actor,
        action="organization.renew",
        organization=organization,
        obj=organization,
        before=before,
        after={**organization.snapshot(), "renewed_from": renewed_from.isoformat(), "term": term},
    )
    return period


@transaction.atomic
def organization_set_status(*, organization: Organization, actor, status: str) -> Organization:
    if status not in Organization.Status.values:
        raise ValidationError({"status": f"Status must be one of {', '.join(Organization.Status.values)}."})
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    before = organization.snapshot()
    if organization.status != status:
        organization.status = status
        organization.save(update_fields=["status"])
        action = "organization.suspend" if status == Organization.Status.SUSPENDED else "organization.resume"
        audit_record(
            actor=actor,
            action=action,
            organization=organization,
            obj=organization,
            before=before,
            after=organization.snapshot(),
        )
    return organization


def organization_lookup(reference: str) -> Organization:
    """An organization by uuid or slug (the command line's ORG)."""
    import uuid

    try:
        return Organization.objects.get(uuid=uuid.UUID(reference))
    except (ValueError, Organization.DoesNotExist):
        pass
    try:
        return Organization.objects.get(slug=reference)
    except Organization.DoesNotExist:
        raise Organization.DoesNotExist(f"No organization with uuid or slug {reference!r}.") from None


@transaction.atomic
def user_create(
    *,
    actor,
    username: str,
    role: str,
    organization: Organization | None = None,
    email: str = "",
    password: str | None = None,
):
    """Create a portal user with a role; super-admins also get Django admin access."""
    from organizations.models import User

    if role not in User.Role.values:
        raise ValidationError({"role": f"Role must be one of {', '.join(User.Role.values)}."})
    if role in (User.Role.ORG_ADMIN, User.Role.CO_ADMIN) and organization is None:
        raise ValidationError({"organization": _("Organization admins and co-admins belong to an organization.")})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("The username '%(username)s' is taken.") % {"username": username}})
    is_super = role == User.Role.SUPER_ADMIN
    user = User(
        username=username,
        email=email,
        role=role,
        organization=None if is_super else organization,
        is_staff=is_super,
        is_superuser=is_super,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    audit_record(
        actor=actor,
        action="user.create",
        organization=user.organization,
        obj=user,
        after={"username": username, "role": role, "organization": organization.slug if organization else None},
    )
    return user
