from datetime import date

from django.core.exceptions import ObjectDoesNotExist, ValidationError

from core.commands import JSONCommand
from core.time import rfc3339
from environments.models import Environment
from licenses.models import Kind
from licenses.services import license_issue, parse_duration
from organizations.services import organization_lookup


class Command(JSONCommand):
    help = "Issue a license key. Prints its id, the key itself, its kind and when it expires."

    def add_arguments(self, parser):
        parser.add_argument("organization", metavar="ORG")
        parser.add_argument("--kind", required=True, choices=Kind.values)
        parser.add_argument("--environment", help="machine keys: the environment's name")
        parser.add_argument("--ttl", help="temporary keys: 30m, 2h, 7d")
        parser.add_argument("--machine-name", default="", help="server keys: the host name")
        parser.add_argument("--expires", help="server keys: YYYY-MM-DD, valid through that day (UTC)")
        parser.add_argument("--description", default="")

    def run(self, *, organization, kind, environment, ttl, machine_name, expires, description, **options):
        organization = organization_lookup(organization)
        arguments = {"organization": organization, "kind": kind, "actor": None, "description": description}
        if kind == Kind.MACHINE:
            if not environment:
                raise ValidationError({"environment": "--environment is required for a machine key."})
            found = Environment.objects.attached().filter(organization=organization, name__iexact=environment).first()
            if found is None:
                raise ObjectDoesNotExist(f"{organization.name} has no environment named {environment!r}.")
            arguments["environment"] = found
        elif kind == Kind.TEMPORARY:
            if not ttl:
                raise ValidationError({"ttl": "--ttl is required for a temporary key (30m, 2h, 7d)."})
            arguments["ttl"] = parse_duration(ttl)
        elif kind == Kind.SERVER:
            if not machine_name or not expires:
                raise ValidationError({"server": "--machine-name and --expires are required for a server key."})
            try:
                arguments["expires_on"] = date.fromisoformat(expires)
            except ValueError:
                raise ValidationError({"expires": f"{expires!r} is not a date like 2027-01-31."}) from None
            arguments["machine_name"] = machine_name
        license_key, text = license_issue(**arguments)
        return {
            "id": str(license_key.public_id),
            "key": text,
            "kind": license_key.kind,
            "expires_at": rfc3339(license_key.effective_expires_at),
        }
