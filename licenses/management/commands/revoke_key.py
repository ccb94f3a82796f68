import uuid

from django.core.exceptions import ObjectDoesNotExist

from core.commands import JSONCommand
from core.time import rfc3339
from licenses.models import LicenseKey
from licenses.services import license_find, license_revoke


class Command(JSONCommand):
    help = "Revoke a key (the key itself or its public id)."

    def add_arguments(self, parser):
        parser.add_argument("key", metavar="KEY_OR_ID")
        parser.add_argument("--reason", default="")

    def run(self, *, key, reason, **options):
        license_key = None
        try:
            license_key = LicenseKey.objects.filter(public_id=uuid.UUID(key.strip())).first()
        except ValueError:
            license_key = license_find(key)
        if license_key is None:
            raise ObjectDoesNotExist("No such key or key id.")
        license_key = license_revoke(license_key=license_key, actor=None, reason=reason)
        return {
            "id": str(license_key.public_id),
            "status": license_key.status,
            "revoked_at": rfc3339(license_key.revoked_at),
        }
