"""Times as the portal writes them for machines: RFC 3339, in UTC, to the second, with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(value: datetime | None) -> str | None:
    """``2026-11-30T08:00:00Z``, or None for None. A naive value is taken to be UTC."""
    if value is None:
        return None
    if value.tzinfo is not None and value.tzinfo is not UTC and value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds")[:19] + "Z"
