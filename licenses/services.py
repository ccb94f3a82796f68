"""Everything that changes license keys: issue, edit, revoke, delete, and the agent calls.

Each function that changes state runs in one transaction and writes its audit event in it; the
heartbeat and an unchanged re-activation change nothing but "last seen" and the key's history, and
take no lock.
"""

from __future__ import annotations

import functools
import hmac
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connection, connections, models, transaction
from django.db.models import BooleanField, ExpressionWrapper
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from audit.services import AGENT, actor_label, audit_record
from environments.fingerprint import Fingerprint
from environments.models import Environment, Machine
from licenses import encryption, keyformat, signing, state_cache
from licenses.models import (
    Action,
    ActivationEvent,
    Code,
    Kind,
    LicenseKey,
    Verdict,
    moves_in_last_30_days,
    registered_machine_filter,
)
from organizations.models import Organization

MAX_TTL = timedelta(days=365)
TEMPORARY_TTL_CHOICES = [
    (timedelta(hours=1), "1 hour"),
    (timedelta(hours=4), "4 hours"),
    (timedelta(hours=8), "8 hours"),
    (timedelta(days=1), "1 day"),
    (timedelta(days=3), "3 days"),
    (timedelta(days=7), "7 days"),
]


def now_utc() -> datetime:
    return timezone.now()


def server_key_expires_at(expires_on: date) -> datetime:
    """A server key is valid through its date (UTC): it ends at the next day's 00:00Z."""
    return datetime.combine(expires_on + timedelta(days=1), time.min, tzinfo=UTC)


# Issue, edit, revoke, delete -------------------------------------------------------------------


@transaction.atomic
def license_issue(
    *,
    organization: Organization,
    kind: str,
    actor,
    environment: Environment | None = None,
    ttl: timedelta | None = None,
    machine_name: str = "",
    expires_on: date | None = None,
    description: str = "",
    issued_to=None,
) -> tuple[LicenseKey, str]:
    """Issue a key; return it and its text (the only time the text leaves this module unasked)."""
    now = now_utc().replace(microsecond=0)
    expires_at = None
    if kind == Kind.MACHINE:
        if environment is None or environment.organization_id != organization.pk:
            raise ValidationError({"environment": "Choose an environment of this organization."})
        if environment.deleted_at is not None:
            raise ValidationError({"environment": f"The environment {environment.name} is deleted."})
    elif kind == Kind.TEMPORARY:
        if ttl is None or ttl <= timedelta(0) or ttl > MAX_TTL:
            raise ValidationError({"ttl": "A temporary key needs a time to live between 1 minute and 365 days."})
        expires_at = now + ttl
        environment = None
    elif kind == Kind.SERVER:
        machine_name = machine_name.strip()
        if not machine_name:
            raise ValidationError({"machine_name": "A server key needs the machine name it is for."})
        expires_at = _server_key_end(expires_on)
        environment = None
    elif kind == Kind.TRIAL:
        expires_at = now + timedelta(days=settings.LICENSE_TRIAL_DAYS)
        environment = None
    else:
        raise ValidationError({"kind": f"Unknown kind of key {kind!r}."})

    signing_key = signing.keyring().active
    text = keyformat.key_build(
        kind=kind, organization_id=organization.uuid, issued_at=now, private_key=signing_key.private_key
    )
    license_key = LicenseKey.objects.create(
        kind=kind,
        organization=organization,
        environment=environment,
        machine_name=machine_name if kind == Kind.SERVER else "",
        issued_at=now,
        expires_at=expires_at,
        description=description.strip(),
        requested_by=actor if getattr(actor, "pk", None) else None,
        issued_to=issued_to,
        digest=keyformat.key_digest(text),
        signing_kid=signing_key.kid,
        encrypted_key=encryption.encrypt(text),
    )
    audit_record(
        actor=actor, action="license.issue", organization=organization, obj=license_key, after=license_key.snapshot()
    )
    return license_key, text


@transaction.atomic
def license_update(
    *, license_key: LicenseKey, actor, description: str, status: str, expires_on: date | None
) -> LicenseKey:
    """Edit a server key: description, status (active/inactive) and expiration; never the key or machine."""
    license_key = LicenseKey.objects.select_for_update().get(pk=license_key.pk)
    if license_key.kind != Kind.SERVER:
        raise ValidationError("Only server access keys are edited this way.")
    if license_key.status == LicenseKey.Status.REVOKED:
        raise ValidationError("A revoked key cannot be edited.")
    if status not in (LicenseKey.Status.ACTIVE, LicenseKey.Status.INACTIVE):
        raise ValidationError({"status": "Choose Active or Inactive."})
    expires_at = _server_key_end(expires_on, current=license_key.expires_at)
    before = license_key.snapshot()
    license_key.description = description.strip()
    license_key.status = status
    license_key.expires_at = expires_at
    license_key.save(update_fields=["description", "status", "expires_at", "updated_at"])
    audit_record(
        actor=actor,
        action="license.update",
        organization=license_key.organization,
        obj=license_key,
        before=before,
        after=license_key.snapshot(),
    )
    return license_key


def _server_key_end(expires_on: date | None, *, current: datetime | None = None) -> datetime:
    """The end of a server key valid through ``expires_on``: a day is required, and it must not be
    in the past, unless it is the key's ``current`` end (a key that has already ended keeps its
    date through edits of its description or status)."""
    if expires_on is None:
        raise ValidationError({"expires_on": "A server key needs an expiration date."})
    expires_at = server_key_expires_at(expires_on)
    if expires_at != current and expires_on < now_utc().date():
        raise ValidationError({"expires_on": "The expiration date is in the past."})
    return expires_at


def _release(license_key: LicenseKey, *, released_by: str) -> None:
    license_key.last_machine_uid = license_key.machine.uid
    license_key.machine = None
    license_key.bound_at = None
    license_key.released_by = released_by


@transaction.atomic
def license_revoke(*, license_key: LicenseKey, actor, reason: str = "", deleting: bool = False) -> LicenseKey:
    """Revoke a key for good: it answers REVOKED everywhere and releases its machine."""
    license_key = LicenseKey.objects.select_for_update(of=("self",)).select_related("machine").get(pk=license_key.pk)
    if license_key.status == LicenseKey.Status.REVOKED and not deleting:
        raise ValidationError("This key is already revoked.")
    before = license_key.snapshot()
    now = now_utc()
    if license_key.status != LicenseKey.Status.REVOKED:
        if license_key.machine_id:
            _release(license_key, released_by=LicenseKey.Released.DETACH)
        license_key.status = LicenseKey.Status.REVOKED
        license_key.revoked_at = now
        license_key.revoked_by = actor if getattr(actor, "pk", None) else None
        license_key.revocation_reason = reason.strip()[:500]
        ActivationEvent.objects.create(
            license=license_key,
            machine_uid=license_key.last_machine_uid if before["machine"] else "",
            event=ActivationEvent.Event.REVOKE,
            detail=license_key.revocation_reason,
            actor_label=actor_label(actor),
            created_at=now,
        )
    if deleting:
        license_key.deleted_at = now
    license_key.save()
    audit_record(
        actor=actor,
        action="license.delete" if deleting else "license.revoke",
        organization=license_key.organization,
        obj=license_key,
        before=before,
        after={**license_key.snapshot(), "reason": license_key.revocation_reason},
    )
    return license_key


@transaction.atomic
def license_delete_many(*, license_keys: list[LicenseKey], actor) -> int:
    """Delete server keys: each is revoked (so agents holding it are refused) and hidden from lists."""
    for license_key in license_keys:
        if license_key.kind != Kind.SERVER:
            raise ValidationError("Only server access keys can be deleted.")
        license_revoke(license_key=license_key, actor=actor, reason="Deleted", deleting=True)
    return len(license_keys)


def license_reveal(*, license_key: LicenseKey, actor) -> str:
    """The key's text, for someone entitled to see it; the showing is itself audited."""
    text = encryption.decrypt(license_key.encrypted_key)
    audit_record(actor=actor, action="license.reveal", organization=license_key.organization, obj=license_key)
    return text


# Finding a key from its text --------------------------------------------------------------------


def license_find(text: str, *, for_update: bool = False) -> LicenseKey | None:
    """The key with this text, or None (a malformed key is never looked up)."""
    digest = _digest_of(text)
    if digest is None:
        return None
    if for_update:
        # Lock first, then read with the joins: a row re-read after waiting for the lock would
        # otherwise come back with its new machine_id but the joined machine as it was before.
        locked = _first(LicenseKey.objects.select_for_update().filter(digest=digest).values_list("pk", flat=True))
        if locked is None:
            return None
        row = _verdict_row("id", locked)
    else:
        row = _verdict_row("digest", digest)
    return _key_from_row(row, digest)


def _digest_of(text: str) -> str | None:
    """The look-up digest of a well-formed key's text; None for anything else (never looked up)."""
    try:
        return keyformat.key_digest(keyformat.key_parse(text).text)
    except keyformat.KeyFormatError:
        return None


def _first(queryset):
    """The one row of a lookup by a unique column, without the ORDER BY that ``first()`` adds."""
    return next(iter(queryset.order_by()[:1]), None)


_VERDICT_RELATIONS = ("organization", "environment", "machine")


@functools.cache
def _verdict_query(column: str) -> tuple[str, list]:
    """The SQL of ``LicenseKey.objects.for_verdict().filter(<column>=...)``, and how to read its row.

    Built once per process from the models' metadata: compiling this four-table select through
    the ORM on every heartbeat cost more CPU than running it (profiled with py-spy, bench/).
    """
    quote = connection.ops.quote_name
    parts = [(LicenseKey, "k", None)] + [
        (LicenseKey._meta.get_field(name).related_model, f"r{number}", name)
        for number, name in enumerate(_VERDICT_RELATIONS)
    ]
    columns, layout, start = [], [], 0
    joins = ""
    for model, alias, relation in parts:
        fields = model._meta.concrete_fields
        columns += [f"{alias}.{quote(field.column)}" for field in fields]
        converters = []
        for position, field in enumerate(fields):
            expression = field.get_col(alias)
            functions = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
            if functions:  # none on PostgreSQL; SQLite's dates and UUIDs
                converters.append((position, expression, functions))
        layout.append(
            (model, relation, [field.attname for field in fields], start, converters, fields.index(model._meta.pk))
        )
        start += len(fields)
        if relation is not None:
            foreign_key = LicenseKey._meta.get_field(relation)
            kind = "LEFT OUTER JOIN" if foreign_key.null else "INNER JOIN"
            joins += (
                f" {kind} {quote(model._meta.db_table)} {alias}"
                f" ON ({alias}.{quote(model._meta.pk.column)} = k.{quote(foreign_key.column)})"
            )
    column_name = LicenseKey._meta.get_field(column).column
    # Only quoted names from the models' metadata go into the text; the value is a parameter.
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(LicenseKey._meta.db_table)} k{joins}"  # noqa: S608
        f" WHERE k.{quote(column_name)} = %s LIMIT 1"
    )
    return sql, layout


_PLACEHOLDER = re.compile(r"%([s%])")


def _numbered(sql: str) -> str:
    """``sql`` with its ``%s`` placeholders as ``$1``, ``$2``... (``%%`` stays, for psycopg2's formatting)."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda match: f"${next(numbers)}" if match.group(1) == "s" else "%%", sql)


def _execute_prepared(cursor, name: str, sql: str, params: list, *, before: str = "") -> None:
    """Run ``sql`` as the server-side prepared statement ``name`` (PostgreSQL), after ``before``
    (a statement of its own, sent in the same round trip) if given.

    PostgreSQL spends several times longer planning the four-table lookup than running it;
    prepared once per connection, it is planned once. The first call on a connection prepares
    and executes in one round trip (so it still counts as one query). If that ever fails, this
    connection goes back to plain statements until it is replaced.
    """
    db = cursor.db  # this connection's wrapper (``connection`` is a proxy: each use looks it up again)
    raw = db.connection
    state = getattr(db, "license_prepared", None)
    if state is None or state["connection"] is not raw:  # a new connection knows no statement
        state = db.license_prepared = {"connection": raw, "names": set(), "off": False}
    if state["off"]:
        cursor.execute(before + sql, params)
        return
    execute = f"EXECUTE {name}({', '.join(['%s'] * len(params))})"
    if name in state["names"]:
        cursor.execute(before + execute, params)
        return
    try:
        cursor.execute(f"PREPARE {name} AS {_numbered(sql)}; {before}{execute}", params)
    except Exception:
        state["off"] = True  # whether the statement now exists is unknown: stop using it
        raise
    state["names"].add(name)


def _verdict_row(column: str, value) -> tuple | None:
    """The row of the key whose ``column`` is ``value``, joined to its organization, environment and machine."""
    sql, _layout = _verdict_query(column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _execute_prepared(cursor, f"license_verdict_by_{column}", sql, [value])
        else:
            cursor.execute(sql, [value])
        return cursor.fetchone()


def _key_from_row(row: tuple | None, digest: str) -> LicenseKey | None:
    """The key of a ``_verdict_row`` (read now or cached), with its relations; None unless its digest is ``digest``."""
    if row is None:
        return None
    _sql, layout = _verdict_query("digest")
    license_key = None
    for model, relation, attnames, start, converters, pk_position in layout:
        values = row[start : start + len(attnames)]
        if converters:
            values = list(values)
            for position, expression, functions in converters:
                for function in functions:
                    values[position] = function(values[position], expression, connection)
        if relation is None:
            license_key = _loaded(model, attnames, values)
        else:  # the related instance, cached on the key as select_related leaves it
            related = None if values[pk_position] is None else _loaded(model, attnames, values)
            license_key._state.fields_cache[relation] = related
    if not hmac.compare_digest(license_key.digest, digest):
        return None
    return license_key


def _loaded(model, attnames: list[str], values: list):
    """``model.from_db()`` for a row that holds every concrete field, without ``Model.__init__``.

    What ``__init__`` leaves behind for such a row is each value under its field's attname and a
    ``ModelState`` of a saved row; setting them directly skips its field-by-field ``setattr`` through
    the fields' descriptors and its two signals, most of the cost of a heartbeat's four instances.
    If anything listens to those signals (none of these models' fields do), ``from_db`` runs as usual.
    """
    if (pre_init.receivers or post_init.receivers) and (
        pre_init.has_listeners(model) or post_init.has_listeners(model)
    ):
        return model.from_db(DEFAULT_DB_ALIAS, attnames, values)
    instance = model.__new__(model)
    instance.__dict__.update(zip(attnames, values, strict=True))
    state = instance._state = ModelState()
    state.adding, state.db = False, DEFAULT_DB_ALIAS
    return instance


# The agent calls ---------------------------------------------------------------------------------


@dataclass
class AgentOutcome:
    verdict: Verdict
    license_key: LicenseKey | None = None
    machine: Machine | None = None
    token: str | None = None
    now: datetime | None = None


def _machine_registered(license_key: LicenseKey):
    def check(machine: Machine) -> bool:
        known = getattr(machine, "is_registered_machine", None)  # read with the machine (_machine_for)
        if known is not None:
            return known
        return (
            Machine.objects.filter(pk=machine.pk).filter(registered_machine_filter(license_key.organization)).exists()
        )

    return check


def _machine_for(license_key: LicenseKey, uid: str, *, for_update: bool = False) -> Machine | None:
    if license_key.machine_id is not None and license_key.machine.uid == uid and not for_update:
        return license_key.machine
    if license_key.kind == Kind.TEMPORARY and not for_update:
        return _registered_machine(license_key, uid)
    queryset = Machine.objects.select_for_update() if for_update else Machine.objects
    return _first(queryset.filter(uid=uid))


def _registered_machine_queryset(organization: Organization, uid: str):
    """The machine with this UID, annotated with whether it is a registered machine of ``organization``
    (a temporary key's verdict asks both: one query)."""
    registered = ExpressionWrapper(registered_machine_filter(organization), output_field=BooleanField())
    return Machine.objects.annotate(is_registered_machine=registered).filter(uid=uid).order_by()


# Marker values compiled into the SQL in place of the real ones; their positions become parameters.
_MARKER_ORGANIZATION = -7_310_422_911
_MARKER_UID = "marker: not a machine UID"  # real UIDs are 64 hex digits


@functools.cache
def _registered_machine_query() -> tuple[str, list, list[str]]:
    """``_registered_machine_queryset``'s SQL, compiled once per process from the same ORM filter.

    Returns the SQL, its parameters (the markers stand for the organization and the UID, the rest
    are the filter's constants) and the machine's columns, in the order the SELECT lists them.
    """
    queryset = _registered_machine_queryset(Organization(pk=_MARKER_ORGANIZATION), _MARKER_UID)[:1]
    sql, params = queryset.query.sql_with_params()
    attnames = [field.attname for field in Machine._meta.concrete_fields]
    return sql, list(params), attnames


def _registered_machine(license_key: LicenseKey, uid: str) -> Machine | None:
    """``_registered_machine_queryset`` run as a prepared statement on PostgreSQL (the ORM elsewhere):
    compiling and planning it on every temporary key's heartbeat cost several times running it."""
    if connection.vendor != "postgresql":
        return _first(_registered_machine_queryset(license_key.organization, uid))
    return _machine_from_registered_row(_registered_machine_row(license_key, uid))


def _registered_machine_row(license_key: LicenseKey, uid: str) -> tuple | None:
    sql, constants, _attnames = _registered_machine_query()
    replace = {_MARKER_ORGANIZATION: license_key.organization_id, _MARKER_UID: uid}
    params = [replace.get(value, value) if isinstance(value, int | str) else value for value in constants]
    with connection.cursor() as cursor:
        _execute_prepared(cursor, "license_registered_machine", sql, params)
        return cursor.fetchone()


def _machine_from_registered_row(row: tuple | None) -> Machine | None:
    """The machine of a ``_registered_machine_row`` (read now or cached), with its ``is_registered_machine``."""
    if row is None:
        return None
    _sql, _constants, attnames = _registered_machine_query()
    if len(row) != len(attnames) + 1:  # the SELECT lists the machine's columns, then the annotation
        raise DatabaseError(f"unexpected registered-machine row of {len(row)} columns")
    machine = Machine.from_db(DEFAULT_DB_ALIAS, attnames, row[:-1])
    machine.is_registered_machine = bool(row[-1])
    return machine


def _verdict(license_key, action, uid, fingerprint, machine, now) -> Verdict:
    return license_key.verdict_for(
        action=action,
        uid=uid,
        fingerprint=fingerprint,
        machine=machine,
        now=now,
        machine_registered=_machine_registered(license_key),
        recent_moves=lambda key: moves_in_last_30_days(key, now),
    )


# Sent before the history row of an unchanged re-activation, in the same round trip and the same
# (implicit) transaction: PostgreSQL then commits it without waiting for the WAL to reach the disk.
_RELAXED_COMMIT = "SET LOCAL synchronous_commit TO off; "


def _history(license_key, *, event, uid, now, code="", detail="", is_move=False, actor=AGENT, ip="", durable=True):
    """Append a row to the key's history (``ActivationEvent``), as one prepared ``INSERT`` on PostgreSQL:
    every activation writes one, and building it through the ORM cost more CPU than PostgreSQL's insert.

    ``durable=False`` (an unchanged re-activation: the row records that a call happened, and nothing
    else changes) commits it asynchronously when it is a transaction of its own: visible at once
    and never out of order, but a crash of the database server itself may lose the last fraction of a
    second of such rows (``wal_writer_delay`` × 3, 0.6 s by default). It saves the wait for the WAL
    flush, and most of PostgreSQL's work for the row (``bench/``). Inside a transaction it
    would relax the whole transaction's commit, so there the row is written as any other.
    """
    from audit.context import current_ip

    sql, fields, prepare = _history_insert()
    values = {
        "license_id": license_key.pk,
        "machine_uid": uid,
        "event": event,
        "code": code,
        "detail": detail[:500],
        "is_move": is_move,
        "actor_label": actor_label(actor),
        "ip": ip or current_ip(),
        "created_at": now,
    }
    db = connections[DEFAULT_DB_ALIAS]
    if prepare:
        params = [field.get_db_prep_save(values[field.attname], db) for field in fields]
    else:
        params = [values[field.attname] for field in fields]
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            relaxed = not durable and not db.in_atomic_block
            _execute_prepared(cursor, "license_history_insert", sql, params, before=_RELAXED_COMMIT if relaxed else "")
        else:
            cursor.execute(sql, params)


# Fields whose values (text, a flag, a key's id, an aware time) psycopg2 sends as they are: on
# PostgreSQL their ``get_db_prep_save`` gives back what it is given, and calling it for each of a
# history row's columns cost more than the rest of building the row.
_SENT_AS_THEY_ARE = (models.CharField, models.BooleanField, models.DateTimeField, models.ForeignKey)


@functools.cache
def _history_insert() -> tuple[str, list, bool]:
    """The ``INSERT`` of one ``ActivationEvent`` (every column but the id), its fields in order, and
    whether their values need the fields' preparation for this database."""
    quote = connection.ops.quote_name
    fields = [field for field in ActivationEvent._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(quote(field.column) for field in fields)
    # Only quoted names from the model's metadata go into the text; the values are parameters.
    sql = f"INSERT INTO {quote(ActivationEvent._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
    prepare = connection.vendor != "postgresql" or not all(isinstance(field, _SENT_AS_THEY_ARE) for field in fields)
    return sql, fields, prepare


def activation_token(license_key: LicenseKey, uid: str, now: datetime) -> str:
    """The signed activation token (AGENT_PROTOCOL.md "Activation token")."""
    lease_end = now + timedelta(days=settings.LICENSE_TOKEN_LEASE_DAYS)
    ends = license_key.effective_expires_at
    expires = min(ends, lease_end) if ends else lease_end
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


def _lock_or_create_machine(uid: str, fingerprint: Fingerprint | None, name: str, now: datetime) -> Machine:
    machine = Machine.objects.select_for_update().filter(uid=uid).first()
    if machine is not None:
        return machine
    try:
        with transaction.atomic():
            Machine.objects.create(uid=uid, name=name, first_seen_at=now, last_seen_at=now, **_components(fingerprint))
    except IntegrityError:
        pass  # another request created it first
    return Machine.objects.select_for_update().get(uid=uid)


def _components(fingerprint: Fingerprint | None) -> dict[str, str]:
    if fingerprint is None:
        return {}
    return {
        "mac": fingerprint.mac,
        "cpu_id": fingerprint.cpu_id,
        "hostname": fingerprint.hostname,
        "product_version": fingerprint.product_version,
    }


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
    now = now_utc()
    if not manual:
        outcome = _reactivation(
            key_text=key_text, uid=uid, fingerprint=fingerprint, machine_name=machine_name, now=now, prefetch=prefetch
        )
        if outcome is not None:
            return outcome
    return _activation(
        key_text=key_text,
        uid=uid,
        fingerprint=fingerprint,
        machine_name=machine_name,
        actor=actor,
        manual=manual,
        now=now,
        prefetch=prefetch,
    )


def _reactivation(
    *,
    key_text: str,
    uid: str,
    fingerprint: Fingerprint | None,
    machine_name: str,
    now: datetime,
    prefetch: state_cache.Prefetch | None,
):
    """An agent activating the key already bound to its machine, with nothing about it changed.

    Nothing is bound or moved, so nothing is locked: one read, the history row, the once-a-minute
    "last seen" write, and the token. As if it had run just before any change that commits while it
    runs. Anything else (a free key, a move, new details, a failed verdict) returns None and takes
    the locked path.
    """
    license_key, _ = _agent_lookup(key_text, uid, prefetch)
    if license_key is None or not license_key.is_bindable or license_key.machine_id is None:
        return None
    machine = license_key.machine
    if (
        machine.uid != uid
        or machine.organization_id != license_key.organization_id
        or (license_key.environment_id and machine.environment_id != license_key.environment_id)
        or _machine_changes(machine, fingerprint, machine_name)
    ):
        return None
    verdict = _verdict(license_key, Action.ACTIVATE, uid, fingerprint, machine, now)
    if not verdict.valid or verdict.is_move:
        return None
    # The key exists for good (keys are never deleted), so its history row needs no lock on it.
    _history(license_key, event=ActivationEvent.Event.ACTIVATE, uid=uid, now=now, code=verdict.code, durable=False)
    if _seen_write_due(machine, now, prefetch):
        Machine.objects.filter(pk=machine.pk).update(last_seen_at=now)
        machine.last_seen_at = now
    return AgentOutcome(verdict, license_key, machine, activation_token(license_key, uid, now), now=now)


def _seen_write_due(machine: Machine, now: datetime, prefetch: state_cache.Prefetch | None = None) -> bool:
    """Whether "last seen" is due a write: at most once a minute per machine, never staler than that.

    The machine's row may come from the cache, so the last write Redis knows of counts too; with
    Redis, exactly one of the requests that find the write due makes it (``seen_claim``).
    """
    window = settings.MACHINE_SEEN_WRITE_SECONDS
    last = machine.last_seen_at.timestamp()
    if prefetch is not None and prefetch.seen_at is not None:
        last = max(last, prefetch.seen_at)
    if now.timestamp() - last < window:
        return False
    return prefetch is None or not prefetch.usable or state_cache.seen_claim(machine.uid, now)


def _machine_changes(machine: Machine, fingerprint: Fingerprint | None, machine_name: str) -> dict[str, str]:
    """The details of ``machine`` that this call would change: fingerprint components, and its name."""
    changes = {name: value for name, value in _components(fingerprint).items() if getattr(machine, name) != value}
    if machine_name and machine.name != machine_name[:200]:
        changes["name"] = machine_name[:200]
    return changes


@transaction.atomic
def _activation(
    *,
    key_text: str,
    uid: str,
    fingerprint: Fingerprint | None,
    machine_name: str,
    actor,
    manual: bool,
    now: datetime,
    prefetch: state_cache.Prefetch | None = None,
) -> AgentOutcome:
    """Activation under locks: the key, then the machine (created if new).

    The call's time is taken once the key is locked, so that its history row is never older than a
    row that a change holding the lock before it committed (history reads in commit order).
    """
    license_key = license_find(key_text, for_update=True)
    now = now_utc()
    if license_key is None:
        return AgentOutcome(Verdict(Code.NOT_FOUND, "No such license key."), now=now)
    machine = _machine_for(license_key, uid, for_update=True)
    verdict = _verdict(license_key, Action.ACTIVATE, uid, fingerprint, machine, now)
    if not verdict.valid:
        return AgentOutcome(verdict, license_key, now=now)

    if license_key.is_bindable:
        machine = machine or _lock_or_create_machine(uid, fingerprint, machine_name, now)  # locked either way
        if machine.organization_id not in (None, license_key.organization_id):
            verdict = Verdict(Code.ORGANIZATION_MISMATCH, "This machine is registered to another organization.")
            return AgentOutcome(verdict, license_key, now=now)
        newly_bound = license_key.machine_id is None
        binding_machine = machine.organization_id is None
        machine_before = machine.snapshot() if binding_machine else None
        changes = _machine_changes(machine, fingerprint, machine_name)
        changed = newly_bound or bool(changes)
        for name, value in changes.items():
            setattr(machine, name, value)
        if binding_machine:
            machine.organization = license_key.organization
            machine.bound_at = now
            changed = True
        if license_key.environment_id and machine.environment_id != license_key.environment_id:
            machine.environment = license_key.environment
            changed = True
        # A re-activation that changes nothing writes "last seen" at most once a minute, like validate.
        if changed or _seen_write_due(machine, now, prefetch):
            machine.last_seen_at = now
            machine.save()
        if changed:
            state_cache.organization_changed(license_key.organization.uuid)
        if newly_bound:
            license_key.machine = machine
            license_key.bound_at = now
            license_key.last_machine_uid = uid
            license_key.released_by = ""
            license_key.save(update_fields=["machine", "bound_at", "last_machine_uid", "released_by", "updated_at"])
            audit_record(
                actor=actor,
                action="license.activate_manual" if manual else "license.activate",
                organization=license_key.organization,
                obj=license_key,
                after={"machine": uid, "move": verdict.is_move, "hostname": machine.hostname},
            )
            if binding_machine:
                audit_record(
                    actor=actor,
                    action="machine.bind",
                    organization=license_key.organization,
                    obj=machine,
                    before=machine_before,
                    after=machine.snapshot(),
                )
    elif machine is not None and _seen_write_due(machine, now, prefetch):
        Machine.objects.filter(pk=machine.pk).update(last_seen_at=now)

    _history(
        license_key,
        event=ActivationEvent.Event.MANUAL_ACTIVATE if manual else ActivationEvent.Event.ACTIVATE,
        uid=uid,
        now=now,
        code=verdict.code,
        is_move=verdict.is_move,
        actor=actor,
    )
    token = activation_token(license_key, uid, now)
    return AgentOutcome(verdict, license_key, machine, token, now=now)


def license_validate(
    *, key_text: str, uid: str, fingerprint: Fingerprint, prefetch: state_cache.Prefetch | None = None
) -> AgentOutcome:
    """The heartbeat: its key and machine from the cache or one query, a write at most once a minute."""
    now = now_utc()
    license_key, machine = _agent_lookup(key_text, uid, prefetch)
    if license_key is None:
        return AgentOutcome(Verdict(Code.NOT_FOUND, "No such license key."), now=now)
    verdict = _verdict(license_key, Action.VALIDATE, uid, fingerprint, machine, now)
    if verdict.valid and machine is not None:
        _machine_seen(license_key, machine, fingerprint, now, prefetch)
    return AgentOutcome(verdict, license_key, machine, now=now)


def _agent_lookup(
    key_text: str, uid: str, prefetch: state_cache.Prefetch | None
) -> tuple[LicenseKey | None, Machine | None]:
    """An agent call's key and the machine known by ``uid``: cached if ``prefetch`` holds them, else read.

    Cached rows answer only where they are the whole answer: a key bound to this very machine, or a
    temporary key and the machine it runs on. Anything else reads the database (one query, a
    temporary key two) and caches what it read if every row belongs to the key's organization, whose
    generation then covers them (``state_cache``).
    """
    if prefetch is not None and prefetch.key_row is not None:
        license_key = _key_from_row(prefetch.key_row, prefetch.digest)
        if license_key is not None and license_key.kind == Kind.TEMPORARY:
            if prefetch.machine_row is not None:
                return license_key, _machine_from_registered_row(prefetch.machine_row)
        elif license_key is not None and license_key.machine_id is not None and license_key.machine.uid == uid:
            return license_key, license_key.machine
    digest = _digest_of(key_text)
    if digest is None:
        return None, None
    key_row = _verdict_row("digest", digest)
    license_key = _key_from_row(key_row, digest)
    if license_key is None:
        return None, None
    machine_row = None
    if license_key.kind == Kind.TEMPORARY and connection.vendor == "postgresql":
        machine_row = _registered_machine_row(license_key, uid)
        machine = _machine_from_registered_row(machine_row)
    else:
        machine = _machine_for(license_key, uid)
    organization = license_key.organization
    if prefetch is not None and prefetch.organization == str(organization.uuid):
        bound = license_key.machine if license_key.machine_id else None
        state_cache.store(
            prefetch,
            key_row=_row_for_cache(key_row) if license_key.kind == Kind.TEMPORARY or _of(bound, organization) else None,
            machine_row=machine_row if _of(machine, organization) else None,
        )
    return license_key, machine


def cached_row_layout() -> str:
    """What the rows the verdict cache holds are made of: the key's lookup and a temporary key's machine
    lookup (their SQL lists every column in order) and the types of their fields. ``state_cache``
    names its entries after it, so that no release reads rows cached by a release with other columns."""
    sql, layout = _verdict_query("digest")
    machine_sql, _constants, _attnames = _registered_machine_query()
    types = [field.get_internal_type() for model, *_rest in layout for field in model._meta.concrete_fields]
    return "\n".join([sql, machine_sql, *types])


def _row_for_cache(row: tuple) -> tuple:
    """A ``_verdict_row`` without the key's encrypted text: no agent call needs it, so it stays out of
    Redis (the keys built from cached rows are only read, never saved)."""
    position = _verdict_query("digest")[1][0][2].index("encrypted_key")
    return (*row[:position], "", *row[position + 1 :])


def _of(machine: Machine | None, organization: Organization) -> bool:
    return machine is not None and machine.organization_id == organization.pk


def _machine_seen(
    license_key: LicenseKey,
    machine: Machine,
    fingerprint: Fingerprint,
    now: datetime,
    prefetch: state_cache.Prefetch | None = None,
) -> None:
    """Record that a machine was seen; write only if a minute passed or its details changed."""
    components = _components(fingerprint)
    changes = {name: value for name, value in components.items() if getattr(machine, name) != value}
    if not changes and not _seen_write_due(machine, now, prefetch):
        return
    if not changes:  # the once-a-minute heartbeat write: one UPDATE, no transaction round trips
        Machine.objects.filter(pk=machine.pk).update(last_seen_at=now)
        machine.last_seen_at = now
        return
    with transaction.atomic():
        Machine.objects.filter(pk=machine.pk).update(last_seen_at=now, **changes)
        state_cache.organization_changed(license_key.organization.uuid)  # cached rows hold the old details
        detail = ", ".join(f"{name}: {getattr(machine, name) or '—'} → {value}" for name, value in changes.items())
        _history(
            license_key, event=ActivationEvent.Event.VALIDATE, uid=machine.uid, now=now, code=Code.VALID, detail=detail
        )
    machine.last_seen_at = now
    for name, value in changes.items():
        setattr(machine, name, value)


@transaction.atomic
def license_deactivate(*, key_text: str, uid: str, fingerprint: Fingerprint) -> AgentOutcome:
    """Release this machine's binding; the machine itself stays bound to its organization."""
    license_key = license_find(key_text, for_update=True)
    now = now_utc()  # after the lock: see _activation
    if license_key is None:
        return AgentOutcome(Verdict(Code.NOT_FOUND, "No such license key."), now=now)
    machine = _machine_for(license_key, uid)
    verdict = _verdict(license_key, Action.DEACTIVATE, uid, fingerprint, machine, now)
    if not verdict.valid:
        return AgentOutcome(verdict, license_key, now=now)
    if license_key.machine_id is not None and license_key.machine.uid == uid:
        before = license_key.snapshot()
        _release(license_key, released_by=LicenseKey.Released.DEACTIVATE)
        license_key.save(update_fields=["machine", "bound_at", "last_machine_uid", "released_by", "updated_at"])
        _history(license_key, event=ActivationEvent.Event.DEACTIVATE, uid=uid, now=now, code=Code.DEACTIVATED)
        audit_record(
            actor=AGENT,
            action="license.deactivate",
            organization=license_key.organization,
            obj=license_key,
            before=before,
            after=license_key.snapshot(),
        )
        detail = "This machine's activation was released; the key can be activated again."
    else:
        detail = "This key was not activated on this machine; nothing changed."
    return AgentOutcome(Verdict(Code.DEACTIVATED, detail), license_key, now=now)
