"""Writing audit events. Every service that changes state calls ``audit_record``
inside its own transaction, so the event and the change commit together."""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils import translation
from django.utils.module_loading import import_string

from audit.models import Action, AuditEvent
from core.context import current_ip, current_request_id

COMMAND_LINE = "system (command line)"
AGENT = "agent"

# Events that record a reading or a sign-in, not a change: they leave the verdict cache alone.
_NOT_A_CHANGE = {"access.denied", "auth.sign_in", "license.reveal", "user.set_language"}

# Fields that must never reach the audit log, whatever a caller passes.
_SECRET_FIELDS = {"key", "license_key", "password", "token", "activation", "encrypted_key", "secret"}


@functools.cache
def _hooks(setting: str) -> tuple:
    return tuple(import_string(path) for path in getattr(settings, setting))


setting_changed.connect(
    lambda setting, **kwargs: _hooks.cache_clear() if setting.startswith("AUDIT_") else None, weak=False
)


def _scrub(data: dict | None) -> dict | None:
    if data is None:
        return None
    return {name: ("[hidden]" if name in _SECRET_FIELDS else value) for name, value in data.items()}


def actor_label(actor: Any) -> str:
    if actor is None:
        return COMMAND_LINE
    if isinstance(actor, str):
        return actor
    return actor.get_username()


def audit_record(
    *,
    actor: Any,
    action: str,
    organization=None,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one event. ``actor`` is a user, a label (``"agent"``) or None for the command line.

    An audited change of an organization's data also calls each of ``settings.AUDIT_CHANGE_HOOKS``
    with the organization's uuid (the agent API's verdict cache makes that organization's cached
    rows stale): every change is audited, so no hook misses one. Each of
    ``settings.AUDIT_EVENT_HOOKS`` is then called with the event written (the webhooks' events).
    The hooks are named by string so that the audit log, below every app, imports none of them.
    """
    if action not in Action.values:
        raise ValueError(f"unknown audit action {action!r}: add it to audit.models.Action")
    if organization is not None and action not in _NOT_A_CHANGE:
        for hook in _hooks("AUDIT_CHANGE_HOOKS"):
            hook(organization.uuid)
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(
            getattr(obj, "public_id", None) or getattr(obj, "uuid", None) or getattr(obj, "uid", None) or obj.pk
        )
        with translation.override(settings.LANGUAGE_CODE):  # the log reads the same whoever acted
            object_repr = object_repr or str(obj)[:200]
    event = AuditEvent.objects.create(
        actor=actor if actor is not None and not isinstance(actor, str) and actor.pk else None,
        actor_label=actor_label(actor)[:150],
        organization=organization,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        before=_scrub(before),
        after=_scrub(after),
        request_id=current_request_id(),
        ip=current_ip(),
    )
    for hook in _hooks("AUDIT_EVENT_HOOKS"):
        hook(event)
    return event
