from core.commands import JSONCommand
from environments.services import environment_create
from organizations.services import organization_lookup


class Command(JSONCommand):
    help = "Create an environment in an organization (ORG: uuid or slug)."

    def add_arguments(self, parser):
        parser.add_argument("organization", metavar="ORG")
        parser.add_argument("name")

    def run(self, *, organization, name, **options):
        organization = organization_lookup(organization)
        environment = environment_create(organization=organization, actor=None, name=name)
        return {"id": str(environment.uuid), "name": environment.name, "organization": str(organization.uuid)}
