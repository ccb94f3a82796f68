"""Reads that depend on who asks: which organizations a user may see."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from core.pages import uuid_prefix
from organizations.models import ENDING_SOON, Organization


def organization_for_user(user, slug: str) -> Organization:
    """The organization ``slug`` if ``user`` may manage it; a 404 otherwise (never confirm it exists)."""
    if not user.is_authenticated:
        raise Http404("No such organization.")
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None or not user.can_manage(organization):
        raise Http404("No such organization.")
    return organization


def organizations_for_user(user) -> QuerySet[Organization]:
    """Every organization for a super-admin, one's own for an admin or co-admin, none for anyone else."""
    if user.is_super_admin:
        return Organization.objects.all()
    if user.is_org_manager:
        return Organization.objects.filter(pk=user.organization_id)
    return Organization.objects.none()


ORGANIZATION_SORTS = {
    "name": ["name", "pk"],
    "ends": ["subscription_ends_at", "pk"],
    "created": ["created_at", "pk"],
}


def organization_search(queryset: QuerySet[Organization], text: str) -> QuerySet[Organization]:
    """Organizations whose name or slug contains ``text``, or whose uuid is or begins with ``text``
    (the list shows the first eight characters)."""
    text = text.strip()
    if not text:
        return queryset
    condition = Q(name__icontains=text) | Q(slug__icontains=text)
    try:
        condition |= Q(uuid=uuid.UUID(text))
    except ValueError:
        prefix = uuid_prefix(text)
        if prefix:
            condition |= Q(uuid__startswith=prefix)
    return queryset.filter(condition)


ORGANIZATION_STATES = {"lapsed": "Lapsed", "ending": "Ending in 30 days"}


def organization_states(organizations: QuerySet[Organization], state: str, now: datetime) -> QuerySet[Organization]:
    """Organizations whose subscription has ended (``lapsed``) or ends in the next 30 days (``ending``)."""
    if state == "lapsed":
        return organizations.filter(subscription_ends_at__lte=now)
    if state == "ending":
        return organizations.filter(subscription_ends_at__gt=now, subscription_ends_at__lte=now + ENDING_SOON)
    return organizations


def organizations_filtered(queryset: QuerySet[Organization], filters: dict, now) -> QuerySet[Organization]:
    """The organizations list's filters: search, status, edition, subscription state (lapsed, or
    ending within 30 days)."""
    queryset = organization_search(queryset, filters.get("q") or "")
    if filters.get("status"):
        queryset = queryset.filter(status=filters["status"])
    if filters.get("edition"):
        queryset = queryset.filter(edition=filters["edition"])
    return organization_states(queryset, filters.get("state") or "", now)


def require_super_admin(user) -> None:
    """Pages that only super-admins use (the user already sees the organization, so a 403 reveals nothing)."""
    if not user.is_super_admin:
        raise PermissionDenied("Only super-admins may do this.")


def may_request_trial(user, organization: Organization) -> bool:
    """Trial keys are self-service for the organization's admins (and super-admins), not co-admins."""
    if user.is_super_admin:
        return True
    return user.role == user.Role.ORG_ADMIN and user.organization_id == organization.pk


def who_can_help(user) -> list:
    """Who can grant ``user`` what their role refused: their organization's admins for a co-admin,
    else the super-admins (at most five, active ones, by username)."""
    from organizations.models import User

    people = User.objects.filter(is_active=True).exclude(pk=user.pk).order_by("username")
    if user.organization_id and user.role == User.Role.CO_ADMIN:
        admins = list(people.filter(organization_id=user.organization_id, role=User.Role.ORG_ADMIN)[:5])
        if admins:
            return admins
    return list(people.filter(role=User.Role.SUPER_ADMIN)[:5])
