"""``/organizations/{org}/machines`` and ``/machines/{uid}/detach``."""

from ninja import Query, Router

from environments.fingerprint import FingerprintError, machine_uid_normalize
from environments.models import Machine
from integrations import representations
from integrations.api.auth import caller_with, organization_for
from integrations.api.errors import APIError
from integrations.api.idempotency import idempotent
from integrations.api.pagination import PageParams, paginate
from integrations.api.schemas import ERRORS, DetachOut, MachineList, MachineRef, OrganizationRef
from integrations.models import Scope
from licenses.bindings import machine_detach
from licenses.selectors import machines_of

router = Router(tags=["machines"])


@router.get("/organizations/{org}/machines", response={200: MachineList, **ERRORS}, summary="List machines")
def machine_list(
    request,
    org: OrganizationRef,
    page: Query[PageParams],
):
    organization = organization_for(caller_with(request, Scope.MACHINES_READ), org)
    return paginate(machines_of(organization), page=page, field="first_seen_at", represent=representations.machine)


@router.post("/machines/{uid}/detach", response={200: DetachOut, **ERRORS}, summary="Detach a machine")
@idempotent(200)
def machine_detach_endpoint(request, uid: MachineRef):
    caller = caller_with(request, Scope.MACHINES_WRITE)
    try:
        uid = machine_uid_normalize(uid)
    except FingerprintError:
        raise APIError(404, "No such machine.") from None
    machine = Machine.objects.select_related("organization", "environment").filter(uid=uid).first()
    if machine is None or machine.organization is None or not caller.reaches(machine.organization):
        raise APIError(404, "No such machine.")
    released = machine_detach(machine=machine, actor=caller.actor)
    machine.refresh_from_db()
    return {"machine": representations.machine(machine, keys=[]), "released_keys": released}
