"""Reads that depend on who asks: one organization's environments and machines."""

from __future__ import annotations

import uuid

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from environments.models import Environment, Machine
from organizations.models import Organization


def environment_for_user(user, organization: Organization, environment_uuid) -> Environment:
    """An environment of ``organization`` (already checked for ``user``), or a 404."""
    if not user.can_manage(organization):
        raise Http404("No such environment.")
    try:
        environment_uuid = uuid.UUID(str(environment_uuid))
    except ValueError:
        raise Http404("No such environment.") from None
    environment = Environment.objects.filter(organization=organization, uuid=environment_uuid).first()
    if environment is None:
        raise Http404("No such environment.")
    environment.organization = organization
    return environment


def machine_for_user(user, organization: Organization, uid: str) -> Machine:
    """A machine bound to ``organization``, or a 404 (a machine of another organization is not found)."""
    if not user.can_manage(organization):
        raise Http404("No such machine.")
    machine = Machine.objects.filter(organization=organization, uid=uid).select_related("environment").first()
    if machine is None:
        raise Http404("No such machine.")
    machine.organization = organization
    return machine


def environments_of(organization: Organization) -> QuerySet[Environment]:
    """All environments (attached first), each with how many machines it holds."""
    return (
        Environment.objects.filter(organization=organization)
        .annotate(machine_count=Count("machines", filter=Q(machines__organization=organization)))
        .order_by("deleted_at", "name", "pk")
    )


MACHINE_SORTS = {
    "last_seen": ["last_seen_at", "pk"],
    "first_seen": ["first_seen_at", "pk"],
    "hostname": ["hostname", "name", "pk"],
}


def machines_search(queryset: QuerySet[Machine], text: str) -> QuerySet[Machine]:
    """Machines whose UID begins with ``text`` (as the list shows it, any case), or whose host name,
    name or MAC address contains it."""
    text = text.strip()
    if not text:
        return queryset
    condition = Q(hostname__icontains=text) | Q(name__icontains=text) | Q(mac__icontains=text)
    uid_start = text.lower().replace("-", "").replace(" ", "").rstrip("…")
    if uid_start and all(character in "0123456789abcdef" for character in uid_start):
        condition |= Q(uid__startswith=uid_start)
    return queryset.filter(condition)
