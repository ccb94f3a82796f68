from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from core.commands import JSONCommand
from core.time import rfc3339
from integrations.models import Scope
from integrations.tokens import api_token_create
from organizations.models import User
from organizations.services import organization_lookup


def scope_list(text: str) -> list[str]:
    scopes = [scope.strip() for scope in text.split(",") if scope.strip()]
    unknown = [scope for scope in scopes if scope not in Scope.values]
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope {', '.join(unknown)} (known: {', '.join(Scope.values)})."})
    return scopes


class Command(JSONCommand):
    help = (
        "Create a management API token: vendor-wide (--vendor) or for one organization. Prints the token "
        "once. Made by the operator, its reach alone bounds its scopes; --user makes it that user's "
        "instead (their role bounds it, and it dies with their account)."
    )

    def add_arguments(self, parser):
        reach = parser.add_mutually_exclusive_group(required=True)
        reach.add_argument("--vendor", action="store_true", help="reaches every organization")
        reach.add_argument("--organization", metavar="ORG", help="reaches this organization only (uuid or slug)")
        parser.add_argument("--name", required=True, metavar="TEXT")
        parser.add_argument("--scopes", required=True, metavar="a,b", help=", ".join(Scope.values))
        parser.add_argument("--expires-days", type=int, default=90, metavar="N", help="default 90")
        parser.add_argument("--user", metavar="USERNAME", help="the token's creator, whose role bounds it")

    def run(self, *, vendor, organization, name, scopes, expires_days, user, **options):
        scopes = scope_list(scopes)
        organization = None if vendor else organization_lookup(organization)
        creator = None
        if user is not None:
            creator = User.objects.filter(username__iexact=user).first()
            if creator is None:
                raise ValidationError({"user": f"No user {user!r}."})
        if expires_days < 1:
            raise ValidationError({"expires_days": "--expires-days is at least 1."})
        try:
            token, text = api_token_create(
                actor=None,
                created_by=creator,
                name=name,
                scopes=scopes,
                organization=organization,
                expires_at=timezone.now() + timedelta(days=expires_days),
            )
        except PermissionDenied as error:
            raise ValidationError(str(error)) from None
        return {
            "id": token.pk,
            "name": token.name,
            "token": text,
            "scopes": token.scopes,
            "organization": str(organization.uuid) if organization else None,
            "expires_at": rfc3339(token.expires_at),
        }
