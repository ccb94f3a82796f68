"""``/audit-events``: the audit log, newest first."""

from datetime import UTC, datetime

from ninja import Query, Router

from audit.models import AuditEvent
from audit.selectors import audit_filter
from integrations import representations
from integrations.api.auth import caller_with, organization_for
from integrations.api.errors import APIError
from integrations.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from integrations.api.schemas import ERRORS, AuditEventList
from integrations.models import Scope

router = Router(tags=["audit"])


@router.get("/audit-events", response={200: AuditEventList, **ERRORS}, summary="List audit events")
def audit_event_list(
    request,
    organization: str = Query("", max_length=200, description="uuid or slug"),
    action: str = Query("", max_length=64, description="an action (license.revoke) or a family (license.)"),
    since: datetime | None = Query(None, description="RFC 3339 time: events at or after it"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(None, max_length=200),
):
    caller = caller_with(request, Scope.AUDIT_READ)
    queryset = AuditEvent.objects.select_related("organization")
    if organization:
        queryset = queryset.filter(organization=organization_for(caller, organization))
    elif not caller.token.is_vendor:
        queryset = queryset.filter(organization_id=caller.token.organization_id)
    queryset = audit_filter(queryset, {"action": action})
    if since is not None:
        if since.tzinfo is None:
            raise APIError(400, "Times carry a zone.", fields={"since": ["Give a time zone (Z)."]})
        queryset = queryset.filter(created_at__gte=since.astimezone(UTC))
    return paginate(queryset, limit=limit, cursor=cursor, field="created_at", represent=representations.audit_event)
