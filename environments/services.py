"""Environments and machines: create, enable/disable, delete and re-attach, detach."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.services import actor_label, audit_record
from environments.models import Environment, Machine, MachineClaim
from organizations.models import Organization


def _name_taken(organization: Organization, name: str, exclude_pk=None) -> bool:
    queryset = Environment.objects.attached().filter(organization=organization, name__iexact=name)
    if exclude_pk:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.exists()


@transaction.atomic
def environment_create(*, organization: Organization, actor, name: str) -> Environment:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("An environment needs a name.")})
    if len(name) > 100:
        raise ValidationError({"name": _("An environment name has at most 100 characters.")})
    if _name_taken(organization, name):
        raise ValidationError(
            {
                "name": _("%(organization)s already has an environment named %(name)s.")
                % {"organization": organization.name, "name": name}
            }
        )
    environment = Environment.objects.create(organization=organization, name=name)
    audit_record(
        actor=actor,
        action="environment.create",
        organization=organization,
        obj=environment,
        after=environment.snapshot(),
    )
    return environment


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
            if _name_taken(environment.organization, environment.name, exclude_pk=environment.pk):
                raise ValidationError(
                    {
                        "name": _("Another environment is named %(name)s: rename it before re-attaching.")
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
    from licenses.models import LicenseKey

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
    from licenses.models import ActivationEvent, LicenseKey

    # Lock order everywhere: keys first, then machines (activation does the same), so no deadlock.
    bound_keys = list(LicenseKey.objects.select_for_update().filter(machine=machine).order_by("pk"))
    machine = Machine.objects.select_for_update().get(pk=machine.pk)
    before = machine.snapshot()
    organization = machine.organization
    now = timezone.now()
    released = []
    for license_key in bound_keys:
        license_key.machine = None
        license_key.bound_at = None
        license_key.last_machine_uid = machine.uid
        license_key.released_by = LicenseKey.Released.DETACH
        license_key.save(update_fields=["machine", "bound_at", "last_machine_uid", "released_by", "updated_at"])
        ActivationEvent.objects.create(
            license=license_key,
            machine_uid=machine.uid,
            event=ActivationEvent.Event.DETACH,
            actor_label=actor_label(actor),
            created_at=now,
        )
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
def environment_detach(*, environment: Environment, actor) -> int:
    """Detach every machine of an environment, so re-installed agents can activate again."""
    machines = list(Machine.objects.filter(environment=environment, organization=environment.organization))
    for machine in machines:
        machine_detach(machine=machine, actor=actor)
    return len(machines)


@transaction.atomic
def machine_set_primary(*, machine: Machine, actor, is_primary: bool) -> Machine:
    machine = Machine.objects.select_for_update().get(pk=machine.pk)
    if machine.is_primary != is_primary:
        before = machine.snapshot()
        machine.is_primary = is_primary
        machine.save(update_fields=["is_primary"])
        audit_record(
            actor=actor,
            action="machine.primary" if is_primary else "machine.not_primary",
            organization=machine.organization,
            obj=machine,
            before=before,
            after=machine.snapshot(),
        )
    return machine


# Machine claims (machine squatting) ------------------------------------------------------------------


# What a page says of a malformed machine UID (FingerprintError's own text is the agent API's, in English).
MACHINE_UID_FORMAT_MESSAGE = gettext_lazy("A machine UID is 64 hexadecimal characters (spaces and dashes allowed).")


@transaction.atomic
def machine_claim_file(*, organization, actor, uid: str, note: str = "") -> MachineClaim:
    """File ``organization``'s claim to the machine ``uid`` that another organization holds. The
    claimant learns no more than its agent already did (``ORGANIZATION_MISMATCH``): not who holds it."""
    from environments.fingerprint import FingerprintError, machine_uid_normalize

    try:
        uid = machine_uid_normalize(uid)
    except FingerprintError:
        raise ValidationError({"uid": MACHINE_UID_FORMAT_MESSAGE}) from None
    machine = Machine.objects.select_for_update().filter(uid=uid).first()
    if machine is None or machine.organization_id is None:
        raise ValidationError({"uid": _("No organization holds this machine: activate it with one of your keys.")})
    if machine.organization_id == organization.pk:
        raise ValidationError({"uid": _("This machine is already yours (see the list above).")})
    existing = MachineClaim.objects.filter(machine=machine, claimant=organization, status=MachineClaim.Status.OPEN)
    if existing.exists():
        return existing.get()
    claim = MachineClaim.objects.create(
        machine=machine,
        claimant=organization,
        holder_id=machine.organization_id,
        requested_by=actor if getattr(actor, "pk", None) else None,
        note=note.strip()[:500],
    )
    audit_record(
        actor=actor,
        action="machine.claim",
        organization=organization,
        object_type="machine",
        object_id=machine.uid,
        object_repr=f"machine {machine.uid[:16]}…",
        after={"uid": machine.uid, "note": claim.note},
    )
    return claim


@transaction.atomic
def machine_claim_settle(*, claim: MachineClaim, actor, release: bool) -> MachineClaim:
    """A super-admin's decision: release the machine from its holder (its keys there are released, the
    claimant's agent can then activate) or reject the claim. Recorded in both organizations' logs."""
    claim = MachineClaim.objects.select_for_update().select_related("machine", "claimant", "holder").get(pk=claim.pk)
    if claim.status != MachineClaim.Status.OPEN:
        raise ValidationError(_("This claim is already settled."))
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
