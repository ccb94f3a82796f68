"""Pages: an organization's audit log, filterable, and its CSV export (streamed)."""

from __future__ import annotations

import csv
import json

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit.forms import AuditFilterForm
from audit.selectors import audit_events_of, audit_filter
from core.pages import bounded_total, page_of, sorting_of
from core.time import rfc3339
from organizations.selectors import organization_for_user
from organizations.tabs import organization_page_context

CSV_COLUMNS = [
    "time_utc",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object",
    "before",
    "after",
    "request_id",
    "ip",
]


def _filtered_events(request, organization):
    """The events the filters select; none at all when the filters are wrong (a To before its From
    must not look like an answer)."""
    form = AuditFilterForm(request.GET or None)
    queryset = audit_events_of(organization)
    if form.is_bound:
        queryset = audit_filter(queryset, form.cleaned_data) if form.is_valid() else queryset.none()
    return form, queryset


# The log sorts by time only, newest or oldest first: the index audit_org_created serves both; who
# and what are narrowed with the filters instead (a sort by them would read every event of the organization).
AUDIT_SORTS = {"time": ["created_at", "id"]}


@login_required
def organization_audit(request, slug):
    organization = organization_for_user(request.user, slug)
    form, queryset = _filtered_events(request, organization)
    sorting = sorting_of(request, AUDIT_SORTS, "-time")
    queryset = queryset.order_by(*sorting.ordering)
    page = page_of(queryset, request)
    return render(
        request,
        "audit/organization_audit.html",
        organization_page_context(
            request, organization, "audit", form=form, page=page, sorting=sorting, total=bounded_total(queryset)
        ),
    )


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    """Text safe to open in a spreadsheet (no formula injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(queryset):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in queryset.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                _cell(value)
                for value in (
                    rfc3339(event.created_at),
                    event.actor_label,
                    event.action,
                    event.object_type,
                    event.object_id,
                    event.object_repr,
                    json.dumps(event.before, sort_keys=True) if event.before is not None else "",
                    json.dumps(event.after, sort_keys=True) if event.after is not None else "",
                    event.request_id,
                    event.ip,
                )
            ]
        )


@login_required
def organization_audit_csv(request, slug):
    organization = organization_for_user(request.user, slug)
    _, queryset = _filtered_events(request, organization)
    response = StreamingHttpResponse(_csv_rows(queryset), content_type="text/csv; charset=utf-8")
    filename = f"audit-{organization.slug}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
