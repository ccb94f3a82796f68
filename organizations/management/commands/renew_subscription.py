from core.commands import JSONCommand
from core.time import rfc3339
from organizations.services import organization_lookup, subscription_renew


class Command(JSONCommand):
    help = (
        "Renew an organization's subscription by a term counted from its previous paid end (even if that "
        "end has passed). Prints its id, the new end and the end it was renewed from."
    )

    def add_arguments(self, parser):
        parser.add_argument("organization", metavar="ORG")
        term = parser.add_mutually_exclusive_group(required=True)
        term.add_argument("--months", type=int)
        term.add_argument("--days", type=int)

    def run(self, *, organization, months, days, **options):
        organization = organization_lookup(organization)
        period = subscription_renew(organization=organization, actor=None, months=months, days=days)
        return {
            "id": str(organization.uuid),
            "subscription_ends_at": rfc3339(period.ends_at),
            "renewed_from": rfc3339(period.starts_at),
        }
