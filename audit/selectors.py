"""Reads of the audit log, as the audit pages and the dashboard show it."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet

from audit.models import AuditEvent
from core.pages import start_of_day_utc


def audit_events_of(organization) -> QuerySet[AuditEvent]:
    """An organization's events, newest first (the index ``audit_org_created``)."""
    return (
        AuditEvent.objects.filter(organization=organization)
        .select_related("organization")
        .order_by("-created_at", "-id")
    )


def audit_filter(queryset: QuerySet[AuditEvent], filters: dict) -> QuerySet[AuditEvent]:
    """Apply the audit page's filters: action (exact, or ``license.`` for a family), actor, object, dates."""
    action = filters.get("action") or ""
    if action.endswith("."):
        queryset = queryset.filter(action__startswith=action)
    elif action:
        queryset = queryset.filter(action=action)
    if filters.get("actor"):
        queryset = queryset.filter(actor_label__icontains=filters["actor"])
    if filters.get("object"):
        text = filters["object"]
        queryset = queryset.filter(Q(object_id__icontains=text) | Q(object_repr__icontains=text))
    if filters.get("since"):
        queryset = queryset.filter(created_at__gte=start_of_day_utc(filters["since"]))
    if filters.get("until"):
        queryset = queryset.filter(created_at__lt=start_of_day_utc(filters["until"] + timedelta(days=1)))
    return queryset


def recent_audit_events(organizations=None, limit: int = 10) -> list[AuditEvent]:
    """The latest events: everywhere (``organizations`` None) or in those organizations."""
    queryset = AuditEvent.objects.select_related("organization").order_by("-created_at", "-id")
    if organizations is not None:
        queryset = queryset.filter(organization__in=organizations)
    return list(queryset[:limit])
