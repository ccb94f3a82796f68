"""Reads that depend on who asks: keys, their history, the dashboard's numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils.translation import gettext, ngettext

from core.pages import uuid_prefix
from environments.models import Environment, Machine
from licenses.models import ActivationEvent, Kind, LicenseKey
from organizations.models import ENDING_SOON, Organization
from organizations.selectors import organization_states


def license_key_for_user(user, public_id, *, to_reveal: bool = False) -> LicenseKey:
    """A key that ``user`` may manage, or a 404 (never confirm that another organization's key exists).

    ``to_reveal`` also lets a partner or developer have a temporary key that was issued to them.
    """
    if not user.is_authenticated:
        raise Http404("No such license key.")
    license_key = (
        LicenseKey.objects.visible()
        .select_related("organization", "environment", "machine", "requested_by", "issued_to", "revoked_by")
        .filter(public_id=public_id)
        .first()
    )
    if license_key is None:
        raise Http404("No such license key.")
    if user.can_manage(license_key.organization):
        return license_key
    if to_reveal and license_key.kind == Kind.TEMPORARY and license_key.issued_to_id == user.pk:
        return license_key
    raise Http404("No such license key.")


def may_change_key(user, license_key: LicenseKey) -> bool:
    """Whether ``user`` (who may see the key) may reveal or revoke it: a temporary key is the vendor's
    (super-admins issue them); its organization's admins and co-admins only see it."""
    return license_key.kind != Kind.TEMPORARY or user.is_super_admin


def issued_key_text(license_key: LicenseKey) -> str:
    """The text of a key just issued, for the page that shows it once (not a "show again": that is
    ``license_reveal``, audited)."""
    from licenses import encryption

    return encryption.decrypt(license_key.encrypted_key)


ANY_KIND = "all"


def keys_of(organization: Organization, kind: str) -> QuerySet[LicenseKey]:
    """One kind of an organization's keys (``ANY_KIND``: every kind), newest first (the index
    ``license_org_kind_issued``)."""
    kinds = {} if kind == ANY_KIND else {"kind": kind}
    return (
        LicenseKey.objects.visible()
        .filter(organization=organization, **kinds)
        .select_related("environment", "machine", "requested_by", "issued_to")
        .order_by("-issued_at", "-id")
    )


KEY_SORTS = {
    "issued": ["issued_at", "id"],
    "expires": ["expires_at", "id"],
    "status": ["status", "-issued_at", "id"],
    "machine_name": ["machine_name", "id"],
}


def keys_filtered(queryset: QuerySet[LicenseKey], organization: Organization, filters: dict, now) -> QuerySet:
    """A list of keys narrowed by the list's filters: ``q`` (a key id's first characters, as the list
    shows them, or text of the machine name or description), ``status`` and ``ending`` (within 30 days)."""
    text = (filters.get("q") or "").strip()
    if text:
        condition = Q(machine_name__icontains=text) | Q(description__icontains=text)
        prefix = uuid_prefix(text)
        if prefix:
            condition |= Q(public_id__startswith=prefix)
        queryset = queryset.filter(condition)
    status = filters.get("status")
    works = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    if status == "active":
        queryset = queryset.filter(works, status=LicenseKey.Status.ACTIVE)
    elif status == "expired":
        queryset = queryset.filter(status=LicenseKey.Status.ACTIVE, expires_at__lte=now)
    elif status in (LicenseKey.Status.INACTIVE, LicenseKey.Status.REVOKED):
        queryset = queryset.filter(status=status)
    if filters.get("ending"):
        soon = now + ENDING_SOON
        own_end = Q(expires_at__gt=now, expires_at__lte=soon)
        if now < organization.subscription_ends_at <= soon:  # machine keys end with the subscription
            own_end |= Q(kind=Kind.MACHINE) | Q(kind=Kind.TEMPORARY)
        queryset = queryset.filter(own_end, status=LicenseKey.Status.ACTIVE)
    return queryset


def _with_organization(rows, organization):
    for row in rows:
        row.organization = organization
    return rows


def temporary_keys_active(organization: Organization, now: datetime) -> QuerySet[LicenseKey]:
    """Temporary keys that still work, the one that ends soonest first."""
    return (
        keys_of(organization, Kind.TEMPORARY)
        .filter(status=LicenseKey.Status.ACTIVE, expires_at__gt=now)
        .order_by("expires_at", "id")
    )


def temporary_keys_ended(organization: Organization, now: datetime, limit: int = 20) -> list[LicenseKey]:
    """The latest temporary keys that no longer work (expired, revoked or inactive)."""
    queryset = keys_of(organization, Kind.TEMPORARY).filter(
        Q(expires_at__lte=now) | ~Q(status=LicenseKey.Status.ACTIVE)
    )
    return _with_organization(list(queryset[:limit]), organization)


def temporary_keys_issued_to(user, now: datetime) -> tuple[list[LicenseKey], list[LicenseKey]]:
    """A partner's own temporary keys: those that work (soonest end first), then the latest 20 ended."""
    base = (
        LicenseKey.objects.visible()
        .filter(kind=Kind.TEMPORARY, issued_to=user)
        .select_related("organization")
        .order_by("-issued_at", "-id")
    )
    active = list(base.filter(status=LicenseKey.Status.ACTIVE, expires_at__gt=now).order_by("expires_at", "id")[:200])
    ended = list(base.filter(Q(expires_at__lte=now) | ~Q(status=LicenseKey.Status.ACTIVE))[:20])
    return active, ended


def history_of(license_key: LicenseKey) -> QuerySet[ActivationEvent]:
    return ActivationEvent.objects.filter(license=license_key).order_by("-created_at", "-id")


def latest_trial_key(organization: Organization) -> LicenseKey | None:
    row = keys_of(organization, Kind.TRIAL).first()
    if row is not None:
        row.organization = organization
    return row


def trial_banner_text(license_key: LicenseKey, now: datetime) -> str:
    """The banner an agent running on a trial key shows its users (``LicenseKey.banner``), in the page's
    language (an agent that asks in German gets the same), and the days left."""
    ends = license_key.effective_expires_at
    days = max(0, (ends - now).days) if ends else 0
    if license_key.state_label(now) != LicenseKey.Status.ACTIVE.label:  # both in the language shown
        return gettext("Trial license of %(name)s has ended. Contact your vendor to renew.") % {
            "name": license_key.organization.name
        }
    left = ngettext("(%(days)d day left)", "(%(days)d days left)", days) % {"days": days}
    return f"{license_key.banner_message.translated()} {left}"


# The dashboard -------------------------------------------------------------------------------------


@dataclass
class DashboardNumbers:
    organizations: int
    active_keys: dict[str, int]
    expiring_soon: int
    lapsed: int
    ending_soon: int
    activations_per_day: list[tuple[date, int]]
    computed_at: datetime


def dashboard_numbers(organizations: QuerySet[Organization], now: datetime, *, everything: bool) -> DashboardNumbers:
    """The dashboard's counts, over every organization (``everything``) or over ``organizations``."""
    keys = LicenseKey.objects.visible()
    events = ActivationEvent.objects.all()
    if not everything:
        keys = keys.filter(organization__in=organizations)
        events = events.filter(license__organization__in=organizations)
    working = keys.filter(status=LicenseKey.Status.ACTIVE).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    soon = now + ENDING_SOON
    # One pass over the keys for every count; machine keys end with their organization's subscription,
    # so those are counted through the (few) organizations whose subscription ends soon.
    counts = working.aggregate(
        **{value: Count("id", filter=Q(kind=value)) for value in Kind.values},
        expiring=Count("id", filter=Q(expires_at__gt=now, expires_at__lte=soon)),
    )
    ending_soon = organization_states(organizations, "ending", now)
    expiring = counts["expiring"] + working.filter(kind=Kind.MACHINE, organization__in=ending_soon).count()
    active_keys = {label: counts[value] for value, label in Kind.choices}
    first_day = (now - timedelta(days=29)).date()
    per_day = dict(
        events.filter(
            event__in=[ActivationEvent.Event.ACTIVATE, ActivationEvent.Event.MANUAL_ACTIVATE],
            created_at__gte=datetime.combine(first_day, datetime.min.time(), tzinfo=now.tzinfo),
        )
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values_list("day")
        .annotate(count=Count("id"))
    )
    days = [first_day + timedelta(days=offset) for offset in range(30)]
    # One query for the organizations' counts (the same conditions as organization_states).
    organization_counts = organizations.order_by().aggregate(
        total=Count("id"),
        lapsed=Count("id", filter=Q(subscription_ends_at__lte=now)),
        ending=Count("id", filter=Q(subscription_ends_at__gt=now, subscription_ends_at__lte=soon)),
    )
    return DashboardNumbers(
        organizations=organization_counts["total"],
        active_keys=active_keys,
        expiring_soon=expiring,
        lapsed=organization_counts["lapsed"],
        ending_soon=organization_counts["ending"],
        activations_per_day=[(day, per_day.get(day, 0)) for day in days],
        computed_at=now,
    )


def machines_of(organization: Organization, environment: Environment | None = None) -> QuerySet[Machine]:
    """Machines bound to ``organization`` (optionally one environment's), with the keys they hold;
    a machine an in-place upgrade superseded is not listed."""
    queryset = Machine.objects.filter(organization=organization, superseded_by__isnull=True)
    if environment is not None:
        queryset = queryset.filter(environment=environment)
    keys = LicenseKey.objects.only("public_id", "kind", "machine_id", "issued_at").order_by("-issued_at", "-id")
    return (
        queryset.select_related("environment")
        .prefetch_related(Prefetch("license_keys", queryset=keys, to_attr="bound_keys"))
        .order_by("-last_seen_at", "-pk")
    )


def may_issue(user, organization: Organization, kind: str) -> bool:
    """Who issues which kind of key (the pages, the management API): temporary keys are the vendor's
    (super-admins); machine keys super-admins' and the organization's admins' (not co-admins:
    AGENT_PROTOCOL.md, "Kinds of key"); trial and free-edition keys the organization's admins'
    (``may_request_trial``); server keys anyone who manages the organization. ``user`` None is the
    operator at the command line (``issue_key``, a token made by ``create_api_token``): any kind."""
    from organizations.selectors import may_request_trial

    if user is None:
        return True
    if not user.can_manage(organization):
        return False
    if kind == Kind.TEMPORARY:
        return user.is_super_admin
    if kind == Kind.MACHINE:
        return user.is_super_admin or (user.role == user.Role.ORG_ADMIN and user.organization_id == organization.pk)
    if kind in (Kind.TRIAL, Kind.FREE):
        return may_request_trial(user, organization)
    return True
