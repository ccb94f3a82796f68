from django.core.exceptions import ObjectDoesNotExist

from core.commands import JSONCommand
from environments.models import Environment
from licenses.bindings import environment_set_status
from organizations.services import organization_lookup


class Command(JSONCommand):
    help = "Enable, disable or delete an environment; `enabled` also re-attaches a deleted one."

    def add_arguments(self, parser):
        parser.add_argument("organization", metavar="ORG")
        parser.add_argument("name")
        parser.add_argument("status", choices=Environment.Status.values)

    def run(self, *, organization, name, status, **options):
        organization = organization_lookup(organization)
        candidates = Environment.objects.filter(organization=organization, name__iexact=name.strip())
        # Prefer the attached environment of that name; else the most recently deleted one.
        environment = candidates.order_by("-deleted_at").filter(deleted_at__isnull=True).first() or (
            candidates.order_by("-deleted_at").first()
        )
        if environment is None:
            raise ObjectDoesNotExist(f"{organization.name} has no environment named {name!r}.")
        environment = environment_set_status(environment=environment, actor=None, status=status)
        return {"id": str(environment.uuid), "name": environment.name, "status": environment.status}
