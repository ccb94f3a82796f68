"""The agent calls: activate, validate, deactivate (AGENT_PROTOCOL.md), as services.

A call finds its key and the calling machine (``agent_lookup``: the verdict cache's rows, else one
query), asks the key for its verdict (``LicenseKey.verdict_for``, the rules in one place), and
writes what the call changes:

- ``validate`` (the heartbeat) changes nothing but "last seen" (``seen``), unless the machine's
  details changed;
- an unchanged re-activation (the key already bound to this machine, nothing about it new) takes no
  lock: a history row at most once a minute per key and machine, queued in Redis for the "last seen"
  flush (``seen.reactivation_recorded``; written at once without Redis), and a token;
- every other activation, and every deactivation, runs under the key's lock, then the machine's, in
  one transaction with its audit events.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import BooleanField, ExpressionWrapper
from django.utils.translation import gettext_noop

from audit.services import AGENT, actor_label, audit_record
from core.context import current_ip
from environments.fingerprint import Fingerprint
from environments.models import Environment, Machine
from licenses import services, signing
from licenses.agent_api import seen, sql, state_cache
from licenses.agent_api.binding import bind, components, lock_or_create_machine, machine_changes, rebind
from licenses.agent_api.trail import history, refused
from licenses.bindings import key_release
from licenses.models import ActivationEvent, Kind, LicenseKey, moves_in_last_30_days, registered_machine_filter
from licenses.services import digest_of, license_find
from licenses.verdicts import ANOTHER_ORGANIZATION, Action, Code, Verdict
from organizations.models import Organization

NO_SUCH_KEY = gettext_noop("No such license key.")


@dataclass
class AgentOutcome:
    verdict: Verdict
    license_key: LicenseKey | None = None
    machine: Machine | None = None
    token: str | None = None
    now: datetime | None = None
    token_expires_at: datetime | None = None  # when ``token`` expires (the manual activation page says)


def now_utc() -> datetime:
    """The services' clock (one place to read the time, and for tests to move it)."""
    return services.now_utc()


# Rows into model instances ---------------------------------------------------------------------------

# The models of ``sql.VERDICT_BY_DIGEST``'s row, in order, and the key's relation each one fills.
_VERDICT_PARTS = (
    (LicenseKey, None),
    (Organization, "organization"),
    (Environment, "environment"),
    (Machine, "machine"),
)


@functools.cache
def _attnames(model) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


def key_from_row(row: tuple | None, digest: str) -> LicenseKey | None:
    """The key of a ``VERDICT_BY_DIGEST`` row (read now or cached), with its relations; None unless
    its digest is ``digest``."""
    if row is None:
        return None
    start, license_key = 0, None
    for model, relation in _VERDICT_PARTS:
        names = _attnames(model)
        values = row[start : start + len(names)]
        start += len(names)
        if relation is None:
            license_key = model.from_db(DEFAULT_DB_ALIAS, names, values)
        else:  # a LEFT JOIN that found nothing gives NULLs: no related row
            related = None if values[0] is None else model.from_db(DEFAULT_DB_ALIAS, names, values)
            setattr(license_key, relation, related)
    if not hmac.compare_digest(license_key.digest, digest):
        return None
    return license_key


def machine_from_registered_row(row: tuple | None) -> Machine | None:
    """The machine of a ``REGISTERED_MACHINE`` row (read now or cached), with ``is_registered_machine``."""
    if row is None:
        return None
    machine = Machine.from_db(DEFAULT_DB_ALIAS, _attnames(Machine), row[:-1])
    machine.is_registered_machine = bool(row[-1])
    return machine


def row_for_cache(row: tuple) -> tuple:
    """A ``VERDICT_BY_DIGEST`` row without the key's encrypted text: no agent call needs it, so it stays
    out of Redis (keys built from cached rows are only read, never saved)."""
    position = _attnames(LicenseKey).index("encrypted_key")
    return (*row[:position], "", *row[position + 1 :])


# Reading the key and the machine ---------------------------------------------------------------------


def _verdict_lookup(digest: str) -> tuple[LicenseKey | None, tuple | None]:
    """The key with this digest and its relations, and the row it was read from (PostgreSQL only)."""
    if connection.vendor == "postgresql":
        row = sql.execute("agent_verdict_by_digest", [digest])
        return key_from_row(row, digest), row
    related = LicenseKey.objects.select_related("organization", "environment", "machine")
    return related.filter(digest=digest).order_by().first(), None


def _registered_machine_queryset(organization_id: int, uid: str):
    registered = ExpressionWrapper(registered_machine_filter(organization_id), output_field=BooleanField())
    return Machine.objects.annotate(is_registered_machine=registered).filter(uid=uid).order_by()


def _registered_machine(license_key: LicenseKey, uid: str) -> tuple[Machine | None, tuple | None]:
    """The machine with this UID, knowing whether it is a registered machine of the key's organization
    (a temporary key's verdict asks both), and the row it was read from (PostgreSQL only)."""
    if connection.vendor == "postgresql":
        row = sql.execute("agent_registered_machine", [license_key.organization_id, uid])
        return machine_from_registered_row(row), row
    return _registered_machine_queryset(license_key.organization_id, uid).first(), None


def _machine_for(license_key: LicenseKey, uid: str, *, for_update: bool = False) -> Machine | None:
    if license_key.machine_id is not None and license_key.machine.uid == uid and not for_update:
        return license_key.machine
    if license_key.kind == Kind.TEMPORARY and not for_update:
        return _registered_machine(license_key, uid)[0]
    queryset = Machine.objects.select_for_update() if for_update else Machine.objects
    return queryset.filter(uid=uid).order_by().first()


def agent_lookup(
    key_text: str, uid: str, prefetch: state_cache.Prefetch | None
) -> tuple[LicenseKey | None, Machine | None]:
    """A call's key and the machine known by ``uid``: cached if ``prefetch`` holds them, else read.

    A cached row was found by the digest of the call's text, so that text is the key's own: only a
    call that reads the database checks the text's form first (``digest_of``; a malformed key is
    never looked up).

    Cached rows answer only where they are the whole answer: a key bound to this very machine, or a
    temporary key and the machine it runs on. Anything else reads the database (one query, a
    temporary key two) and caches what it read if every row belongs to the key's organization, whose
    generation then covers them (``state_cache``).
    """
    if prefetch is not None and prefetch.key_row is not None:
        license_key = key_from_row(prefetch.key_row, prefetch.digest)
        if license_key is not None and license_key.kind == Kind.TEMPORARY:
            if prefetch.machine_row is not None:
                return license_key, machine_from_registered_row(prefetch.machine_row)
        elif license_key is not None and license_key.machine_id is not None and license_key.machine.uid == uid:
            return license_key, license_key.machine
    digest = digest_of(key_text)
    if digest is None:
        return None, None
    license_key, key_row = _verdict_lookup(digest)
    if license_key is None:
        return None, None
    machine_row = None
    if license_key.kind == Kind.TEMPORARY:
        machine, machine_row = _registered_machine(license_key, uid)
    else:
        machine = _machine_for(license_key, uid)
    organization = license_key.organization
    if key_row is not None and prefetch is not None and prefetch.organization == str(organization.uuid):
        bound = license_key.machine if license_key.machine_id else None
        state_cache.store(
            prefetch,
            key_row=row_for_cache(key_row) if license_key.kind == Kind.TEMPORARY or _of(bound, organization) else None,
            bound_uid=bound.uid if _of(bound, organization) else "",
            machine_row=machine_row if _of(machine, organization) else None,
        )
    return license_key, machine


def _of(machine: Machine | None, organization: Organization) -> bool:
    return machine is not None and machine.organization_id == organization.pk


def _verdict(license_key: LicenseKey, action, uid: str, fingerprint, machine: Machine | None, now) -> Verdict:
    def machine_registered(candidate: Machine) -> bool:
        known = getattr(candidate, "is_registered_machine", None)  # read with the machine
        if known is not None:
            return known
        registered = registered_machine_filter(license_key.organization)
        return Machine.objects.filter(pk=candidate.pk).filter(registered).exists()

    return license_key.verdict_for(
        action=action,
        uid=uid,
        fingerprint=fingerprint,
        machine=machine,
        now=now,
        machine_registered=machine_registered,
        recent_moves=lambda key: moves_in_last_30_days(key, now),
    )


# Writing -------------------------------------------------------------------------------------------


def token_expires_at(license_key: LicenseKey, now: datetime, *, manual: bool = False) -> datetime:
    """When an activation token issued now expires: online, the earlier of the key's end and the lease;
    a manual activation code lives until the key's end (an air-gapped machine cannot refresh it), or
    ``LICENSE_MANUAL_CODE_MAX_DAYS`` for a key that nothing ends (AGENT_PROTOCOL.md, "Additions in 1.1")."""
    ends = license_key.effective_expires_at
    if manual:
        return ends or now + timedelta(days=settings.LICENSE_MANUAL_CODE_MAX_DAYS)
    lease_end = now + timedelta(days=settings.LICENSE_TOKEN_LEASE_DAYS)
    return min(ends, lease_end) if ends else lease_end


def activation_token(license_key: LicenseKey, uid: str, now: datetime, *, manual: bool = False) -> str:
    """The signed activation token (AGENT_PROTOCOL.md "Activation token"), or a manual activation code."""
    expires = token_expires_at(license_key, now, manual=manual)
    return signing.jws_sign(
        {
            "iss": settings.LICENSE_ISSUER,
            "sub": str(license_key.public_id),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "machine_uid": uid,
            "org": str(license_key.organization.uuid),
            "kind": license_key.kind,
            "edition": license_key.edition,
            "environment": license_key.environment.name if license_key.environment_id else None,
            "capabilities": license_key.capabilities,
        }
    )


# The calls -----------------------------------------------------------------------------------------


def license_validate(
    *, key_text: str, uid: str, fingerprint: Fingerprint, prefetch: state_cache.Prefetch | None = None
) -> AgentOutcome:
    """The heartbeat: its key and machine from the cache or one query; "last seen" recorded."""
    now = now_utc()
    license_key, machine = agent_lookup(key_text, uid, prefetch)
    if license_key is None:
        return AgentOutcome(Verdict(Code.NOT_FOUND, NO_SUCH_KEY), now=now)
    verdict = _verdict(license_key, Action.VALIDATE, uid, fingerprint, machine, now)
    changes = {}
    if not verdict.valid:
        refused(license_key, uid, verdict, now)
    elif machine is not None:
        changes = {name: value for name, value in components(fingerprint).items() if getattr(machine, name) != value}
    if changes:
        _details_changed(license_key, machine, changes, now)
    elif prefetch is not None and prefetch.seen:  # recorded in the verdict cache's round trip
        seen.flush_after_answer()
    elif machine is not None and (verdict.valid or machine.pk == license_key.machine_id):
        seen.machine_seen(machine, now)
    return AgentOutcome(verdict, license_key, machine, now=now)


def _details_changed(license_key: LicenseKey, machine: Machine, changes: dict[str, str], now: datetime) -> None:
    """A heartbeat with new details (a new ``product_version`` patch level): saved at once, with history."""
    with transaction.atomic():
        Machine.objects.filter(pk=machine.pk).update(last_seen_at=now, **changes)
        state_cache.organization_changed(license_key.organization.uuid)  # cached rows hold the old details
        detail = ", ".join(f"{name}: {getattr(machine, name) or '—'} → {value}" for name, value in changes.items())
        history(
            license_key, event=ActivationEvent.Event.VALIDATE, uid=machine.uid, now=now, code=Code.VALID, detail=detail
        )
    machine.last_seen_at = now
    for name, value in changes.items():
        setattr(machine, name, value)


def license_activate(
    *,
    key_text: str,
    uid: str,
    fingerprint: Fingerprint | None,
    machine_name: str = "",
    actor=AGENT,
    manual: bool = False,
    prefetch: state_cache.Prefetch | None = None,
) -> AgentOutcome:
    """Bind a key to a machine if it is free and issue an activation token (online or manual).

    ``prefetch`` is what the agent API's round trip to Redis found (``state_cache``), if anything.
    """
    if not manual:
        outcome = _reactivation(
            key_text=key_text, uid=uid, fingerprint=fingerprint, machine_name=machine_name, prefetch=prefetch
        )
        if outcome is not None:
            return outcome
    return _activation(
        key_text=key_text, uid=uid, fingerprint=fingerprint, machine_name=machine_name, actor=actor, manual=manual
    )


def _reactivation(*, key_text, uid, fingerprint, machine_name, prefetch) -> AgentOutcome | None:
    """An agent activating the key already bound to its machine, with nothing about it changed.

    Nothing is bound or moved, so nothing is locked: one read (or none, cached), "last seen", a
    history row at most once a minute per key and machine (like a heartbeat), and the token. Anything
    else (a free key, a move, new details, a failed verdict) returns None and takes the locked path.
    """
    now = now_utc()
    license_key, _ = agent_lookup(key_text, uid, prefetch)
    if license_key is None or not license_key.is_bindable or license_key.machine_id is None:
        return None
    machine = license_key.machine
    if (
        machine.uid != uid
        or machine.organization_id != license_key.organization_id
        or (license_key.environment_id and machine.environment_id != license_key.environment_id)
        or machine_changes(machine, fingerprint, machine_name)
    ):
        return None
    verdict = _verdict(license_key, Action.ACTIVATE, uid, fingerprint, machine, now)
    if not verdict.valid or verdict.is_move:
        return None
    recorded = seen.reactivation_recorded(
        license_key.pk, uid, verdict.code, actor_label(AGENT), current_ip(), now, seen=not (prefetch and prefetch.seen)
    )
    if not recorded:
        if seen.history_due(license_key.pk, uid, now):  # the key exists for good: its row needs no lock on it
            history(license_key, event=ActivationEvent.Event.ACTIVATE, uid=uid, now=now, code=verdict.code)
        seen.machine_seen(machine, now)
    return AgentOutcome(verdict, license_key, machine, activation_token(license_key, uid, now), now=now)


@transaction.atomic
def _activation(*, key_text, uid, fingerprint, machine_name, actor, manual) -> AgentOutcome:
    """Activation under locks: the key, then the machine (created if new).

    The call's time is taken once the key is locked, so that its history row is never older than a
    row that a change holding the lock before it committed (history reads in commit order).
    """
    license_key = license_find(key_text, for_update=True)
    now = now_utc()
    if license_key is None:
        return AgentOutcome(Verdict(Code.NOT_FOUND, NO_SUCH_KEY), now=now)
    machine = _machine_for(license_key, uid, for_update=True)
    verdict = _verdict(license_key, Action.ACTIVATE, uid, fingerprint, machine, now)
    if verdict.code == Code.FINGERPRINT_MISMATCH and not manual:
        rebound = rebind(license_key, uid, fingerprint, machine, machine_name, actor=actor, now=now)
        if rebound is not None:  # an in-place upgrade, or a change the organization's policy tolerates
            verdict = _verdict(license_key, Action.ACTIVATE, uid, fingerprint, rebound, now)
            token = activation_token(license_key, uid, now)
            return AgentOutcome(verdict, license_key, rebound, token, now=now)
    if not verdict.valid:
        refused(license_key, uid, verdict, now, actor=actor)
        return AgentOutcome(verdict, license_key, now=now)
    if license_key.is_bindable:
        machine = machine or lock_or_create_machine(uid, fingerprint, machine_name, now)  # locked either way
        if machine.organization_id not in (None, license_key.organization_id):
            verdict = Verdict(Code.ORGANIZATION_MISMATCH, ANOTHER_ORGANIZATION)
            refused(license_key, uid, verdict, now, actor=actor)
            return AgentOutcome(verdict, license_key, now=now)
        bind(license_key, machine, fingerprint, machine_name, verdict, actor=actor, manual=manual, now=now)
    elif machine is not None:
        seen.machine_seen(machine, now)
    history(
        license_key,
        event=ActivationEvent.Event.MANUAL_ACTIVATE if manual else ActivationEvent.Event.ACTIVATE,
        uid=uid,
        now=now,
        code=verdict.code,
        is_move=verdict.is_move,
        actor=actor,
    )
    token = activation_token(license_key, uid, now, manual=manual)
    expires = token_expires_at(license_key, now, manual=manual)
    return AgentOutcome(verdict, license_key, machine, token, now=now, token_expires_at=expires)


@transaction.atomic
def license_deactivate(*, key_text: str, uid: str, fingerprint: Fingerprint) -> AgentOutcome:
    """Release this machine's binding; the machine itself stays bound to its organization."""
    license_key = license_find(key_text, for_update=True)
    now = now_utc()  # after the lock: see _activation
    if license_key is None:
        return AgentOutcome(Verdict(Code.NOT_FOUND, NO_SUCH_KEY), now=now)
    machine = _machine_for(license_key, uid)
    verdict = _verdict(license_key, Action.DEACTIVATE, uid, fingerprint, machine, now)
    if not verdict.valid:
        refused(license_key, uid, verdict, now)
        return AgentOutcome(verdict, license_key, now=now)
    if license_key.machine_id is not None and license_key.machine.uid == uid:
        before = license_key.snapshot()
        key_release(license_key, released_by=LicenseKey.Released.DEACTIVATE, save=True)
        history(license_key, event=ActivationEvent.Event.DEACTIVATE, uid=uid, now=now, code=Code.DEACTIVATED)
        audit_record(
            actor=AGENT,
            action="license.deactivate",
            organization=license_key.organization,
            obj=license_key,
            before=before,
            after=license_key.snapshot(),
        )
        detail = gettext_noop("This machine's activation was released; the key can be activated again.")
    else:
        detail = gettext_noop("This key was not activated on this machine; nothing changed.")
    return AgentOutcome(Verdict(Code.DEACTIVATED, detail), license_key, now=now)
