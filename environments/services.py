"""Environments and machines: create, name, primary, machine claims filed. Changes that release
keys from machines (detach, deleting an environment, settling a claim) are `licenses.bindings`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.services import audit_record
from environments.models import Environment, Machine, MachineClaim
from organizations.models import Organization


def environment_name_taken(organization: Organization, name: str, exclude_pk=None) -> bool:
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
    if environment_name_taken(organization, name):
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
