"""``/audit-events``: the audit log, newest first."""

import re
from datetime import UTC, datetime
from typing import Annotated

from ninja import Query, Router

from audit.models import AuditEvent
from audit.selectors import audit_filter
from integrations import representations
from integrations.api.auth import caller_with, organization_for
from integrations.api.errors import APIError
from integrations.api.pagination import PageParams, paginate
from integrations.api.schemas import ERRORS, AuditEventList, Storable
from integrations.models import Scope

router = Router(tags=["audit"])

RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339 = re.compile(RFC3339)


def rfc3339_parse(text: str, field: str) -> datetime:
    """An RFC 3339 time with its zone (``2026-12-01T00:00:00Z``); anything else is a 400."""
    try:
        if not _RFC3339.match(text):
            raise ValueError
        return datetime.fromisoformat(text.replace("z", "Z")).astimezone(UTC)
    except ValueError:
        raise APIError(
            400, "Not an RFC 3339 time.", fields={field: ["An RFC 3339 time with a zone, e.g. 2026-12-01T00:00:00Z."]}
        ) from None


@router.get("/audit-events", response={200: AuditEventList, **ERRORS}, summary="List audit events")
def audit_event_list(
    request,
    page: Query[PageParams],
    organization: Annotated[str, Query(max_length=100, description="uuid or slug"), Storable] = "",
    action: Annotated[
        str, Query(max_length=64, description="an action (license.revoke) or a family (license.)"), Storable
    ] = "",
    since: str | None = Query(None, max_length=40, pattern=RFC3339, description="RFC 3339 time: events at or after it"),
):
    caller = caller_with(request, Scope.AUDIT_READ)
    queryset = AuditEvent.objects.select_related("organization")
    if organization:
        queryset = queryset.filter(organization=organization_for(caller, organization))
    elif not caller.token.is_vendor:
        queryset = queryset.filter(organization_id=caller.token.organization_id)
    queryset = audit_filter(queryset, {"action": action})
    if since is not None:
        queryset = queryset.filter(created_at__gte=rfc3339_parse(since, "since"))
    return paginate(queryset, page=page, field="created_at", represent=representations.audit_event)
