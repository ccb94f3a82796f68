"""Binding a key to a machine, and re-binding it to its upgraded or changed machine (AGENT_PROTOCOL.md,
"Additions in 1.1"): the writes of ``activate`` that run under the key's lock, each audited."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from audit.services import audit_record
from environments.fingerprint import HARDWARE_COMPONENTS, Fingerprint, describe_changes
from environments.models import Machine
from licenses.agent_api import seen, state_cache
from licenses.agent_api.trail import history
from licenses.bindings import key_release
from licenses.models import ActivationEvent, Kind, LicenseKey
from licenses.verdicts import Code, Verdict


def components(fingerprint: Fingerprint | None) -> dict[str, str]:
    if fingerprint is None:
        return {}
    return {
        "mac": fingerprint.mac,
        "cpu_id": fingerprint.cpu_id,
        "hostname": fingerprint.hostname,
        "product_version": fingerprint.product_version,
    }


def machine_changes(machine: Machine, fingerprint: Fingerprint | None, machine_name: str) -> dict[str, str]:
    """The details of ``machine`` that this call would change: fingerprint components, and its name."""
    changes = {name: value for name, value in components(fingerprint).items() if getattr(machine, name) != value}
    if machine_name and machine.name != machine_name[:200]:
        changes["name"] = machine_name[:200]
    return changes


def lock_or_create_machine(uid: str, fingerprint: Fingerprint | None, name: str, now: datetime) -> Machine:
    machine = Machine.objects.select_for_update().filter(uid=uid).first()
    if machine is not None:
        return machine
    try:
        with transaction.atomic():
            Machine.objects.create(uid=uid, name=name, first_seen_at=now, last_seen_at=now, **components(fingerprint))
    except IntegrityError:
        pass  # another request created it first
    return Machine.objects.select_for_update().get(uid=uid)


def bind(license_key, machine, fingerprint, machine_name, verdict, *, actor, manual, now, audit=None) -> None:
    """Bind the locked key to the locked machine (and the machine to the key's organization), saving
    the machine's new details; each binding audited (``audit``: the key's event instead of
    ``license.activate``, as (action, before, after))."""
    newly_bound = license_key.machine_id is None
    binding_machine = machine.organization_id is None
    machine_before = machine.snapshot() if binding_machine else None
    changes = machine_changes(machine, fingerprint, machine_name)
    for name, value in changes.items():
        setattr(machine, name, value)
    changed = newly_bound or bool(changes) or binding_machine
    if binding_machine:
        machine.organization = license_key.organization
        machine.bound_at = now
    if license_key.environment_id and machine.environment_id != license_key.environment_id:
        machine.environment = license_key.environment
        changed = True
    if changed:
        machine.last_seen_at = now
        machine.save()
        state_cache.organization_changed(license_key.organization.uuid)
    else:
        seen.machine_seen(machine, now)
    if not newly_bound:
        return
    license_key.machine = machine
    license_key.bound_at = now
    license_key.last_machine_uid = machine.uid
    license_key.released_by = ""
    license_key.save(update_fields=["machine", "bound_at", "last_machine_uid", "released_by", "updated_at"])
    action, before, after = audit or (
        "license.activate_manual" if manual else "license.activate",
        None,
        {"machine": machine.uid, "move": verdict.is_move, "hostname": machine.hostname},
    )
    audit_record(
        actor=actor, action=action, organization=license_key.organization, obj=license_key, before=before, after=after
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


def rebind_detail(changes: dict[str, tuple[str, str]]) -> str:
    """The history's words for a re-bind: ``upgraded 4.4 → 4.5``, and any hardware change said for a
    person (``The computer name changed from acme-srv01 to acme-srv02.``)."""
    parts = []
    if "product_version" in changes:
        old, new = changes["product_version"]
        parts.append(f"upgraded {old} → {new}")
    hardware = {name: change for name, change in changes.items() if name in HARDWARE_COMPONENTS}
    if hardware:
        parts.append(f"re-bound under the tolerant fingerprint policy: {describe_changes(hardware)}")
    return "; ".join(parts)


def rebind(
    license_key: LicenseKey,
    uid: str,
    fingerprint: Fingerprint | None,
    machine: Machine | None,
    machine_name,
    *,
    actor,
    now,
) -> Machine | None:
    """Re-bind the locked key from its bound machine to the machine ``uid`` (``machine``, locked, if
    known) when the organization's fingerprint policy allows it (``Machine.rebind_for``): an in-place
    upgrade always, one hardware change under the tolerant policy. Not a move, so no transfer-limit
    count; the old machine is marked superseded by the new one. Return the new machine, or None
    (nothing written: the call stays FINGERPRINT_MISMATCH)."""
    if fingerprint is None or license_key.machine_id is None or license_key.machine.uid == uid:
        return None
    old = Machine.objects.select_for_update().get(pk=license_key.machine_id)
    decision = old.rebind_for(fingerprint, policy=license_key.organization.fingerprint_policy)
    if not decision.allowed or decision.reason == "same":
        return None
    if license_key.kind == Kind.SERVER and "hostname" in decision.changes:
        return None  # a server key is for one computer name, whatever the policy
    new = machine or lock_or_create_machine(uid, fingerprint, machine_name or old.name, now)
    if new.organization_id not in (None, license_key.organization_id):
        return None
    detail = rebind_detail(decision.changes)
    new.superseded_by = None  # an install rolled back to the machine it was: current again (saved by bind)
    key_release(license_key, released_by="")
    after = {
        "machine": uid,
        "hostname": fingerprint.hostname,
        "reason": decision.reason,
        "changes": {name: list(change) for name, change in decision.changes.items()},
        "superseded": old.uid,
    }
    audit = ("license.rebind", {"machine": old.uid, "hostname": old.hostname}, after)
    verdict = Verdict(Code.VALID, "")
    bind(license_key, new, fingerprint, machine_name, verdict, actor=actor, manual=False, now=now, audit=audit)
    old.superseded_by = new
    update_fields = ["superseded_by"]
    if old.is_primary and not new.is_primary:  # the Machines tab lists the new row in its place
        old.is_primary, new.is_primary = False, True
        new.save(update_fields=["is_primary"])
        update_fields.append("is_primary")
    old.save(update_fields=update_fields)
    history(
        license_key, event=ActivationEvent.Event.REBIND, uid=uid, now=now, code=Code.VALID, detail=detail, actor=actor
    )
    return new
