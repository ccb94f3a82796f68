from django.core.exceptions import ObjectDoesNotExist, ValidationError

from core.commands import JSONCommand
from environments.fingerprint import FingerprintError, machine_uid_normalize
from environments.models import Machine
from licenses.bindings import machine_detach


class Command(JSONCommand):
    help = "Detach a machine (UID in any case, spaces or dashes allowed): its keys can be activated again."

    def add_arguments(self, parser):
        parser.add_argument("uid", metavar="MACHINE_UID")

    def run(self, *, uid, **options):
        try:
            uid = machine_uid_normalize(uid)
        except FingerprintError as error:
            raise ValidationError(str(error)) from None
        machine = Machine.objects.filter(uid=uid).first()
        if machine is None:
            raise ObjectDoesNotExist(f"No machine with UID {uid}.")
        released = machine_detach(machine=machine, actor=None)
        return {"uid": machine.uid, "released_keys": released}
