"""Releasing keys from machines: detaching a machine, deleting an environment, settling a machine
claim. Each releases the bindings of the keys involved (``key_release``), writes their history and the
audit; locks are taken keys first, then machines, as activation does, so none deadlocks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit.services import audit_record
from environments.models import Environment, Machine, MachineClaim
from environments.services import environment_name_taken
from licenses.models import ActivationEvent, LicenseKey


def key_release(license_key: LicenseKey, *, released_by: str, save: bool = False) -> None:
    """Unbind ``license_key`` from its machine, remembering which it was; saved if ``save`` (else the
    caller saves it with its other changes)."""
    license_key.last_machine_uid = license_key.machine.uid
    license_key.machine = None
    license_key.bound_at = None
    license_key.released_by = released_by
    if save:
        license_key.save(update_fields=["machine", "bound_at", "last_machine_uid", "released_by", "updated_at"])


@transaction.atomic
def environment_set_status(*, environment: Environment, actor, status: str) -> Environment:
    """Enable, disable or (soft) delete; ``enabled`` also re-attaches a deleted environment."""
    if status not in Environment.Status.values:
        raise ValidationError({"status": f"Status must be one of {', '.join(Environment.Status.values)}."})
    environment = Environment.objects.select_for_update().get(pk=environment.pk)
    before = environment.snapshot()
    released: list[str] = []
    if status == Environment.Status.DELETED:
        if environment.deleted_at is None:
            environment.deleted_at = timezone.now()
            released = _environment_release(environment, actor)
        action = "environment.delete"
    else:
        if environment.deleted_at is not None:
            if environment_name_taken(environment.organization, environment.name, exclude_pk=environment.pk):
                raise ValidationError(
                    {
                        "name": gettext("Another environment is named %(name)s: rename it before re-attaching.")
                        % {"name": environment.name}
                    }
                )
            environment.deleted_at = None
            action = "environment.reattach"
        else:
            action = "environment.enable" if status == Environment.Status.ENABLED else "environment.disable"
        environment.enabled = status == Environment.Status.ENABLED
    if environment.snapshot() != before:
        environment.save(update_fields=["enabled", "deleted_at"])
        audit_record(
            actor=actor,
            action=action,
            organization=environment.organization,
            obj=environment,
            before=before,
            after={**environment.snapshot(), "released_keys": released} if released else environment.snapshot(),
        )
    return environment


def _environment_release(environment: Environment, actor) -> list[str]:
    """Deleting an environment detaches its machines and every machine its keys are bound to: the
    bindings are released as by "Detach", so that after "Enable environment" (re-attach) each
    agent's next activation binds the key to the machine as it is then. Returns the released keys."""
    holding = LicenseKey.objects.filter(environment=environment, machine__isnull=False).values("machine_id")
    machines = Machine.objects.filter(organization=environment.organization).filter(
        models.Q(environment=environment) | models.Q(pk__in=holding)
    )
    released: list[str] = []
    for machine in machines.order_by("pk"):
        released += machine_detach(machine=machine, actor=actor)
    return released


@transaction.atomic
def machine_detach(*, machine: Machine, actor) -> list[str]:
    """Release a machine from its organization and every key bound to it; return those keys' ids.

    Afterwards the keys can be activated again (on this machine or a re-installed one), and the
    machine may be bound by another organization.
    """
    # Lock order everywhere: keys first, then machines (activation does the same), so no deadlock.
    bound_keys = list(LicenseKey.objects.select_for_update().filter(machine=machine).order_by("pk"))
    machine = Machine.objects.select_for_update().get(pk=machine.pk)
    before = machine.snapshot()
    organization = machine.organization
    now = timezone.now()
    released = []
    for license_key in bound_keys:
        license_key.machine = machine
        key_release(license_key, released_by=LicenseKey.Released.DETACH, save=True)
        ActivationEvent.record(license_key, event=ActivationEvent.Event.DETACH, uid=machine.uid, actor=actor, now=now)
        released.append(str(license_key.public_id))
    machine.organization = None
    machine.bound_at = None
    machine.environment = None
    machine.is_primary = False
    machine.save(update_fields=["organization", "bound_at", "environment", "is_primary"])
    audit_record(
        actor=actor,
        action="machine.detach",
        organization=organization,
        obj=machine,
        before=before,
        after={**machine.snapshot(), "released_keys": released},
    )
    return released


@transaction.atomic
def machine_claim_settle(*, claim: MachineClaim, actor, release: bool) -> MachineClaim:
    """A super-admin's decision: release the machine from its holder (its keys there are released, the
    claimant's agent can then activate) or reject the claim. Recorded in both organizations' logs."""
    claim = MachineClaim.objects.select_for_update().select_related("machine", "claimant", "holder").get(pk=claim.pk)
    if claim.status != MachineClaim.Status.OPEN:
        raise ValidationError(gettext("This claim is already settled."))
    machine = claim.machine
    still_held = machine.organization_id == claim.holder_id
    if release and still_held:
        machine_detach(machine=machine, actor=actor)
    claim.status = MachineClaim.Status.RELEASED if release else MachineClaim.Status.REJECTED
    claim.settled_at = timezone.now()
    claim.settled_by = actor if getattr(actor, "pk", None) else None
    claim.save(update_fields=["status", "settled_at", "settled_by"])
    action = "machine.claim_release" if release else "machine.claim_reject"
    for organization in (claim.claimant, claim.holder):
        audit_record(
            actor=actor,
            action=action,
            organization=organization,
            object_type="machine",
            object_id=machine.uid,
            object_repr=f"machine {machine.uid[:16]}…",
            after={"uid": machine.uid, "claimant": claim.claimant.slug, "holder": claim.holder.slug},
        )
    return claim
