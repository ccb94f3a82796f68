from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from core.commands import JSONCommand
from core.time import rfc3339
from integrations.models import Scope
from integrations.tokens import api_token_create
from organizations.models import User
from organizations.services import organization_lookup


class Command(JSONCommand):
    help = (
        "Create a management API token for a user (a super-admin's reaches every organization unless "
        "--organization is given; an org admin's reaches their organization). Prints the token once."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("--user", required=True, help="the token's creator (username): its role bounds the token")
        parser.add_argument("--scope", action="append", required=True, choices=Scope.values, dest="scopes")
        parser.add_argument("--organization", metavar="ORG", help="an organization token (uuid or slug)")
        parser.add_argument("--expires-in-days", type=int, help="default: never expires")

    def run(self, *, name, user, scopes, organization, expires_in_days, **options):
        creator = User.objects.filter(username__iexact=user).first()
        if creator is None:
            raise User.DoesNotExist(f"No user {user!r}.")
        if organization is None and not creator.is_super_admin:
            organization = creator.organization  # an org admin's token is their organization's
        elif organization is not None:
            organization = organization_lookup(organization)
        if expires_in_days is not None and expires_in_days < 1:
            raise ValidationError({"expires_in_days": "--expires-in-days is at least 1."})
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            token, text = api_token_create(
                actor=None,
                created_by=creator,
                name=name,
                scopes=scopes,
                organization=organization,
                expires_at=expires_at,
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
