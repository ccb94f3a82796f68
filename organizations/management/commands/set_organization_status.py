from core.commands import JSONCommand
from organizations.models import Organization
from organizations.services import organization_lookup, organization_set_status


class Command(JSONCommand):
    help = "Suspend or resume an organization (ORG: uuid or slug)."

    def add_arguments(self, parser):
        parser.add_argument("organization", metavar="ORG")
        parser.add_argument("status", choices=Organization.Status.values)

    def run(self, *, organization, status, **options):
        organization = organization_set_status(
            organization=organization_lookup(organization), actor=None, status=status
        )
        return {"id": str(organization.uuid), "status": organization.status}
