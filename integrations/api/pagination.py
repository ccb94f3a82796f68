"""Cursor pagination: ``?limit=`` (1–200, default 50) and ``?cursor=``, answered as
``{"data": [...], "next": "<cursor or null>"}``, newest first.

The cursor is the last row's (ordering value, id), so a page is one index range scan however deep
it is, and rows added meanwhile neither repeat nor shift the next page.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from django.db.models import Q
from ninja import Field, Schema

from integrations.api.errors import APIError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CURSOR_MAX = 120  # the cursors given are about 60 characters


class PageParams(Schema):
    """The query parameters of every list (``page: Query[PageParams]``)."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Rows per page (1–200).")
    cursor: str | None = Field(None, max_length=CURSOR_MAX, description="The previous page's ``next``.")


def _encode(value, pk: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    return base64.urlsafe_b64encode(json.dumps([value, pk]).encode()).decode().rstrip("=")


def _decode(cursor: str, is_time: bool):
    try:
        value, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if is_time:  # the API gives times with their zone, within what PostgreSQL stores in UTC
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError
            value = value.astimezone(UTC)
        if not isinstance(pk, int):
            raise ValueError
        return value, pk
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError, UnicodeDecodeError):
        raise APIError(400, "The cursor is not one this API gave.", fields={"cursor": ["Invalid cursor."]}) from None


def paginate(queryset, *, page: PageParams, field: str, represent, is_time: bool = True) -> dict:
    """A page of ``queryset`` ordered by ``field`` then ``id``, both descending, as the API answers."""
    limit, cursor = page.limit, page.cursor
    queryset = queryset.order_by(f"-{field}", "-id")
    if cursor:
        value, pk = _decode(cursor, is_time)
        queryset = queryset.filter(Q(**{f"{field}__lt": value}) | Q(**{field: value, "id__lt": pk}))
    rows = list(queryset[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return {
        "data": [represent(row) for row in rows],
        "next": _encode(getattr(last, field), last.pk) if more and last is not None else None,
    }
