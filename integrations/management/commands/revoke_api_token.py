from django.core.exceptions import ValidationError

from core.commands import JSONCommand
from core.time import rfc3339
from integrations.models import APIToken
from integrations.tokens import api_token_revoke


class Command(JSONCommand):
    help = "Revoke a management API token (its id, as create_api_token printed it). It stops working at once."

    def add_arguments(self, parser):
        parser.add_argument("token_id", metavar="ID")

    def run(self, *, token_id, **options):
        token = APIToken.objects.filter(pk=int(token_id)).first() if token_id.isdigit() else None
        if token is None:
            raise ValidationError({"id": f"No API token {token_id}."})
        token = api_token_revoke(token=token, actor=None)
        return {"id": token.pk, "revoked_at": rfc3339(token.revoked_at)}
