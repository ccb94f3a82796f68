"""A key's history as the agent calls write it: one row per binding, move, re-bind, release and change
of details, and refused calls coalesced (``refused``)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from audit.services import AGENT, actor_label
from core.context import current_ip
from licenses.agent_api import seen, sql
from licenses.models import ActivationEvent, LicenseKey
from licenses.verdicts import Verdict


def history(license_key, *, event, uid, now, code="", detail="", is_move=False, actor=AGENT, ip="") -> None:
    """Append a row to the key's history (``ActivationEvent``), in the caller's transaction if it has one."""
    ip = ip or current_ip()
    if connection.vendor != "postgresql":
        ActivationEvent.record(
            license_key, event=event, uid=uid, now=now, code=code, detail=detail, is_move=is_move, actor=actor, ip=ip
        )
        return
    values = [license_key.pk, uid, event, code, is_move, detail[:500], actor_label(actor), ip, now]
    sql.execute("agent_history_insert", values)


def refused(license_key: LicenseKey, uid: str, verdict: Verdict, now: datetime, *, actor=AGENT) -> None:
    """Record a refused call (a failed verdict about a key that exists), so that an administrator can
    trace it on the key's page: the first refusal of this key, machine and code in the window writes a
    row (with the verdict's detail); the others add one to its count (``seen.refusal_counted``)."""
    if not seen.refusal_counted(license_key.pk, uid, verdict.code, now):
        history(
            license_key,
            event=ActivationEvent.Event.REFUSED,
            uid=uid,
            now=now,
            code=verdict.code,
            detail=verdict.detail,
            actor=actor,
        )
