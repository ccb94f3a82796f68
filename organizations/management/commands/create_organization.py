from core.commands import JSONCommand
from core.time import rfc3339
from organizations.models import Edition
from organizations.services import organization_create


class Command(JSONCommand):
    help = "Create an organization with a subscription. Prints its id, name, slug and subscription end."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--edition", choices=Edition.values, default=Edition.PAID)
        parser.add_argument("--subscription-days", type=int, default=365, help="0 means it ends now.")

    def run(self, *, name, edition, subscription_days, **options):
        organization = organization_create(actor=None, name=name, edition=edition, subscription_days=subscription_days)
        return {
            "id": str(organization.uuid),
            "name": organization.name,
            "slug": organization.slug,
            "subscription_ends_at": rfc3339(organization.subscription_ends_at),
        }
